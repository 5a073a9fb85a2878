"""Position sizers: how many shares a target of a given strength is worth. Results are whole shares.

Every sizer is one formula with three terms, so both engines (and the compiled kernel) size with
the same arithmetic whatever the sizer:

    shares = whole(min(equity x |strength| x weight / price + fixed, equity x max_weight / price))

`weight` is the share of equity to hold at full strength, `max_weight` a cap on that share, `fixed`
a number of shares whatever the equity; the price is the signal bar's close. A sizer only says what
its terms are at a bar, from hub inputs, the bar's close and the bars-per-year estimate known at that
bar (`terms` runs on single values and on whole columns alike, as rules do); a term that does not
change is a plain number.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
from pydantic import Field

from containers.components.rules import Input, Inputs, Value, indicator
from containers.registry import Registry
from containers.strict import StrictModel

# Sizes are floored to whole shares; the epsilon keeps 20.0 from becoming 19 after float rounding.
_FLOOR_EPSILON = 1e-9
SIZERS: Registry[StrictModel] = Registry("sizer")


class SizerTerms(NamedTuple):
    weight: Value  # share of equity at full strength; NaN = cannot size at this bar
    max_weight: Value | None  # at most this share of equity; None = no cap
    fixed: float = 0.0  # shares whatever the equity and strength


def whole_shares(quantity: float) -> float:
    if not math.isfinite(quantity) or quantity <= 0:
        return 0.0
    return float(math.floor(quantity + _FLOOR_EPSILON))


def shares(equity: float, strength: float, weight: float, max_weight: float, fixed: float, price: float) -> float:
    """The one sizing formula (the kernel's `_shares` is the same lines)."""
    quantity = equity * abs(strength) * weight / price + fixed
    cap = equity * max_weight / price
    if cap < quantity:
        quantity = cap
    return whole_shares(quantity)


class Sizer(StrictModel):
    """Base of the sizers: `size` evaluates the terms at one bar (for tests and the event engine)."""

    example: ClassVar[dict[str, Any]] = {}

    def inputs(self) -> dict[str, Input]:
        return {}

    def terms(self, now: Inputs, close: Value, periods_per_year: Value) -> SizerTerms:
        raise NotImplementedError

    def size(self, equity: float, price: float, strength: float, now: Inputs, periods_per_year: float) -> float:
        weight, max_weight, fixed = self.terms(now, price, periods_per_year)
        return shares(equity, strength, float(weight), math.inf if max_weight is None else float(max_weight), fixed,
                      price)


@SIZERS.register()
class FixedSizer(Sizer):
    """The same number of shares for every entry, whatever the strength."""

    type: Literal["fixed"] = "fixed"
    quantity: float = Field(gt=0)
    example: ClassVar[dict[str, Any]] = {"quantity": 10}

    def terms(self, now: Inputs, close: Value, periods_per_year: Value) -> SizerTerms:
        return SizerTerms(0.0, None, self.quantity)


@SIZERS.register()
class PercentageSizer(Sizer):
    """Equity x pct x |strength| worth of shares at the signal bar's close."""

    type: Literal["percentage"] = "percentage"
    pct: float = Field(gt=0, le=1000)
    example: ClassVar[dict[str, Any]] = {"pct": 10}

    def terms(self, now: Inputs, close: Value, periods_per_year: Value) -> SizerTerms:
        return SizerTerms(self.pct / 100.0, None)


@SIZERS.register()
class AtrSizer(Sizer):
    """Risk `risk_pct` of equity per trade with a stop `multiplier` ATRs away, capped at `max_pct` of equity:
    the weight is risk_pct% x price / (ATR x multiplier)."""

    type: Literal["atr"] = "atr"
    risk_pct: float = Field(gt=0, le=100)
    period: int = Field(default=14, ge=1)
    multiplier: float = Field(default=2.0, gt=0)
    max_pct: float | None = Field(default=None, gt=0, le=1000)
    example: ClassVar[dict[str, Any]] = {"risk_pct": 1.0, "max_pct": 50}

    def inputs(self) -> dict[str, Input]:
        return {"atr": indicator("atr", self.period)}

    def terms(self, now: Inputs, close: Value, periods_per_year: Value) -> SizerTerms:
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero ATR gives inf: it sizes to nothing
            weight = np.divide(self.risk_pct / 100.0 * close, np.multiply(now["atr"], self.multiplier))
        return SizerTerms(weight, None if self.max_pct is None else self.max_pct / 100.0)


@SIZERS.register()
class VolatilitySizer(Sizer):
    """Target an annualized volatility: weight = target / realized volatility, capped at `max_pct`.

    Annualizing uses the bars-per-year known at the bar (the configured value, or the estimate from
    the bars so far), never one read from the whole file.
    """

    type: Literal["volatility"] = "volatility"
    target_vol_pct: float = Field(gt=0, le=1000)
    lookback: int = Field(default=20, ge=2)
    max_pct: float = Field(default=100.0, gt=0, le=1000)
    example: ClassVar[dict[str, Any]] = {"target_vol_pct": 15}

    def inputs(self) -> dict[str, Input]:
        return {"vol": indicator("realized_vol", self.lookback)}

    def terms(self, now: Inputs, close: Value, periods_per_year: Value) -> SizerTerms:
        annual_vol_pct = now["vol"] * np.sqrt(periods_per_year) * 100.0
        with np.errstate(divide="ignore", invalid="ignore"):
            weight = np.minimum(self.target_vol_pct / annual_vol_pct, self.max_pct / 100.0)
        usable = np.isfinite(annual_vol_pct) & (annual_vol_pct > 0)
        return SizerTerms(np.where(usable, weight, np.nan), None)


SizerConfig = SIZERS.union()
