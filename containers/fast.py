"""The fast engine's edge: config → arrays, the compiled kernel, arrays → the same BacktestResult.

Indicators come from the IndicatorHub (computed once), classifier regimes and strategy signals are
their rules evaluated on whole columns, and the path-dependent part runs in kernels.simulate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from containers.components.classifiers import UNKNOWN
from containers.components.limits import ExposureCheck
from containers.config import BacktestConfig, PortfolioConfig
from containers.data.market import MarketData
from containers.errors import ConfigError
from containers.factory import check_symbols, periods_per_year, required_inputs
from containers.hub import IndicatorHub, plan
from containers.kernels import (
    COMMISSION_FIXED,
    COMMISSION_NONE,
    COMMISSION_PER_SHARE,
    COMMISSION_PERCENTAGE,
    FILL_FIELDS,
    LIMIT_DAILY,
    LIMIT_DRAWDOWN,
    LIMIT_GROSS,
    LIMIT_MAX_POSITION,
    REJECT_FIELDS,
    SIZER_ATR,
    SIZER_FIXED,
    SIZER_PERCENTAGE,
    SIZER_REJECT,
    SIZER_VOLATILITY,
    simulate,
)
from containers.metric_kernels import finish
from containers.metrics import METRIC_NAMES
from containers.regime_metrics import regime_rows
from containers.results import BacktestResult, assemble, regimes_frame, rejects_frame, trades_frame

SIZERS = {"fixed": SIZER_FIXED, "percentage": SIZER_PERCENTAGE, "atr": SIZER_ATR, "volatility": SIZER_VOLATILITY}
LIMITS = {"max_position": LIMIT_MAX_POSITION, "max_gross_exposure": LIMIT_GROSS, "max_drawdown": LIMIT_DRAWDOWN,
          "daily_loss": LIMIT_DAILY}
COMMISSIONS = {"percentage": COMMISSION_PERCENTAGE, "per_share": COMMISSION_PER_SHARE, "fixed": COMMISSION_FIXED,
               "none": COMMISSION_NONE}
NAN = float("nan")
BATCH_LANES = 4  # parameter sets per kernel pass; measured best on this machine (bench/backtest_speed.py)


def fast_unsupported(config: BacktestConfig) -> str | None:
    """Why the kernel cannot run this config (a component it has no code for), or None."""
    if config.execution.commission.type not in COMMISSIONS:
        return f"commission type '{config.execution.commission.type}' has no fast kernel"
    for classifier in config.classifiers:
        for book in classifier.portfolios:
            if book.sizer.type not in SIZERS:
                return f"portfolio '{book.name}': sizer '{book.sizer.type}' has no fast kernel"
            for limit in book.limits:
                if limit.type not in LIMITS:
                    return f"portfolio '{book.name}': limit '{limit.type}' has no fast kernel"
    return None


@dataclass(frozen=True)
class Slot:
    """One signal column: a strategy of a portfolio on one symbol, in event-dispatch order."""

    classifier: int
    portfolio: int
    strategy: str
    symbol: int
    regimes: tuple[str, ...] | None


def _sizer_row(book: PortfolioConfig) -> list[float]:
    sizer = book.sizer
    if sizer.type == "fixed":
        return [sizer.quantity, NAN, NAN]
    if sizer.type == "percentage":
        return [sizer.pct, NAN, NAN]
    if sizer.type == "atr":
        return [sizer.risk_pct, sizer.multiplier, NAN if sizer.max_pct is None else sizer.max_pct]
    return [sizer.target_vol_pct, NAN, sizer.max_pct]


def _limit_row(limit: Any) -> tuple[int, float, float]:
    if limit.type == "max_position":
        return (LIMIT_MAX_POSITION, NAN if limit.max_quantity is None else limit.max_quantity,
                NAN if limit.max_pct is None else limit.max_pct)
    return LIMITS[limit.type], limit.max_pct, NAN


def _commission_row(config: BacktestConfig) -> list[float]:
    commission = config.execution.commission
    if commission.type == "percentage":
        return [commission.rate_pct, commission.min, NAN]
    if commission.type == "per_share":
        return [commission.rate, commission.min, NAN if commission.max is None else commission.max]
    if commission.type == "fixed":
        return [commission.amount, NAN, NAN]
    return [NAN, NAN, NAN]


class FastModel:
    """Everything the kernel needs for one config and dataset; signals of one strategy can be swapped."""

    def __init__(self, config: BacktestConfig, data: MarketData, hub: IndicatorHub | None = None) -> None:
        check_symbols(config, data)
        self.config = config
        self.data = data
        self.hub = hub or IndicatorHub(data, [])
        self.hub.ensure(plan(required_inputs(config)))
        self.periods_per_year = periods_per_year(config, data)
        self.books = [book for classifier in config.classifiers for book in classifier.portfolios]
        self.labels = [classifier.params.labels for classifier in config.classifiers]
        self.regimes = np.column_stack([self._regime_codes(c) for c in config.classifiers])
        self.slots: list[Slot] = []
        self.strategy_configs: dict[tuple[int, str], Any] = {}
        columns = []
        for c, classifier in enumerate(config.classifiers):
            for book in classifier.portfolios:
                p = self.books.index(book)
                for strategy in book.strategies:
                    self.strategy_configs[(p, strategy.name)] = strategy
                    for symbol in strategy.symbols or data.symbols:
                        slot = Slot(c, p, strategy.name, data.symbols.index(symbol), strategy.regimes)
                        self.slots.append(slot)
                        columns.append(self.slot_signal(slot, strategy.params))
        self.signals = np.vstack(columns) if columns else np.empty((0, data.n_bars))  # (slots, bars)
        self._static = self._kernel_arrays()
        self._by_lanes: dict[int, dict[str, Any]] = {}

    def _regime_codes(self, classifier: Any) -> np.ndarray:
        rule = classifier.params
        inputs = rule.inputs()
        j = self.data.symbols.index(rule.symbol or self.data.symbols[0])
        codes = rule.regime(self.hub.columns(inputs, j), self.hub.columns(inputs, j, lag=1))
        return np.broadcast_to(np.asarray(codes, dtype=np.int64), (self.data.n_bars,))

    def slot_signal(self, slot: Slot, params: Any) -> np.ndarray:
        """The strategy rule over the slot's whole column; flat (0) outside the strategy's regimes."""
        inputs = params.inputs()
        self.hub.ensure(plan(inputs.values()))
        now, prev = self.hub.columns(inputs, slot.symbol), self.hub.columns(inputs, slot.symbol, lag=1)
        values = np.broadcast_to(np.asarray(params.signal(now, prev), dtype=np.float64), (self.data.n_bars,))
        if slot.regimes is None:
            return values
        allowed = [self.labels[slot.classifier].index(regime) for regime in slot.regimes]
        return np.where(np.isin(self.regimes[:, slot.classifier], allowed), values, 0.0)

    def _kernel_arrays(self) -> dict[str, Any]:
        data, books, execution = self.data, self.books, self.config.execution
        sizer_value = np.zeros((len(books), data.n_bars, data.n_symbols))
        for p, book in enumerate(books):
            for item in book.sizer.inputs().values():
                sizer_value[p] = self.hub.arrays[item.key]
        width = max([len(book.limits) for book in books] + [1])
        limits = np.full((len(books), width, 3), NAN)
        for p, book in enumerate(books):
            for i, limit in enumerate(book.limits):
                limits[p, i] = _limit_row(limit)
        return {
            "open_": np.ascontiguousarray(data.open), "close": np.ascontiguousarray(data.close),
            "day": data.timestamps.astype("datetime64[D]").astype(np.int64),
            "slot_portfolio": np.array([s.portfolio for s in self.slots], dtype=np.int64),
            "slot_symbol": np.array([s.symbol for s in self.slots], dtype=np.int64),
            "slot_regime": np.ascontiguousarray(
                self.regimes[:, [s.classifier for s in self.slots]].T, dtype=np.float64),
            "capital": np.array([book.capital for book in books], dtype=np.float64),
            "allow_short": np.array([book.allow_short for book in books], dtype=np.bool_),
            "sizer_kind": np.array([SIZERS[book.sizer.type] for book in books], dtype=np.int64),
            "sizer_params": np.array([_sizer_row(book) for book in books], dtype=np.float64),
            "sizer_value": sizer_value,
            "sizer_row": np.arange(len(books), dtype=np.int64),
            "limit_kind": np.nan_to_num(limits[:, :, 0], nan=-1).astype(np.int64),
            "limit_first": np.ascontiguousarray(limits[:, :, 1]),
            "limit_second": np.ascontiguousarray(limits[:, :, 2]),
            "limit_count": np.array([len(book.limits) for book in books], dtype=np.int64),
            "same_bar_close": execution.fill_at == "same_bar_close",
            "slippage_bps": float(execution.slippage_bps),
            "commission_kind": COMMISSIONS[execution.commission.type],
            "commission_params": np.array(_commission_row(self.config), dtype=np.float64),
            "periods_per_year": float(self.periods_per_year),
            "portfolio_lane": np.zeros(len(books), dtype=np.int64),
            "total_curve": np.empty((1, data.n_bars)),  # reused by every simulation of this model
            "total_exposed": np.empty((1, data.n_bars), dtype=np.bool_),
        }

    def simulate(self, signals: np.ndarray, record: bool, lanes: int = 1) -> tuple:
        """The kernel over `signals` (slots x lanes, bars); lane l's slots are rows l*K .. (l+1)*K-1."""
        return simulate(signals=signals, record=record, **self._lane_arrays(lanes))

    def _lane_arrays(self, lanes: int) -> dict[str, Any]:
        """The kernel's arrays for `lanes` copies of the hierarchy side by side (cached per lane count)."""
        if lanes == 1:
            return self._static
        if lanes not in self._by_lanes:
            one, n_books = self._static, len(self.books)
            arrays = dict(one)
            for key in ("capital", "allow_short", "sizer_kind", "limit_count", "sizer_row", "slot_symbol"):
                arrays[key] = np.tile(one[key], lanes)
            for key in ("sizer_params", "limit_kind", "limit_first", "limit_second"):
                arrays[key] = np.tile(one[key], (lanes, 1))
            arrays["slot_portfolio"] = np.concatenate([one["slot_portfolio"] + lane * n_books for lane in range(lanes)])
            arrays["slot_regime"] = np.tile(one["slot_regime"], (lanes, 1))
            arrays["portfolio_lane"] = np.repeat(np.arange(lanes, dtype=np.int64), n_books)
            arrays["total_curve"] = np.empty((lanes, self.data.n_bars))
            arrays["total_exposed"] = np.empty((lanes, self.data.n_bars), dtype=np.bool_)
            self._by_lanes[lanes] = arrays
        return self._by_lanes[lanes]

    def run(self) -> BacktestResult:
        equity, _, exposed, fills, rejects, unfilled, _ = self.simulate(self.signals, record=True)
        classifiers = self.config.classifiers
        regimes = regimes_frame(self.data.timestamps, {c.name: self.regimes[:, i] for i, c in enumerate(classifiers)},
                                {c.name: c.params.labels for c in classifiers})
        return assemble(self.data.timestamps, [book.name for book in self.books], equity, exposed,
                        self._trades(fills), self._rejects(rejects), int(unfilled), self.periods_per_year, "fast",
                        regimes)

    def summary(self) -> tuple[np.ndarray, list[dict[str, object]]]:
        """Metrics (metrics.METRIC_NAMES order) and per-regime rows, straight from the kernel's arrays.

        What a sweep trial needs, without building the pandas frames of `run`.
        """
        arrays = self._static
        _, _, _, fills, _, _, accumulators = self.simulate(self.signals, record=True)
        column = {name: i for i, name in enumerate(FILL_FIELDS)}
        slots = fills[:, column["slot"]].astype(np.int64)
        slot_classifier = np.array([slot.classifier for slot in self.slots], dtype=np.int64)
        rows = regime_rows(
            arrays["total_curve"][0], self.regimes, [c.name for c in self.config.classifiers], self.labels,
            slot_classifier[slots], fills[:, column["regime"]].astype(np.int64), fills[:, column["realized_pnl"]],
            self.periods_per_year)
        return finish(accumulators[0], self.periods_per_year), rows

    def _regime_label(self, slot: Slot, code: float) -> str:
        return UNKNOWN if code < 0 else self.labels[slot.classifier][int(code)]

    def _trades(self, fills: np.ndarray) -> pd.DataFrame:
        column = {name: i for i, name in enumerate(FILL_FIELDS)}
        rows = []
        for row in fills:
            slot = self.slots[int(row[column["slot"]])]
            quantity, bar = row[column["quantity"]], int(row[column["bar_index"]])
            rows.append((int(row[column["order_id"]]), bar, self.data.timestamps[bar],
                         self.books[slot.portfolio].name, slot.strategy, self.data.symbols[slot.symbol],
                         "buy" if quantity > 0 else "sell", quantity, row[column["price"]],
                         row[column["commission"]], row[column["slippage_cost"]], row[column["realized_pnl"]],
                         self._regime_label(slot, row[column["regime"]])))
        return trades_frame(rows)

    def _rejects(self, rejects: np.ndarray) -> pd.DataFrame:
        column = {name: i for i, name in enumerate(REJECT_FIELDS)}
        rows = []
        for row in rejects:
            slot, bar = self.slots[int(row[column["slot"]])], int(row[column["bar_index"]])
            code = int(row[column["code"]])
            book, symbol = self.books[slot.portfolio], self.data.symbols[slot.symbol]
            if code == SIZER_REJECT:
                quantity, reason = 0.0, "sizer: the signal sizes to 0 shares"
            else:
                quantity = row[column["quantity"]]
                check = ExposureCheck(symbol, row[column["price"]], quantity, row[column["equity"]],
                                      row[column["gross_exposure_after"]], row[column["drawdown_pct"]],
                                      row[column["daily_loss_pct"]])
                reason = book.limits[code].veto(check) or ""
            rows.append((bar, self.data.timestamps[bar], book.name, slot.strategy, symbol, quantity, reason))
        return rejects_frame(rows)


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
    if p is None or (p, strategy) not in model.strategy_configs:
        raise ConfigError(f"batch: no strategy '{strategy}' in portfolio '{portfolio}'")
    base = model.strategy_configs[(p, strategy)]
    targets = [k for k, slot in enumerate(model.slots) if slot.portfolio == p and slot.strategy == strategy]
    n_slots = len(model.slots)
    rows: list[np.ndarray] = []
    for start in range(0, len(param_sets), lanes):
        chunk = param_sets[start:start + lanes]
        signals = np.tile(model.signals, (len(chunk), 1))
        for lane, changes in enumerate(chunk):
            try:
                params = type(base.params).model_validate({**base.params.model_dump(), **changes})
            except ValidationError as error:
                raise ConfigError(f"batch parameter set {start + lane} {dict(changes)}: "
                                  f"{error.errors()[0]['msg']}") from error
            for k in targets:
                signals[lane * n_slots + k] = model.slot_signal(model.slots[k], params)
        accumulators = model.simulate(signals, record=False, lanes=len(chunk))[-1]
        rows.extend(finish(accumulators[lane], model.periods_per_year) for lane in range(len(chunk)))
    metrics = pd.DataFrame(np.array(rows).reshape(len(rows), len(METRIC_NAMES)), columns=list(METRIC_NAMES))
    return pd.concat([pd.DataFrame([dict(changes) for changes in param_sets]), metrics], axis=1)
