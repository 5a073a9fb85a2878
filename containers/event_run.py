"""The event engine end to end: build a fresh hierarchy, run its bar loop, collect a BacktestResult."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from containers.bus import Tracer
from containers.config import BacktestConfig
from containers.data.market import MarketData
from containers.factory import build_backtest, periods_per_year
from containers.hierarchy import BacktestContainer
from containers.results import (
    BacktestResult,
    assemble,
    open_positions_frame,
    regimes_frame,
    rejects_frame,
    trades_frame,
)


def collect(container: BacktestContainer, yearly: float) -> BacktestResult:
    """Frames and metrics from a hierarchy that has run."""
    portfolios = [rp.portfolio for rp in container.portfolios]
    stamps = container.data.timestamps
    realized = {order: pnl for p in portfolios for order, pnl in p.realized_by_order.items()}
    closing = {order for p in portfolios for order in p.closing_orders}
    trades = trades_frame([
        (f.order_id, f.bar_index, stamps[f.bar_index], f.portfolio, f.strategy, f.symbol,
         "buy" if f.quantity > 0 else "sell", f.quantity, f.price, f.commission, f.slippage_cost,
         realized[f.order_id], f.order_id in closing, f.regime)
        for f in container.engine.fills])
    rejects = rejects_frame([
        (r.bar_index, stamps[r.bar_index], r.portfolio, r.strategy, r.symbol, r.quantity, r.reason)
        for rp in container.portfolios for r in rp.risk.rejects])
    # per bar, in dispatch order: portfolios in hierarchy order, each one's vetoes in the order it made them
    rejects = rejects.sort_values("bar_index", kind="stable").reset_index(drop=True)
    equity = np.column_stack([p.equity_curve for p in portfolios])
    exposed = np.column_stack([p.exposed for p in portfolios])
    regimes = regimes_frame(stamps, {c.name: c.history for c in container.classifiers},
                            {c.name: c.labels for c in container.classifiers})
    last_close = container.data.close[-1]
    still_open = open_positions_frame([
        (p.name, symbol, float(p.quantity[j]), float(p.average_price[j]), float(last_close[j]))
        for p in portfolios for j, symbol in enumerate(p.symbols) if p.quantity[j] != 0])
    return assemble(stamps, [p.name for p in portfolios], equity, exposed, trades, rejects,
                    len(container.engine.unfilled), yearly, "event", regimes, still_open)


def run_event(config: BacktestConfig, data: MarketData, tracer: Tracer | None = None,
              precomputed: Mapping[str, np.ndarray] | None = None) -> BacktestResult:
    """One FULL backtest of `config` over `data` with the event engine (reusing `precomputed` indicators)."""
    container = build_backtest(config, data, tracer, precomputed)
    container.run()
    return collect(container, periods_per_year(config, data))
