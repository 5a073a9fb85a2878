"""The fast engine equals the event engine on random configs: identical trades, equity within 1e-9.

The configs draw 1 to 4 strategies per portfolio, every aggregator, per-regime weight maps, both
rebalance rules, cash-only and leveraged portfolios, every sizer, limit and cost model, both fill
rules and close_at_end on and off; a guard test checks they really exercise all of it.
"""

import random
from typing import Any

import numpy as np
import pandas as pd
import pytest

from containers.aggregation import AGGREGATORS
from containers.components.classifiers import CLASSIFIERS
from containers.config import BacktestConfig
from containers.data.config import SyntheticData
from containers.data.synthetic import generate_synthetic
from containers.fast import run_batch, run_fast
from containers.paths import with_params
from containers.run import run_backtest

DATA = {n: generate_synthetic(SyntheticData(symbols=tuple("ABC"[:n]), bars=500, seed=40 + n, freq="1h"))
        for n in (1, 2, 3)}


def _strategy(rng: random.Random, name: str, symbols: tuple[str, ...], labels: tuple[str, ...]) -> dict[str, Any]:
    kind = rng.choice(["ma_crossover", "momentum", "mean_reversion", "breakout", "trend_following"])
    fast = rng.randint(2, 15)
    params = {
        "ma_crossover": {"fast": fast, "slow": fast + rng.randint(1, 30), "average": rng.choice(["sma", "ema"]),
                         "signal": rng.choice(["state", "cross"])},
        "momentum": {"lookback": rng.randint(2, 30), "threshold": rng.choice([0.002, 0.01, 0.03]),
                     "rsi_period": rng.randint(3, 20)},
        "mean_reversion": {"period": rng.randint(5, 40), "num_std": rng.choice([1.0, 1.5, 2.0]),
                           "exit_z": rng.choice([0.0, 0.25, 0.5])},
        "breakout": {"period": rng.randint(3, 40)},
        "trend_following": {"fast": fast, "slow": fast + rng.randint(1, 30), "adx_threshold": rng.choice([15, 25])},
    }[kind]
    strategy: dict[str, Any] = {"name": name, "type": kind, "params": params,
                                "weight": rng.choice([1.0, 1.0, 0.5, 2.0, 0.0])}
    if rng.random() < 0.5:
        strategy["symbols"] = rng.sample(symbols, rng.randint(1, len(symbols)))
    if rng.random() < 0.3:
        strategy["regimes"] = rng.sample(labels, 1)
    return strategy


def _sizer(rng: random.Random) -> dict[str, Any]:
    return rng.choice([
        {"type": "fixed", "quantity": rng.randint(1, 400)},
        {"type": "percentage", "pct": rng.choice([5, 20, 60, 150])},
        {"type": "atr", "risk_pct": rng.choice([0.5, 1, 3]), "period": rng.randint(3, 20),
         "multiplier": rng.choice([1.0, 2.5]), "max_pct": rng.choice([None, 30, 200])},
        {"type": "volatility", "target_vol_pct": rng.choice([5, 15, 40]), "lookback": rng.randint(3, 30),
         "max_pct": rng.choice([20, 100])},
    ])


def _limits(rng: random.Random) -> list[dict[str, Any]]:
    pool = [{"type": "max_position", "max_quantity": rng.choice([None, 50, 500]), "max_pct": rng.choice([25, 80])},
            {"type": "max_gross_exposure", "max_pct": rng.choice([30, 100, 250])},
            {"type": "max_drawdown", "max_pct": rng.choice([2, 5, 15])},
            {"type": "daily_loss", "max_pct": rng.choice([0.5, 1, 3])}]
    return rng.sample(pool, rng.randint(0, len(pool)))


def _book(rng: random.Random, name: str, symbols: tuple[str, ...], labels: tuple[str, ...]) -> dict[str, Any]:
    strategies = [_strategy(rng, f"s{i}", symbols, labels) for i in range(rng.randint(1, 4))]
    book: dict[str, Any] = {
        "name": name, "capital": rng.choice([10_000, 250_000, 1_000_000]), "sizer": _sizer(rng),
        "limits": _limits(rng), "allow_short": rng.random() < 0.7,
        "leverage": rng.choice([None, None, 1.0, 1.5, 3.0]),
        "aggregation": {"type": rng.choice(list(AGGREGATORS)), "min_agreement": rng.choice([0.0, 0.0, 0.6]),
                        "min_signals": rng.choice([1, 1, 2])},
        "rebalance": rng.choice([{"type": "on_direction_change"}, {"type": "threshold_pct", "pct": 2},
                                 {"type": "threshold_pct", "pct": 20}]),
        "strategies": strategies}
    if rng.random() < 0.35:
        regimes = rng.sample(("unknown", *labels), rng.randint(1, len(labels)))
        book["weights"] = {regime: {s["name"]: rng.choice([0.0, 0.3, 1.0]) for s in strategies
                                    if rng.random() < 0.8} for regime in regimes}
    return book


def random_config(seed: int) -> tuple[BacktestConfig, int]:
    rng = random.Random(seed)
    n_symbols = rng.choice([1, 2, 3])
    symbols = tuple("ABC"[:n_symbols])
    classifiers = []
    for c in range(rng.choice([1, 1, 2])):
        kind = rng.choice(["volatility", "trend", "none"])
        labels = CLASSIFIERS[kind].labels
        params = {"volatility": {"fast": rng.randint(3, 15), "slow": rng.randint(20, 60)},
                  "trend": {"fast": rng.randint(3, 15), "slow": rng.randint(20, 60)}, "none": {}}[kind]
        portfolios = [_book(rng, f"p{c}{k}", symbols, labels) for k in range(rng.randint(1, 2))]
        classifiers.append({"name": f"c{c}", "type": kind, "params": params, "portfolios": portfolios})
    commission = rng.choice([{"type": "none"}, {"type": "percentage", "rate_pct": 0.1, "min": 1.0},
                             {"type": "per_share", "rate": 0.005, "min": 1.0, "max": 5.0},
                             {"type": "fixed", "amount": 2.0}])
    execution = {"fill_at": rng.choice(["next_open", "next_open", "same_bar_close"]),
                 "slippage_bps": rng.choice([0, 1, 10]), "commission": commission,
                 "close_at_end": rng.random() < 0.7}
    config = BacktestConfig.model_validate({"data": {"synthetic": {"symbols": list(symbols)}},
                                            "execution": execution, "classifiers": classifiers})
    return config, n_symbols


@pytest.mark.parametrize("seed", range(60))
def test_fast_engine_equals_event_engine(seed: int) -> None:
    config, n_symbols = random_config(seed)
    data = DATA[n_symbols]
    event, fast = run_backtest(config, data, "event"), run_backtest(config, data, "fast")
    assert (event.engine, fast.engine) == ("event", "fast")
    pd.testing.assert_frame_equal(event.trades.drop(columns=["price", "commission", "slippage_cost", "realized_pnl"]),
                                  fast.trades.drop(columns=["price", "commission", "slippage_cost", "realized_pnl"]))
    pd.testing.assert_frame_equal(event.trades, fast.trades, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(event.equity, fast.equity, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(event.rejects, fast.rejects)
    pd.testing.assert_frame_equal(event.regimes, fast.regimes)
    pd.testing.assert_series_equal(event.metrics, fast.metrics, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(event.open_positions, fast.open_positions, check_exact=False, rtol=1e-9)
    assert event.unfilled_orders == fast.unfilled_orders


def _resizes(trades: pd.DataFrame) -> int:
    """Fills that add to an open position in its own direction (only threshold rebalancing makes them)."""
    count = 0
    for _, fills in trades.groupby(["portfolio", "symbol"]):
        held = fills["quantity"].cumsum().shift(fill_value=0.0)
        count += int(((held != 0) & (np.sign(held) == np.sign(fills["quantity"]))).sum())
    return count


def test_the_random_configs_exercise_every_feature() -> None:
    """Guards the parity suite itself: its configs really trade, veto, short, combine several strategies
    and use every component, aggregator and rule."""
    seen: dict[str, set] = {"sizer": set(), "limit": set(), "fill_at": set(), "reason": set(), "short": set(),
                            "aggregator": set(), "rebalance": set(), "close_at_end": set()}
    trades = resizes = shared_entries = weight_maps = open_at_end = 0
    for seed in range(60):
        config, n_symbols = random_config(seed)
        result = run_fast(config, DATA[n_symbols])
        trades += len(result.trades)
        resizes += _resizes(result.trades)
        shared_entries += int(result.trades["strategy"].str.contains("+", regex=False).sum())
        open_at_end += len(result.open_positions)
        seen["fill_at"].add(config.execution.fill_at)
        seen["close_at_end"].add(config.execution.close_at_end)
        seen["reason"].update(reason.split(":")[0] for reason in result.rejects["reason"])
        seen["short"].add(bool((result.trades["quantity"] < 0).any()))
        for classifier in config.classifiers:
            for book in classifier.portfolios:
                seen["sizer"].add(book.sizer.type)
                seen["limit"].update(limit.type for limit in book.limits)
                seen["aggregator"].add(book.aggregation.type)
                seen["rebalance"].add(book.rebalance.type)
                weight_maps += book.weights is not None
    assert trades > 3000
    assert seen["sizer"] == {"fixed", "percentage", "atr", "volatility"}
    assert seen["limit"] == {"max_position", "max_gross_exposure", "max_drawdown", "daily_loss"}
    assert seen["fill_at"] == {"next_open", "same_bar_close"}
    assert seen["aggregator"] == set(AGGREGATORS)
    assert seen["rebalance"] == {"on_direction_change", "threshold_pct"}
    assert seen["close_at_end"] == {True, False}
    assert {"max_position", "max_gross_exposure", "max_drawdown", "daily_loss", "sizer", "cash",
            "leverage"} <= seen["reason"]
    assert resizes > 20 and shared_entries > 20 and weight_maps > 10 and open_at_end > 5


def test_batch_gives_each_parameter_set_exactly_its_single_run() -> None:
    config = BacktestConfig.model_validate({
        "data": {"synthetic": {"symbols": ["A", "B"]}},
        "execution": {"commission": {"type": "percentage", "rate_pct": 0.1}, "slippage_bps": 2},
        "classifiers": [{"name": "vol", "type": "volatility", "portfolios": [
            {"name": "p", "capital": 100_000, "sizer": {"type": "percentage", "pct": 30},
             "limits": [{"type": "max_gross_exposure", "max_pct": 50}],
             "strategies": [{"name": "xo", "type": "ma_crossover"}, {"name": "mom", "type": "momentum"}]},
            {"name": "q", "capital": 50_000, "strategies": [{"name": "brk", "type": "breakout"}]}]}]})
    data = DATA[2]
    param_sets = [{"fast": f, "slow": s} for f in (3, 5, 10) for s in (20, 40)] + [{"fast": 5, "average": "ema"}]
    batch = run_batch(config, data, "p", "xo", param_sets)
    assert list(batch.columns[:3]) == ["fast", "slow", "average"]
    assert len(batch) == len(param_sets)
    for i, params in enumerate(param_sets):
        single = run_fast(with_params(config, {f"p.xo.{k}": v for k, v in params.items()}), data).metrics
        np.testing.assert_array_equal(batch.iloc[i][single.index].to_numpy(dtype=float), single.to_numpy())
    event = run_backtest(with_params(config, {f"p.xo.{k}": v for k, v in param_sets[0].items()}), data, "event").metrics
    np.testing.assert_allclose(batch.iloc[0][event.index].to_numpy(dtype=float), event.to_numpy(), rtol=1e-9)
    assert batch["num_fills"].nunique() > 1  # the parameters really changed the backtest
