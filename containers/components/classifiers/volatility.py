"""The volatility classifier: short-window against long-window realized volatility."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from containers.components.classifiers import CLASSIFIERS
from containers.components.rules import Input, Inputs, Value, indicator, valid
from containers.strict import StrictModel


@CLASSIFIERS.register("volatility")
class VolatilityRegime(StrictModel):
    """high_volatility while short-window realized volatility exceeds `ratio` x the long-window one."""

    labels: ClassVar[tuple[str, ...]] = ("low_volatility", "high_volatility")
    symbol: str | None = None
    fast: int = Field(default=20, ge=2)
    slow: int = Field(default=100, ge=3)
    ratio: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _fast_below_slow(self) -> VolatilityRegime:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        return self

    def inputs(self) -> dict[str, Input]:
        return {"fast": indicator("realized_vol", self.fast), "slow": indicator("realized_vol", self.slow)}

    def regime(self, now: Inputs, prev: Inputs) -> Value:
        fast, slow = now["fast"], now["slow"]
        return np.where(valid(fast, slow), np.where(fast > self.ratio * slow, 1, 0), -1)
