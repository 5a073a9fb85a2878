"""Performance metrics of an equity curve and its fills, as a pandas Series with unit-suffixed names."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

METRIC_NAMES = (
    "total_return_pct", "annualized_return_pct", "volatility_pct", "sharpe_ratio", "sortino_ratio",
    "calmar_ratio", "max_drawdown_pct", "win_rate_pct", "profit_factor", "num_trades", "num_fills",
    "exposure_pct", "final_equity",
)


def max_drawdown_pct(equity: np.ndarray) -> float:
    """Largest fall from a running peak, in percent of that peak."""
    peaks = np.maximum.accumulate(equity)
    return float(np.max((peaks - equity) / peaks) * 100.0) if len(equity) else 0.0


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else 0.0


def compute_metrics(equity: np.ndarray, realized_pnl: np.ndarray, num_fills: int, exposed: np.ndarray,
                    periods_per_year: float) -> pd.Series:
    """Return and risk from bar-to-bar equity; trade statistics from the realized P&L of closing fills.

    Sharpe and Sortino use per-bar returns annualized by sqrt(periods_per_year), risk-free rate 0.
    A 'trade' is a fill that closes (part of) a position; win rate and profit factor count those.
    """
    start, end = float(equity[0]), float(equity[-1])
    returns = np.diff(equity) / equity[:-1] if len(equity) > 1 else np.zeros(0)
    growth = end / start
    years = max(len(returns), 1) / periods_per_year
    annualized = (growth ** (1.0 / years) - 1.0) * 100.0 if growth > 0 else -100.0
    std = float(np.std(returns, ddof=1)) if len(returns) > 1 else 0.0
    mean = float(np.mean(returns)) if len(returns) else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))) if len(returns) else 0.0
    drawdown = max_drawdown_pct(equity)
    wins, losses = realized_pnl[realized_pnl > 0], realized_pnl[realized_pnl < 0]
    profit_factor = _ratio(float(wins.sum()), float(-losses.sum())) if len(losses) else (
        math.inf if len(wins) else 0.0)
    values = {
        "total_return_pct": (growth - 1.0) * 100.0,
        "annualized_return_pct": annualized,
        "volatility_pct": std * math.sqrt(periods_per_year) * 100.0,
        "sharpe_ratio": _ratio(mean, std) * math.sqrt(periods_per_year),
        "sortino_ratio": _ratio(mean, downside) * math.sqrt(periods_per_year),
        "calmar_ratio": _ratio(annualized, drawdown),
        "max_drawdown_pct": drawdown,
        "win_rate_pct": _ratio(len(wins), len(realized_pnl)) * 100.0,
        "profit_factor": profit_factor,
        "num_trades": float(len(realized_pnl)),
        "num_fills": float(num_fills),
        "exposure_pct": float(np.mean(exposed)) * 100.0 if len(exposed) else 0.0,
        "final_equity": end,
    }
    return pd.Series(values, name="metrics")[list(METRIC_NAMES)]
