"""run_backtest: build, run and collect one backtest into pandas frames and metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from containers.bus import Tracer
from containers.config import BacktestConfig
from containers.data.market import MarketData
from containers.factory import build_backtest, periods_per_year
from containers.hierarchy import BacktestContainer
from containers.metrics import compute_metrics

TRADE_COLUMNS = ("order_id", "bar_index", "timestamp", "portfolio", "strategy", "symbol", "side", "quantity",
                 "price", "commission", "slippage_cost", "realized_pnl", "regime")


@dataclass(frozen=True)
class BacktestResult:
    """Metrics of all portfolios together, per-portfolio metrics, equity curves, fills, vetoes."""

    metrics: pd.Series
    portfolio_metrics: pd.DataFrame
    equity: pd.DataFrame
    trades: pd.DataFrame
    rejects: pd.DataFrame
    unfilled_orders: int


def _trades(container: BacktestContainer) -> pd.DataFrame:
    realized = {}
    for rp in container.portfolios:
        realized.update(rp.portfolio.realized_by_order)
    rows = [
        (f.order_id, f.bar_index, container.data.timestamps[f.bar_index], f.portfolio, f.strategy, f.symbol,
         "buy" if f.quantity > 0 else "sell", f.quantity, f.price, f.commission, f.slippage_cost,
         realized[f.order_id], f.regime)
        for f in container.engine.fills
    ]
    return pd.DataFrame(rows, columns=list(TRADE_COLUMNS)).astype(
        {"order_id": np.int64, "bar_index": np.int64, "quantity": np.float64, "price": np.float64,
         "commission": np.float64, "slippage_cost": np.float64, "realized_pnl": np.float64})


def _closing_pnl(trades: pd.DataFrame, portfolio: str | None = None) -> np.ndarray:
    chosen = trades if portfolio is None else trades[trades["portfolio"] == portfolio]
    return chosen.loc[chosen["realized_pnl"] != 0, "realized_pnl"].to_numpy()


def collect(container: BacktestContainer, yearly: float) -> BacktestResult:
    """Frames and metrics from a hierarchy that has run."""
    portfolios = [rp.portfolio for rp in container.portfolios]
    index = pd.DatetimeIndex(container.data.timestamps, name="timestamp")
    equity = pd.DataFrame({p.name: p.equity_curve for p in portfolios}, index=index)
    equity["total"] = equity.sum(axis=1)
    trades = _trades(container)
    exposed_any = np.any([p.exposed for p in portfolios], axis=0)
    metrics = compute_metrics(equity["total"].to_numpy(), _closing_pnl(trades), len(trades), exposed_any, yearly)
    per_portfolio = pd.DataFrame({
        p.name: compute_metrics(p.equity_curve, _closing_pnl(trades, p.name),
                                int((trades["portfolio"] == p.name).sum()), p.exposed, yearly)
        for p in portfolios}).T
    rejects = pd.DataFrame(
        [(r.bar_index, container.data.timestamps[r.bar_index], r.portfolio, r.strategy, r.symbol, r.quantity,
          r.reason) for rp in container.portfolios for r in rp.risk.rejects],
        columns=["bar_index", "timestamp", "portfolio", "strategy", "symbol", "quantity", "reason"])
    return BacktestResult(metrics, per_portfolio, equity, trades, rejects, len(container.engine.unfilled))


def run_backtest(config: BacktestConfig, data: MarketData, tracer: Tracer | None = None) -> BacktestResult:
    """One FULL backtest of `config` over `data` with the event engine."""
    container = build_backtest(config, data, tracer)
    container.run()
    return collect(container, periods_per_year(config, data))
