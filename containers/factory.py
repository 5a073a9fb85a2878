"""The composition root: builds a BacktestContainer from a frozen config, always in the same order.

DataStreamer → IndicatorHub → classifier containers → risk & portfolio containers → strategies → engine.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import numpy as np

from containers.bus import Dispatcher, ScopedEventBus, Tracer
from containers.components.rules import Input
from containers.config import BacktestConfig
from containers.data.market import MarketData
from containers.engine import BacktestEngine
from containers.errors import ConfigError
from containers.hierarchy import (
    BacktestContainer,
    ClassifierContainer,
    DataStreamer,
    RecordedClassifier,
    RecordedStrategy,
    RiskPortfolioContainer,
    StrategyComponent,
)
from containers.hub import IndicatorHub, plan
from containers.portfolio import Portfolio
from containers.risk import RiskManager
from containers.strict import did_you_mean


def required_inputs(config: BacktestConfig) -> Iterator[Input]:
    """Every input any classifier, sizer or strategy of the config reads from the hub."""
    for classifier in config.classifiers:
        yield from classifier.params.inputs().values()
        for portfolio in classifier.portfolios:
            yield from portfolio.sizer.inputs().values()
            for strategy in portfolio.strategies:
                yield from strategy.params.inputs().values()


def sizer_inputs(config: BacktestConfig) -> Iterator[Input]:
    """Only what the sizers read (a replay computes nothing else)."""
    for classifier in config.classifiers:
        for portfolio in classifier.portfolios:
            yield from portfolio.sizer.inputs().values()


def _check_symbol(data: MarketData, symbol: str, where: str) -> None:
    if symbol not in data.symbols:
        raise ConfigError(f"{where}: symbol '{symbol}' is not in the data ({', '.join(data.symbols)})"
                          f"{did_you_mean(symbol, data.symbols)}")


def check_symbols(config: BacktestConfig, data: MarketData) -> None:
    """Every symbol the config names (classifier proxies, strategy symbols) exists in the data."""
    for i, classifier in enumerate(config.classifiers):
        if classifier.params.symbol is not None:
            _check_symbol(data, classifier.params.symbol, f"classifiers[{i}].params.symbol")
        for j, portfolio in enumerate(classifier.portfolios):
            for k, strategy in enumerate(portfolio.strategies):
                for symbol in strategy.symbols or ():
                    _check_symbol(data, symbol, f"classifiers[{i}].portfolios[{j}].strategies[{k}].symbols")


def periods_per_year(config: BacktestConfig, data: MarketData) -> float:
    """Bars per year for the metrics of the whole run: the configured value, else the data's."""
    return config.execution.periods_per_year or data.periods_per_year()


def sizing_periods_per_year(config: BacktestConfig, data: MarketData) -> np.ndarray:
    """Per bar, the bars per year a sizer may use: the configured value, else the estimate from bars <= t
    (never one read from the whole file, which would let the future size a trade)."""
    if config.execution.periods_per_year is not None:
        return np.full(data.n_bars, float(config.execution.periods_per_year))
    return data.periods_per_year_so_far()


class Recorded(Protocol):
    """Recorded regimes and rule values (a signal replay's logs) that stand in for the classifiers' and
    strategies' rules."""

    def regime_codes(self, classifier: Any) -> np.ndarray: ...

    def rule_values(self, strategy: Any, symbol: str) -> np.ndarray: ...


def build_backtest(config: BacktestConfig, data: MarketData, tracer: Tracer | None = None,
                   precomputed: Mapping[str, np.ndarray] | None = None,
                   recorded: Recorded | None = None) -> BacktestContainer:
    """A fresh hierarchy: nothing in it is shared with any other backtest except the read-only data.
    With `recorded`, classifiers and strategies replay it, and the hub computes only what sizers read."""
    check_symbols(config, data)
    dispatcher = Dispatcher(tracer)
    root = ScopedEventBus("backtest", dispatcher)
    streamer = DataStreamer(data, root)
    specs = plan(required_inputs(config) if recorded is None else sizer_inputs(config))
    own = {spec.key for spec in specs}  # only this config's indicators travel in its INDICATOR events
    reused = {key: array for key, array in (precomputed or {}).items() if key.split(".")[0] in own}
    hub = IndicatorHub(data, specs, reused)
    hub.attach(root)
    order_ids = itertools.count()
    yearly = sizing_periods_per_year(config, data)
    classifiers: list[ClassifierContainer] = []
    portfolio_buses: dict[str, ScopedEventBus] = {}
    for classifier_config in config.classifiers:
        rule = classifier_config.params
        proxy = data.symbols.index(rule.symbol or data.symbols[0])
        name, bus_of_classifier = classifier_config.name, root.child(classifier_config.name)
        classifier = ClassifierContainer(name, rule, proxy, hub, bus_of_classifier) if recorded is None else \
            RecordedClassifier(name, recorded.regime_codes(classifier_config), rule.labels, hub, bus_of_classifier)
        for portfolio_config in classifier_config.portfolios:
            bus = classifier.bus.child(portfolio_config.name)
            portfolio = Portfolio(portfolio_config.name, portfolio_config.capital, data.symbols,
                                  data.timestamps, bus)
            risk = RiskManager(portfolio_config, portfolio, hub, bus, order_ids, yearly, classifier.labels,
                               config.execution)
            container = RiskPortfolioContainer(portfolio_config.name, bus, portfolio, risk)
            for strategy in portfolio_config.strategies:
                indexes = {symbol: data.symbols.index(symbol) for symbol in strategy.symbols or data.symbols}
                container.strategies.append(StrategyComponent(
                    strategy.name, portfolio_config.name, strategy.params, indexes, strategy.regimes, hub, bus)
                    if recorded is None else RecordedStrategy(
                    strategy.name, portfolio_config.name, {s: recorded.rule_values(strategy, s) for s in indexes},
                    indexes, strategy.regimes, hub, bus))
            classifier.portfolios.append(container)
            portfolio_buses[portfolio_config.name] = bus
        classifiers.append(classifier)
    engine = BacktestEngine(config.execution, data, root, portfolio_buses)
    return BacktestContainer(data, dispatcher, root, streamer, hub, classifiers, engine, config.execution.close_at_end)
