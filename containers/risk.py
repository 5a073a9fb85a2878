"""RiskManager: turns one portfolio's signals into orders (sizing, limits) or vetoes with a reason."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

from containers.bus import ScopedEventBus
from containers.components.limits import ExposureCheck
from containers.components.rules import Input
from containers.config import PortfolioConfig
from containers.events import Fill, Order, Reject, Signal
from containers.hub import IndicatorHub
from containers.portfolio import Portfolio


class RiskManager:
    """Signal → target position → orders. Reducing orders always pass; adding ones face every limit.

    A signal in the direction the position already has changes nothing (no resizing); the opposite
    direction closes the position and opens the new one as two orders, so a veto of the new side
    still lets the old side close. Pending (unfilled) orders count, so no order is sent twice.
    """

    def __init__(self, config: PortfolioConfig, portfolio: Portfolio, hub: IndicatorHub,
                 bus: ScopedEventBus, order_ids: itertools.count, periods_per_year: float) -> None:
        self.config = config
        self.portfolio = portfolio
        self.hub = hub
        self.bus = bus
        self.order_ids = order_ids
        self.periods_per_year = periods_per_year
        self.sizer_inputs: dict[str, Input] = config.sizer.inputs()
        self.pending: defaultdict[str, float] = defaultdict(float)
        self.rejects: list[Reject] = []
        bus.subscribe(Signal, self.on_signal)
        bus.subscribe(Fill, self.on_fill)

    def projected(self, symbol: str) -> float:
        return self.portfolio.position(symbol) + self.pending[symbol]

    def on_fill(self, fill: Fill) -> None:
        self.pending[fill.symbol] -= fill.quantity

    def on_signal(self, signal: Signal) -> None:
        direction = signal.direction if (signal.direction >= 0 or self.config.allow_short) else 0
        current = self.projected(signal.symbol)
        if direction != 0 and current != 0 and math.copysign(1, current) == direction:
            return
        if current != 0 and (direction == 0 or math.copysign(1, current) != direction):
            self._send(signal, -current)
        if direction == 0:
            return
        quantity = self._size(signal)
        if quantity == 0:
            self._reject(signal, 0.0, "sizer: the signal sizes to 0 shares")
            return
        reason = self._veto(signal, direction * quantity)
        if reason is None:
            self._send(signal, direction * quantity)
        else:
            self._reject(signal, direction * quantity, reason)

    def _symbol(self, symbol: str) -> int:
        return self.portfolio.symbols.index(symbol)

    def _size(self, signal: Signal) -> float:
        j = self._symbol(signal.symbol)
        price = float(self.hub.arrays["close"][signal.bar_index, j])
        now = self.hub.values_at(self.sizer_inputs, j, signal.bar_index)
        return self.config.sizer.size(self.portfolio.equity(), price, signal.strength, now, self.periods_per_year)

    def _veto(self, signal: Signal, resulting: float) -> str | None:
        close = self.hub.arrays["close"][signal.bar_index]
        gross = sum(abs(self.projected(symbol) * close[j]) for j, symbol in enumerate(self.portfolio.symbols)
                    if symbol != signal.symbol)
        price = float(close[self._symbol(signal.symbol)])
        check = ExposureCheck(
            symbol=signal.symbol, price=price, resulting_quantity=resulting, equity=self.portfolio.equity(),
            gross_exposure_after=float(gross + abs(resulting * price)),
            drawdown_pct=self.portfolio.drawdown_pct(), daily_loss_pct=self.portfolio.daily_loss_pct())
        for limit in self.config.limits:
            reason = limit.veto(check)
            if reason is not None:
                return reason
        return None

    def _send(self, signal: Signal, quantity: float) -> None:
        self.pending[signal.symbol] += quantity
        self.bus.escalate(Order(next(self.order_ids), signal.bar_index, self.portfolio.name, signal.strategy,
                                signal.symbol, quantity, signal.regime))

    def _reject(self, signal: Signal, quantity: float, reason: str) -> None:
        reject = Reject(signal.bar_index, self.portfolio.name, signal.strategy, signal.symbol, quantity, reason)
        self.rejects.append(reject)
        self.bus.publish(reject)
