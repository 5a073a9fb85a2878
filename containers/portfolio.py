"""Portfolio: one container's cash, positions, average prices, P&L and equity curve, long and short."""

from __future__ import annotations

import math

import numpy as np

from containers.bus import ScopedEventBus
from containers.events import Bar, Fill, PortfolioUpdate


def apply_fill_to_position(quantity: float, average_price: float, fill_quantity: float,
                           fill_price: float) -> tuple[float, float, float]:
    """(new quantity, new average price, realized P&L) after one fill; handles adds, reductions and flips."""
    new_quantity = quantity + fill_quantity
    if quantity == 0 or math.copysign(1, fill_quantity) == math.copysign(1, quantity):
        return new_quantity, (quantity * average_price + fill_quantity * fill_price) / new_quantity, 0.0
    closed = min(abs(fill_quantity), abs(quantity))
    realized = closed * (fill_price - average_price) * math.copysign(1, quantity)
    if new_quantity == 0:
        return 0.0, 0.0, realized
    if math.copysign(1, new_quantity) != math.copysign(1, quantity):
        return new_quantity, fill_price, realized
    return new_quantity, average_price, realized


class Portfolio:
    """State only: applies its own fills, marks to the close, records equity once per bar."""

    def __init__(self, name: str, capital: float, symbols: tuple[str, ...], timestamps: np.ndarray,
                 bus: ScopedEventBus) -> None:
        self.name = name
        self.initial_capital = capital
        self.cash = capital
        self.symbols = symbols
        self._symbol_index = {symbol: j for j, symbol in enumerate(symbols)}
        self.quantity = np.zeros(len(symbols))
        self.average_price = np.zeros(len(symbols))
        self.realized_pnl = 0.0
        self.commission_paid = 0.0
        self.realized_by_order: dict[int, float] = {}
        self.closing_orders: set[int] = set()  # fills that reduced a position: the trades
        self.marks = np.full(len(symbols), np.nan)
        self._mark_list: list[float] = self.marks.tolist()
        self._equity: float | None = None
        self.high_water_mark = capital
        self.day_start_equity = capital
        self._days = timestamps.astype("datetime64[D]")
        self.equity_curve = np.full(len(timestamps), np.nan)
        self.cash_curve = np.full(len(timestamps), np.nan)
        self.exposed = np.zeros(len(timestamps), dtype=bool)
        self._bus = bus
        bus.subscribe(Bar, self.on_bar)
        bus.subscribe(Fill, self.on_fill)

    def position(self, symbol: str) -> float:
        return float(self.quantity[self._symbol_index[symbol]])

    def equity(self) -> float:
        """Cash plus every position marked at the latest close (positions with no mark yet count at cost).

        Summed left to right, as the fast engine's kernel does, so both get the same float. Kept until
        a bar's marks or a fill change it: the risk manager and the bar's bookkeeping ask several times.
        """
        if self._equity is None:
            total = 0.0
            for held, mark, cost in zip(self.quantity.tolist(), self._mark_list, self.average_price.tolist(),
                                        strict=True):
                total += held * (mark if mark == mark else cost)
            self._equity = float(self.cash + total)
        return self._equity

    def unrealized_pnl(self) -> float:
        """Open positions' gain or loss against their average price, at the latest close."""
        marks = np.where(np.isnan(self.marks), self.average_price, self.marks)
        return float(np.dot(self.quantity, marks - self.average_price))

    def drawdown_pct(self) -> float:
        return max(0.0, (self.high_water_mark - self.equity()) / self.high_water_mark * 100.0)

    def daily_loss_pct(self) -> float:
        return max(0.0, (self.day_start_equity - self.equity()) / self.day_start_equity * 100.0)

    def on_bar(self, bar: Bar) -> None:
        t = bar.bar_index
        if t > 0 and self._days[t] != self._days[t - 1]:
            self.day_start_equity = float(self.equity_curve[t - 1])
        self.marks = np.asarray(bar.close, dtype=np.float64)
        self._mark_list, self._equity = self.marks.tolist(), None
        self.high_water_mark = max(self.high_water_mark, self.equity())

    def on_fill(self, fill: Fill) -> None:
        if fill.portfolio != self.name:  # only ever this container's own fills reach its bus
            raise RuntimeError(f"portfolio {self.name} received a fill of {fill.portfolio}")
        j = self._symbol_index[fill.symbol]
        held = float(self.quantity[j])
        if held != 0 and math.copysign(1, fill.quantity) != math.copysign(1, held):
            self.closing_orders.add(fill.order_id)
        self._equity = None
        self.cash -= fill.quantity * fill.price + fill.commission
        self.commission_paid += fill.commission
        self.quantity[j], self.average_price[j], realized = apply_fill_to_position(
            float(self.quantity[j]), float(self.average_price[j]), fill.quantity, fill.price)
        self.realized_pnl += realized
        self.realized_by_order[fill.order_id] = realized
        self._bus.publish(PortfolioUpdate(fill.bar_index, self.name, self.cash, self.equity()))

    def end_bar(self, bar_index: int) -> None:
        equity = self.equity()
        self.equity_curve[bar_index] = equity
        self.cash_curve[bar_index] = self.cash
        self.exposed[bar_index] = any(held != 0 for held in self.quantity.tolist())
        self.high_water_mark = max(self.high_water_mark, equity)
