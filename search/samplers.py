"""Samplers for deterministic studies: each batch gets a sampler that is a pure function of the config,
the seed and the batch's first trial number, so a resumed study asks exactly what it would have asked.

grid and random are admf's own (they honour constraints exactly: a grid lists only feasible points, a
random point is redrawn until feasible); tpe, cmaes, qmc and nsga2 are Optuna's: the driver records
each trial's constraints with Trial.set_constraint (TPE and NSGA-II learn from them), and a point
that breaks one fails without running.
"""

from __future__ import annotations

import warnings
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
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


def derived_seed(seed: int, first_number: int) -> int:
    return (seed * 1_000_003 + first_number * 7919) % (2**31 - 1)


def batch_sampler(method: str, space: SearchSpace, seed: int, first_number: int,
                  points: dict[int, dict[str, Scalar]] | None = None) -> BaseSampler:
    """The sampler for the batch starting at trial `first_number`."""
    if method in ("grid", "random"):
        assert points is not None
        return PointSampler(points)
    batch_seed = derived_seed(seed, first_number)
    if method == "tpe":
        return optuna.samplers.TPESampler(seed=batch_seed)
    if method == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=batch_seed, warn_independent_sampling=False)
    if method == "qmc":
        with warnings.catch_warnings():  # 'experimental' since Optuna 3; it would print on every batch
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    if method == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=batch_seed)
    raise ValueError(f"unknown method '{method}'; methods: {', '.join(METHODS)}")
