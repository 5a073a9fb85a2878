"""The fast engine equals the event engine on random configs: identical trades, equity within 1e-9."""

import random
from typing import Any

import numpy as np
import pandas as pd
import pytest

from containers.components.classifiers import CLASSIFIER_PARAMS
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
        "ma_crossover": {"fast": fast, "slow": fast + rng.randint(1, 30), "average": rng.choice(["sma", "ema"])},
        "momentum": {"lookback": rng.randint(2, 30), "threshold": rng.choice([0.002, 0.01, 0.03]),
                     "rsi_period": rng.randint(3, 20)},
        "mean_reversion": {"period": rng.randint(5, 40), "num_std": rng.choice([1.0, 1.5, 2.0]),
                           "exit_z": rng.choice([0.0, 0.25, 0.5])},
        "breakout": {"period": rng.randint(3, 40)},
        "trend_following": {"fast": fast, "slow": fast + rng.randint(1, 30), "adx_threshold": rng.choice([15, 25])},
    }[kind]
    strategy: dict[str, Any] = {"name": name, "type": kind, "params": params}
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


def random_config(seed: int) -> tuple[BacktestConfig, int]:
    rng = random.Random(seed)
    n_symbols = rng.choice([1, 2, 3])
    symbols = tuple("ABC"[:n_symbols])
    classifiers = []
    for c in range(rng.choice([1, 1, 2])):
        kind = rng.choice(["volatility", "trend", "none"])
        labels = CLASSIFIER_PARAMS[kind].labels
        params = {"volatility": {"fast": rng.randint(3, 15), "slow": rng.randint(20, 60)},
                  "trend": {"fast": rng.randint(3, 15), "slow": rng.randint(20, 60)}, "none": {}}[kind]
        portfolios = [{"name": f"p{c}{k}", "capital": rng.choice([10_000, 250_000, 1_000_000]),
                       "sizer": _sizer(rng), "limits": _limits(rng), "allow_short": rng.random() < 0.7,
                       "strategies": [_strategy(rng, f"s{i}", symbols, labels) for i in range(rng.randint(1, 3))]}
                      for k in range(rng.randint(1, 2))]
        classifiers.append({"name": f"c{c}", "type": kind, "params": params, "portfolios": portfolios})
    commission = rng.choice([{"type": "none"}, {"type": "percentage", "rate_pct": 0.1, "min": 1.0},
                             {"type": "per_share", "rate": 0.005, "min": 1.0, "max": 5.0},
                             {"type": "fixed", "amount": 2.0}])
    execution = {"fill_at": rng.choice(["next_open", "next_open", "same_bar_close"]),
                 "slippage_bps": rng.choice([0, 1, 10]), "commission": commission}
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
    assert event.unfilled_orders == fast.unfilled_orders


def test_the_random_configs_exercise_every_feature() -> None:
    """Guards the parity suite itself: its configs really trade, veto, short and use every component."""
    seen: dict[str, set] = {"sizer": set(), "limit": set(), "fill_at": set(), "reason": set(), "short": set()}
    trades = 0
    for seed in range(60):
        config, n_symbols = random_config(seed)
        result = run_fast(config, DATA[n_symbols])
        trades += len(result.trades)
        seen["fill_at"].add(config.execution.fill_at)
        seen["reason"].update(reason.split(":")[0] for reason in result.rejects["reason"])
        seen["short"].add(bool((result.trades["quantity"] < 0).any()))
        for classifier in config.classifiers:
            for book in classifier.portfolios:
                seen["sizer"].add(book.sizer.type)
                seen["limit"].update(limit.type for limit in book.limits)
    assert trades > 3000
    assert seen["sizer"] == {"fixed", "percentage", "atr", "volatility"}
    assert seen["limit"] == {"max_position", "max_gross_exposure", "max_drawdown", "daily_loss"}
    assert seen["fill_at"] == {"next_open", "same_bar_close"}
    assert {"max_position", "max_gross_exposure", "max_drawdown", "daily_loss", "sizer"} <= seen["reason"]


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
