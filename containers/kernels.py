"""Compiled kernels: the path-dependent part of a backtest (risk → orders → fills → portfolio) and metrics.

Numpy arrays in, numpy arrays out, no Python objects inside. Each step mirrors, operation for
operation, the event engine (risk.py, engine.py, portfolio.py, costs.py, sizers.py, limits.py), so the
two engines give the same trades and the same floating-point equity; the parity tests hold them there.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

SIZER_FIXED, SIZER_PERCENTAGE, SIZER_ATR, SIZER_VOLATILITY = 0, 1, 2, 3
LIMIT_MAX_POSITION, LIMIT_GROSS, LIMIT_DRAWDOWN, LIMIT_DAILY = 0, 1, 2, 3
COMMISSION_PERCENTAGE, COMMISSION_PER_SHARE, COMMISSION_FIXED, COMMISSION_NONE = 0, 1, 2, 3
SIZER_REJECT = -1  # reject code of a signal that sizes to 0 shares; limits use their index

# Columns of the fills and rejects records.
FILL_FIELDS = ("order_id", "bar_index", "portfolio", "slot", "symbol", "quantity", "price", "commission",
               "slippage_cost", "realized_pnl", "regime")
REJECT_FIELDS = ("bar_index", "portfolio", "slot", "symbol", "quantity", "code", "price", "equity",
                 "gross_exposure_after", "drawdown_pct", "daily_loss_pct")
METRIC_COUNT = 13


@njit(cache=True)
def _whole_shares(quantity: float) -> float:
    if not np.isfinite(quantity) or quantity <= 0:
        return 0.0
    return np.floor(quantity + 1e-9)


@njit(cache=True)
def _size(kind: int, params: np.ndarray, equity: float, price: float, strength: float, value: float,
          periods_per_year: float) -> float:
    if kind == SIZER_FIXED:
        return _whole_shares(params[0])
    if kind == SIZER_PERCENTAGE:
        return _whole_shares(equity * params[0] / 100.0 * abs(strength) / price)
    if kind == SIZER_ATR:
        stop_distance = value * params[1]
        if not np.isfinite(stop_distance) or stop_distance <= 0:
            return 0.0
        quantity = equity * params[0] / 100.0 / stop_distance * abs(strength)
        if not np.isnan(params[2]):
            quantity = min(quantity, equity * params[2] / 100.0 / price)
        return _whole_shares(quantity)
    annual_vol_pct = value * math.sqrt(periods_per_year) * 100.0
    if not np.isfinite(annual_vol_pct) or annual_vol_pct <= 0:
        return 0.0
    weight = min(params[0] / annual_vol_pct, params[2] / 100.0)
    return _whole_shares(equity * weight * abs(strength) / price)


@njit(cache=True)
def _commission(kind: int, params: np.ndarray, quantity: float, price: float) -> float:
    if kind == COMMISSION_PERCENTAGE:
        return max(abs(quantity) * price * params[0] / 100.0, params[1])
    if kind == COMMISSION_PER_SHARE:
        fee = max(abs(quantity) * params[0], params[1])
        return fee if np.isnan(params[2]) else min(fee, params[2])
    if kind == COMMISSION_FIXED:
        return params[0]
    return 0.0


@njit(cache=True)
def _veto(kinds: np.ndarray, first: np.ndarray, second: np.ndarray, count: int, quantity: float, price: float,
          equity: float, gross_after: float, drawdown: float, daily_loss: float) -> int:
    """Index of the first limit that vetoes, or -1 (same order and arithmetic as limits.py)."""
    for i in range(count):
        kind = kinds[i]
        if kind == LIMIT_MAX_POSITION:
            size = abs(quantity)
            if not np.isnan(first[i]) and size > first[i]:
                return i
            pct = size * price / equity * 100.0 if equity > 0 else np.inf
            if not np.isnan(second[i]) and pct > second[i]:
                return i
        elif kind == LIMIT_GROSS:
            pct = gross_after / equity * 100.0 if equity > 0 else np.inf
            if pct > first[i]:
                return i
        elif kind == LIMIT_DRAWDOWN:
            if drawdown >= first[i]:
                return i
        elif daily_loss >= first[i]:
            return i
    return -1


@njit(cache=True)
def _equity(cash: np.ndarray, quantity: np.ndarray, p: int, close: np.ndarray, t: int) -> float:
    """Portfolio p's cash plus its positions marked at close[t], summed left to right (portfolio.equity)."""
    total = 0.0
    for j in range(quantity.shape[1]):
        total += quantity[p, j] * close[t, j]
    return cash[p] + total


@njit(cache=True)
def _sign(value: float) -> int:
    return 1 if value > 0 else (-1 if value < 0 else 0)


@njit(cache=True)
def _grow(records: np.ndarray, used: int) -> np.ndarray:
    if used < records.shape[0]:
        return records
    bigger = np.empty((max(16, 2 * records.shape[0]), records.shape[1]))
    bigger[:used] = records[:used]
    return bigger


@njit(cache=True)
def _store(records: np.ndarray, row: int, values: tuple) -> None:
    """records[row] = values, for a tuple of floats (numba cannot assign a mixed tuple to a row)."""
    for column in range(len(values)):
        records[row, column] = values[column]


@njit(cache=True)
def _grow_1d(values: np.ndarray, used: int) -> np.ndarray:
    if used < values.shape[0]:
        return values
    bigger = np.empty(max(16, 2 * values.shape[0]))
    bigger[:used] = values[:used]
    return bigger


@njit(cache=True)
def _apply_fill(quantity: np.ndarray, average: np.ndarray, p: int, j: int, fill_quantity: float,
                fill_price: float) -> float:
    """portfolio.apply_fill_to_position on the arrays; returns the realized P&L."""
    held, cost = quantity[p, j], average[p, j]
    new_quantity = held + fill_quantity
    if held == 0 or math.copysign(1.0, fill_quantity) == math.copysign(1.0, held):
        quantity[p, j] = new_quantity
        average[p, j] = (held * cost + fill_quantity * fill_price) / new_quantity
        return 0.0
    closed = min(abs(fill_quantity), abs(held))
    realized = closed * (fill_price - cost) * math.copysign(1.0, held)
    if new_quantity == 0:
        quantity[p, j], average[p, j] = 0.0, 0.0
    elif math.copysign(1.0, new_quantity) != math.copysign(1.0, held):
        quantity[p, j], average[p, j] = new_quantity, fill_price
    else:
        quantity[p, j] = new_quantity
    return realized


@njit(cache=True)
def _fill_orders(orders: np.ndarray, n_orders: int, t: int, prices: np.ndarray, slippage_bps: float,
                 commission_kind: int, commission_params: np.ndarray, cash: np.ndarray, quantity: np.ndarray,
                 average: np.ndarray, pending: np.ndarray, record: bool, fills: np.ndarray, n_fills: int,
                 closing_pnl: np.ndarray, n_closing: int, fill_count: int):
    """Fills the buffered orders at `prices[t]` in the order they were placed (engine.py)."""
    for o in range(n_orders):
        p, j, fill_quantity = int(orders[o, 1]), int(orders[o, 3]), orders[o, 4]
        side = 1 if fill_quantity > 0 else -1
        market = prices[t, j]
        price = market * (1.0 + side * slippage_bps / 10_000.0)
        commission = _commission(commission_kind, commission_params, fill_quantity, price)
        cash[p] -= fill_quantity * price + commission
        realized = _apply_fill(quantity, average, p, j, fill_quantity, price)
        pending[p, j] -= fill_quantity
        fill_count += 1
        if realized != 0:
            closing_pnl = _grow_1d(closing_pnl, n_closing)
            closing_pnl[n_closing] = realized
            n_closing += 1
        if record:
            fills = _grow(fills, n_fills)
            _store(fills, n_fills, (orders[o, 0], float(t), float(p), orders[o, 2], float(j), fill_quantity, price,
                                    commission, abs(fill_quantity) * abs(price - market), realized, orders[o, 5]))
            n_fills += 1
    return fills, n_fills, closing_pnl, n_closing, fill_count


@njit(cache=True)
def simulate(open_: np.ndarray, close: np.ndarray, day: np.ndarray, signals: np.ndarray,
             slot_portfolio: np.ndarray, slot_symbol: np.ndarray, slot_regime: np.ndarray,
             capital: np.ndarray, allow_short: np.ndarray, sizer_kind: np.ndarray, sizer_params: np.ndarray,
             sizer_value: np.ndarray, limit_kind: np.ndarray, limit_first: np.ndarray, limit_second: np.ndarray,
             limit_count: np.ndarray, same_bar_close: bool, slippage_bps: float, commission_kind: int,
             commission_params: np.ndarray, periods_per_year: float, record: bool):
    """The bar loop of engine.py + risk.py + portfolio.py over (bars, slots) signals.

    A slot is one (portfolio, strategy, symbol) signal column, in the order the event engine
    dispatches them. Returns equity and cash curves (bars, portfolios), exposure flags, fills and
    rejects (when `record`), the number of unfilled orders, the realized P&L of every closing fill in
    fill order, and the number of fills.
    """
    n_bars, n_symbols = close.shape
    n_portfolios, n_slots = capital.shape[0], signals.shape[1]
    cash = capital.copy()
    quantity = np.zeros((n_portfolios, n_symbols))
    average = np.zeros((n_portfolios, n_symbols))
    pending = np.zeros((n_portfolios, n_symbols))
    high_water = capital.copy()
    day_start = capital.copy()
    equity_curve = np.empty((n_bars, n_portfolios))
    cash_curve = np.empty((n_bars, n_portfolios))
    exposed = np.zeros((n_bars, n_portfolios), dtype=np.bool_)
    orders = np.empty((2 * n_slots + 1, 6))  # order_id, portfolio, slot, symbol, quantity, regime
    n_orders = 0
    next_order_id = 0
    fills = np.empty((1024 if record else 0, len(FILL_FIELDS)))
    rejects = np.empty((256 if record else 0, len(REJECT_FIELDS)))
    closing_pnl = np.empty(1024)
    n_fills, n_rejects, n_closing, fill_count = 0, 0, 0, 0
    equity_now = np.empty(n_portfolios)  # at close[t], before same-bar fills: what risk sizes with
    for t in range(n_bars):
        if not same_bar_close and n_orders:
            fills, n_fills, closing_pnl, n_closing, fill_count = _fill_orders(
                orders, n_orders, t, open_, slippage_bps, commission_kind, commission_params, cash, quantity,
                average, pending, record, fills, n_fills, closing_pnl, n_closing, fill_count)
            n_orders = 0
        for p in range(n_portfolios):
            if t > 0 and day[t] != day[t - 1]:
                day_start[p] = equity_curve[t - 1, p]
            equity_now[p] = _equity(cash, quantity, p, close, t)
            high_water[p] = max(high_water[p], equity_now[p])
        for k in range(n_slots):
            value = signals[t, k]
            if np.isnan(value):
                continue
            p, j = slot_portfolio[k], slot_symbol[k]
            direction = _sign(value)
            if direction < 0 and not allow_short[p]:
                direction = 0
            current = quantity[p, j] + pending[p, j]
            if direction != 0 and current != 0 and _sign(current) == direction:
                continue
            if current != 0 and (direction == 0 or _sign(current) != direction):
                _store(orders, n_orders, (float(next_order_id), float(p), float(k), float(j), -current,
                                          slot_regime[t, k]))
                pending[p, j] += -current
                n_orders += 1
                next_order_id += 1
            if direction == 0:
                continue
            equity = equity_now[p]
            price = close[t, j]
            size = _size(sizer_kind[p], sizer_params[p], equity, price, abs(value), sizer_value[p, t, j],
                         periods_per_year)
            resulting = direction * size
            gross, drawdown, daily_loss, code = 0.0, 0.0, 0.0, SIZER_REJECT
            if size != 0:
                for other in range(n_symbols):
                    if other != j:
                        gross += abs((quantity[p, other] + pending[p, other]) * close[t, other])
                gross = gross + abs(resulting * price)
                drawdown = max(0.0, (high_water[p] - equity) / high_water[p] * 100.0)
                daily_loss = max(0.0, (day_start[p] - equity) / day_start[p] * 100.0)
                code = _veto(limit_kind[p], limit_first[p], limit_second[p], limit_count[p], resulting, price,
                             equity, gross, drawdown, daily_loss)
            if size != 0 and code == -1:
                _store(orders, n_orders, (float(next_order_id), float(p), float(k), float(j), resulting,
                                          slot_regime[t, k]))
                pending[p, j] += resulting
                n_orders += 1
                next_order_id += 1
            elif record:
                rejects = _grow(rejects, n_rejects)
                _store(rejects, n_rejects, (float(t), float(p), float(k), float(j), resulting, float(code), price,
                                            equity, gross, drawdown, daily_loss))
                n_rejects += 1
        filled_at_close = same_bar_close and n_orders > 0
        if filled_at_close:
            fills, n_fills, closing_pnl, n_closing, fill_count = _fill_orders(
                orders, n_orders, t, close, slippage_bps, commission_kind, commission_params, cash, quantity,
                average, pending, record, fills, n_fills, closing_pnl, n_closing, fill_count)
            n_orders = 0
        for p in range(n_portfolios):
            equity = _equity(cash, quantity, p, close, t) if filled_at_close else equity_now[p]
            equity_curve[t, p] = equity
            cash_curve[t, p] = cash[p]
            for j in range(n_symbols):
                if quantity[p, j] != 0:
                    exposed[t, p] = True
            high_water[p] = max(high_water[p], equity)
    return (equity_curve, cash_curve, exposed, fills[:n_fills], rejects[:n_rejects], n_orders,
            closing_pnl[:n_closing], fill_count)


@njit(cache=True)
def total_equity(curves: np.ndarray) -> np.ndarray:
    """Row sums of (bars, portfolios) equity, added left to right."""
    total = np.zeros(curves.shape[0])
    for t in range(curves.shape[0]):
        for p in range(curves.shape[1]):
            total[t] += curves[t, p]
    return total


@njit(cache=True)
def summarize(equity: np.ndarray, closing_pnl: np.ndarray, fill_count: int, exposed: np.ndarray,
              periods_per_year: float) -> np.ndarray:
    """The metrics of metrics.METRIC_NAMES, in that order, with every sum taken left to right."""
    n = equity.shape[0] - 1
    start, end = equity[0], equity[-1]
    mean, peak, drawdown = 0.0, equity[0], 0.0
    for t in range(n):
        mean += (equity[t + 1] - equity[t]) / equity[t]
    mean = mean / n if n > 0 else 0.0
    squares, downside = 0.0, 0.0
    for t in range(n):
        change = (equity[t + 1] - equity[t]) / equity[t]
        squares += (change - mean) ** 2
        downside += min(change, 0.0) ** 2
    for t in range(equity.shape[0]):
        peak = max(peak, equity[t])
        drawdown = max(drawdown, (peak - equity[t]) / peak)
    std = math.sqrt(squares / (n - 1)) if n > 1 else 0.0
    downside = math.sqrt(downside / n) if n > 0 else 0.0
    growth = end / start
    years = max(n, 1) / periods_per_year
    annualized = (growth ** (1.0 / years) - 1.0) * 100.0 if growth > 0 else -100.0
    wins, losses, n_wins, n_losses = 0.0, 0.0, 0, 0
    for pnl in closing_pnl:
        if pnl > 0:
            wins += pnl
            n_wins += 1
        elif pnl < 0:
            losses -= pnl
            n_losses += 1
    profit_factor = 0.0
    if n_losses:
        profit_factor = wins / losses
    elif n_wins:
        profit_factor = np.inf
    root_year = math.sqrt(periods_per_year)
    n_exposed = 0
    for flag in exposed:
        n_exposed += 1 if flag else 0
    result = np.empty(METRIC_COUNT)
    result[0] = (growth - 1.0) * 100.0
    result[1] = annualized
    result[2] = std * root_year * 100.0
    result[3] = (mean / std if std > 0 else 0.0) * root_year
    result[4] = (mean / downside if downside > 0 else 0.0) * root_year
    result[5] = annualized / (drawdown * 100.0) if drawdown > 0 else 0.0
    result[6] = drawdown * 100.0
    result[7] = n_wins / closing_pnl.shape[0] * 100.0 if closing_pnl.shape[0] > 0 else 0.0
    result[8] = profit_factor
    result[9] = closing_pnl.shape[0]
    result[10] = fill_count
    result[11] = n_exposed / exposed.shape[0] * 100.0 if exposed.shape[0] > 0 else 0.0
    result[12] = end
    return result
