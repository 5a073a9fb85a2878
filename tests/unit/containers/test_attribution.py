"""Attribution and abstention over random ensembles, rebuilt from the trades and regimes alone.

A position is credited to the regime in force when it was opened and to the strategies behind that
entry, and every fill of the position carries both; a strategy outside its regimes (or weighted 0 in
the regime) never opens one; and without shorting no bar both closes and opens a symbol.
"""

import pytest

from containers.config import BacktestConfig
from containers.event_run import run_event
from containers.factory import periods_per_year
from containers.fast import FastModel
from containers.regime_metrics import regime_metrics
from containers.results import BacktestResult
from containers.run import run_backtest
from tests.unit.containers.test_parity import DATA, random_config

SEEDS = range(0, 60, 3)


def _check_positions(config: BacktestConfig, result: BacktestResult) -> int:
    """Asserts the rules on every position; returns how many positions were opened."""
    same_bar = config.execution.fill_at == "same_bar_close"
    books = {book.name: (classifier, book) for classifier in config.classifiers for book in classifier.portfolios}
    opened = 0
    for (name, _), fills in result.trades.groupby(["portfolio", "symbol"], sort=False):
        classifier, book = books[name]
        strategies = {strategy.name: strategy for strategy in book.strategies}
        held, credit = 0.0, None
        for fill in fills.itertuples():
            if held == 0:  # an entry: the regime at its order's bar, strategies allowed and weighted there
                order_bar = fill.bar_index if same_bar else fill.bar_index - 1
                assert fill.regime == result.regimes[classifier.name].iloc[order_bar]
                credited = fill.strategy.split("+")
                assert credited and all(s in strategies for s in credited)
                for s in credited:
                    assert strategies[s].regimes is None or fill.regime in strategies[s].regimes
                    weights = (book.weights or {}).get(fill.regime)
                    assert (weights.get(s, 0.0) if weights is not None else strategies[s].weight) > 0
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
    _check_positions(config, result)


def test_the_attribution_checks_see_many_positions() -> None:
    opened = 0
    for seed in SEEDS:
        config, n_symbols = random_config(seed)
        opened += _check_positions(config, run_backtest(config, DATA[n_symbols], "fast"))
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
        assert mine == pytest.approx(_regime_rows(alone, data, engine))
        assert sum(row["num_trades"] for row in mine) > 0, c
    other = _regime_rows(both, data, "fast" if engine == "event" else "event")
    assert rows == pytest.approx(other)  # both engines give the same per-regime statistics
