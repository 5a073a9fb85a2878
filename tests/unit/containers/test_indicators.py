"""Indicators against plain-loop reference implementations, and the hub computing each one once."""

import math

import numpy as np

from containers.components.indicators import IndicatorSpec, compute
from containers.config import BacktestConfig
from containers.data.config import SyntheticData
from containers.data.synthetic import generate_synthetic
from containers.factory import build_backtest
from tests.helpers import bars

DATA = generate_synthetic(SyntheticData(symbols=("A",), bars=120, seed=3))
CLOSE = DATA.close[:, 0]


def _value(kind: str, *params: float, output: str | None = None) -> np.ndarray:
    spec = IndicatorSpec(kind, params)
    return compute(spec, DATA)[spec.output(output)][:, 0]


def _wilder_loop(values: list[float], period: int) -> list[float]:
    """Wilder smoothing as a recursion started at the first value (pandas ewm adjust=False does the same)."""
    out, state, seen = [], math.nan, 0
    for value in values:
        if math.isnan(value):
            out.append(math.nan)
            continue
        seen += 1
        state = value if seen == 1 else state + (value - state) / period
        out.append(state if seen >= period else math.nan)
    return out


def test_sma_and_ema_by_loop() -> None:
    sma = [math.nan] * 9 + [sum(CLOSE[t - 9:t + 1]) / 10 for t in range(9, len(CLOSE))]
    np.testing.assert_allclose(_value("sma", 10), sma, rtol=1e-12)
    alpha, state, ema = 2 / 11, CLOSE[0], []
    for t, price in enumerate(CLOSE):
        state = price if t == 0 else alpha * price + (1 - alpha) * state
        ema.append(state if t >= 9 else math.nan)
    np.testing.assert_allclose(_value("ema", 10), ema, rtol=1e-12)


def test_rsi_by_loop() -> None:
    changes = [math.nan] + [CLOSE[t] - CLOSE[t - 1] for t in range(1, len(CLOSE))]
    gains = _wilder_loop([c if math.isnan(c) else max(c, 0.0) for c in changes], 14)
    losses = _wilder_loop([c if math.isnan(c) else max(-c, 0.0) for c in changes], 14)
    rsi = [math.nan if math.isnan(g) else 100 - 100 / (1 + g / ls) for g, ls in zip(gains, losses, strict=True)]
    np.testing.assert_allclose(_value("rsi", 14), rsi, rtol=1e-10)


def test_rsi_is_100_without_losses() -> None:
    rising = bars([float(p) for p in range(10, 40)])
    spec = IndicatorSpec("rsi", (5,))
    assert compute(spec, rising)[spec.key][-1, 0] == 100.0


def test_atr_donchian_roc_realized_vol_bollinger_by_loop() -> None:
    high, low = DATA.high[:, 0], DATA.low[:, 0]
    true_range = [high[0] - low[0]] + [max(high[t] - low[t], abs(high[t] - CLOSE[t - 1]), abs(low[t] - CLOSE[t - 1]))
                                       for t in range(1, len(CLOSE))]
    np.testing.assert_allclose(_value("atr", 14), _wilder_loop(true_range, 14), rtol=1e-10)
    t = 50
    assert _value("donchian", 20, output="upper")[t] == max(high[t - 19:t + 1])
    assert _value("donchian", 20, output="lower")[t] == min(low[t - 19:t + 1])
    assert math.isclose(_value("roc", 5)[t], CLOSE[t] / CLOSE[t - 5] - 1)
    log_returns = [math.log(CLOSE[i] / CLOSE[i - 1]) for i in range(t - 9, t + 1)]
    assert math.isclose(_value("realized_vol", 10)[t], float(np.std(log_returns, ddof=1)), rel_tol=1e-10)
    window = CLOSE[t - 19:t + 1]
    mid, std = sum(window) / 20, math.sqrt(sum((x - sum(window) / 20) ** 2 for x in window) / 20)
    assert math.isclose(_value("bollinger", 20, 2.0, output="upper")[t], mid + 2 * std, rel_tol=1e-12)


def test_adx_bounds_and_macd_identity() -> None:
    adx = _value("adx", 14, output="adx")
    assert np.isnan(adx[:20]).any() and np.all((adx[~np.isnan(adx)] >= 0) & (adx[~np.isnan(adx)] <= 100))
    line, signal, hist = (_value("macd", 12, 26, 9, output=name) for name in ("macd", "signal", "hist"))
    np.testing.assert_allclose(hist, line - signal, equal_nan=True)


def test_shared_indicators_are_computed_once() -> None:
    # two classifiers x two strategies that all need SMA(20), plus the trend classifier's SMA(20)
    strategies = [{"name": "a", "type": "ma_crossover", "params": {"fast": 20, "slow": 50}},
                  {"name": "b", "type": "trend_following", "params": {"fast": 20, "slow": 50}}]
    cfg = BacktestConfig.model_validate({
        "data": {"synthetic": {"symbols": ["A"]}},
        "classifiers": [
            {"name": "c1", "type": "trend", "params": {"fast": 20, "slow": 50},
             "portfolios": [{"name": "p1", "capital": 1e5, "strategies": strategies}]},
            {"name": "c2", "type": "trend", "params": {"fast": 20, "slow": 50},
             "portfolios": [{"name": "p2", "capital": 1e5, "strategies": strategies}]},
        ]})
    hub = build_backtest(cfg, DATA).hub
    assert hub.computations["sma_20"] == 1
    assert hub.computations["sma_50"] == 1
    assert set(hub.computations.values()) == {1}
    np.testing.assert_allclose(hub.arrays["sma_20"][:, 0], _value("sma", 20), rtol=0)
