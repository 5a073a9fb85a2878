"""Risk limits: each looks at a proposed order that adds exposure and vetoes it with a reason.

Orders that only reduce a position always pass: a limit never traps a position open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, model_validator

from containers.strict import StrictModel


@dataclass(frozen=True)
class ExposureCheck:
    """What a limit sees of a proposed order, as plain numbers (prices at the signal bar's close)."""

    symbol: str
    price: float
    resulting_quantity: float
    equity: float
    gross_exposure_after: float
    drawdown_pct: float
    daily_loss_pct: float


class MaxPosition(StrictModel):
    """At most `max_quantity` shares and/or `max_pct` of equity in one symbol."""

    type: Literal["max_position"] = "max_position"
    max_quantity: float | None = Field(default=None, gt=0)
    max_pct: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_bound(self) -> MaxPosition:
        if self.max_quantity is None and self.max_pct is None:
            raise ValueError("give max_quantity, max_pct or both")
        return self

    def veto(self, check: ExposureCheck) -> str | None:
        quantity = abs(check.resulting_quantity)
        if self.max_quantity is not None and quantity > self.max_quantity:
            return f"max_position: {quantity:g} shares of {check.symbol} > {self.max_quantity:g}"
        pct = quantity * check.price / check.equity * 100.0 if check.equity > 0 else float("inf")
        if self.max_pct is not None and pct > self.max_pct:
            return f"max_position: {check.symbol} would be {pct:.2f}% of equity > {self.max_pct:g}%"
        return None


class MaxGrossExposure(StrictModel):
    """Sum of |position value| over all symbols at most `max_pct` of equity."""

    type: Literal["max_gross_exposure"] = "max_gross_exposure"
    max_pct: float = Field(gt=0)

    def veto(self, check: ExposureCheck) -> str | None:
        pct = check.gross_exposure_after / check.equity * 100.0 if check.equity > 0 else float("inf")
        if pct > self.max_pct:
            return f"max_gross_exposure: gross exposure would be {pct:.2f}% of equity > {self.max_pct:g}%"
        return None


class MaxDrawdown(StrictModel):
    """No new exposure while equity is `max_pct` or more below its high-water mark."""

    type: Literal["max_drawdown"] = "max_drawdown"
    max_pct: float = Field(gt=0, le=100)

    def veto(self, check: ExposureCheck) -> str | None:
        if check.drawdown_pct >= self.max_pct:
            return f"max_drawdown: drawdown {check.drawdown_pct:.2f}% >= {self.max_pct:g}%"
        return None


class DailyLoss(StrictModel):
    """No new exposure once equity has lost `max_pct` since the last close of the previous day."""

    type: Literal["daily_loss"] = "daily_loss"
    max_pct: float = Field(gt=0, le=100)

    def veto(self, check: ExposureCheck) -> str | None:
        if check.daily_loss_pct >= self.max_pct:
            return f"daily_loss: down {check.daily_loss_pct:.2f}% today >= {self.max_pct:g}%"
        return None


LimitConfig = Annotated[MaxPosition | MaxGrossExposure | MaxDrawdown | DailyLoss, Field(discriminator="type")]
