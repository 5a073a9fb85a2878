"""The contract of every registered component: each strategy, classifier, sizer, limit, cost model and
aggregator runs through both engines with the same result, and what it returns has the agreed shape.
A component added to a registry is picked up here without editing this file."""

from typing import Any

import numpy as np
import pandas as pd
import pytest

from containers.aggregation import AGGREGATORS, Aggregation
from containers.components.classifiers import CLASSIFIERS
from containers.components.costs import COMMISSIONS, Commission
from containers.components.limits import LIMITS, Limit
from containers.components.sizers import SIZERS, Sizer
from containers.components.strategies import STRATEGIES
from containers.config import BacktestConfig
from containers.data.config import SyntheticData
from containers.data.synthetic import generate_synthetic
from containers.run import run_backtest

DATA = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=600, seed=5, freq="1h"))
STRATEGY_MIX = [{"name": "xo", "type": "ma_crossover", "params": {"fast": 5, "slow": 20}},
                {"name": "brk", "type": "breakout", "params": {"period": 15}}]


def _config(book: dict[str, Any], classifier: dict[str, Any] | None = None,
            execution: dict[str, Any] | None = None) -> BacktestConfig:
    book = {"name": "p", "capital": 100_000, "sizer": {"type": "percentage", "pct": 20}, "leverage": 2.0,
            "strategies": STRATEGY_MIX, **book}
    return BacktestConfig.model_validate({
        "data": {"synthetic": {"symbols": ["A", "B"]}},
        "execution": execution or {"commission": {"type": "percentage", "rate_pct": 0.05}, "slippage_bps": 1},
        "classifiers": [{"name": "c", "type": "volatility", "params": {"fast": 10, "slow": 40}, **(classifier or {}),
                         "portfolios": [book]}]})


def _same_in_both_engines(config: BacktestConfig) -> pd.DataFrame:
    event, fast = run_backtest(config, DATA, "event"), run_backtest(config, DATA, "fast")
    pd.testing.assert_frame_equal(event.trades, fast.trades, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(event.rejects, fast.rejects)
    pd.testing.assert_frame_equal(event.equity, fast.equity, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(event.regimes, fast.regimes)
    return fast.trades


@pytest.mark.parametrize("kind", list(STRATEGIES))
def test_every_strategy(kind: str) -> None:
    trades = _same_in_both_engines(_config({"strategies": [{"name": "s", "type": kind}]}))
    assert len(trades) > 0, f"{kind} never traded on 600 bars with its defaults"


@pytest.mark.parametrize("kind", list(CLASSIFIERS))
def test_every_classifier(kind: str) -> None:
    labels = CLASSIFIERS[kind].labels
    assert labels and "unknown" not in labels
    gated = [dict(STRATEGY_MIX[0], regimes=[labels[0]]), STRATEGY_MIX[1]]
    _same_in_both_engines(_config({"strategies": gated}, classifier={"type": kind, "params": {}}))
    regimes = run_backtest(_config({}, classifier={"type": kind, "params": {}}), DATA, "fast").regimes["c"]
    assert set(regimes) <= {"unknown", *labels}


@pytest.mark.parametrize("kind", list(SIZERS))
def test_every_sizer(kind: str) -> None:
    trades = _same_in_both_engines(_config({"sizer": {"type": kind, **SIZERS[kind].example}}))
    assert len(trades) > 0
    np.testing.assert_array_equal(trades["quantity"], np.round(trades["quantity"]))  # whole shares


@pytest.mark.parametrize("kind", list(LIMITS))
def test_every_limit(kind: str) -> None:
    """Over a range of thresholds (the example's, scaled), the limit vetoes some orders and lets others
    through, identically in both engines."""
    both_seen = False
    for scale in (0.1, 0.3, 1.0, 3.0):
        limit = {key: value * scale for key, value in LIMITS[kind].example.items()}
        config = _config({"sizer": {"type": "volatility", "target_vol_pct": 40, "max_pct": 90},
                          "limits": [{"type": kind, **limit}]})
        fills = len(_same_in_both_engines(config))
        vetoes = run_backtest(config, DATA, "fast").rejects["reason"].str.startswith(kind).sum()
        both_seen = both_seen or (fills > 0 and vetoes > 0)
    assert both_seen


@pytest.mark.parametrize("kind", list(COMMISSIONS))
def test_every_cost_model(kind: str) -> None:
    _same_in_both_engines(_config({}, execution={"commission": {"type": kind}, "slippage_bps": 3}))
    assert COMMISSIONS[kind]().charge(100, 50.0) >= 0


@pytest.mark.parametrize("kind", list(AGGREGATORS))
def test_every_aggregator(kind: str) -> None:
    _same_in_both_engines(_config({"aggregation": {"type": kind}}))
    values = np.array([[0.5, np.nan], [-1.0, np.nan]])
    target, bits = AGGREGATORS[kind]().targets(values, np.ones((3, 2)), np.array([0, 1], dtype=np.int64))
    assert np.all(np.abs(target) <= 1) and target[1] == 0 and bits[1] == 0  # nobody signals: flat


@pytest.mark.parametrize(("registry", "base"), [(SIZERS, Sizer), (LIMITS, Limit), (COMMISSIONS, Commission),
                                                (AGGREGATORS, Aggregation)])
def test_every_component_class_is_registered(registry: Any, base: type) -> None:
    defined = {cls for cls in _subclasses(base)}
    assert defined == {cls for _, cls in registry.items()}


def _subclasses(base: type) -> set[type]:
    found = set()
    for cls in base.__subclasses__():
        found |= {cls} | _subclasses(cls)
    return found
