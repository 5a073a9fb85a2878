"""Regime classifiers: rules that label each bar of one symbol (the market proxy) with a regime.

A rule returns a regime code per bar: an index into `labels`, or -1 for 'unknown' (warm-up).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from containers.components.rules import Input, Inputs, Value, indicator, valid
from containers.strict import StrictModel

UNKNOWN = "unknown"


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


class NoRegime(StrictModel):
    """One regime, 'all', on every bar: for hierarchies that do not switch on regimes."""

    labels: ClassVar[tuple[str, ...]] = ("all",)
    symbol: str | None = None

    def inputs(self) -> dict[str, Input]:
        return {}

    def regime(self, now: Inputs, prev: Inputs) -> Value:
        return 0


CLASSIFIER_PARAMS: dict[str, type[StrictModel]] = {
    "volatility": VolatilityRegime,
    "trend": TrendRegime,
    "none": NoRegime,
}
