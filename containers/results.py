"""BacktestResult and the one function that turns either engine's raw output into it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from containers.metric_kernels import total_equity
from containers.metrics import compute_metrics

TRADE_COLUMNS = ("order_id", "bar_index", "timestamp", "portfolio", "strategy", "symbol", "side", "quantity",
                 "price", "commission", "slippage_cost", "realized_pnl", "closing", "regime")
REJECT_COLUMNS = ("bar_index", "timestamp", "portfolio", "strategy", "symbol", "quantity", "reason")
TRADE_DTYPES = {"order_id": np.int64, "bar_index": np.int64, "quantity": np.float64, "price": np.float64,
                "commission": np.float64, "slippage_cost": np.float64, "realized_pnl": np.float64, "closing": np.bool_}
OPEN_POSITION_COLUMNS = ("portfolio", "symbol", "quantity", "average_price", "last_close", "unrealized_pnl")


@dataclass(frozen=True)
class BacktestResult:
    """Metrics of all portfolios together, per-portfolio metrics, equity curves, fills, vetoes."""

    metrics: pd.Series
    portfolio_metrics: pd.DataFrame
    equity: pd.DataFrame
    trades: pd.DataFrame
    rejects: pd.DataFrame
    unfilled_orders: int
    engine: str
    regimes: pd.DataFrame  # one column per classifier: its regime label at each bar
    open_positions: pd.DataFrame  # positions still open after the last bar (none with close_at_end)


def trades_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(TRADE_COLUMNS)).astype(TRADE_DTYPES)


def rejects_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(REJECT_COLUMNS)).astype({"bar_index": np.int64, "quantity": np.float64})


def open_positions_frame(rows: list[tuple[str, str, float, float, float]]) -> pd.DataFrame:
    """(portfolio, symbol, quantity, average price, last close) rows with their unrealized P&L."""
    frame = pd.DataFrame(rows, columns=list(OPEN_POSITION_COLUMNS[:-1])).astype(
        {"quantity": np.float64, "average_price": np.float64, "last_close": np.float64})
    frame["unrealized_pnl"] = frame["quantity"] * (frame["last_close"] - frame["average_price"])
    return frame


def _closing_pnl(trades: pd.DataFrame) -> np.ndarray:
    """Realized P&L of the trades: the fills that reduced a position, in fill order."""
    return trades.loc[trades["closing"], "realized_pnl"].to_numpy()


def regimes_frame(timestamps: np.ndarray, codes: dict[str, np.ndarray],
                  labels: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """Regime codes (-1 = unknown) per classifier as labels, indexed by timestamp."""
    columns = {name: np.array(["unknown", *labels[name]], dtype=object)[np.asarray(code) + 1]
               for name, code in codes.items()}
    return pd.DataFrame(columns, index=pd.DatetimeIndex(timestamps, name="timestamp"))


def assemble(timestamps: np.ndarray, names: list[str], equity_curves: np.ndarray, exposed: np.ndarray,
             trades: pd.DataFrame, rejects: pd.DataFrame, unfilled: int, periods_per_year: float,
             engine: str, regimes: pd.DataFrame, open_positions: pd.DataFrame) -> BacktestResult:
    """Frames and metrics from (bars, portfolios) equity curves and exposure flags, fills and vetoes."""
    equity = pd.DataFrame(equity_curves, columns=names, index=pd.DatetimeIndex(timestamps, name="timestamp"))
    total = total_equity(np.ascontiguousarray(equity_curves))
    equity["total"] = total
    metrics = compute_metrics(total, _closing_pnl(trades), len(trades), exposed.any(axis=1), periods_per_year)
    per_portfolio = pd.DataFrame({
        name: compute_metrics(equity_curves[:, p], _closing_pnl(trades[trades["portfolio"] == name]),
                              int((trades["portfolio"] == name).sum()), exposed[:, p], periods_per_year)
        for p, name in enumerate(names)}).T
    return BacktestResult(metrics, per_portfolio, equity, trades, rejects, unfilled, engine, regimes, open_positions)
