"""What a sweep needs before it runs: its search space and every indicator any of its trials will read."""

from __future__ import annotations

import itertools
import math
from typing import Any

from pydantic import ValidationError

from containers.components.indicators import INDICATORS, IndicatorSpec
from containers.factory import required_inputs
from containers.hub import plan
from containers.memory import available_bytes
from containers.paths import value_at
from coordinator.config import ExperimentConfig
from search.space import Constraint, Scalar, SearchSpace

MAX_COMBINATIONS_PER_COMPONENT = 200_000


def search_space(experiment: ExperimentConfig) -> SearchSpace:
    sweep = experiment.sweep
    assert sweep is not None
    # canonical order: reordering the keys of sweep.space changes nothing (the fingerprint cannot see it)
    return SearchSpace(dict(sorted(sweep.space.items())), [Constraint(text) for text in sweep.constraints],
                       lambda path: value_at(experiment, path))


def indicator_plan(experiment: ExperimentConfig, space: SearchSpace, bars: int,
                   symbols: int) -> list[IndicatorSpec]:
    """Every indicator over the union of the space: the experiment's own, plus each swept component's
    indicators for every combination of its discrete parameter values (when a component has at most
    MAX_COMBINATIONS_PER_COMPONENT of them: planning never costs the product of huge ranges).
    Continuous parameters keep the experiment's value here; their other indicators, and those of a
    component with too many combinations, are computed on the actors that need them."""
    specs = set(plan(required_inputs(experiment)))
    by_component: dict[str, list[str]] = {}
    for path in space.parameters:
        by_component.setdefault(path.rsplit(".", 1)[0], []).append(path)
    for component, paths in by_component.items():
        model, base = _component(experiment, component)
        if math.prod(space.discrete_count(path) or 1 for path in paths) > MAX_COMBINATIONS_PER_COMPONENT:
            continue  # too many to plan: its indicators are computed on the actors that need them
        axes = [space.discrete_values(path) or [value_at(experiment, path)] for path in paths]
        for combination in itertools.product(*axes):
            values: dict[str, Scalar] = {path.rsplit(".", 1)[1]: value for path, value in zip(paths, combination,
                                                                                            strict=True)}
            try:
                component_model = model.model_validate({**base, **values})
            except ValidationError:
                continue  # an infeasible combination never runs
            specs.update(plan(component_model.inputs().values()))
    return _within_memory(experiment, sorted(specs), bars, symbols)


def _within_memory(experiment: ExperimentConfig, specs: list[IndicatorSpec], bars: int,
                   symbols: int) -> list[IndicatorSpec]:
    """The planned indicators that fit in a quarter of the free memory (the experiment's own first):
    the rest are computed on the actors that need them, so a huge space is slower, never fatal."""
    own = set(plan(required_inputs(experiment)))
    budget = available_bytes() // 4
    kept, used = [], 0
    for spec in sorted(specs, key=lambda spec: spec not in own):
        size = len(INDICATORS[spec.kind].outputs) * bars * symbols * 8
        if used + size > budget and spec not in own:
            break
        kept.append(spec)
        used += size
    return sorted(kept)


def _component(experiment: ExperimentConfig, component: str) -> tuple[Any, dict[str, Any]]:
    """(params model class, current values) of the component a path prefix names."""
    for classifier in experiment.classifiers:
        if classifier.name == component:
            return type(classifier.params), classifier.params.model_dump()
        for book in classifier.portfolios:
            if component == f"{book.name}.sizer":
                return type(book.sizer), book.sizer.model_dump()
            for strategy in book.strategies:
                if component == f"{book.name}.{strategy.name}":
                    return type(strategy.params), strategy.params.model_dump()
    raise KeyError(component)
