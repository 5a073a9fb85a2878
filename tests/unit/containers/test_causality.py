"""Causality: changing bars after t changes nothing at or before t, for every indicator, classifier,
strategy and for a whole backtest; and the hub refuses to serve a bar that has not happened."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from containers.components.classifiers import CLASSIFIER_PARAMS
from containers.components.indicators import INDICATORS, IndicatorSpec, compute
from containers.components.strategies import STRATEGY_PARAMS
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


RULES = [(kind, model(), "signal") for kind, model in STRATEGY_PARAMS.items()] + [
    (kind, model(), "regime") for kind, model in CLASSIFIER_PARAMS.items()]


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
    inputs = {"sma": STRATEGY_PARAMS["ma_crossover"](fast=5, slow=9).inputs()["fast"]}
    assert hub.values_at(inputs, 0, 10)["sma"] == DATA.close[6:11, 0].mean()
    with pytest.raises(FutureAccessError):
        hub.values_at(inputs, 0, 11)


def test_whole_backtest_is_causal(engine: str) -> None:
    strategies = [{"name": kind, "type": kind} for kind in STRATEGY_PARAMS]
    cfg = config([portfolio(capital=1e6, strategies=strategies, sizer={"type": "atr", "risk_pct": 0.5})],
                 classifier="volatility", classifier_params={"fast": 10, "slow": 40})
    base = run_backtest(cfg, DATA, engine)
    for i, t in enumerate(CUTS[:2]):
        changed = run_backtest(cfg, _with_new_future(DATA, t, seed=20 + i), engine)
        pd.testing.assert_frame_equal(base.equity.iloc[: t + 1], changed.equity.iloc[: t + 1])
        # orders placed at t fill at t+1's open, which belongs to the changed future
        pd.testing.assert_frame_equal(base.trades[base.trades["bar_index"] <= t],
                                      changed.trades[changed.trades["bar_index"] <= t])
