"""Compiled kernels: the path-dependent part of a backtest (risk → orders → fills → portfolio) and metrics.

Numpy arrays in, numpy arrays out, no Python objects inside. Each step mirrors, operation for
operation, the event engine (risk.py, engine.py, portfolio.py, costs.py, sizers.py, limits.py), so the
two engines give the same trades and the same floating-point equity; the parity tests hold them there.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from containers.metric_kernels import A_FILLS, ACCUMULATOR_SIZE, observe_curve, observe_trade

SIZER_FIXED, SIZER_PERCENTAGE, SIZER_ATR, SIZER_VOLATILITY = 0, 1, 2, 3
LIMIT_MAX_POSITION, LIMIT_GROSS, LIMIT_DRAWDOWN, LIMIT_DAILY = 0, 1, 2, 3
COMMISSION_PERCENTAGE, COMMISSION_PER_SHARE, COMMISSION_FIXED, COMMISSION_NONE = 0, 1, 2, 3
SIZER_REJECT = -1  # reject code of a signal that sizes to 0 shares; limits use their index

# Columns of the fills and rejects records.
FILL_FIELDS = ("order_id", "bar_index", "portfolio", "slot", "symbol", "quantity", "price", "commission",
               "slippage_cost", "realized_pnl", "regime")
REJECT_FIELDS = ("bar_index", "portfolio", "slot", "symbol", "quantity", "code", "price", "equity",
                 "gross_exposure_after", "drawdown_pct", "daily_loss_pct")


@njit(cache=True, error_model="numpy")
def _whole_shares(quantity: float) -> float:
    if not np.isfinite(quantity) or quantity <= 0:
        return 0.0
    return np.floor(quantity + 1e-9)


@njit(cache=True, error_model="numpy")
def _size(kind: int, all_params: np.ndarray, p: int, equity: float, price: float, strength: float, value: float,
          periods_per_year: float) -> float:
    params = (all_params[p, 0], all_params[p, 1], all_params[p, 2])
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


@njit(cache=True, error_model="numpy")
def _commission(kind: int, params: np.ndarray, quantity: float, price: float) -> float:
    if kind == COMMISSION_PERCENTAGE:
        return max(abs(quantity) * price * params[0] / 100.0, params[1])
    if kind == COMMISSION_PER_SHARE:
        fee = max(abs(quantity) * params[0], params[1])
        return fee if np.isnan(params[2]) else min(fee, params[2])
    if kind == COMMISSION_FIXED:
        return params[0]
    return 0.0


@njit(cache=True, error_model="numpy")
def _veto(all_kinds: np.ndarray, all_first: np.ndarray, all_second: np.ndarray, p: int, count: int, quantity: float,
          price: float, equity: float, gross_after: float, drawdown: float, daily_loss: float) -> int:
    """Index of the first limit that vetoes, or -1 (same order and arithmetic as limits.py)."""
    for i in range(count):
        kind, first, second = all_kinds[p, i], all_first[p, i], all_second[p, i]
        if kind == LIMIT_MAX_POSITION:
            size = abs(quantity)
            if not np.isnan(first) and size > first:
                return i
            pct = size * price / equity * 100.0 if equity > 0 else np.inf
            if not np.isnan(second) and pct > second:
                return i
        elif kind == LIMIT_GROSS:
            pct = gross_after / equity * 100.0 if equity > 0 else np.inf
            if pct > first:
                return i
        elif kind == LIMIT_DRAWDOWN:
            if drawdown >= first:
                return i
        elif daily_loss >= first:
            return i
    return -1


@njit(cache=True, error_model="numpy")
def _equity(cash: np.ndarray, quantity: np.ndarray, p: int, close: np.ndarray, t: int) -> float:
    """Portfolio p's cash plus its positions marked at close[t], summed left to right (portfolio.equity)."""
    total = 0.0
    for j in range(quantity.shape[1]):
        total += quantity[p, j] * close[t, j]
    return cash[p] + total


@njit(cache=True, error_model="numpy")
def _sign(value: float) -> int:
    return 1 if value > 0 else (-1 if value < 0 else 0)


@njit(cache=True, error_model="numpy")
def _grow(records: np.ndarray, used: int) -> np.ndarray:
    if used < records.shape[0]:
        return records
    bigger = np.empty((max(16, 2 * records.shape[0]), records.shape[1]))
    bigger[:used] = records[:used]
    return bigger


@njit(cache=True, error_model="numpy")
def _store(records: np.ndarray, row: int, values: tuple) -> None:
    """records[row] = values, for a tuple of floats (numba cannot assign a mixed tuple to a row)."""
    for column in range(len(values)):
        records[row, column] = values[column]


@njit(cache=True, error_model="numpy")
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


@njit(cache=True, error_model="numpy")
def _fill_orders(orders: np.ndarray, n_orders: int, t: int, prices: np.ndarray, slippage_bps: float,
                 commission_kind: int, commission_params: np.ndarray, cash: np.ndarray, quantity: np.ndarray,
                 average: np.ndarray, pending: np.ndarray, portfolio_lane: np.ndarray, acc: np.ndarray,
                 record: bool, fills: np.ndarray, n_fills: int):
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
        lane = portfolio_lane[p]
        acc[lane, A_FILLS] += 1
        if realized != 0:
            observe_trade(acc, lane, realized)
        if record:
            fills = _grow(fills, n_fills)
            _store(fills, n_fills, (orders[o, 0], float(t), float(p), orders[o, 2], float(j), fill_quantity, price,
                                    commission, abs(fill_quantity) * abs(price - market), realized, orders[o, 5]))
            n_fills += 1
    return fills, n_fills


@njit(cache=True, error_model="numpy")
def simulate(open_: np.ndarray, close: np.ndarray, day: np.ndarray, signals: np.ndarray,
             slot_portfolio: np.ndarray, slot_symbol: np.ndarray, slot_regime: np.ndarray,
             capital: np.ndarray, allow_short: np.ndarray, sizer_kind: np.ndarray, sizer_params: np.ndarray,
             sizer_value: np.ndarray, sizer_row: np.ndarray, limit_kind: np.ndarray, limit_first: np.ndarray,
             limit_second: np.ndarray,
             limit_count: np.ndarray, same_bar_close: bool, slippage_bps: float, commission_kind: int,
             commission_params: np.ndarray, periods_per_year: float, record: bool, portfolio_lane: np.ndarray,
             total_curve: np.ndarray, total_exposed: np.ndarray):
    """The bar loop of engine.py + risk.py + portfolio.py over (slots, bars) signals.

    A slot is one (portfolio, strategy, symbol) signal column, in the order the event engine
    dispatches them. Portfolios belong to lanes (`portfolio_lane`): independent backtests run side
    by side, which lets the processor overlap their work (the batch entry point runs several
    parameter sets at once this way). Always returns one metrics accumulator per lane for the lane's
    total equity (metric_kernels), built in `total_curve` and `total_exposed` (lanes, bars), buffers
    the caller may reuse; with `record` also the equity and cash curves (bars, portfolios), exposure
    flags, fills and rejects. The number of orders left unfilled at the end comes too.
    """
    n_bars, n_symbols = close.shape
    n_portfolios, n_slots = capital.shape[0], signals.shape[0]
    cash = capital.copy()
    quantity = np.zeros((n_portfolios, n_symbols))
    average = np.zeros((n_portfolios, n_symbols))
    pending = np.zeros((n_portfolios, n_symbols))
    high_water = capital.copy()
    day_start = capital.copy()
    last_equity = capital.copy()
    equity_now = np.empty(n_portfolios)  # at close[t], before same-bar fills: what risk sizes with
    kept = n_bars if record else 0
    equity_curve = np.empty((kept, n_portfolios))
    cash_curve = np.empty((kept, n_portfolios))
    exposed = np.zeros((kept, n_portfolios), dtype=np.bool_)
    orders = np.empty((2 * n_slots + 1, 6))  # order_id, portfolio, slot, symbol, quantity, regime
    n_orders, next_order_id = 0, 0
    fills = np.empty((1024 if record else 0, len(FILL_FIELDS)))
    rejects = np.empty((256 if record else 0, len(REJECT_FIELDS)))
    n_fills, n_rejects = 0, 0
    n_lanes = total_curve.shape[0]
    acc = np.zeros((n_lanes, ACCUMULATOR_SIZE))
    lane_total = np.zeros(n_lanes)
    lane_exposed = np.zeros(n_lanes, dtype=np.bool_)
    for t in range(n_bars):
        if not same_bar_close and n_orders:
            fills, n_fills = _fill_orders(orders, n_orders, t, open_, slippage_bps, commission_kind,
                                          commission_params, cash, quantity, average, pending, portfolio_lane, acc,
                                          record, fills, n_fills)
            n_orders = 0
        new_day = t > 0 and day[t] != day[t - 1]
        for p in range(n_portfolios):
            if new_day:
                day_start[p] = last_equity[p]
            equity_now[p] = _equity(cash, quantity, p, close, t)
            high_water[p] = max(high_water[p], equity_now[p])
        for k in range(n_slots):
            value = signals[k, t]
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
                                          slot_regime[k, t]))
                pending[p, j] += -current
                n_orders += 1
                next_order_id += 1
            if direction == 0:
                continue
            equity = equity_now[p]
            price = close[t, j]
            size = _size(sizer_kind[p], sizer_params, p, equity, price, abs(value),
                         sizer_value[sizer_row[p], t, j], periods_per_year)
            resulting = direction * size
            gross, drawdown, daily_loss, code = 0.0, 0.0, 0.0, SIZER_REJECT
            if size != 0:
                for other in range(n_symbols):
                    if other != j:
                        gross += abs((quantity[p, other] + pending[p, other]) * close[t, other])
                gross = gross + abs(resulting * price)
                drawdown = max(0.0, (high_water[p] - equity) / high_water[p] * 100.0)
                daily_loss = max(0.0, (day_start[p] - equity) / day_start[p] * 100.0)
                code = _veto(limit_kind, limit_first, limit_second, p, limit_count[p], resulting, price, equity,
                             gross, drawdown, daily_loss)
            if size != 0 and code == -1:
                _store(orders, n_orders, (float(next_order_id), float(p), float(k), float(j), resulting,
                                          slot_regime[k, t]))
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
            fills, n_fills = _fill_orders(orders, n_orders, t, close, slippage_bps, commission_kind,
                                          commission_params, cash, quantity, average, pending, portfolio_lane, acc,
                                          record, fills, n_fills)
            n_orders = 0
        for lane in range(n_lanes):
            lane_total[lane], lane_exposed[lane] = 0.0, False
        for p in range(n_portfolios):
            equity = _equity(cash, quantity, p, close, t) if filled_at_close else equity_now[p]
            is_exposed = False
            for j in range(n_symbols):
                if quantity[p, j] != 0:
                    is_exposed = True
            if record:
                equity_curve[t, p] = equity
                cash_curve[t, p] = cash[p]
                exposed[t, p] = is_exposed
            last_equity[p] = equity
            if filled_at_close:  # otherwise equity is equity_now, already in the high-water mark
                high_water[p] = max(high_water[p], equity)
            lane = portfolio_lane[p]
            lane_total[lane] += equity
            lane_exposed[lane] = lane_exposed[lane] or is_exposed
        for lane in range(n_lanes):
            total_curve[lane, t] = lane_total[lane]
            total_exposed[lane, t] = lane_exposed[lane]
    for lane in range(n_lanes):
        observe_curve(acc, lane, total_curve[lane], total_exposed[lane])
    return equity_curve, cash_curve, exposed, fills[:n_fills], rejects[:n_rejects], n_orders, acc
