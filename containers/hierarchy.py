"""The containers of one backtest: streamer, classifier containers, strategies, risk & portfolio, root."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from containers.bus import Dispatcher, ScopedEventBus
from containers.components.classifiers import UNKNOWN
from containers.components.rules import Input
from containers.data.market import MarketData
from containers.engine import BacktestEngine
from containers.events import Bar, Classification, Indicator, Signal
from containers.hub import IndicatorHub
from containers.portfolio import Portfolio
from containers.risk import RiskManager


class DataStreamer:
    """Emits one BAR per timestamp with every symbol's prices."""

    def __init__(self, data: MarketData, bus: ScopedEventBus) -> None:
        self.data = data
        self.bus = bus

    def emit(self, t: int) -> None:
        d = self.data
        self.bus.publish(Bar(t, d.timestamps[t], d.open[t], d.high[t], d.low[t], d.close[t], d.volume[t]))


class StrategyComponent:
    """Runs one strategy rule per symbol when its classifier has labelled the bar; emits SIGNALs only.

    Outside its regimes it says nothing: it abstains (its portfolio's aggregator then leaves it out).
    """

    def __init__(self, name: str, portfolio: str, rule: object, symbols: Mapping[str, int],
                 regimes: tuple[str, ...] | None, hub: IndicatorHub, bus: ScopedEventBus) -> None:
        self.name = name
        self.portfolio = portfolio
        self.rule = rule
        self.inputs: dict[str, Input] = rule.inputs()  # type: ignore[attr-defined]
        self.symbols = symbols
        self.regimes = regimes
        self.hub = hub
        self.bus = bus
        bus.subscribe(Classification, self.on_classification)

    def on_classification(self, event: Classification) -> None:
        t = event.bar_index
        if self.regimes is not None and event.regime not in self.regimes:
            return
        for symbol, j in self.symbols.items():
            now = self.hub.values_at(self.inputs, j, t)
            prev = self.hub.values_at(self.inputs, j, t - 1)
            value = float(self.rule.signal(now, prev))  # type: ignore[attr-defined]
            if not np.isnan(value):
                direction = int(np.sign(value))
                self.bus.publish(Signal(t, self.portfolio, self.name, symbol, direction, abs(value), event.regime))


class RecordedStrategy(StrategyComponent):
    """A strategy whose rule's values were recorded (signal replay): per symbol, the value at each bar
    (NaN: nothing new); inside its regimes it emits exactly what the rule emitted."""

    def __init__(self, name: str, portfolio: str, columns: Mapping[str, np.ndarray], symbols: Mapping[str, int],
                 regimes: tuple[str, ...] | None, hub: IndicatorHub, bus: ScopedEventBus) -> None:
        self.columns = columns
        super().__init__(name, portfolio, _NoRule(), symbols, regimes, hub, bus)

    def on_classification(self, event: Classification) -> None:
        t = event.bar_index
        if self.regimes is not None and event.regime not in self.regimes:
            return
        for symbol in self.symbols:
            value = float(self.columns[symbol][t])
            if not np.isnan(value):
                self.bus.publish(Signal(t, self.portfolio, self.name, symbol, int(np.sign(value)), abs(value),
                                        event.regime))


class _NoRule:
    """What a recorded strategy reads from the hub: nothing."""

    def inputs(self) -> dict[str, Input]:
        return {}


class ClassifierContainer:
    """Labels every bar with a regime from its rule and tells its risk & portfolio containers."""

    def __init__(self, name: str, rule: object, symbol: int, hub: IndicatorHub, bus: ScopedEventBus) -> None:
        self.name = name
        self.rule = rule
        self.inputs: dict[str, Input] = rule.inputs()  # type: ignore[attr-defined]
        self.labels: tuple[str, ...] = rule.labels  # type: ignore[attr-defined]
        self.symbol = symbol
        self.hub = hub
        self.bus = bus
        self.regime = UNKNOWN
        self.history = np.full(hub.data.n_bars, -1, dtype=np.int64)  # regime code per bar
        self.portfolios: list[RiskPortfolioContainer] = []
        bus.subscribe(Indicator, self.on_indicator)

    def on_indicator(self, event: Indicator) -> None:
        t = event.bar_index
        now = self.hub.values_at(self.inputs, self.symbol, t)
        prev = self.hub.values_at(self.inputs, self.symbol, t - 1)
        code = int(self.rule.regime(now, prev))  # type: ignore[attr-defined]
        self.history[t] = code
        regime = UNKNOWN if code < 0 else self.labels[code]
        changed, self.regime = regime != self.regime, regime
        self.bus.publish(Classification(t, self.name, regime, changed))


class RecordedClassifier(ClassifierContainer):
    """A classifier whose regime codes were recorded (signal replay): it labels each bar with them."""

    def __init__(self, name: str, codes: np.ndarray, labels: tuple[str, ...], hub: IndicatorHub,
                 bus: ScopedEventBus) -> None:
        self.codes = codes
        super().__init__(name, _Recorded(labels), 0, hub, bus)

    def on_indicator(self, event: Indicator) -> None:
        t = event.bar_index
        code = int(self.codes[t])
        self.history[t] = code
        regime = UNKNOWN if code < 0 else self.labels[code]
        changed, self.regime = regime != self.regime, regime
        self.bus.publish(Classification(t, self.name, regime, changed))


@dataclass(frozen=True)
class _Recorded:
    labels: tuple[str, ...]

    def inputs(self) -> dict[str, Input]:
        return {}


@dataclass
class RiskPortfolioContainer:
    """Own capital, own RiskManager and Portfolio, own strategies, own bus."""

    name: str
    bus: ScopedEventBus
    portfolio: Portfolio
    risk: RiskManager
    strategies: list[StrategyComponent] = field(default_factory=list)


class BacktestContainer:
    """The root: owns the dispatcher and runs the bar loop; a fresh one is built for every backtest."""

    def __init__(self, data: MarketData, dispatcher: Dispatcher, bus: ScopedEventBus, streamer: DataStreamer,
                 hub: IndicatorHub, classifiers: list[ClassifierContainer], engine: BacktestEngine,
                 close_at_end: bool) -> None:
        self.data = data
        self.dispatcher = dispatcher
        self.bus = bus
        self.streamer = streamer
        self.hub = hub
        self.classifiers = classifiers
        self.engine = engine
        self.close_at_end = close_at_end

    @property
    def portfolios(self) -> list[RiskPortfolioContainer]:
        return [container for classifier in self.classifiers for container in classifier.portfolios]

    def run(self) -> None:
        """Per bar: fills of earlier orders at this open; BAR and the signals it causes; each portfolio's
        decisions and their orders; on the last bar the liquidation (close_at_end); then the marks."""
        containers = self.portfolios
        last = self.data.n_bars - 1
        for t in range(self.data.n_bars):
            self.engine.fill_pending(t)
            self.dispatcher.drain()
            self.streamer.emit(t)
            self.dispatcher.drain()
            for container in containers:
                container.risk.decide(t)
            self.dispatcher.drain()
            if t == last and self.close_at_end:
                for container in containers:
                    container.risk.liquidate(t)
                self.dispatcher.drain()
            for container in containers:
                container.portfolio.end_bar(t)
        self.engine.finish()
