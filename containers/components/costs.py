"""Trading costs: slippage (always adverse to the side) and commission models.

Every commission model is one formula with five terms, so both engines (and the compiled kernel)
charge with the same arithmetic whatever the model:

    fee = min(max(|q| x price x of_notional + |q| x per_share + per_fill, minimum), maximum)
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

from pydantic import Field, model_validator

from containers.registry import Registry
from containers.strict import StrictModel

COMMISSIONS: Registry[StrictModel] = Registry("commission")


def slipped_price(price: float, side: int, slippage_bps: float) -> float:
    """Buys (side +1) pay more, sells (side -1) receive less, by `slippage_bps` basis points."""
    return price * (1.0 + side * slippage_bps / 10_000.0)


class CommissionTerms(NamedTuple):
    of_notional: float = 0.0
    per_share: float = 0.0
    per_fill: float = 0.0
    minimum: float = 0.0
    maximum: float = math.inf


def fee(terms: CommissionTerms, quantity: float, price: float) -> float:
    """The one commission formula (the kernel's `_commission` is the same lines)."""
    size = abs(quantity)
    charge = size * price * terms.of_notional + size * terms.per_share + terms.per_fill
    return min(max(charge, terms.minimum), terms.maximum)


class Commission(StrictModel):
    def terms(self) -> CommissionTerms:
        raise NotImplementedError

    def charge(self, quantity: float, price: float) -> float:
        return fee(self.terms(), quantity, price)


@COMMISSIONS.register()
class PercentageCommission(Commission):
    """`rate_pct` percent of notional, at least `min` per fill."""

    type: Literal["percentage"] = "percentage"
    rate_pct: float = Field(default=0.1, ge=0, le=100)
    min: float = Field(default=0.0, ge=0)

    def terms(self) -> CommissionTerms:
        return CommissionTerms(of_notional=self.rate_pct / 100.0, minimum=self.min)


@COMMISSIONS.register()
class PerShareCommission(Commission):
    """`rate` per share, clamped to [min, max] per fill."""

    type: Literal["per_share"] = "per_share"
    rate: float = Field(default=0.005, ge=0)
    min: float = Field(default=1.0, ge=0)
    max: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _min_below_max(self) -> PerShareCommission:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) must be at least min ({self.min})")
        return self

    def terms(self) -> CommissionTerms:
        return CommissionTerms(per_share=self.rate, minimum=self.min,
                               maximum=math.inf if self.max is None else self.max)


@COMMISSIONS.register()
class FixedCommission(Commission):
    """The same amount for every fill."""

    type: Literal["fixed"] = "fixed"
    amount: float = Field(default=1.0, ge=0)

    def terms(self) -> CommissionTerms:
        return CommissionTerms(per_fill=self.amount)


@COMMISSIONS.register()
class NoCommission(Commission):
    type: Literal["none"] = "none"

    def terms(self) -> CommissionTerms:
        return CommissionTerms()


CommissionConfig = COMMISSIONS.union()
