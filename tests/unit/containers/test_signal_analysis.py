"""Signal analysis against figures computed by hand on a six-bar series (scenario 18)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from containers.data.config import SyntheticData
from containers.data.market import MarketData
from containers.data.synthetic import generate_synthetic
from containers.signal_analysis import (
    StrategySignals,
    correlation,
    distribution,
    signal_bars,
    signal_table,
    summarize,
)
from containers.signal_patterns import SignalLogs, analyze, generate_signals
from tests.unit.containers.test_signal_patterns import _config

NAN = np.nan
CLOSE = np.array([100.0, 101, 99, 104, 98, 100])
HIGH = np.array([100.0, 103, 100, 106, 99, 101])
LOW = np.array([99.0, 100, 97, 103, 96, 99])
STANDING = np.array([NAN, 0.5, 0.5, -1.0, -1.0, 0.0])  # long (0.5) at bar 1, short at bar 3, flat at 5
REGIMES = np.array(["unknown", "low", "low", "high", "high", "high"], dtype=object)


def _data() -> MarketData:
    column = lambda values: values.reshape(-1, 1)  # noqa: E731
    return MarketData(timestamps=pd.date_range("2024-01-01", periods=6, freq="h").to_numpy(), symbols=("A",),
                      open=column(CLOSE), high=column(HIGH), low=column(LOW), close=column(CLOSE),
                      volume=column(np.full(6, 1000.0)))


def _one() -> list[StrategySignals]:
    return [StrategySignals("p.s", {"A": STANDING}, REGIMES)]


def test_signals_are_the_bars_that_ask_for_a_new_side() -> None:
    assert signal_bars(STANDING).tolist() == [1, 3]
    assert signal_bars(np.array([1.0, 1.0, 0.5, NAN, -0.2, 0.0, -0.1])).tolist() == [0, 4, 6]


def test_forward_returns_and_excursions_by_hand() -> None:
    table = signal_table(_one(), _data())
    long, short = table.iloc[0], table.iloc[1]
    assert (long["bar"], long["direction"], long["strength"], long["price"]) == (1, 1, 0.5, 101.0)
    assert long["forward_1"] == pytest.approx(99 / 101 - 1)
    assert np.isnan(long["forward_5"]) and np.isnan(long["forward_20"])  # past the data's end
    # bars 2..5 follow: the highest high 106 (2 bars on), the lowest low 96 (3 bars on)
    assert long["mfe"] == pytest.approx(106 / 101 - 1) and long["mfe_bars"] == 2
    assert long["mae"] == pytest.approx(96 / 101 - 1) and long["mae_bars"] == 3
    assert (short["bar"], short["direction"], short["strength"]) == (3, -1, 1.0)
    assert short["forward_1"] == pytest.approx(1 - 98 / 104)
    # bars 4..5: a short's best is the lowest low (96, 1 bar on), its worst the highest high (101, 2 on)
    assert short["mfe"] == pytest.approx(1 - 96 / 104) and short["mfe_bars"] == 1
    assert short["mae"] == pytest.approx(1 - 101 / 104) and short["mae_bars"] == 2
    assert list(table["regime"]) == ["low", "high"]


def test_summary_per_strategy_and_regime_by_hand() -> None:
    summary = summarize(signal_table(_one(), _data()), ["p.s"]).set_index("regime")
    whole = summary.loc["all"]
    first = [99 / 101 - 1, 1 - 98 / 104]
    assert whole["signals"] == 2 and whole["win_rate_1"] == 0.5
    assert whole["expectancy_1"] == pytest.approx(0.5 * first[1] + 0.5 * first[0])
    assert whole["average_forward_1"] == pytest.approx(sum(first) / 2)
    assert whole["average_mae"] == pytest.approx((96 / 101 - 1 + 1 - 101 / 104) / 2)
    assert whole["average_mfe"] == pytest.approx((106 / 101 - 1 + 1 - 96 / 104) / 2)
    assert whole["mfe_mae_ratio"] == pytest.approx(whole["average_mfe"] / abs(whole["average_mae"]))
    assert whole["average_mfe_bars"] == 1.5 and whole["average_mae_bars"] == 2.5
    assert whole["strength_mean"] == 0.75 and whole["strength_std"] == 0.25
    assert summary.loc["low", "signals"] == 1 and summary.loc["low", "win_rate_1"] == 0.0
    assert summary.loc["high", "signals"] == 1 and summary.loc["high", "win_rate_1"] == 1.0


def test_distribution_and_correlation_by_hand() -> None:
    spread = distribution(signal_table(_one(), _data()))
    assert spread["mfe"]["min"] == pytest.approx(106 / 101 - 1) and spread["mfe"]["max"] == pytest.approx(1 - 96 / 104)
    assert spread["mae"]["median"] == pytest.approx((96 / 101 - 1 + 1 - 101 / 104) / 2)
    both = [*_one(), StrategySignals("p.t", {"A": -STANDING}, REGIMES),
            StrategySignals("p.u", {"A": np.array([1.0, 1, 1, 1, 1, 0])}, REGIMES)]
    matrix = correlation(both, _data())
    assert matrix.loc["p.s", "p.t"] == pytest.approx(-1.0)
    a, u = np.nan_to_num(STANDING), np.array([1.0, 1, 1, 1, 1, 0])
    assert matrix.loc["p.s", "p.u"] == pytest.approx(np.corrcoef(a, u)[0, 1])


def test_analysis_of_a_generation_run_reads_the_logs(tmp_path: Path) -> None:
    data = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=400, seed=8, freq="1h"))
    generate_signals(_config(), data, tmp_path)
    result = analyze(_config(), data, SignalLogs(_config(), data, tmp_path))
    assert set(result.summary["strategy"]) == {"p.xo", "p.mr"}
    assert set(result.signals["symbol"]) == {"A", "B"}
    labels = {"unknown", "low_volatility", "high_volatility"}
    assert set(result.summary["regime"]) <= labels | {"all"}
    assert list(result.correlation.columns) == ["p.xo", "p.mr"]
    whole = result.summary.set_index(["strategy", "regime"])
    assert whole.loc[("p.xo", "all"), "signals"] == (result.signals["strategy"] == "p.xo").sum() > 0


def test_longer_horizons_and_the_20_bar_window_on_a_ramp_by_hand() -> None:
    """close = 100 + t, high = close + 1, low = close - 1 over 40 bars; a long at bar 2, a short at 30."""
    t = np.arange(40.0)
    close, high, low = 100 + t, 101 + t, 99 + t
    column = lambda values: values.reshape(-1, 1)  # noqa: E731
    data = MarketData(timestamps=pd.date_range("2024-01-01", periods=40, freq="h").to_numpy(), symbols=("A",),
                      open=column(close), high=column(high), low=column(low), close=column(close),
                      volume=column(np.full(40, 1.0)))
    standing = np.full(40, np.nan)
    standing[2:30], standing[30:] = 1.0, -1.0
    table = signal_table([StrategySignals("p.s", {"A": standing}, np.full(40, "all", dtype=object))], data)
    long, short = table.iloc[0], table.iloc[1]
    assert long["forward_5"] == pytest.approx(107 / 102 - 1) and long["forward_20"] == pytest.approx(122 / 102 - 1)
    # the window is bars 3..22, not beyond: the best high is bar 22's (123), 20 bars on; the worst low bar 3's
    assert long["mfe"] == pytest.approx(123 / 102 - 1) and long["mfe_bars"] == 20
    assert long["mae"] == pytest.approx(102 / 102 - 1) and long["mae_bars"] == 1
    assert short["forward_5"] == pytest.approx(1 - 135 / 130) and np.isnan(short["forward_10"])
    # 9 bars follow the short (31..39): its worst is the highest high (bar 39: 140), its best the lowest low
    assert short["mae"] == pytest.approx(1 - 140 / 130) and short["mae_bars"] == 9
    assert short["mfe"] == pytest.approx(1 - 130 / 130) and short["mfe_bars"] == 1
