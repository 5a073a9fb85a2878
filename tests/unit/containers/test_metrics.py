"""Metric goldens: every metric of small equity curves, and per-regime metrics, computed here by hand
with the standard library (not with the code under test), plus the default annualization."""

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from containers.data.market import MarketData
from containers.metrics import compute_metrics
from containers.regime_metrics import regime_rows
from containers.run import run_backtest
from tests.helpers import bars, config, portfolio

EQUITY = [100.0, 110.0, 99.0, 105.0, 120.0, 108.0, 118.8]
EXPOSED = [False, True, True, True, False, True, True]
CLOSING_PNL = [5.0, -2.0, 0.0, 3.0, -1.0]
YEARLY = 252.0


def _by_hand() -> dict[str, float]:
    returns = [EQUITY[i] / EQUITY[i - 1] - 1 for i in range(1, len(EQUITY))]
    mean, std = statistics.fmean(returns), statistics.stdev(returns)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    growth = EQUITY[-1] / EQUITY[0]
    annualized = growth ** (YEARLY / (len(EQUITY) - 1)) - 1
    peak, worst = EQUITY[0], 0.0
    for value in EQUITY:
        peak = max(peak, value)
        worst = max(worst, (peak - value) / peak)
    wins = [p for p in CLOSING_PNL if p > 0]
    losses = [p for p in CLOSING_PNL if p < 0]
    return {
        "total_return_pct": (growth - 1) * 100, "annualized_return_pct": annualized * 100,
        "volatility_pct": std * math.sqrt(YEARLY) * 100, "sharpe_ratio": mean / std * math.sqrt(YEARLY),
        "sortino_ratio": mean / downside * math.sqrt(YEARLY), "calmar_ratio": annualized / worst,
        "max_drawdown_pct": worst * 100, "win_rate_pct": len(wins) / len(CLOSING_PNL) * 100,
        "profit_factor": sum(wins) / -sum(losses), "num_trades": len(CLOSING_PNL), "num_fills": 9,
        "exposure_pct": sum(EXPOSED) / len(EXPOSED) * 100, "final_equity": EQUITY[-1],
    }


def test_every_metric_by_hand() -> None:
    metrics = compute_metrics(np.array(EQUITY), np.array(CLOSING_PNL), 9, np.array(EXPOSED), YEARLY)
    expected = _by_hand()
    assert set(metrics.index) == set(expected)
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, rel=1e-12), name
    # the drawdown is 120 → 108: 10%; wins 5 + 3 against losses 2 + 1; 3 of 5 trades are not wins
    assert metrics["max_drawdown_pct"] == pytest.approx(10.0)
    assert metrics["profit_factor"] == pytest.approx(8 / 3)
    assert metrics["win_rate_pct"] == pytest.approx(40.0)


def test_metrics_of_a_flat_curve_and_of_no_trades() -> None:
    metrics = compute_metrics(np.full(5, 100.0), np.array([]), 0, np.zeros(5, dtype=bool), YEARLY)
    assert metrics["sharpe_ratio"] == 0 and metrics["sortino_ratio"] == 0 and metrics["calmar_ratio"] == 0
    assert metrics["max_drawdown_pct"] == 0 and metrics["win_rate_pct"] == 0 and metrics["profit_factor"] == 0


def test_per_regime_metrics_on_a_hand_built_two_regime_case() -> None:
    # returns 1→2: +10% held under regime 0 (the regime at bar 0), -10% under 0, 0% under 1, +10% under 1
    equity = np.array([[100.0], [110.0], [99.0], [99.0], [108.9]])
    codes = np.array([[0], [0], [1], [1], [0]])
    trade_pnl = np.array([4.0, -1.0, 2.0])
    rows = regime_rows(equity, codes, ["c"], [("calm", "wild")], np.array([0, 0, 0]), np.array([0, 1, 1]),
                       trade_pnl, YEARLY)
    by_regime = {row["regime"]: row for row in rows}
    assert by_regime["unknown"]["bars"] == 0
    calm, wild = by_regime["calm"], by_regime["wild"]
    assert (calm["bars"], wild["bars"]) == (3, 2)
    assert calm["return_pct"] == pytest.approx((1.1 * 0.9 - 1) * 100)
    assert calm["sharpe_ratio"] == pytest.approx(0.0, abs=1e-12)  # +10% then -10%: mean 0
    assert wild["return_pct"] == pytest.approx(10.0)
    assert wild["sharpe_ratio"] == pytest.approx(0.05 / statistics.stdev([0.0, 0.1]) * math.sqrt(YEARLY))
    assert (calm["num_trades"], calm["win_rate_pct"]) == (1, 100.0)
    assert (wild["num_trades"], wild["win_rate_pct"]) == (2, 50.0)


def _stamps(days: list[pd.Timestamp], minutes: int) -> np.ndarray:
    return np.concatenate([np.asarray(day + pd.to_timedelta(np.arange(minutes), unit="min"), dtype="datetime64[ns]")
                           for day in days])


def test_default_periods_per_year_counts_bars_over_the_years_they_span() -> None:
    # regular-hours minute bars: 390 a day on weekdays, 9:30 to 15:59, for a year
    days = [day + pd.Timedelta(hours=9, minutes=30) for day in pd.bdate_range("2023-01-02", "2023-12-29")]
    stamps = _stamps(days, 390)
    data = MarketData(stamps, ("X",), *(np.ones((len(stamps), 1)) for _ in range(5)))
    span_years = (pd.Timestamp(stamps[-1]) - pd.Timestamp(stamps[0])) / pd.Timedelta(days=365.25)
    assert data.periods_per_year() == pytest.approx((len(stamps) - 1) / span_years, rel=1e-12)
    assert 95_000 < data.periods_per_year() < 105_000  # not 525,960 (one a minute, all year)


def test_annualized_return_of_a_backtest_is_the_compound_annual_growth(engine: str) -> None:
    # a long bought at bar 1's open (100) and marked at 121 two years (731 days) after the first bar
    data = bars([100.0, 110.0, 121.0], opens=[100.0, 100.0, 110.0])
    stamps = np.array(["2020-01-01", "2021-01-01", "2022-01-01"], dtype="datetime64[ns]")
    data = MarketData(stamps, data.symbols, data.open, data.high, data.low, data.close, data.volume)
    cfg = config([portfolio(capital=2000.0, sizer={"type": "fixed", "quantity": 10})],
                 execution={"commission": {"type": "none"}, "close_at_end": False},
                 classifier="none")
    # bar 0 has no signal yet (SMA(2)); bar 1 closes up → long 10 at bar 2's open 110, marked at 121
    result = run_backtest(cfg, data, engine)
    growth = (2000 + 10 * (121 - 110)) / 2000
    assert result.metrics["annualized_return_pct"] == pytest.approx((growth ** (365.25 / 731) - 1) * 100, rel=1e-12)
