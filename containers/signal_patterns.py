"""The SIGNAL_GENERATION and SIGNAL_REPLAY patterns (fast mode).

Generation: data → indicators → classifiers → strategies, and nothing after them (no risk manager, no
orders, no portfolio): each classifier's regime changes and each strategy variant's signal changes go
to sparse logs (signal_log.py), one file per variant, on every symbol of the data.

Replay: the logs → the portfolio's aggregator (weights, per-regime weights, regime filter) → the risk &
portfolio containers → the engine. Indicators, classifiers and strategy rules are not computed again;
only what the sizers read (volatility, ATR) is. A strategy's standing signal is rebuilt from its
logged changes exactly, so a replay of the config a log was made from gives the FULL backtest's trades.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from containers.bus import Dispatcher, ScopedEventBus, Tracer
from containers.config import BacktestConfig
from containers.data.market import MarketData
from containers.errors import ConfigError, DataError
from containers.event_run import collect
from containers.events import Signal
from containers.factory import build_backtest, check_symbols, periods_per_year, required_inputs, sizer_inputs
from containers.fast import BATCH_LANES, FastModel, Slot, regime_column, rule_column
from containers.hierarchy import ClassifierContainer, DataStreamer, StrategyComponent
from containers.hub import IndicatorHub, plan
from containers.metric_kernels import finish
from containers.metrics import METRIC_NAMES
from containers.results import BacktestResult
from containers.run import Engine
from containers.signal_analysis import StrategySignals, correlation, distribution, signal_table, standing_of, summarize
from containers.signal_log import Variant, changes, expand, read_log, write_once


def classifier_variant(classifier: Any, data_hash: str, n_bars: int) -> Variant:
    return Variant("classifier", classifier.type, classifier.params.model_dump(mode="json"), data_hash, n_bars)


def strategy_variant(strategy: Any, data_hash: str, n_bars: int) -> Variant:
    return Variant("strategy", strategy.type, strategy.params.model_dump(mode="json"), data_hash, n_bars)


def _strategies(config: BacktestConfig) -> Iterator[Any]:
    for classifier in config.classifiers:
        for book in classifier.portfolios:
            yield from book.strategies


@dataclass(frozen=True)
class Generated:
    """What a generation run wrote: every variant's file, and whether it was new or already there."""

    files: dict[str, Path]  # "classifier NAME" / "strategy PORTFOLIO.NAME" -> its log
    written: list[Path]
    reused: list[Path]


def generate_signals(config: BacktestConfig, data: MarketData, folder: Path,
                     hub: IndicatorHub | None = None, engine: Engine = "fast") -> Generated:
    """SIGNAL_GENERATION: writes each classifier's and strategy variant's log into `folder` once, from
    whole columns (fast) or from the event engine's SIGNAL events (event); both give the same logs."""
    check_symbols(config, data)
    hub = hub or IndicatorHub(data, [])
    regimes_of, rules_of = generate_events(config, data) if engine == "event" else ({}, {})
    folder.mkdir(parents=True, exist_ok=True)
    data_hash, stamps = data.content_hash(), data.timestamps
    files: dict[str, Path] = {}
    written: list[Path] = []
    reused: list[Path] = []

    def keep(name: str, variant: Variant, frame_of: Any) -> None:
        path, new = write_once(folder, variant, frame_of)  # computed only when no whole log of it is there
        files[name] = path
        (written if new else reused).append(path)

    for classifier in config.classifiers:
        def regimes(classifier: Any = classifier) -> pd.DataFrame:
            codes = regimes_of.get(classifier.name)
            codes = regime_column(classifier, hub) if codes is None else codes
            bars = changes(codes.astype(np.float64))
            labels = np.array(["unknown", *classifier.params.labels], dtype=object)
            return pd.DataFrame({"bar": bars.astype(np.int64), "timestamp": stamps[bars], "code": codes[bars],
                                 "regime": labels[codes[bars] + 1]})

        keep(f"classifier {classifier.name}", classifier_variant(classifier, data_hash, data.n_bars), regimes)
    for classifier in config.classifiers:
        for book in classifier.portfolios:
            for strategy in book.strategies:
                def signals(strategy: Any = strategy, book: Any = book) -> pd.DataFrame:
                    parts = []
                    for j, symbol in enumerate(data.symbols):
                        column = rules_of.get((f"{book.name}.{strategy.name}", symbol))
                        column = rule_column(strategy.params, hub, j) if column is None else column
                        bars = changes(column)
                        parts.append(pd.DataFrame({"bar": bars.astype(np.int64), "timestamp": stamps[bars],
                                                   "symbol": symbol, "value": column[bars],
                                                   "price": data.close[bars, j]}))
                    return pd.concat(parts, ignore_index=True)

                keep(f"strategy {book.name}.{strategy.name}", strategy_variant(strategy, data_hash, data.n_bars),
                     signals)
    return Generated(files, written, reused)


class SignalLogs:
    """The SignalLogStreamer's store: every log a config's replay reads, loaded once and checked against
    the data (its hash); columns rebuilt per (variant, symbol) on demand."""

    def __init__(self, config: BacktestConfig, data: MarketData, folder: Path) -> None:
        self.data, self.folder = data, folder
        self.data_hash = data_hash = data.content_hash()
        self.frames: dict[str, pd.DataFrame] = {}
        self._columns: dict[tuple[str, str], np.ndarray] = {}  # (variant, symbol) -> its rebuilt column
        for classifier in config.classifiers:
            self._load(classifier_variant(classifier, data_hash, data.n_bars))
        for strategy in _strategies(config):
            self._load(strategy_variant(strategy, data_hash, data.n_bars))

    def _load(self, variant: Variant) -> None:
        if variant.key not in self.frames:
            self.frames[variant.key] = read_log(self.folder / variant.file_name, variant)

    def regimes(self, variant: Variant) -> np.ndarray:
        """The classifier's regime code per bar, rebuilt once from the log (read-only)."""
        if (variant.key, "") not in self._columns:
            frame = self.frames[variant.key]
            codes = expand(frame["bar"].to_numpy(), frame["code"].to_numpy(np.float64), self.data.n_bars, -1.0)
            column = codes.astype(np.int64)
            column.flags.writeable = False
            self._columns[(variant.key, "")] = column
        return self._columns[(variant.key, "")]

    def signal(self, variant: Variant, symbol: str) -> np.ndarray:
        """The rule's value per bar on one symbol, rebuilt once from the log (read-only)."""
        if (variant.key, symbol) not in self._columns:
            self._load(variant)  # a variant the config did not name (swapped parameters): its own log
            frame = self.frames[variant.key]
            rows = frame[frame["symbol"] == symbol]
            column = expand(rows["bar"].to_numpy(), rows["value"].to_numpy(np.float64), self.data.n_bars)
            column.flags.writeable = False
            self._columns[(variant.key, symbol)] = column
        return self._columns[(variant.key, symbol)]

    def regime_codes(self, classifier: Any) -> np.ndarray:
        """A configured classifier's recorded regime codes (what the event engine's replay reads)."""
        return self.regimes(classifier_variant(classifier, self.data_hash, self.data.n_bars))

    def rule_values(self, strategy: Any, symbol: str) -> np.ndarray:
        """A configured strategy's recorded rule values on one symbol."""
        return self.signal(strategy_variant(strategy, self.data_hash, self.data.n_bars), symbol)


class ReplayModel(FastModel):
    """The FULL model with the strategies' rules and the classifiers' regimes read from the logs."""

    def __init__(self, config: BacktestConfig, data: MarketData, logs: SignalLogs,
                 hub: IndicatorHub | None = None) -> None:
        if logs.data is not data and logs.data_hash != data.content_hash():
            raise DataError(f"{logs.folder}: the logs were loaded for other data; load them for this data")
        self.logs = logs
        self._hash = logs.data_hash  # checked against the files when the logs were loaded
        super().__init__(config, data, hub)

    def _inputs(self) -> Any:
        """Only what the sizers read: nothing a strategy or classifier needs is computed."""
        return sizer_inputs(self.config)

    def _regime_codes(self, classifier: Any) -> np.ndarray:
        return self.logs.regimes(classifier_variant(classifier, self._hash, self.data.n_bars))

    def raw_signal(self, slot: Slot, params: Any) -> np.ndarray:
        strategy = self.books[slot.portfolio].strategies[slot.strategy]
        variant = strategy_variant(strategy, self._hash, self.data.n_bars)
        if variant.params != params.model_dump(mode="json"):  # a swapped parameter set needs its own log
            variant = Variant("strategy", strategy.type, params.model_dump(mode="json"), self._hash, self.data.n_bars)
        return self.logs.signal(variant, self.data.symbols[slot.symbol])


def run_replay(config: BacktestConfig, data: MarketData, logs: SignalLogs | Path,
               engine: Engine | None = None) -> BacktestResult:
    """SIGNAL_REPLAY: the config's portfolios over its logs (loaded, or in a folder), in the fast engine
    (the compiled kernel) or the event engine (the hierarchy with recorded classifiers and strategies)."""
    check_symbols(config, data)
    loaded = logs if isinstance(logs, SignalLogs) else SignalLogs(config, data, logs)
    if (engine or config.execution.engine) == "event":
        container = build_backtest(config, data, recorded=loaded)
        container.run()
        return collect(container, periods_per_year(config, data))
    return ReplayModel(config, data, loaded).run()


@dataclass(frozen=True)
class Analysis:
    """The signal analysis of a generation run (signal_analysis.py)."""

    signals: pd.DataFrame  # one row per signal
    summary: pd.DataFrame  # per strategy and regime
    distribution: dict[str, dict[str, float]]
    correlation: pd.DataFrame


def analyze(config: BacktestConfig, data: MarketData, logs: SignalLogs) -> Analysis:
    """Each strategy's signals, from its log, in the regimes of its own classifier."""
    strategies = []
    for classifier in config.classifiers:
        codes = logs.regime_codes(classifier)
        labels = np.array(["unknown", *classifier.params.labels], dtype=object)[codes + 1]
        for book in classifier.portfolios:
            for strategy in book.strategies:
                standing = {symbol: standing_of(logs.rule_values(strategy, symbol))
                            for symbol in strategy.symbols or data.symbols}
                strategies.append(StrategySignals(f"{book.name}.{strategy.name}", standing, labels))
    table = signal_table(strategies, data)
    names = [strategy.name for strategy in strategies]
    return Analysis(table, summarize(table, names), distribution(table), correlation(strategies, data))


def _weighted(config: BacktestConfig, weights: Mapping[str, float], where: str) -> BacktestConfig:
    """The config with strategy weights {"portfolio.strategy": weight} set (the others as configured)."""
    raw = config.model_dump(mode="json")
    known = set()
    for classifier in raw["classifiers"]:
        for book in classifier["portfolios"]:
            for strategy in book["strategies"]:
                name = f"{book['name']}.{strategy['name']}"
                known.add(name)
                if name in weights:
                    strategy["weight"] = weights[name]
    unknown = sorted(set(weights) - known)
    if unknown:
        raise ConfigError(f"{where}: no strategy '{unknown[0]}' in the config (known: {', '.join(sorted(known))})")
    try:
        return BacktestConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{where}: {error.errors()[0]['msg']}") from error


def replay_batch(config: BacktestConfig, data: MarketData, logs: SignalLogs,
                 weight_sets: Sequence[Mapping[str, float]], lanes: int = BATCH_LANES) -> pd.DataFrame:
    """Many strategy-weight sets over the same loaded logs in one call (what the ensemble phase
    evaluates): one row per set, its weights then the metrics of all portfolios together, as `run_replay`
    of the config with those weights reports them. Sets run `lanes` at a time through one kernel pass;
    the logs' columns are rebuilt once for all of them. A set's weight is the strategy's `weight`: in a
    regime that the portfolio's own per-regime `weights:` map names, that map still decides."""
    check_symbols(config, data)
    base = ReplayModel(config, data, logs)
    metrics: list[np.ndarray] = []
    for start in range(0, len(weight_sets), lanes):
        chunk = weight_sets[start:start + lanes]
        values = np.vstack([ReplayModel(_weighted(config, weights, f"weight set {start + lane}"), data, logs,
                                        base.hub).target_values for lane, weights in enumerate(chunk)])
        accumulators = base.simulate(values, record=False, lanes=len(chunk))[6]
        metrics.extend(finish(accumulators[lane], base.periods_per_year) for lane in range(len(chunk)))
    frame = pd.DataFrame(np.array(metrics).reshape(len(metrics), len(METRIC_NAMES)), columns=list(METRIC_NAMES))
    return pd.concat([pd.DataFrame([dict(weights) for weights in weight_sets]), frame], axis=1)


def generate_events(config: BacktestConfig, data: MarketData, tracer: Tracer | None = None,
                    ) -> tuple[dict[str, np.ndarray], dict[tuple[str, str], np.ndarray]]:
    """SIGNAL_GENERATION in the event engine (the readable reference of `generate_signals`): the data
    streamer, the indicator hub, the classifier containers and the strategies on their buses, and
    nothing else: no risk manager, no portfolio, no engine. Returns each classifier's regime code per bar
    (name -> column), and each strategy's rule value per bar on each symbol ((portfolio.strategy,
    symbol) -> column), as its SIGNAL events carried it."""
    check_symbols(config, data)
    dispatcher = Dispatcher(tracer)
    root = ScopedEventBus("generation", dispatcher)
    streamer = DataStreamer(data, root)
    hub = IndicatorHub(data, plan(required_inputs(config)))
    hub.attach(root)
    columns: dict[tuple[str, str], np.ndarray] = {}
    classifiers: list[ClassifierContainer] = []

    def record(signal: Signal) -> None:
        columns[(f"{signal.portfolio}.{signal.strategy}", signal.symbol)][signal.bar_index] = \
            signal.direction * signal.strength

    for classifier_config in config.classifiers:
        rule = classifier_config.params
        proxy = data.symbols.index(rule.symbol or data.symbols[0])
        classifier = ClassifierContainer(classifier_config.name, rule, proxy, hub, root.child(classifier_config.name))
        classifiers.append(classifier)
        for book in classifier_config.portfolios:
            bus = classifier.bus.child(book.name)
            bus.subscribe(Signal, record)
            for strategy in book.strategies:  # every symbol of the data, no regime filter: the rule itself
                indexes = {symbol: j for j, symbol in enumerate(data.symbols)}
                StrategyComponent(strategy.name, book.name, strategy.params, indexes, None, hub, bus)
                for symbol in data.symbols:
                    columns[(f"{book.name}.{strategy.name}", symbol)] = np.full(data.n_bars, np.nan)
    for t in range(data.n_bars):
        streamer.emit(t)
        dispatcher.drain()
    return {classifier.name: classifier.history for classifier in classifiers}, columns
