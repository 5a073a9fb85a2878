"""Hand-computed goldens for commissions, slippage and every sizer."""

import math

import pytest

from containers.components.costs import (
    FixedCommission,
    NoCommission,
    PercentageCommission,
    PerShareCommission,
    slipped_price,
)
from containers.components.sizers import AtrSizer, FixedSizer, PercentageSizer, VolatilitySizer


def test_per_share_commission_is_clamped_to_min_and_max() -> None:
    model = PerShareCommission(rate=0.005, min=1.0, max=5.0)
    assert model.charge(100, 50.0) == pytest.approx(1.00)  # 0.50 raised to the minimum
    assert model.charge(5000, 50.0) == pytest.approx(5.00)  # 25.00 capped at the maximum
    assert model.charge(-400, 50.0) == pytest.approx(2.00)  # sells pay too: 400 x 0.005


def test_percentage_commission_of_notional_with_minimum() -> None:
    model = PercentageCommission(rate_pct=0.1, min=1.0)
    assert model.charge(100, 50.0) == pytest.approx(5.0)  # 0.1% of 5,000
    assert model.charge(1, 50.0) == pytest.approx(1.0)  # 0.05 raised to the minimum


def test_fixed_and_no_commission() -> None:
    assert FixedCommission(amount=2.5).charge(1234, 10.0) == 2.5
    assert NoCommission().charge(1234, 10.0) == 0.0


def test_slippage_is_always_adverse() -> None:
    assert slipped_price(100.0, +1, 10) == pytest.approx(100.10)  # buys pay 10 bps more
    assert slipped_price(100.0, -1, 10) == pytest.approx(99.90)  # sells receive 10 bps less
    assert slipped_price(100.0, +1, 0) == 100.0


def test_fixed_sizer() -> None:
    assert FixedSizer(quantity=7).size(1e5, 50.0, 0.3, {}, 252) == 7


def test_percentage_sizer_reference_case() -> None:
    # 2% of $100k = $2,000, x strength 0.5 = $1,000, at $50 = 20 shares
    assert PercentageSizer(pct=2).size(100_000, 50.0, 0.5, {}, 252) == 20
    assert PercentageSizer(pct=2).size(100_000, 51.0, 1.0, {}, 252) == 39  # 39.2 floored


def test_atr_sizer_reference_case_and_cap() -> None:
    # risk 1% of $100k = $1,000; stop = ATR 2 x 2 = $4 per share → 250 shares
    assert AtrSizer(risk_pct=1, multiplier=2).size(100_000, 50.0, 1.0, {"atr": 2.0}, 252) == 250
    # capped at 10% of equity: $10,000 / $50 = 200 shares
    assert AtrSizer(risk_pct=1, multiplier=2, max_pct=10).size(100_000, 50.0, 1.0, {"atr": 2.0}, 252) == 200
    assert AtrSizer(risk_pct=1).size(100_000, 50.0, 1.0, {"atr": math.nan}, 252) == 0


def test_volatility_sizer() -> None:
    # 1% per-bar vol x sqrt(252) = 15.87% a year; target 10% → weight 0.630; $63,000 / $50 = 1259.9 → 1259
    sizer = VolatilitySizer(target_vol_pct=10, lookback=20)
    assert sizer.size(100_000, 50.0, 1.0, {"vol": 0.01}, 252) == 1259
    capped = VolatilitySizer(target_vol_pct=10, lookback=20, max_pct=50)
    assert capped.size(100_000, 50.0, 1.0, {"vol": 0.01}, 252) == 1000
