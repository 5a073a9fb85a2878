"""The trend classifier: ADX for trend strength, two SMAs for its direction."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from containers.components.classifiers import CLASSIFIERS
from containers.components.rules import Input, Inputs, Value, indicator, valid
from containers.strict import StrictModel


@CLASSIFIERS.register("trend")
class TrendRegime(StrictModel):
    """trending_up / trending_down while ADX shows a trend (direction from two SMAs), else ranging."""

    labels: ClassVar[tuple[str, ...]] = ("ranging", "trending_up", "trending_down")
    symbol: str | None = None
    fast: int = Field(default=20, ge=1)
    slow: int = Field(default=50, ge=2)
    adx_period: int = Field(default=14, ge=2)
    adx_threshold: float = Field(default=25.0, ge=0, le=100)

    @model_validator(mode="after")
    def _fast_below_slow(self) -> TrendRegime:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        return self

    def inputs(self) -> dict[str, Input]:
        return {"fast": indicator("sma", self.fast), "slow": indicator("sma", self.slow),
                "adx": indicator("adx", self.adx_period, output="adx")}

    def regime(self, now: Inputs, prev: Inputs) -> Value:
        fast, slow, strength = now["fast"], now["slow"], now["adx"]
        trend = np.where(strength < self.adx_threshold, 0, np.where(fast >= slow, 1, 2))
        return np.where(valid(fast, slow, strength), trend, -1)
