"""Samplers for deterministic studies: each trial gets a sampler that is a pure function of the config,
the seed and the trial's position in the study, so a resumed study asks exactly what it would have asked.

grid, random and qmc are admf's own, points by (seed, position): a grid lists only feasible points, a
random point is redrawn until feasible, a qmc point is the position's point of a scrambled Sobol
sequence (an infeasible one is recorded as such). tpe, cmaes and nsga2 are Optuna's, with their
settings spelled out, each wrapped so that it proposes points that satisfy the constraints
(FeasibleSampler); a point that still breaks one does not run and is recorded as infeasible.
"""

from __future__ import annotations

import math
import random
import warnings
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial

from search.space import Scalar, SearchSpace

METHODS = ("grid", "random", "tpe", "cmaes", "qmc", "nsga2")
GRID_ID = "admf_grid_id"


class PointSampler(BaseSampler):
    """Gives trial k of the batch a precomputed point (every parameter fixed by the caller)."""

    def __init__(self, points: dict[int, dict[str, Scalar]]) -> None:
        self.points = points

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.points[trial.number][param_name]


# The settings of Optuna's samplers that admf relies on, spelled out (defaults change between Optuna
# releases: Optuna 5 turned TPE's constant_liar on, which suits batches of asks) and part of a study's
# fingerprint, with Optuna's version (for the settings Optuna is retiring and admf leaves at their default).
SAMPLER_SETTINGS: dict[str, dict[str, Any]] = {
    "tpe": {"n_startup_trials": 10, "n_ei_candidates": 24, "multivariate": False, "constant_liar": True},
    "cmaes": {"n_startup_trials": 1, "warn_independent_sampling": False},
    "qmc": {"sequence": "sobol", "scramble": True},  # admf's own: points by (seed, position), see qmc_points
    "nsga2": {"population_size": 50, "mutation_prob": None, "crossover_prob": 0.9, "swapping_prob": 0.5},
}
FEASIBLE_DRAWS = 100  # attempts per trial at a point that meets the constraints
MODEL_REDRAWS = 3  # of them drawn again from the model before the broken parameters are redrawn at random


class FeasibleSampler(BaseSampler):
    """Wraps a model-based sampler so that it proposes points that satisfy the space's constraints.

    Optuna's samplers learn nothing from a failed trial (TPE reads complete, pruned and running ones,
    NSGA-II complete ones), and a univariate model can put the modes of two parameters on the wrong
    sides of `fast < slow`. So a proposal that breaks a constraint is drawn again a few times, then
    repaired: the parameters of each broken constraint are redrawn at random, one at a time, the rest
    of the model's proposal kept. Up to FEASIBLE_DRAWS attempts; a point still infeasible fails as
    before (recorded complete with the worst value, so the sampler learns from it).
    """

    def __init__(self, inner: BaseSampler, space: SearchSpace, distributions: dict[str, BaseDistribution],
                 seed: int) -> None:
        self.inner, self.space, self.distributions = inner, space, distributions
        self.repairs = optuna.samplers.RandomSampler(seed=seed)
        self.choices = random.Random(seed)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self.distributions)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        point = self._draw(study, trial)
        for attempt in range(FEASIBLE_DRAWS):
            broken = [c for c in self.space.constraints if not c.holds(point, self.space.base)]
            if not broken:
                break
            if attempt < MODEL_REDRAWS:
                point = self._draw(study, trial)
                continue
            names = [name for name in broken[0].paths() if name in self.distributions]
            if not names:
                break  # a constraint on values outside the space: nothing to redraw
            name = self.choices.choice(names)
            point = {**point, name: self.repairs.sample_independent(study, trial, name, self.distributions[name])}
        return point

    def _draw(self, study: Study, trial: FrozenTrial) -> dict[str, Any]:
        relative = self.inner.infer_relative_search_space(study, trial)
        point = self.inner.sample_relative(study, trial, relative) if relative else {}
        for name, distribution in self.distributions.items():
            if name not in point:
                point[name] = self.inner.sample_independent(study, trial, name, distribution)
        return point

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: Any, values: Any) -> None:
        self.inner.after_trial(study, trial, state, values)


def derived_seed(seed: int, position: int) -> int:
    return (seed * 1_000_003 + position * 7919) % (2**31 - 1)


REPAIR_SALT = 0x5F3759DF  # the repairs' random stream is not the model's own (TPE's startup draws)


def trial_sampler(method: str, space: SearchSpace, seed: int, position: int,
                  points: dict[int, dict[str, Scalar]] | None = None,
                  distributions: dict[str, BaseDistribution] | None = None) -> BaseSampler:
    """The sampler for the trial that takes place `position` in the study's sequence.

    Seeded by that position (trials that count), not by the trial number nor by the batch: a
    half-asked trial that a crash left, failed and asked again, shifts numbers but not positions, and
    a batch cut short while being asked is completed on resume with the very draws it would have had.
    grid, random and qmc points are functions of (seed, position) alone, given as `points`.
    """
    if method in ("grid", "random", "qmc"):
        assert points is not None
        return PointSampler(points)
    trial_seed = derived_seed(seed, position)
    settings = SAMPLER_SETTINGS.get(method)
    if method == "tpe":
        inner: BaseSampler = optuna.samplers.TPESampler(seed=trial_seed, **settings)
    elif method == "cmaes":
        inner = optuna.samplers.CmaEsSampler(seed=trial_seed, **settings)
    elif method == "nsga2":
        inner = optuna.samplers.NSGAIISampler(seed=trial_seed, **settings)
    else:
        raise ValueError(f"unknown method '{method}'; methods: {', '.join(METHODS)}")
    return FeasibleSampler(inner, space, distributions or {}, derived_seed(seed ^ REPAIR_SALT, position))


def qmc_points(distributions: dict[str, BaseDistribution], seed: int, first: int,
               count: int) -> list[dict[str, Scalar]]:
    """Points `first` .. `first + count - 1` of a scrambled Sobol sequence (seeded) mapped onto the
    distributions: each a function of (seed, position) alone, so resume and batching change nothing."""
    from scipy.stats import qmc

    names = sorted(distributions)
    sobol = qmc.Sobol(d=max(len(names), 1), scramble=True, seed=seed)
    with warnings.catch_warnings():  # balance holds for powers of two; a prefix of any length is still low-discrepancy
        warnings.simplefilter("ignore", UserWarning)
        if first:
            sobol.fast_forward(first)
        cube = sobol.random(count)
    return [{name: _from_unit(distributions[name], float(u)) for name, u in zip(names, row, strict=False)}
            for row in cube]


def _from_unit(distribution: BaseDistribution, u: float) -> Scalar:
    """u in [0, 1) onto a distribution: uniform over its values (or its log scale)."""
    if isinstance(distribution, CategoricalDistribution):
        choices = distribution.choices
        return choices[min(int(u * len(choices)), len(choices) - 1)]
    if isinstance(distribution, IntDistribution):
        if distribution.log:
            value = round(math.exp(math.log(distribution.low) + u * (math.log(distribution.high)
                                                                     - math.log(distribution.low))))
            return min(max(value, distribution.low), distribution.high)
        count = (distribution.high - distribution.low) // distribution.step + 1
        return distribution.low + min(int(u * count), count - 1) * distribution.step
    assert isinstance(distribution, FloatDistribution)
    if distribution.log:
        return math.exp(math.log(distribution.low) + u * (math.log(distribution.high) - math.log(distribution.low)))
    if distribution.step is not None:
        count = round((distribution.high - distribution.low) / distribution.step) + 1
        return round(distribution.low + min(int(u * count), count - 1) * distribution.step, 12)
    return distribution.low + u * (distribution.high - distribution.low)
