"""BacktestEngine: the only source of fills. Market orders fill at the next bar's open by default."""

from __future__ import annotations

import numpy as np

from containers.bus import ScopedEventBus
from containers.components.costs import slipped_price
from containers.config import ExecutionConfig
from containers.data.market import MarketData
from containers.events import Fill, Order


class BacktestEngine:
    """Collects orders escalated to the root bus and fills each into its own portfolio's bus only."""

    def __init__(self, config: ExecutionConfig, data: MarketData, root: ScopedEventBus,
                 portfolio_buses: dict[str, ScopedEventBus]) -> None:
        self.config = config
        self.data = data
        self.portfolio_buses = portfolio_buses
        self.pending: list[Order] = []
        self.fills: list[Fill] = []
        self.unfilled: list[Order] = []
        self._symbol_index = {symbol: j for j, symbol in enumerate(data.symbols)}
        root.subscribe(Order, self.on_order)

    def on_order(self, order: Order) -> None:
        if self.config.fill_at == "same_bar_close" or order.liquidation:
            self._fill(order, order.bar_index, self.data.close)
        else:
            self.pending.append(order)

    def fill_pending(self, bar_index: int) -> None:
        """Fills every order placed before this bar at this bar's open, in the order they were placed."""
        orders, self.pending = self.pending, []
        for order in orders:
            self._fill(order, bar_index, self.data.open)

    def finish(self) -> None:
        """Orders placed on the last bar have no next bar to fill on; they are reported as unfilled."""
        self.unfilled, self.pending = self.pending, []

    def _fill(self, order: Order, bar_index: int, prices: np.ndarray) -> None:
        side = 1 if order.quantity > 0 else -1
        market = float(prices[bar_index, self._symbol_index[order.symbol]])
        price = slipped_price(market, side, self.config.slippage_bps)
        fill = Fill(
            order_id=order.order_id, bar_index=bar_index, portfolio=order.portfolio, strategy=order.strategy,
            symbol=order.symbol, quantity=order.quantity, price=price,
            commission=self.config.commission.charge(order.quantity, price),
            slippage_cost=abs(order.quantity) * abs(price - market), regime=order.regime)
        self.fills.append(fill)
        self.portfolio_buses[order.portfolio].publish(fill)
