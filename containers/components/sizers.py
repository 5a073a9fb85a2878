"""Position sizers: how many shares a signal of a given strength is worth. Results are whole shares."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field

from containers.components.rules import Input, Inputs, indicator
from containers.strict import StrictModel

# Sizes are floored to whole shares; the epsilon keeps 20.0 from becoming 19 after float rounding.
_FLOOR_EPSILON = 1e-9


def whole_shares(quantity: float) -> float:
    if not math.isfinite(quantity) or quantity <= 0:
        return 0.0
    return float(math.floor(quantity + _FLOOR_EPSILON))


class FixedSizer(StrictModel):
    """The same number of shares for every entry."""

    type: Literal["fixed"] = "fixed"
    quantity: float = Field(gt=0)

    def inputs(self) -> dict[str, Input]:
        return {}

    def size(self, equity: float, price: float, strength: float, now: Inputs, periods_per_year: float) -> float:
        return whole_shares(self.quantity)


class PercentageSizer(StrictModel):
    """Equity x pct x |strength| worth of shares at the signal bar's close."""

    type: Literal["percentage"] = "percentage"
    pct: float = Field(gt=0, le=1000)

    def inputs(self) -> dict[str, Input]:
        return {}

    def size(self, equity: float, price: float, strength: float, now: Inputs, periods_per_year: float) -> float:
        return whole_shares(equity * self.pct / 100.0 * abs(strength) / price)


class AtrSizer(StrictModel):
    """Risk `risk_pct` of equity per trade with a stop `multiplier` ATRs away, capped at `max_pct` of equity."""

    type: Literal["atr"] = "atr"
    risk_pct: float = Field(gt=0, le=100)
    period: int = Field(default=14, ge=1)
    multiplier: float = Field(default=2.0, gt=0)
    max_pct: float | None = Field(default=None, gt=0, le=1000)

    def inputs(self) -> dict[str, Input]:
        return {"atr": indicator("atr", self.period)}

    def size(self, equity: float, price: float, strength: float, now: Inputs, periods_per_year: float) -> float:
        stop_distance = float(now["atr"]) * self.multiplier
        if not math.isfinite(stop_distance) or stop_distance <= 0:
            return 0.0
        quantity = equity * self.risk_pct / 100.0 / stop_distance * abs(strength)
        if self.max_pct is not None:
            quantity = min(quantity, equity * self.max_pct / 100.0 / price)
        return whole_shares(quantity)


class VolatilitySizer(StrictModel):
    """Target an annualized volatility: weight = target / realized volatility, capped at `max_pct`."""

    type: Literal["volatility"] = "volatility"
    target_vol_pct: float = Field(gt=0, le=1000)
    lookback: int = Field(default=20, ge=2)
    max_pct: float = Field(default=100.0, gt=0, le=1000)

    def inputs(self) -> dict[str, Input]:
        return {"vol": indicator("realized_vol", self.lookback)}

    def size(self, equity: float, price: float, strength: float, now: Inputs, periods_per_year: float) -> float:
        annual_vol_pct = float(now["vol"]) * math.sqrt(periods_per_year) * 100.0
        if not math.isfinite(annual_vol_pct) or annual_vol_pct <= 0:
            return 0.0
        weight = min(self.target_vol_pct / annual_vol_pct, self.max_pct / 100.0)
        return whole_shares(equity * weight * abs(strength) / price)


SizerConfig = Annotated[FixedSizer | PercentageSizer | AtrSizer | VolatilitySizer, Field(discriminator="type")]
