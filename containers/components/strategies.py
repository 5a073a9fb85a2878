"""Strategies: signal rules only (direction and strength), never sizes or positions.

A signal value is a float: NaN means no signal this bar, its sign is the direction (+1 long,
-1 short, 0 flat/exit) and its magnitude in (0, 1] the strength. Each params model below is also
the strategy's definition: `inputs()` names what it reads from the IndicatorHub and `signal()` is
the rule (see rules.py for why one rule serves both engines).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from containers.components.rules import Input, Inputs, Value, indicator, price, valid, when
from containers.registry import Registry
from containers.strict import StrictModel

STRATEGIES: Registry[StrictModel] = Registry("strategy")


@STRATEGIES.register("ma_crossover")
class MACrossover(StrictModel):
    """`state`: long while the fast average is above the slow one, short while below.
    `cross`: a signal only on the bar where the fast average crosses the slow one (the previous bar on
    the other side, strictly, as backtesting.py's `crossover`), so a position opens at the first cross."""

    fast: int = Field(default=10, ge=1)
    slow: int = Field(default=30, ge=2)
    average: Literal["sma", "ema"] = "sma"
    signal_mode: Literal["state", "cross"] = Field(default="state", alias="signal")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> MACrossover:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        return self

    def inputs(self) -> dict[str, Input]:
        return {"fast": indicator(self.average, self.fast), "slow": indicator(self.average, self.slow)}

    def signal(self, now: Inputs, prev: Inputs) -> Value:
        fast, slow = now["fast"], now["slow"]
        if self.signal_mode == "state":  # the sign of fast - slow; equal averages say nothing
            side = np.sign(fast - slow)
            return np.where(side == 0, np.nan, side)
        was_fast, was_slow = prev["fast"], prev["slow"]
        return np.where((fast > slow) & (was_fast < was_slow), 1.0,
                        np.where((fast < slow) & (was_fast > was_slow), -1.0, np.nan))


@STRATEGIES.register("momentum")
class Momentum(StrictModel):
    """Rate of change beyond a threshold, guarded by RSI; strength grows with the move."""

    lookback: int = Field(default=20, ge=1)
    threshold: float = Field(default=0.02, gt=0)
    rsi_period: int = Field(default=14, ge=2)
    rsi_upper: float = Field(default=70.0, gt=0, lt=100)
    rsi_lower: float = Field(default=30.0, gt=0, lt=100)

    def inputs(self) -> dict[str, Input]:
        return {"roc": indicator("roc", self.lookback), "rsi": indicator("rsi", self.rsi_period)}

    def signal(self, now: Inputs, prev: Inputs) -> Value:
        change, strength_of_rsi = now["roc"], now["rsi"]
        strength = np.minimum(np.abs(change) / (2 * self.threshold), 1.0)
        up = (change > self.threshold) & (strength_of_rsi < self.rsi_upper)
        down = (change < -self.threshold) & (strength_of_rsi > self.rsi_lower)
        return np.where(up, strength, np.where(down, -strength, np.nan))


@STRATEGIES.register("mean_reversion")
class MeanReversion(StrictModel):
    """Long below the lower Bollinger band, short above the upper; flat once back near the mean."""

    period: int = Field(default=20, ge=2)
    num_std: float = Field(default=2.0, gt=0)
    exit_z: float = Field(default=0.25, ge=0)

    def inputs(self) -> dict[str, Input]:
        return {
            "close": price("close"),
            "mid": indicator("bollinger", self.period, self.num_std, output="mid"),
            "upper": indicator("bollinger", self.period, self.num_std, output="upper"),
            "lower": indicator("bollinger", self.period, self.num_std, output="lower"),
        }

    def signal(self, now: Inputs, prev: Inputs) -> Value:
        close, mid, upper, lower = now["close"], now["mid"], now["upper"], now["lower"]
        band = (upper - mid) / self.num_std
        with np.errstate(divide="ignore", invalid="ignore"):
            near_mean = np.abs(close - mid) <= self.exit_z * band
        rule = np.where(close < lower, 1.0, np.where(close > upper, -1.0, np.where(near_mean, 0.0, np.nan)))
        return when(valid(mid, upper, lower), rule)


@STRATEGIES.register("breakout")
class Breakout(StrictModel):
    """Long when the close breaks above the previous bar's Donchian high, short below its low."""

    period: int = Field(default=20, ge=2)

    def inputs(self) -> dict[str, Input]:
        return {
            "close": price("close"),
            "upper": indicator("donchian", self.period, output="upper"),
            "lower": indicator("donchian", self.period, output="lower"),
        }

    def signal(self, now: Inputs, prev: Inputs) -> Value:
        close, upper, lower = now["close"], prev["upper"], prev["lower"]
        return np.where(close > upper, 1.0, np.where(close < lower, -1.0, np.nan))


@STRATEGIES.register("trend_following")
class TrendFollowing(StrictModel):
    """Moving-average direction, traded only while ADX says there is a trend; flat otherwise."""

    fast: int = Field(default=20, ge=1)
    slow: int = Field(default=50, ge=2)
    adx_period: int = Field(default=14, ge=2)
    adx_threshold: float = Field(default=25.0, ge=0, le=100)

    @model_validator(mode="after")
    def _fast_below_slow(self) -> TrendFollowing:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        return self

    def inputs(self) -> dict[str, Input]:
        return {
            "fast": indicator("sma", self.fast),
            "slow": indicator("sma", self.slow),
            "adx": indicator("adx", self.adx_period, output="adx"),
        }

    def signal(self, now: Inputs, prev: Inputs) -> Value:
        fast, slow, strength = now["fast"], now["slow"], now["adx"]
        direction = np.where(fast > slow, 1.0, np.where(fast < slow, -1.0, np.nan))
        return when(valid(fast, slow, strength), np.where(strength < self.adx_threshold, 0.0, direction))
