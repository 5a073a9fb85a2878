"""Metrics, compiled: an accumulator of trade statistics (fed fill by fill) and of the total equity curve.

The kernel and `summarize` make the same calls in the same order, so both engines and the batch
entry point give bit-equal metrics for equal curves and fills.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from containers import CACHE_COMPILED

# Slots of the accumulator array.
(A_BARS, A_RETURNS, A_MEAN, A_M2, A_DOWNSIDE, A_MAX_DRAWDOWN, A_EXPOSED, A_FIRST, A_LAST,
 A_WINS, A_LOSSES, A_N_WINS, A_N_LOSSES, A_N_TRADES, A_FILLS) = range(15)
ACCUMULATOR_SIZE = 15
METRIC_COUNT = 13


@njit(cache=CACHE_COMPILED, error_model="numpy")
def observe_curve(acc: np.ndarray, lane: int, equity: np.ndarray, exposed: np.ndarray) -> None:
    """A whole equity curve in one pass: mean and sample variance of bar returns, downside, drawdown.

    One division per bar: the variance comes from sums of returns shifted by the first return (the
    shifted-data algorithm, accurate when the shift is near the mean, as a return's neighbour is),
    and a drawdown is divided out only at a new low below the running peak (the deepest point of each
    fall is its largest drawdown). No branch depends on a return's sign, so the loop pipelines.
    """
    n = equity.shape[0]
    returns = max(n - 1, 0)
    shift = equity[1] / equity[0] - 1.0 if n > 1 else 0.0
    total, shifted, shifted_squares, downside = 0.0, 0.0, 0.0, 0.0
    peak, trough, worst, exposed_bars = equity[0], equity[0], 0.0, 0
    for t in range(n):
        value = equity[t]
        if value > peak:
            peak, trough = value, value
        elif value < trough:
            trough = value
            worst = max(worst, (peak - trough) / peak)
        exposed_bars += exposed[t]
        if t > 0:
            change = value / equity[t - 1] - 1.0
            total += change
            deviation = change - shift
            shifted += deviation
            shifted_squares += deviation * deviation
            loss = min(change, 0.0)
            downside += loss * loss
    mean = total / returns if returns > 0 else 0.0
    squares = max(shifted_squares - shifted * shifted / returns, 0.0) if returns > 0 else 0.0
    acc[lane, A_BARS], acc[lane, A_RETURNS], acc[lane, A_MEAN], acc[lane, A_M2] = n, returns, mean, squares
    acc[lane, A_DOWNSIDE], acc[lane, A_MAX_DRAWDOWN], acc[lane, A_EXPOSED] = downside, worst, exposed_bars
    acc[lane, A_FIRST], acc[lane, A_LAST] = equity[0], equity[n - 1]


@njit(cache=CACHE_COMPILED, error_model="numpy")
def observe_trade(acc: np.ndarray, lane: int, realized_pnl: float) -> None:
    """A closing fill's realized P&L into lane `lane` of (lanes, slots) accumulators: every fill that reduces
    a position is a trade; a positive P&L is a win, a negative one a loss, zero neither."""
    if realized_pnl > 0:
        acc[lane, A_WINS] += realized_pnl
        acc[lane, A_N_WINS] += 1
    elif realized_pnl < 0:
        acc[lane, A_LOSSES] -= realized_pnl
        acc[lane, A_N_LOSSES] += 1
    acc[lane, A_N_TRADES] += 1


@njit(cache=CACHE_COMPILED, error_model="numpy")
def finish(acc: np.ndarray, periods_per_year: float) -> np.ndarray:
    """The metrics of metrics.METRIC_NAMES, in that order."""
    returns = acc[A_RETURNS]
    std = math.sqrt(acc[A_M2] / (returns - 1)) if returns > 1 else 0.0
    downside = math.sqrt(acc[A_DOWNSIDE] / returns) if returns > 0 else 0.0
    growth = acc[A_LAST] / acc[A_FIRST]
    years = max(returns, 1.0) / periods_per_year
    annualized = (growth ** (1.0 / years) - 1.0) * 100.0 if growth > 0 else -100.0
    drawdown_pct = acc[A_MAX_DRAWDOWN] * 100.0
    profit_factor = 0.0
    if acc[A_N_LOSSES] > 0:
        profit_factor = acc[A_WINS] / acc[A_LOSSES]
    elif acc[A_N_WINS] > 0:
        profit_factor = np.inf
    root_year = math.sqrt(periods_per_year)
    result = np.empty(METRIC_COUNT)
    result[0] = (growth - 1.0) * 100.0
    result[1] = annualized
    result[2] = std * root_year * 100.0
    result[3] = (acc[A_MEAN] / std if std > 0 else 0.0) * root_year
    result[4] = (acc[A_MEAN] / downside if downside > 0 else 0.0) * root_year
    result[5] = annualized / drawdown_pct if drawdown_pct > 0 else 0.0
    result[6] = drawdown_pct
    result[7] = acc[A_N_WINS] / acc[A_N_TRADES] * 100.0 if acc[A_N_TRADES] > 0 else 0.0
    result[8] = profit_factor
    result[9] = acc[A_N_TRADES]
    result[10] = acc[A_FILLS]
    result[11] = acc[A_EXPOSED] / acc[A_BARS] * 100.0 if acc[A_BARS] > 0 else 0.0
    result[12] = acc[A_LAST]
    return result


@njit(cache=CACHE_COMPILED, error_model="numpy")
def summarize(equity: np.ndarray, closing_pnl: np.ndarray, fill_count: int, exposed: np.ndarray,
              periods_per_year: float) -> np.ndarray:
    """Metrics of a stored equity curve and the realized P&L of its closing fills (in fill order)."""
    acc = np.zeros((1, ACCUMULATOR_SIZE))
    observe_curve(acc, 0, equity, exposed)
    for pnl in closing_pnl:
        observe_trade(acc, 0, pnl)
    acc[0, A_FILLS] = fill_count
    return finish(acc[0], periods_per_year)


@njit(cache=CACHE_COMPILED, error_model="numpy")
def total_equity(curves: np.ndarray) -> np.ndarray:
    """Row sums of (bars, portfolios) equity, added left to right (as the kernel totals each bar)."""
    total = np.zeros(curves.shape[0])
    for t in range(curves.shape[0]):
        for p in range(curves.shape[1]):
            total[t] += curves[t, p]
    return total
