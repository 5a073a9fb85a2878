"""Compiled kernel: the path-dependent part of a backtest (targets → risk → orders → fills → portfolio).

Numpy arrays in, numpy arrays out, no Python objects inside. Each step mirrors, operation for
operation, the event engine (risk.py, engine.py, portfolio.py and the one formula of each of
costs.py, sizers.py and limits.py), so the two engines give the same trades and the same
floating-point equity; the parity tests hold them there. No component kind has code here: sizers,
limits and cost models reach the kernel as the terms of their formula.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from containers import CACHE_COMPILED
from containers.components.limits import DAILY_LOSS_PCT, DRAWDOWN_PCT, GROSS_PCT, POSITION_PCT, QUANTITY
from containers.metric_kernels import A_FILLS, ACCUMULATOR_SIZE, observe_curve, observe_trade

# Reject codes: a limit's index (>= 0), or one of these.
NO_VETO, SIZER_REJECT, CASH_REJECT, LEVERAGE_REJECT = -4, -1, -2, -3

# Columns of the fills and rejects records. A fill's `entry_bar` is the bar its position's opening order
# was decided on: the regime and the strategies credited are those of that bar (resolved by the caller).
FILL_FIELDS = ("order_id", "bar_index", "portfolio", "symbol", "quantity", "price", "commission", "slippage_cost",
               "realized_pnl", "entry_bar", "closing")
REJECT_FIELDS = ("bar_index", "portfolio", "symbol", "quantity", "code", "price", "equity", "gross_exposure_after",
                 "drawdown_pct", "daily_loss_pct", "cash_after")
# Columns of the order buffer.
_ID, _PORTFOLIO, _SYMBOL, _QUANTITY, _ENTRY = range(5)


@njit(cache=CACHE_COMPILED, error_model="numpy", inline="always")
def _shares(equity: float, strength: float, weight: float, max_weight: float, fixed: float, price: float) -> float:
    """sizers.shares."""
    quantity = equity * abs(strength) * weight / price + fixed
    cap = equity * max_weight / price
    if cap < quantity:
        quantity = cap
    if not np.isfinite(quantity) or quantity <= 0:
        return 0.0
    return np.floor(quantity + 1e-9)


@njit(cache=CACHE_COMPILED, error_model="numpy", inline="always")
def _commission(terms: np.ndarray, quantity: float, price: float) -> float:
    """costs.fee."""
    size = abs(quantity)
    charge = size * price * terms[0] + size * terms[1] + terms[2]
    return min(max(charge, terms[3]), terms[4])


@njit(cache=CACHE_COMPILED, error_model="numpy", inline="always")
def _first_breach(p: int, check_limit: np.ndarray, check_measure: np.ndarray, check_threshold: np.ndarray,
                  check_inclusive: np.ndarray, check_count: np.ndarray, resulting: float, price: float,
                  equity: float, gross_after: float, drawdown: float, daily_loss: float) -> int:
    """The index of the first limit with a breached check, or NO_VETO (limits.ExposureCheck.measures)."""
    quantity = abs(resulting)
    position_pct = quantity * price / equity * 100.0 if equity > 0 else np.inf
    gross_pct = gross_after / equity * 100.0 if equity > 0 else np.inf
    for i in range(check_count[p]):
        measure = check_measure[p, i]
        if measure == QUANTITY:
            value = quantity
        elif measure == POSITION_PCT:
            value = position_pct
        elif measure == GROSS_PCT:
            value = gross_pct
        elif measure == DRAWDOWN_PCT:
            value = drawdown
        elif measure == DAILY_LOSS_PCT:
            value = daily_loss
        else:
            value = np.nan
        threshold = check_threshold[p, i]
        if (value >= threshold) if check_inclusive[p, i] else (value > threshold):
            return check_limit[p, i]
    return NO_VETO


@njit(cache=CACHE_COMPILED, error_model="numpy", inline="always")
def _equity(cash: np.ndarray, quantity: np.ndarray, p: int, close: np.ndarray, t: int) -> float:
    """Portfolio p's cash plus its positions marked at close[t], summed left to right (portfolio.equity)."""
    total = 0.0
    for j in range(quantity.shape[1]):
        total += quantity[p, j] * close[t, j]
    return cash[p] + total


@njit(cache=CACHE_COMPILED, error_model="numpy", inline="always")
def _sign(value: float) -> int:
    return 1 if value > 0 else (-1 if value < 0 else 0)


@njit(cache=CACHE_COMPILED, error_model="numpy")
def _grow(records: np.ndarray, used: int) -> np.ndarray:
    if used < records.shape[0]:
        return records
    bigger = np.empty((max(16, 2 * records.shape[0]), records.shape[1]))
    bigger[:used] = records[:used]
    return bigger


@njit(cache=CACHE_COMPILED, error_model="numpy")
def _store(records: np.ndarray, row: int, values: tuple) -> None:
    """records[row] = values, for a tuple of floats (numba cannot assign a mixed tuple to a row)."""
    for column in range(len(values)):
        records[row, column] = values[column]


@njit(cache=CACHE_COMPILED, error_model="numpy", inline="always")
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


@njit(cache=CACHE_COMPILED, error_model="numpy", inline="always")
def _fill(order_id: float, p: int, j: int, fill_quantity: float, entry: float, t: int, market: float,
          slippage_bps: float, commission_terms: np.ndarray, cash: np.ndarray, quantity: np.ndarray,
          average: np.ndarray, portfolio_lane: np.ndarray, acc: np.ndarray, record: bool, fills: np.ndarray,
          n_fills: int) -> tuple:
    """One fill at `market` with adverse slippage and commission (engine.py and portfolio.on_fill)."""
    side = 1 if fill_quantity > 0 else -1
    price = market * (1.0 + side * slippage_bps / 10_000.0)
    commission = _commission(commission_terms, fill_quantity, price)
    held = quantity[p, j]
    closing = held != 0 and _sign(fill_quantity) != _sign(held)
    cash[p] -= fill_quantity * price + commission
    realized = _apply_fill(quantity, average, p, j, fill_quantity, price)
    lane = portfolio_lane[p]
    acc[lane, A_FILLS] += 1
    if closing:
        observe_trade(acc, lane, realized)
    if record:
        fills = _grow(fills, n_fills)
        slippage_cost = abs(fill_quantity) * abs(price - market)
        _store(fills, n_fills, (order_id, float(t), float(p), float(j), fill_quantity, price, commission,
                                slippage_cost, realized, entry, 1.0 if closing else 0.0))
        n_fills += 1
    return fills, n_fills


@njit(cache=CACHE_COMPILED, error_model="numpy")
def _fill_orders(orders: np.ndarray, n_orders: int, t: int, prices: np.ndarray, slippage_bps: float,
                 commission_terms: np.ndarray, cash: np.ndarray, quantity: np.ndarray, average: np.ndarray,
                 pending: np.ndarray, portfolio_lane: np.ndarray, acc: np.ndarray, record: bool,
                 fills: np.ndarray, n_fills: int) -> tuple:
    """Fills the buffered orders at `prices[t]` in the order they were placed (engine.py)."""
    for o in range(n_orders):
        p, j, fill_quantity = int(orders[o, _PORTFOLIO]), int(orders[o, _SYMBOL]), orders[o, _QUANTITY]
        fills, n_fills = _fill(orders[o, _ID], p, j, fill_quantity, orders[o, _ENTRY], t, prices[t, j], slippage_bps,
                               commission_terms, cash, quantity, average, portfolio_lane, acc, record, fills, n_fills)
        pending[p, j] -= fill_quantity
    return fills, n_fills


@njit(cache=CACHE_COMPILED, error_model="numpy")
def simulate(open_: np.ndarray, close: np.ndarray, day: np.ndarray, targets: np.ndarray,
             target_portfolio: np.ndarray, target_symbol: np.ndarray, capital: np.ndarray, allow_short: np.ndarray,
             leverage: np.ndarray, threshold_pct: np.ndarray, weight_const: np.ndarray, weight_row: np.ndarray,
             sizer_weight: np.ndarray, max_const: np.ndarray, max_row: np.ndarray, sizer_max: np.ndarray,
             sizer_fixed: np.ndarray, check_limit: np.ndarray, check_measure: np.ndarray,
             check_threshold: np.ndarray, check_inclusive: np.ndarray, check_count: np.ndarray,
             same_bar_close: bool, close_at_end: bool, slippage_bps: float, commission_terms: np.ndarray,
             record: bool, portfolio_lane: np.ndarray, total_curve: np.ndarray, total_exposed: np.ndarray) -> tuple:
    """The bar loop of engine.py + risk.py + portfolio.py over (targets, bars) aggregated targets.

    A target row is one (portfolio, symbol): the signed strength its aggregator gave per bar, in the
    order the event engine decides them. A sizer term is a constant per portfolio (`*_const`) or, when
    its row is not -1, a (bars, symbols) column of `sizer_weight` / `sizer_max`. Portfolios belong
    to lanes (`portfolio_lane`): independent backtests run side by side, which lets the processor
    overlap their work (the batch entry point runs several parameter sets at once this way). Always
    returns one metrics accumulator per lane for the lane's total equity (metric_kernels), built in
    `total_curve` and `total_exposed` (lanes, bars), buffers the caller may reuse; with `record` also
    the equity and cash curves (bars, portfolios), exposure flags, fills and rejects. The number of
    orders left unfilled at the end and the final positions and average prices come too.
    """
    n_bars, n_symbols = close.shape
    n_portfolios, n_targets = capital.shape[0], targets.shape[0]
    cash = capital.copy()
    quantity = np.zeros((n_portfolios, n_symbols))
    average = np.zeros((n_portfolios, n_symbols))
    pending = np.zeros((n_portfolios, n_symbols))
    entry_bar = np.full((n_portfolios, n_symbols), -1.0)  # attribution of the open position
    high_water = capital.copy()
    day_start = capital.copy()
    last_equity = capital.copy()
    equity_now = np.empty(n_portfolios)  # at close[t], before same-bar fills: what risk sizes with
    kept = n_bars if record else 0
    equity_curve = np.empty((kept, n_portfolios))
    cash_curve = np.empty((kept, n_portfolios))
    exposed = np.zeros((kept, n_portfolios), dtype=np.bool_)
    orders = np.empty((2 * n_targets + 1, 5))
    n_orders, next_order_id = 0, 0
    fills = np.empty((1024 if record else 0, len(FILL_FIELDS)))
    rejects = np.empty((256 if record else 0, len(REJECT_FIELDS)))
    n_fills, n_rejects = 0, 0
    n_lanes = total_curve.shape[0]
    acc = np.zeros((n_lanes, ACCUMULATOR_SIZE))
    lane_total = np.zeros(n_lanes)
    lane_exposed = np.zeros(n_lanes, dtype=np.bool_)
    resizes = ~np.isnan(threshold_pct)
    for t in range(n_bars):
        if not same_bar_close and n_orders:
            fills, n_fills = _fill_orders(orders, n_orders, t, open_, slippage_bps, commission_terms, cash,
                                          quantity, average, pending, portfolio_lane, acc, record, fills, n_fills)
            n_orders = 0
        new_day = t > 0 and day[t] != day[t - 1]
        for p in range(n_portfolios):
            if new_day:
                day_start[p] = last_equity[p]
            equity_now[p] = _equity(cash, quantity, p, close, t)
            high_water[p] = max(high_water[p], equity_now[p])
        for k in range(n_targets):
            value = targets[k, t]
            p, j = target_portfolio[k], target_symbol[k]
            direction = _sign(value)
            if direction < 0 and not allow_short[p]:
                direction = 0
            current = quantity[p, j] + pending[p, j]
            held = _sign(current)
            if direction == held and (held == 0 or not resizes[p]):
                continue  # the common case: the position already is what the target asks for
            if held != 0 and direction != held:
                _store(orders, n_orders, (float(next_order_id), float(p), float(j), -current, entry_bar[p, j]))
                pending[p, j] += -current
                n_orders += 1
                next_order_id += 1
                current = 0.0
            if direction == 0:
                continue
            equity, price = equity_now[p], close[t, j]
            weight = sizer_weight[weight_row[p], t, j] if weight_row[p] >= 0 else weight_const[p]
            max_weight = sizer_max[max_row[p], t, j] if max_row[p] >= 0 else max_const[p]
            size = _shares(equity, value, weight, max_weight, sizer_fixed[p], price)
            resulting = direction * size
            order = resulting - current
            if current != 0:  # resize an open position toward the target, past the threshold only
                if size == 0 or not abs(order) > threshold_pct[p] / 100.0 * size:
                    continue
                if size <= abs(current):  # reducing: always passes
                    _store(orders, n_orders, (float(next_order_id), float(p), float(j), order, entry_bar[p, j]))
                    pending[p, j] += order
                    n_orders += 1
                    next_order_id += 1
                    continue
            gross, drawdown, daily_loss, committed, code = 0.0, 0.0, 0.0, 0.0, SIZER_REJECT
            if size != 0:
                for other in range(n_symbols):
                    if other != j:
                        gross += abs((quantity[p, other] + pending[p, other]) * close[t, other])
                    committed += pending[p, other] * close[t, other]
                gross = gross + abs(resulting * price)
                drawdown = max(0.0, (high_water[p] - equity) / high_water[p] * 100.0)
                daily_loss = max(0.0, (day_start[p] - equity) / day_start[p] * 100.0)
                code = _first_breach(p, check_limit, check_measure, check_threshold, check_inclusive, check_count,
                                     resulting, price, equity, gross, drawdown, daily_loss)
            paid = price * (1.0 + (1.0 if order > 0 else -1.0) * slippage_bps / 10_000.0)
            cash_after = cash[p] - committed - order * paid - _commission(commission_terms, order, paid)
            if code == NO_VETO:
                borrowing = not np.isnan(leverage[p])
                if not borrowing and cash_after < 0:
                    code = CASH_REJECT
                elif (gross / equity if equity > 0 else np.inf) > (leverage[p] if borrowing else 1.0):
                    code = LEVERAGE_REJECT
            if code == NO_VETO:
                if current == 0:
                    entry_bar[p, j] = float(t)
                _store(orders, n_orders, (float(next_order_id), float(p), float(j), order, entry_bar[p, j]))
                pending[p, j] += order
                n_orders += 1
                next_order_id += 1
            elif record:
                rejects = _grow(rejects, n_rejects)
                _store(rejects, n_rejects, (float(t), float(p), float(j), resulting, float(code), price, equity, gross,
                                            drawdown, daily_loss, cash_after))
                n_rejects += 1
        filled_at_close = same_bar_close and n_orders > 0
        if filled_at_close:
            fills, n_fills = _fill_orders(orders, n_orders, t, close, slippage_bps, commission_terms, cash,
                                          quantity, average, pending, portfolio_lane, acc, record, fills, n_fills)
            n_orders = 0
        if close_at_end and t == n_bars - 1:  # liquidate at the last close, with costs
            for p in range(n_portfolios):
                for j in range(n_symbols):
                    if quantity[p, j] != 0:
                        fills, n_fills = _fill(float(next_order_id), p, j, -quantity[p, j], entry_bar[p, j], t,
                                               close[t, j], slippage_bps, commission_terms, cash, quantity, average,
                                               portfolio_lane, acc, record, fills, n_fills)
                        next_order_id += 1
                        filled_at_close = True
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
    return (equity_curve, cash_curve, exposed, fills[:n_fills], rejects[:n_rejects], n_orders, acc, quantity,
            average)
