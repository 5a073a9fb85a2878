"""Attribution and abstention over random ensembles, rebuilt from the trades and regimes alone.

A position is credited to the regime in force when it was opened and to the strategies behind that
entry (recomputed here from the rules: those whose standing signal is on the winning side), and every
fill of the position carries both; a strategy outside its regimes (or weighted 0 in
the regime) never opens one; and without shorting no bar both closes and opens a symbol.
"""

import math

import numpy as np
import pandas as pd
import pytest

from containers.config import BacktestConfig
from containers.data.market import MarketData
from containers.event_run import run_event
from containers.factory import periods_per_year
from containers.fast import FastModel
from containers.hub import IndicatorHub, plan
from containers.regime_metrics import regime_metrics
from containers.results import BacktestResult
from containers.run import run_backtest
from tests.unit.containers.test_parity import DATA, random_config

SEEDS = range(0, 60, 3)


def _weight(book, strategy, regime: str) -> float:
    """The weight a strategy has in a regime: the map's (0 when left out), else its own."""
    if book.weights is not None and regime in book.weights:
        return book.weights[regime].get(strategy.name, 0.0)
    return strategy.weight


def _standing_signals(book, regimes: pd.Series, data: MarketData, symbol: int) -> dict[str, np.ndarray]:
    """Each strategy's standing signal on one symbol, rebuilt here from its rule: the last value it gave
    within its current run of bars where it may contribute (inside its regimes, weighted above 0)."""
    standing = {}
    for strategy in book.strategies:
        if strategy.symbols is not None and data.symbols[symbol] not in strategy.symbols:
            continue
        inputs = strategy.params.inputs()
        hub = IndicatorHub(data, plan(inputs.values()))
        raw = np.broadcast_to(np.asarray(strategy.params.signal(hub.columns(inputs, symbol),
                                                                hub.columns(inputs, symbol, lag=1)), float),
                              (data.n_bars,))
        active = np.array([(strategy.regimes is None or regime in strategy.regimes)
                           and _weight(book, strategy, regime) > 0 for regime in regimes])
        held = pd.Series(np.where(active, raw, np.nan)).groupby(np.cumsum(~active)).ffill().to_numpy()
        standing[strategy.name] = np.where(active, held, np.nan)
    return standing


def _check_positions(config: BacktestConfig, result: BacktestResult, data: MarketData) -> int:
    """Asserts the rules on every position; returns how many positions were opened."""
    same_bar = config.execution.fill_at == "same_bar_close"
    books = {book.name: (classifier, book) for classifier in config.classifiers for book in classifier.portfolios}
    opened = 0
    for (name, symbol), fills in result.trades.groupby(["portfolio", "symbol"], sort=False):
        classifier, book = books[name]
        regimes = result.regimes[classifier.name]
        standing = _standing_signals(book, regimes, data, data.symbols.index(symbol))
        held, credit = 0.0, None
        for fill in fills.itertuples():
            if held == 0:  # an entry: the regime at its order's bar, and the strategies on the winning side
                order_bar = fill.bar_index if same_bar else fill.bar_index - 1
                assert fill.regime == regimes.iloc[order_bar]
                contributors = [s for s, values in standing.items() if not np.isnan(values[order_bar])]
                if book.aggregation.type == "first":
                    expected = contributors[:1]
                else:
                    side = np.sign(fill.quantity)
                    expected = [s for s in contributors if np.sign(standing[s][order_bar]) == side]
                assert fill.strategy.split("+") == expected
                credit, opened = (fill.regime, fill.strategy), opened + 1
                assert not fill.closing
            else:
                assert (fill.regime, fill.strategy) == credit  # resizes and the close keep the entry's credit
                assert fill.closing == (fill.quantity * held < 0)
            held += fill.quantity
    return opened


@pytest.mark.parametrize("seed", SEEDS)
def test_entries_are_credited_to_their_regime_and_strategies(seed: int, engine: str) -> None:
    config, n_symbols = random_config(seed)
    result = run_backtest(config, DATA[n_symbols], engine)
    _check_positions(config, result, DATA[n_symbols])


def test_the_attribution_checks_see_many_positions() -> None:
    opened = 0
    for seed in SEEDS:
        config, n_symbols = random_config(seed)
        opened += _check_positions(config, run_backtest(config, DATA[n_symbols], "fast"), DATA[n_symbols])
    assert opened > 300


def test_without_shorting_no_bar_closes_and_opens_the_same_symbol(engine: str) -> None:
    for seed in SEEDS:
        config, n_symbols = random_config(seed)
        longs_only = BacktestConfig.model_validate(_long_only(config.model_dump(mode="json")))
        trades = run_backtest(longs_only, DATA[n_symbols], engine).trades
        position = trades.groupby(["portfolio", "symbol"])["quantity"].cumsum()
        assert (position >= 0).all()
        trades = trades.assign(entry=(position - trades["quantity"]) == 0)  # opened from flat
        per_bar = trades.groupby(["portfolio", "symbol", "bar_index"]).agg(entries=("entry", "any"),
                                                                           exits=("closing", "any"))
        assert not (per_bar["entries"] & per_bar["exits"]).any(), seed


def _long_only(payload: dict) -> dict:
    for classifier in payload["classifiers"]:
        for book in classifier["portfolios"]:
            book["allow_short"] = False
    return payload


def _assert_same_rows(actual: list[dict], expected: list[dict]) -> None:
    """Equal per-regime rows: labels and counts exactly, statistics to 1e-9."""
    assert [row.keys() for row in actual] == [row.keys() for row in expected]
    for mine, theirs in zip(actual, expected, strict=True):
        for key, value in mine.items():
            if isinstance(value, float):
                assert math.isclose(value, theirs[key], rel_tol=1e-9, abs_tol=1e-12), (key, mine, theirs)
            else:
                assert value == theirs[key], (key, mine, theirs)


def _regime_rows(config: BacktestConfig, data, engine: str) -> list[dict]:
    if engine == "fast":
        return FastModel(config, data).summary()[1]
    return regime_metrics(run_event(config, data), config, periods_per_year(config, data))


@pytest.mark.parametrize("seed", [1, 9, 11, 37])  # configs with two classifier subtrees that both trade
def test_per_regime_statistics_use_only_the_classifiers_own_portfolios(seed: int, engine: str) -> None:
    both, n_symbols = random_config(seed)
    assert len(both.classifiers) == 2
    data = DATA[n_symbols]
    rows = _regime_rows(both, data, engine)
    for c, classifier in enumerate(both.classifiers):
        alone = BacktestConfig.model_validate({**both.model_dump(mode="json"),
                                               "classifiers": [classifier.model_dump(mode="json")]})
        mine = [row for row in rows if row["classifier"] == classifier.name]
        _assert_same_rows(mine, _regime_rows(alone, data, engine))
        assert sum(row["num_trades"] for row in mine) > 0, c
    other = _regime_rows(both, data, "fast" if engine == "event" else "event")
    _assert_same_rows(rows, other)  # both engines give the same per-regime statistics
