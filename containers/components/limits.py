"""Risk limits: each looks at a proposed order that adds exposure and vetoes it with a reason.

Orders that only reduce a position always pass: a limit never traps a position open.

A limit is a list of checks, each a threshold on one of the measures below; both engines (and the
compiled kernel) compute the measures and decide with the same arithmetic (`veto`), and the
limit words the reason. A new limit over these measures is added in this file alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import Field, model_validator

from containers.registry import Registry
from containers.strict import StrictModel

LIMITS: Registry[StrictModel] = Registry("limit")

# Measures of a proposed order (the kernel indexes them with these numbers).
QUANTITY, POSITION_PCT, GROSS_PCT, DRAWDOWN_PCT, DAILY_LOSS_PCT = range(5)


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

    def measures(self) -> tuple[float, float, float, float, float]:
        """QUANTITY, POSITION_PCT, GROSS_PCT, DRAWDOWN_PCT, DAILY_LOSS_PCT (kernels._first_breach: same lines)."""
        quantity = abs(self.resulting_quantity)
        position_pct = quantity * self.price / self.equity * 100.0 if self.equity > 0 else math.inf
        gross_pct = self.gross_exposure_after / self.equity * 100.0 if self.equity > 0 else math.inf
        return quantity, position_pct, gross_pct, self.drawdown_pct, self.daily_loss_pct


class Check(NamedTuple):
    measure: int
    threshold: float
    inclusive: bool  # True: breached at the threshold already (>=); False: only above it (>)


def breached(value: float, threshold: float, inclusive: bool) -> bool:
    return value >= threshold if inclusive else value > threshold


class Limit(StrictModel):
    example: ClassVar[dict[str, Any]] = {}

    def checks(self) -> tuple[Check, ...]:
        raise NotImplementedError

    def reason(self, check: ExposureCheck) -> str:
        raise NotImplementedError

    def veto(self, check: ExposureCheck) -> str | None:
        """The reason when any of the limit's checks is breached, else None."""
        values = check.measures()
        if any(breached(values[c.measure], c.threshold, c.inclusive) for c in self.checks()):
            return self.reason(check)
        return None


@LIMITS.register()
class MaxPosition(Limit):
    """At most `max_quantity` shares and/or `max_pct` of equity in one symbol."""

    type: Literal["max_position"] = "max_position"
    max_quantity: float | None = Field(default=None, gt=0)
    max_pct: float | None = Field(default=None, gt=0)
    example: ClassVar[dict[str, Any]] = {"max_pct": 30}

    @model_validator(mode="after")
    def _one_bound(self) -> MaxPosition:
        if self.max_quantity is None and self.max_pct is None:
            raise ValueError("give max_quantity, max_pct or both")
        return self

    def checks(self) -> tuple[Check, ...]:
        bounds = ((QUANTITY, self.max_quantity), (POSITION_PCT, self.max_pct))
        return tuple(Check(measure, bound, False) for measure, bound in bounds if bound is not None)

    def reason(self, check: ExposureCheck) -> str:
        quantity, pct, *_ = check.measures()
        if self.max_quantity is not None and quantity > self.max_quantity:
            return f"max_position: {quantity:g} shares of {check.symbol} > {self.max_quantity:g}"
        return f"max_position: {check.symbol} would be {pct:.2f}% of equity > {self.max_pct:g}%"


@LIMITS.register()
class MaxGrossExposure(Limit):
    """Sum of |position value| over all symbols at most `max_pct` of equity."""

    type: Literal["max_gross_exposure"] = "max_gross_exposure"
    max_pct: float = Field(gt=0)
    example: ClassVar[dict[str, Any]] = {"max_pct": 80}

    def checks(self) -> tuple[Check, ...]:
        return (Check(GROSS_PCT, self.max_pct, False),)

    def reason(self, check: ExposureCheck) -> str:
        return (f"max_gross_exposure: gross exposure would be {check.measures()[GROSS_PCT]:.2f}% of equity "
                f"> {self.max_pct:g}%")


@LIMITS.register()
class MaxDrawdown(Limit):
    """No new exposure while equity is `max_pct` or more below its high-water mark."""

    type: Literal["max_drawdown"] = "max_drawdown"
    max_pct: float = Field(gt=0, le=100)
    example: ClassVar[dict[str, Any]] = {"max_pct": 5}

    def checks(self) -> tuple[Check, ...]:
        return (Check(DRAWDOWN_PCT, self.max_pct, True),)

    def reason(self, check: ExposureCheck) -> str:
        return f"max_drawdown: drawdown {check.drawdown_pct:.2f}% >= {self.max_pct:g}%"


@LIMITS.register()
class DailyLoss(Limit):
    """No new exposure once equity has lost `max_pct` since the last close of the previous day."""

    type: Literal["daily_loss"] = "daily_loss"
    max_pct: float = Field(gt=0, le=100)
    example: ClassVar[dict[str, Any]] = {"max_pct": 1}

    def checks(self) -> tuple[Check, ...]:
        return (Check(DAILY_LOSS_PCT, self.max_pct, True),)

    def reason(self, check: ExposureCheck) -> str:
        return f"daily_loss: down {check.daily_loss_pct:.2f}% today >= {self.max_pct:g}%"


LimitConfig = LIMITS.union()
