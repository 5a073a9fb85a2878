"""The `sweep:` section: parameter ranges by path, constraints, objective, batching and workers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from containers.metrics import METRIC_NAMES
from containers.strict import StrictModel, did_you_mean
from search.space import Constraint, ParameterSpec


class SweepConfig(StrictModel):
    method: Literal["grid", "random"] = "grid"
    n_trials: int | None = Field(default=None, ge=1, le=100_000_000)
    seed: int = 0
    space: dict[str, ParameterSpec] = Field(min_length=1)
    constraints: tuple[str, ...] = ()
    objective: str = "sharpe_ratio"
    direction: Literal["maximize", "minimize"] = "maximize"
    batch_size: int | None = Field(default=None, ge=1, le=100_000)
    workers: int | None = Field(default=None, ge=1, le=10_000)
    top: int = Field(default=10, ge=1, le=1000)

    @model_validator(mode="after")
    def _consistent(self) -> SweepConfig:
        if self.method == "random" and self.n_trials is None:
            raise ValueError("method random needs n_trials")
        if self.objective not in METRIC_NAMES:
            raise ValueError(f"objective '{self.objective}' is not a metric{did_you_mean(self.objective, METRIC_NAMES)}"
                             f"; metrics: {', '.join(METRIC_NAMES)}")
        for text in self.constraints:
            Constraint(text)
        return self
