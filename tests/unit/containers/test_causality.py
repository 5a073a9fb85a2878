"""Causality: changing bars after t changes nothing at or before t, for every indicator, classifier,
strategy and for a whole backtest; and the hub refuses to serve a bar that has not happened."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from containers.components.classifiers import CLASSIFIERS
from containers.components.indicators import INDICATORS, IndicatorSpec, compute
from containers.components.strategies import STRATEGIES
from containers.data.config import SyntheticData
from containers.data.market import PRICE_FIELDS, MarketData
from containers.data.synthetic import generate_synthetic
from containers.hub import FutureAccessError, IndicatorHub, plan
from containers.run import run_backtest
from tests.helpers import config, portfolio

DATA = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=400, seed=11))
PARAMS_BY_ARITY = {1: (14,), 2: (20, 2.0), 3: (12, 26, 9)}
CUTS = [60, 150, 233, 371]


def _with_new_future(data: MarketData, t: int, seed: int) -> MarketData:
    """The same bars up to t; after t, a different but valid random path."""
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.normal(0, 0.05, size=(data.n_bars - t - 1, data.n_symbols)).cumsum(axis=0))
    fields = {name: data.field(name).copy() for name in PRICE_FIELDS}
    for name in ("open", "high", "low", "close"):
        fields[name][t + 1:] *= scale
    fields["volume"][t + 1:] = rng.uniform(1, 1e6, size=scale.shape)
    return replace(data, **fields)


@pytest.mark.parametrize("kind", sorted(INDICATORS))
def test_every_indicator_is_causal(kind: str) -> None:
    spec = IndicatorSpec(kind, PARAMS_BY_ARITY[INDICATORS[kind].arity])
    base = compute(spec, DATA)
    for i, t in enumerate(CUTS):
        changed = compute(spec, _with_new_future(DATA, t, seed=i))
        for key in base:
            np.testing.assert_array_equal(base[key][: t + 1], changed[key][: t + 1])
            assert not np.array_equal(base[key][t + 1:], changed[key][t + 1:], equal_nan=True)


def _series(rule: object, data: MarketData, method: str) -> np.ndarray:
    """The rule over whole columns (symbol 0) — the vectorized path the fast engine uses."""
    hub = IndicatorHub(data, plan(rule.inputs().values()))
    now = hub.columns(rule.inputs(), 0)
    prev = hub.columns(rule.inputs(), 0, lag=1)
    return np.broadcast_to(np.asarray(getattr(rule, method)(now, prev), dtype=np.float64), (data.n_bars,))


RULES = [(kind, model(), "signal") for kind, model in STRATEGIES.items()] + [
    (kind, model(), "regime") for kind, model in CLASSIFIERS.items()]


@pytest.mark.parametrize(("kind", "rule", "method"), RULES, ids=[kind for kind, _, _ in RULES])
def test_every_strategy_and_classifier_is_causal(kind: str, rule: object, method: str) -> None:
    base = _series(rule, DATA, method)
    for i, t in enumerate(CUTS):
        changed = _series(rule, _with_new_future(DATA, t, seed=10 + i), method)
        np.testing.assert_array_equal(base[: t + 1], changed[: t + 1])


@pytest.mark.parametrize(("kind", "rule", "method"), RULES, ids=[kind for kind, _, _ in RULES])
def test_per_bar_evaluation_equals_the_vectorized_rule(kind: str, rule: object, method: str) -> None:
    hub = IndicatorHub(DATA, plan(rule.inputs().values()))
    hub.current_bar = DATA.n_bars - 1
    per_bar = [float(getattr(rule, method)(hub.values_at(rule.inputs(), 0, t), hub.values_at(rule.inputs(), 0, t - 1)))
               for t in range(DATA.n_bars)]
    np.testing.assert_array_equal(per_bar, _series(rule, DATA, method))


def test_hub_refuses_future_bars() -> None:
    hub = IndicatorHub(DATA, [IndicatorSpec("sma", (5,))])
    hub.current_bar = 10
    inputs = {"sma": STRATEGIES["ma_crossover"](fast=5, slow=9).inputs()["fast"]}
    assert hub.values_at(inputs, 0, 10)["sma"] == DATA.close[6:11, 0].mean()
    with pytest.raises(FutureAccessError):
        hub.values_at(inputs, 0, 11)


def test_whole_backtest_is_causal(engine: str) -> None:
    strategies = [{"name": kind, "type": kind} for kind in STRATEGIES]
    cfg = config([portfolio(capital=1e6, strategies=strategies, sizer={"type": "atr", "risk_pct": 0.5})],
                 classifier="volatility", classifier_params={"fast": 10, "slow": 40})
    base = run_backtest(cfg, DATA, engine)
    for i, t in enumerate(CUTS[:2]):
        changed = run_backtest(cfg, _with_new_future(DATA, t, seed=20 + i), engine)
        pd.testing.assert_frame_equal(base.equity.iloc[: t + 1], changed.equity.iloc[: t + 1])
        # orders placed at t fill at t+1's open, which belongs to the changed future
        pd.testing.assert_frame_equal(base.trades[base.trades["bar_index"] <= t],
                                      changed.trades[changed.trades["bar_index"] <= t])


def _with_new_timeline(data: MarketData, t: int, seed: int) -> MarketData:
    """A new future after t in prices and in time: from bar t+1 on, bars are a day apart (hourly before)."""
    changed = _with_new_future(data, t, seed)
    stamps = data.timestamps.copy()
    stamps[t + 1:] = stamps[t] + np.arange(1, data.n_bars - t) * np.timedelta64(1, "D")
    return replace(changed, timestamps=stamps)


ENSEMBLE = config(
    [portfolio(capital=1e6, sizer={"type": "volatility", "target_vol_pct": 15, "lookback": 10},
               strategies=[{"name": "xo", "type": "ma_crossover", "params": {"fast": 3, "slow": 15}},
                           {"name": "mom", "type": "momentum", "weight": 2.0, "regimes": ["high_volatility"]},
                           {"name": "brk", "type": "breakout", "params": {"period": 12}}],
               aggregation={"type": "weighted", "min_agreement": 0.6},
               weights={"low_volatility": {"xo": 1.0, "brk": 0.5}},
               rebalance={"type": "threshold_pct", "pct": 10}, leverage=2.0)],
    classifier="volatility", classifier_params={"fast": 10, "slow": 40})


@pytest.mark.parametrize("t", CUTS)
def test_aggregated_ensemble_sized_with_the_estimated_annualization_is_causal(t: int, engine: str) -> None:
    """No configured periods_per_year: sizing must use only the bars so far, even when the future's spacing
    (and so any whole-file estimate) changes."""
    base = run_backtest(ENSEMBLE, DATA, engine)
    changed = run_backtest(ENSEMBLE, _with_new_timeline(DATA, t, seed=30 + t), engine)
    assert len(base.trades) > 20
    pd.testing.assert_frame_equal(base.equity.iloc[: t + 1], changed.equity.iloc[: t + 1])
    pd.testing.assert_frame_equal(base.trades[base.trades["bar_index"] <= t],
                                  changed.trades[changed.trades["bar_index"] <= t])
    pd.testing.assert_frame_equal(base.rejects[base.rejects["bar_index"] <= t],
                                  changed.rejects[changed.rejects["bar_index"] <= t])


def test_a_truncated_file_trades_like_the_whole_one_before_its_end(engine: str) -> None:
    whole = run_backtest(ENSEMBLE, DATA, engine)
    for end in CUTS:
        cut = run_backtest(ENSEMBLE, DATA.slice(0, end + 1), engine)  # its last bar, `end`, closes everything
        pd.testing.assert_frame_equal(cut.trades[cut.trades["bar_index"] < end],
                                      whole.trades[whole.trades["bar_index"] < end])
        pd.testing.assert_frame_equal(cut.equity.iloc[:end], whole.equity.iloc[:end])
