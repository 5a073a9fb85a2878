"""The `sweep:` section: parameter ranges by path, constraints, sampler, objectives, batching, storage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from containers.metrics import METRIC_NAMES
from containers.strict import StrictModel, did_you_mean
from search.space import Constraint, ParameterSpec

DEFAULT_BATCH_SIZE = 32


class Objective(StrictModel):
    metric: str
    direction: Literal["maximize", "minimize"] = "maximize"

    @model_validator(mode="after")
    def _known_metric(self) -> Objective:
        if self.metric not in METRIC_NAMES:
            raise ValueError(f"'{self.metric}' is not a metric{did_you_mean(self.metric, METRIC_NAMES)}; "
                             f"metrics: {', '.join(METRIC_NAMES)}")
        return self


class SweepConfig(StrictModel):
    method: Literal["grid", "random", "tpe", "cmaes", "qmc", "nsga2"] = "grid"
    n_trials: int | None = Field(default=None, ge=1, le=100_000_000)
    seed: int = 0
    space: dict[str, ParameterSpec] = Field(min_length=1)
    constraints: tuple[str, ...] = ()
    min_trades: int | None = Field(default=None, ge=0)
    objective: str = "sharpe_ratio"
    direction: Literal["maximize", "minimize"] = "maximize"
    objectives: tuple[Objective, ...] | None = Field(default=None, min_length=1)
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1, le=100_000)
    workers: int | None = Field(default=None, ge=0, le=10_000)
    storage: str | None = None
    top: int = Field(default=10, ge=1, le=1000)

    @model_validator(mode="after")
    def _consistent(self) -> SweepConfig:
        if self.method != "grid" and self.n_trials is None:
            raise ValueError(f"method {self.method} needs n_trials")
        Objective(metric=self.objective, direction=self.direction)
        if self.method == "nsga2" and not self.objectives:
            raise ValueError("method nsga2 needs 'objectives' (two or more metrics with directions)")
        if self.storage is not None and not self.storage.startswith(("sqlite:///", "postgresql", "mysql")):
            raise ValueError(f"storage '{self.storage}' is not a database URL (sqlite:///..., postgresql://..., "
                             "mysql://...); leave it out to keep the study in the run directory")
        for text in self.constraints:
            Constraint(text)
        return self

    def goals(self) -> tuple[Objective, ...]:
        """The objectives: `objectives` when given (multi-objective), else `objective` + `direction`."""
        return self.objectives or (Objective(metric=self.objective, direction=self.direction),)
