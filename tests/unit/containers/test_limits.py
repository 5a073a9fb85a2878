"""Each limit vetoes an order that adds exposure, with its reason; reducing orders always pass."""

import pytest

from containers.components.limits import DailyLoss, ExposureCheck, MaxDrawdown, MaxGrossExposure, MaxPosition
from containers.run import run_backtest
from tests.helpers import bars, config, portfolio

UP_AND_DOWN = [10.0, 11.0, 12.0, 11.0, 12.0, 13.0]


def _check(**overrides: float) -> ExposureCheck:
    values = {"symbol": "X", "price": 50.0, "resulting_quantity": 100.0, "equity": 10_000.0,
              "gross_exposure_after": 5_000.0, "drawdown_pct": 0.0, "daily_loss_pct": 0.0}
    return ExposureCheck(**{**values, **overrides})


def test_limit_reasons_by_hand() -> None:
    assert MaxPosition(max_quantity=50).veto(_check()) == "max_position: 100 shares of X > 50"
    assert MaxPosition(max_pct=40).veto(_check()) == "max_position: X would be 50.00% of equity > 40%"
    assert MaxPosition(max_pct=60).veto(_check()) is None
    assert MaxGrossExposure(max_pct=45).veto(_check()) == (
        "max_gross_exposure: gross exposure would be 50.00% of equity > 45%")
    assert MaxDrawdown(max_pct=10).veto(_check(drawdown_pct=12.5)) == "max_drawdown: drawdown 12.50% >= 10%"
    assert MaxDrawdown(max_pct=10).veto(_check(drawdown_pct=9.9)) is None
    assert DailyLoss(max_pct=2).veto(_check(daily_loss_pct=3.0)) == "daily_loss: down 3.00% today >= 2%"


@pytest.mark.parametrize(("limit", "reason_start"), [
    ({"type": "max_position", "max_quantity": 5}, "max_position: 10 shares of X > 5"),
    ({"type": "max_gross_exposure", "max_pct": 5}, "max_gross_exposure: gross exposure would be 11.00%"),
])
def test_exposure_limits_veto_every_entry_in_a_backtest(limit: dict, reason_start: str, engine: str) -> None:
    cfg = config([portfolio(sizer={"type": "fixed", "quantity": 10}, limits=[limit])])
    result = run_backtest(cfg, bars(UP_AND_DOWN), engine)
    assert result.trades.empty
    assert len(result.rejects) > 0
    assert result.rejects["reason"].iloc[0].startswith(reason_start)  # 10 x $11 of $1,000 = 11%


def _crash_run(limit: dict, freq: str, engine: str) -> object:
    # buy 9 shares (100% of $1,000 at $101) after bar 1, the price halves, the long closes at bar 3's open,
    # then bar 3 closes up: a new entry while equity is 631 (drawdown 36.9% from 1,000)
    closes, opens = [100.0, 101.0, 60.0, 61.0, 62.0], [100.0, 100.0, 101.0, 60.0, 61.0]
    cfg = config([portfolio(sizer={"type": "percentage", "pct": 100}, allow_short=False, limits=[limit])])
    return run_backtest(cfg, bars(closes, opens, freq=freq), engine)


def test_max_drawdown_stops_new_entries(engine: str) -> None:
    result = _crash_run({"type": "max_drawdown", "max_pct": 5}, "D", engine)
    assert list(result.trades["quantity"]) == [9, -9]  # the exit was never blocked
    equity_at_bar_3 = 1000 - 9 * 101 + 9 * 60
    assert result.rejects["reason"].iloc[0] == (
        f"max_drawdown: drawdown {100 * (1000 - equity_at_bar_3) / 1000:.2f}% >= 5%")


def test_daily_loss_counts_from_the_previous_days_close(engine: str) -> None:
    intraday = _crash_run({"type": "daily_loss", "max_pct": 5}, "h", engine)  # all bars on one day
    assert intraday.rejects["reason"].iloc[0] == "daily_loss: down 36.90% today >= 5%"
    daily = _crash_run({"type": "daily_loss", "max_pct": 5}, "D", engine)  # bar 3's day started at 631
    assert daily.rejects.empty
    # re-entry: 631 / 61 = 10.3 → 10 shares, sold at the last close (close_at_end)
    assert list(daily.trades["quantity"]) == [9, -9, 10, -10]
