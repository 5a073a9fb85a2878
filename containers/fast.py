"""The fast engine's edge: config → arrays, the compiled kernel, arrays → the same BacktestResult.

Indicators come from the IndicatorHub (computed once), classifier regimes and strategy signals are
their rules evaluated on whole columns, standing signals and aggregated targets are compiled passes
over those columns (aggregation.py), and the path-dependent part runs in kernels.simulate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from containers.aggregation import active_table, contributor_names, hold, weight_table
from containers.components.classifiers import UNKNOWN
from containers.components.limits import ExposureCheck
from containers.config import BacktestConfig, PortfolioConfig
from containers.data.market import MarketData
from containers.errors import ConfigError
from containers.factory import check_symbols, periods_per_year, required_inputs, sizing_periods_per_year
from containers.hub import IndicatorHub, plan
from containers.kernels import CASH_REJECT, FILL_FIELDS, LEVERAGE_REJECT, REJECT_FIELDS, SIZER_REJECT, simulate
from containers.metric_kernels import finish
from containers.metrics import METRIC_NAMES
from containers.regime_metrics import regime_rows
from containers.results import (
    BacktestResult,
    assemble,
    open_positions_frame,
    regimes_frame,
    rejects_frame,
    trades_frame,
)
from containers.risk import SIZER_REASON, cash_reason, leverage_reason

NAN = float("nan")
BATCH_LANES = 4  # parameter sets per kernel pass; measured best on this machine (bench/backtest_speed.py)
FILL = {name: i for i, name in enumerate(FILL_FIELDS)}
REJECT = {name: i for i, name in enumerate(REJECT_FIELDS)}


@dataclass(frozen=True)
class Slot:
    """One strategy of a portfolio on one symbol: a standing-signal column."""

    portfolio: int
    strategy: int  # index among the portfolio's strategies
    symbol: int


@dataclass(frozen=True)
class Target:
    """One (portfolio, symbol): the aggregated target column, in the order the event engine decides."""

    portfolio: int
    symbol: int


class FastModel:
    """Everything the kernel needs for one config and dataset; one strategy's parameters can be swapped."""

    def __init__(self, config: BacktestConfig, data: MarketData, hub: IndicatorHub | None = None) -> None:
        check_symbols(config, data)
        self.config = config
        self.data = data
        self.hub = hub or IndicatorHub(data, [])
        self.hub.ensure(plan(self._inputs()))
        self.periods_per_year = periods_per_year(config, data)
        self.books = [book for classifier in config.classifiers for book in classifier.portfolios]
        self.book_classifier = [c for c, classifier in enumerate(config.classifiers) for _ in classifier.portfolios]
        self.labels = [classifier.params.labels for classifier in config.classifiers]
        self.regimes = np.column_stack([self._regime_codes(c) for c in config.classifiers])  # (bars, classifiers)
        self.weights = [weight_table(book.strategies, self.labels[self.book_classifier[p]], book.weights)
                        for p, book in enumerate(self.books)]
        self.active = [active_table(book.strategies, self.labels[self.book_classifier[p]], self.weights[p])
                       for p, book in enumerate(self.books)]
        self._everywhere = np.ones(data.n_bars, dtype=np.bool_)
        self.standing: dict[Slot, np.ndarray] = {}
        for p, book in enumerate(self.books):
            for s, strategy in enumerate(book.strategies):
                for symbol in strategy.symbols or data.symbols:
                    slot = Slot(p, s, data.symbols.index(symbol))
                    self.standing[slot] = self.standing_signal(slot, strategy.params)
        self.targets = [Target(p, j) for p in range(len(self.books)) for j in range(data.n_symbols)
                        if any(slot.portfolio == p and slot.symbol == j for slot in self.standing)]
        self.target_row = {(target.portfolio, target.symbol): k for k, target in enumerate(self.targets)}
        columns = [self.target_column(target, self.standing) for target in self.targets]
        self.target_values = np.vstack([value for value, _ in columns])  # (targets, bars)
        self.target_bits = np.vstack([bits for _, bits in columns])  # the strategies behind each target
        self._static = self._kernel_arrays()
        self._by_lanes: dict[int, dict[str, Any]] = {}

    def _inputs(self) -> Any:
        """What the hub must compute: every classifier's, sizer's and strategy's inputs."""
        return required_inputs(self.config)

    def _regime_codes(self, classifier: Any) -> np.ndarray:
        return regime_column(classifier, self.hub)

    def raw_signal(self, slot: Slot, params: Any) -> np.ndarray:
        """The strategy's rule on the slot's symbol, per bar (NaN: nothing new)."""
        return rule_column(params, self.hub, slot.symbol)

    def standing_signal(self, slot: Slot, params: Any, out: np.ndarray | None = None) -> np.ndarray:
        """The strategy's rule over the slot's column, held between signals and NaN where it abstains
        (outside its regimes or weighted 0 in the regime), into `out` if given."""
        raw = self.raw_signal(slot, params)
        where = self.active[slot.portfolio][slot.strategy]  # per regime code + 1
        codes = self.regimes[:, self.book_classifier[slot.portfolio]]
        active = self._everywhere if where.all() else where[codes + 1]
        return hold(np.ascontiguousarray(raw), active, np.empty(self.data.n_bars) if out is None else out)

    def target_column(self, target: Target, standing: Mapping[Slot, np.ndarray],
                      out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(signed strength, contributor bits) per bar: the portfolio's aggregator over its strategies
        (into `out` if given)."""
        book = self.books[target.portfolio]
        columns = [standing.get(Slot(target.portfolio, s, target.symbol)) for s in range(len(book.strategies))]
        if len(columns) == 1 and columns[0] is not None:
            values = columns[0][None, :]
        else:
            values = np.full((len(columns), self.data.n_bars), np.nan)
            for s, column in enumerate(columns):
                if column is not None:
                    values[s] = column
        codes = np.ascontiguousarray(self.regimes[:, self.book_classifier[target.portfolio]])
        return book.aggregation.targets(values, self.weights[target.portfolio], codes, out)

    def _kernel_arrays(self) -> dict[str, Any]:
        data, books, execution = self.data, self.books, self.config.execution
        yearly = sizing_periods_per_year(self.config, data)
        sizing = [self._sizer_terms(book, yearly) for book in books]
        weights, weight_rows, weight_const = _term_arrays([terms[0] for terms in sizing])
        maxima, max_rows, max_const = _term_arrays([terms[1] for terms in sizing])
        checks = [[(i, *check) for i, limit in enumerate(book.limits) for check in limit.checks()] for book in books]
        width = max([len(rows) for rows in checks] + [1])
        table = np.full((len(books), width, 4), -1.0)
        for p, rows in enumerate(checks):
            for i, row in enumerate(rows):
                table[p, i] = row
        return {
            "open_": np.ascontiguousarray(data.open), "close": np.ascontiguousarray(data.close),
            "day": data.timestamps.astype("datetime64[D]").astype(np.int64),
            "target_portfolio": np.array([target.portfolio for target in self.targets], dtype=np.int64),
            "target_symbol": np.array([target.symbol for target in self.targets], dtype=np.int64),
            "capital": np.array([book.capital for book in books], dtype=np.float64),
            "allow_short": np.array([book.allow_short for book in books], dtype=np.bool_),
            "leverage": np.array([NAN if book.leverage is None else book.leverage for book in books]),
            "threshold_pct": np.array([book.rebalance.pct if book.rebalance.type == "threshold_pct" else NAN
                                       for book in books]),
            "weight_const": weight_const, "weight_row": weight_rows, "sizer_weight": weights,
            "max_const": max_const, "max_row": max_rows, "sizer_max": maxima,
            "sizer_fixed": np.array([terms[2] for terms in sizing], dtype=np.float64),
            "check_limit": table[:, :, 0].astype(np.int64), "check_measure": table[:, :, 1].astype(np.int64),
            "check_threshold": np.ascontiguousarray(table[:, :, 2]), "check_inclusive": table[:, :, 3] > 0,
            "check_count": np.array([len(rows) for rows in checks], dtype=np.int64),
            "same_bar_close": execution.fill_at == "same_bar_close",
            "close_at_end": execution.close_at_end,
            "slippage_bps": float(execution.slippage_bps),
            "commission_terms": np.array(execution.commission.terms(), dtype=np.float64),
            "portfolio_lane": np.zeros(len(books), dtype=np.int64),
            "total_curve": np.empty((1, data.n_bars)),  # reused by every simulation of this model
            "total_exposed": np.empty((1, data.n_bars), dtype=np.bool_),
        }

    def _sizer_terms(self, book: PortfolioConfig, yearly: np.ndarray) -> tuple[float | np.ndarray,
                                                                              float | np.ndarray, float]:
        """A portfolio's sizer terms over whole columns: weight and max weight, each a number when it is
        the same everywhere or a (bars, symbols) array, and the fixed shares."""
        sizer, data = book.sizer, self.data
        inputs = sizer.inputs()
        terms = [sizer.terms(self.hub.columns(inputs, j), data.close[:, j], yearly) for j in range(data.n_symbols)]
        return (_constant_or_columns([weight for weight, _, _ in terms], data.n_bars),
                _constant_or_columns([np.inf if cap is None else cap for _, cap, _ in terms], data.n_bars),
                float(terms[0].fixed))

    def simulate(self, values: np.ndarray, record: bool, lanes: int = 1) -> tuple:
        """The kernel over targets (targets x lanes, bars); lane l's targets are rows l*K .. (l+1)*K-1."""
        return simulate(targets=values, record=record, **self._lane_arrays(lanes))

    def _lane_arrays(self, lanes: int) -> dict[str, Any]:
        """The kernel's arrays for `lanes` copies of the hierarchy side by side (cached per lane count)."""
        if lanes == 1:
            return self._static
        if lanes not in self._by_lanes:
            one, n_books = self._static, len(self.books)
            arrays = dict(one)
            for key in ("capital", "allow_short", "leverage", "threshold_pct", "weight_const", "weight_row",
                        "max_const", "max_row", "sizer_fixed", "check_count", "target_symbol"):
                arrays[key] = np.tile(one[key], lanes)
            for key in ("check_limit", "check_measure", "check_threshold", "check_inclusive"):
                arrays[key] = np.tile(one[key], (lanes, 1))
            arrays["target_portfolio"] = np.concatenate([one["target_portfolio"] + lane * n_books
                                                         for lane in range(lanes)])
            arrays["portfolio_lane"] = np.repeat(np.arange(lanes, dtype=np.int64), n_books)
            arrays["total_curve"] = np.empty((lanes, self.data.n_bars))
            arrays["total_exposed"] = np.empty((lanes, self.data.n_bars), dtype=np.bool_)
            self._by_lanes[lanes] = arrays
        return self._by_lanes[lanes]

    def _record(self) -> tuple:
        return self.simulate(self.target_values, record=True)

    def run(self) -> BacktestResult:
        equity, _, exposed, fills, rejects, unfilled, _, quantity, average = self._record()
        classifiers = self.config.classifiers
        regimes = regimes_frame(self.data.timestamps, {c.name: self.regimes[:, i] for i, c in enumerate(classifiers)},
                                {c.name: c.params.labels for c in classifiers})
        return assemble(self.data.timestamps, [book.name for book in self.books], equity, exposed,
                        self._trades(fills), self._rejects(rejects), int(unfilled), self.periods_per_year, "fast",
                        regimes, self._open_positions(quantity, average))

    def summary(self) -> tuple[np.ndarray, list[dict[str, object]]]:
        """Metrics (metrics.METRIC_NAMES order) and per-regime rows, straight from the kernel's arrays.

        What a sweep trial needs, without building the pandas frames of `run`.
        """
        equity, _, _, fills, _, _, accumulators, _, _ = self._record()
        closing = fills[fills[:, FILL["closing"]] > 0]
        classifier = np.array(self.book_classifier, dtype=np.int64)[closing[:, FILL["portfolio"]].astype(np.int64)]
        entry_regime = self.regimes[closing[:, FILL["entry_bar"]].astype(np.int64), classifier]
        names = [c.name for c in self.config.classifiers]
        rows = regime_rows(self._classifier_equity(equity), self.regimes, names, self.labels, classifier,
                           entry_regime, closing[:, FILL["realized_pnl"]], self.periods_per_year)
        return finish(accumulators[0], self.periods_per_year), rows

    def _classifier_equity(self, equity: np.ndarray) -> np.ndarray:
        """(bars, classifiers): each classifier's own portfolios' equity, added left to right."""
        total = np.zeros((self.data.n_bars, len(self.config.classifiers)))
        for p, c in enumerate(self.book_classifier):
            total[:, c] += equity[:, p]
        return total

    def _label(self, p: int, bar: int) -> str:
        code = self.regimes[bar, self.book_classifier[p]]
        return UNKNOWN if code < 0 else self.labels[self.book_classifier[p]][int(code)]

    def _names(self, p: int, j: int, bar: int) -> str:
        """The strategies behind portfolio p's target for symbol j at a bar."""
        bits = self.target_bits[self.target_row[(p, j)], bar]
        return contributor_names(bits, [strategy.name for strategy in self.books[p].strategies])

    def _trades(self, fills: np.ndarray) -> pd.DataFrame:
        rows = []
        for row in fills:
            p, j, bar = int(row[FILL["portfolio"]]), int(row[FILL["symbol"]]), int(row[FILL["bar_index"]])
            quantity, entry = row[FILL["quantity"]], int(row[FILL["entry_bar"]])
            rows.append((int(row[FILL["order_id"]]), bar, self.data.timestamps[bar], self.books[p].name,
                         self._names(p, j, entry), self.data.symbols[j], "buy" if quantity > 0 else "sell", quantity,
                         row[FILL["price"]], row[FILL["commission"]], row[FILL["slippage_cost"]],
                         row[FILL["realized_pnl"]], bool(row[FILL["closing"]]), self._label(p, entry)))
        return trades_frame(rows)

    def _rejects(self, rejects: np.ndarray) -> pd.DataFrame:
        rows = []
        for row in rejects:
            p, bar, code = int(row[REJECT["portfolio"]]), int(row[REJECT["bar_index"]]), int(row[REJECT["code"]])
            j = int(row[REJECT["symbol"]])
            book, symbol = self.books[p], self.data.symbols[j]
            quantity, price = row[REJECT["quantity"]], row[REJECT["price"]]
            if code == SIZER_REJECT:
                quantity, reason = 0.0, SIZER_REASON
            elif code == CASH_REJECT:
                reason = cash_reason(symbol, quantity, price, row[REJECT["cash_after"]])
            elif code == LEVERAGE_REJECT:
                reason = leverage_reason(row[REJECT["gross_exposure_after"]], row[REJECT["equity"]], book.leverage)
            else:
                check = ExposureCheck(symbol, price, quantity, row[REJECT["equity"]],
                                      row[REJECT["gross_exposure_after"]], row[REJECT["drawdown_pct"]],
                                      row[REJECT["daily_loss_pct"]])
                reason = book.limits[code].reason(check)
            rows.append((bar, self.data.timestamps[bar], book.name, self._names(p, j, bar), symbol, quantity, reason))
        return rejects_frame(rows)

    def _open_positions(self, quantity: np.ndarray, average: np.ndarray) -> pd.DataFrame:
        close = self.data.close[-1]
        return open_positions_frame([
            (book.name, self.data.symbols[j], quantity[p, j], average[p, j], close[j])
            for p, book in enumerate(self.books) for j in range(self.data.n_symbols) if quantity[p, j] != 0])


def regime_column(classifier: Any, hub: IndicatorHub) -> np.ndarray:
    """A classifier's regime code per bar (-1 while it warms up) on its proxy symbol (the first by default)."""
    rule, data = classifier.params, hub.data
    inputs = rule.inputs()
    hub.ensure(plan(inputs.values()))
    j = data.symbols.index(rule.symbol or data.symbols[0])
    codes = rule.regime(hub.columns(inputs, j), hub.columns(inputs, j, lag=1))
    return np.broadcast_to(np.asarray(codes, dtype=np.int64), (data.n_bars,))


def rule_column(params: Any, hub: IndicatorHub, symbol: int) -> np.ndarray:
    """A strategy rule's value per bar on one symbol: signed strength, 0 for flat, NaN for nothing new."""
    inputs = params.inputs()
    hub.ensure(plan(inputs.values()))
    now, prev = hub.columns(inputs, symbol), hub.columns(inputs, symbol, lag=1)
    return np.broadcast_to(np.asarray(params.signal(now, prev), dtype=np.float64), (hub.data.n_bars,))


def _constant_or_columns(per_symbol: list[Any], n_bars: int) -> float | np.ndarray:
    """One number when every symbol's term is the same number, else the (bars, symbols) array."""
    if all(np.ndim(term) == 0 for term in per_symbol) and len({float(term) for term in per_symbol}) == 1:
        return float(per_symbol[0])
    return np.column_stack([np.broadcast_to(np.asarray(term, dtype=np.float64), (n_bars,)) for term in per_symbol])


def _term_arrays(terms: list[float | np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stacked columns, row per portfolio or -1, constant per portfolio) for the kernel."""
    columns = [term for term in terms if not isinstance(term, float)]
    rows, k = [], 0
    for term in terms:
        rows.append(-1 if isinstance(term, float) else k)
        k += not isinstance(term, float)
    constants = [term if isinstance(term, float) else np.nan for term in terms]
    stacked = np.stack(columns) if columns else np.zeros((1, 1, 1))
    return stacked, np.array(rows, dtype=np.int64), np.array(constants, dtype=np.float64)


def run_fast(config: BacktestConfig, data: MarketData, hub: IndicatorHub | None = None) -> BacktestResult:
    """One FULL backtest with the compiled kernel; the same result as the event engine."""
    return FastModel(config, data, hub).run()


def run_batch(config: BacktestConfig, data: MarketData, portfolio: str, strategy: str,
              param_sets: Sequence[Mapping[str, Any]], hub: IndicatorHub | None = None,
              lanes: int = BATCH_LANES) -> pd.DataFrame:
    """Many parameter sets of one strategy over the same shared indicator arrays, in one call.

    Returns one row per parameter set: its parameters, then the metrics of all portfolios together,
    exactly as `run_fast` of the config with those parameters would report them. Parameter sets run
    `lanes` at a time through one kernel pass (independent backtests side by side).
    """
    model = FastModel(config, data, hub)
    p = next((i for i, book in enumerate(model.books) if book.name == portfolio), None)
    names = [] if p is None else [s.name for s in model.books[p].strategies]
    if p is None or strategy not in names:
        raise ConfigError(f"batch: no strategy '{strategy}' in portfolio '{portfolio}'")
    s = names.index(strategy)
    base = model.books[p].strategies[s]
    slots = [slot for slot in model.standing if slot.portfolio == p and slot.strategy == s]
    rows_of = [k for k, target in enumerate(model.targets) if target.portfolio == p
               and any(slot.symbol == target.symbol for slot in slots)]
    n_targets = len(model.targets)
    metrics: list[np.ndarray] = []
    # buffers reused by every chunk: fresh memory per parameter set costs more than the kernel's bookkeeping
    values = np.tile(model.target_values, (lanes, 1))
    bits = np.empty(data.n_bars)  # who contributed is not needed for metrics
    swapped = {slot: np.empty(data.n_bars) for slot in slots}
    for start in range(0, len(param_sets), lanes):
        chunk = param_sets[start:start + lanes]
        for lane, changes in enumerate(chunk):
            try:
                params = type(base.params).model_validate({**base.params.model_dump(), **changes})
            except ValidationError as error:
                raise ConfigError(f"batch parameter set {start + lane} {dict(changes)}: "
                                  f"{error.errors()[0]['msg']}") from error
            standing = {**model.standing, **{slot: model.standing_signal(slot, params, swapped[slot])
                                             for slot in slots}}
            for k in rows_of:
                row = lane * n_targets + k
                model.target_column(model.targets[k], standing, out=(values[row], bits))
        accumulators = model.simulate(values[:len(chunk) * n_targets], record=False, lanes=len(chunk))[6]
        metrics.extend(finish(accumulators[lane], model.periods_per_year) for lane in range(len(chunk)))
    frame = pd.DataFrame(np.array(metrics).reshape(len(metrics), len(METRIC_NAMES)), columns=list(METRIC_NAMES))
    return pd.concat([pd.DataFrame([dict(changes) for changes in param_sets]), frame], axis=1)
