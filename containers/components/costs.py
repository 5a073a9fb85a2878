"""Trading costs: slippage (always adverse to the side) and commission models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from containers.strict import StrictModel


def slipped_price(price: float, side: int, slippage_bps: float) -> float:
    """Buys (side +1) pay more, sells (side -1) receive less, by `slippage_bps` basis points."""
    return price * (1.0 + side * slippage_bps / 10_000.0)


class PercentageCommission(StrictModel):
    """`rate_pct` percent of notional, at least `min` per fill."""

    type: Literal["percentage"] = "percentage"
    rate_pct: float = Field(default=0.1, ge=0, le=100)
    min: float = Field(default=0.0, ge=0)

    def charge(self, quantity: float, price: float) -> float:
        return max(abs(quantity) * price * self.rate_pct / 100.0, self.min)


class PerShareCommission(StrictModel):
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

    def charge(self, quantity: float, price: float) -> float:
        fee = max(abs(quantity) * self.rate, self.min)
        return fee if self.max is None else min(fee, self.max)


class FixedCommission(StrictModel):
    """The same amount for every fill."""

    type: Literal["fixed"] = "fixed"
    amount: float = Field(default=1.0, ge=0)

    def charge(self, quantity: float, price: float) -> float:
        return self.amount


class NoCommission(StrictModel):
    type: Literal["none"] = "none"

    def charge(self, quantity: float, price: float) -> float:
        return 0.0


CommissionConfig = Annotated[
    PercentageCommission | PerShareCommission | FixedCommission | NoCommission, Field(discriminator="type")
]
