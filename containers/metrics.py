"""Performance metrics of an equity curve and its fills, as a pandas Series with unit-suffixed names.

Both engines and the batch entry point compute them with one compiled function (kernels.summarize),
so equal equity curves and fills give bit-for-bit equal metrics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from containers.metric_kernels import summarize

METRIC_NAMES = (
    "total_return_pct", "annualized_return_pct", "volatility_pct", "sharpe_ratio", "sortino_ratio",
    "calmar_ratio", "max_drawdown_pct", "win_rate_pct", "profit_factor", "num_trades", "num_fills",
    "exposure_pct", "final_equity",
)


def metrics_series(values: np.ndarray) -> pd.Series:
    return pd.Series(values, index=list(METRIC_NAMES), name="metrics", dtype=np.float64)


def compute_metrics(equity: np.ndarray, closing_pnl: np.ndarray, num_fills: int, exposed: np.ndarray,
                    periods_per_year: float) -> pd.Series:
    """Return and risk from bar-to-bar equity; trade statistics from the realized P&L of closing fills.

    Sharpe and Sortino use per-bar returns annualized by sqrt(periods_per_year), risk-free rate 0.
    A 'trade' is a fill that closes (part of) a position; win rate and profit factor count those.
    """
    values = summarize(np.ascontiguousarray(equity, dtype=np.float64),
                       np.ascontiguousarray(closing_pnl, dtype=np.float64), int(num_fills),
                       np.ascontiguousarray(exposed, dtype=np.bool_), float(periods_per_year))
    return metrics_series(values)
