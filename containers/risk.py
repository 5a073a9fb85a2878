"""RiskManager: one portfolio's standing signals → aggregated targets → orders (sizing, limits) or vetoes.

Per bar, once its strategies have signalled (`decide`), for each symbol the portfolio trades:
the aggregator's target (aggregation.py) against the position. A flat target, or one in the other
direction, closes the position (closing orders always pass); a target where the position is flat
opens one, sized and checked against every limit and against cash (or `leverage`); an open position
in the target's direction is resized only under `rebalance: threshold_pct`, when |target - position|
exceeds that share of the target (increases face the limits, reductions pass). Pending orders count,
so nothing is sent twice. kernels.simulate is the same decisions, compiled.

Attribution: an opening order carries the regime in force and the strategies behind the target; every
later order on that position (resize, close) carries the same, so a closing trade is credited to the
regime and strategies of its entry.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from containers.aggregation import active_table, contributor_names, weight_table
from containers.bus import ScopedEventBus
from containers.components.classifiers import UNKNOWN
from containers.components.costs import slipped_price
from containers.components.limits import ExposureCheck
from containers.components.rules import Input
from containers.config import ExecutionConfig, PortfolioConfig
from containers.events import Classification, Fill, Order, Reject, Signal
from containers.hub import IndicatorHub
from containers.portfolio import Portfolio

SIZER_REASON = "sizer: the target sizes to 0 shares"


def cash_reason(symbol: str, quantity: float, price: float, cash_after: float) -> str:
    return (f"cash: {quantity:g} {symbol} at {price:.2f} would leave cash at {cash_after:.2f} < 0; "
            "set the portfolio's leverage to allow borrowing")


def leverage_reason(gross: float, equity: float, leverage: float | None) -> str:
    ratio = gross / equity if equity > 0 else math.inf
    if leverage is None:
        return (f"leverage: gross exposure would be {ratio:.2f}x equity > 1x; set the portfolio's leverage "
                "to allow more")
    return f"leverage: gross exposure would be {ratio:.2f}x equity > {leverage:g}x"


def _sign(value: float) -> int:
    return 1 if value > 0 else (-1 if value < 0 else 0)


class RiskManager:
    """Targets → orders for one portfolio; see the module docstring for the rules."""

    def __init__(self, config: PortfolioConfig, portfolio: Portfolio, hub: IndicatorHub, bus: ScopedEventBus,
                 order_ids: itertools.count, periods_per_year: np.ndarray, labels: tuple[str, ...],
                 execution: ExecutionConfig) -> None:
        self.config = config
        self.execution = execution  # the cash check estimates an order's slippage and commission
        self.portfolio = portfolio
        self.hub = hub
        self.bus = bus
        self.order_ids = order_ids
        self.periods_per_year = periods_per_year  # per bar, known at that bar
        self.labels = labels
        self.names = [strategy.name for strategy in config.strategies]
        self.strategy_index = {name: s for s, name in enumerate(self.names)}
        symbols = portfolio.symbols
        traded = {symbol for strategy in config.strategies for symbol in strategy.symbols or symbols}
        self.columns = [j for j, symbol in enumerate(symbols) if symbol in traded]
        self.column_of = {j: c for c, j in enumerate(self.columns)}
        self.weights = weight_table(config.strategies, labels, config.weights)
        self.active = active_table(config.strategies, labels, self.weights)
        self.standing = np.full((len(self.names), len(self.columns)), np.nan)  # (strategies, traded symbols)
        self.codes = np.full(len(self.columns), -1, dtype=np.int64)
        self.targets = (np.empty(len(self.columns)), np.empty(len(self.columns)))
        self.resizes = config.rebalance.type == "threshold_pct"
        self.settled = False  # the last decisions had nothing to do, and nothing they depend on changed since
        self.regime, self.regime_code = UNKNOWN, -1
        self.entry: dict[int, tuple[str, float]] = {}  # symbol → (regime, contributor bits) of its position
        self.sizer_inputs: dict[str, Input] = config.sizer.inputs()
        self.pending = np.zeros(len(symbols))
        self.rejects: list[Reject] = []
        bus.subscribe(Classification, self.on_classification)
        bus.subscribe(Signal, self.on_signal)
        bus.subscribe(Fill, self.on_fill)

    def on_classification(self, event: Classification) -> None:
        if event.regime != self.regime:
            self.regime, self.settled = event.regime, False
            self.regime_code = -1 if event.regime == UNKNOWN else self.labels.index(event.regime)

    def on_signal(self, signal: Signal) -> None:
        s, c = self.strategy_index[signal.strategy], self.column_of[self.portfolio.symbols.index(signal.symbol)]
        value = signal.direction * signal.strength
        if value != self.standing[s, c]:  # a repeated signal changes nothing (NaN != NaN: a first one does)
            self.standing[s, c], self.settled = value, False

    def on_fill(self, fill: Fill) -> None:
        self.pending[self.portfolio.symbols.index(fill.symbol)] -= fill.quantity
        self.settled = False

    def projected(self, j: int) -> float:
        return float(self.portfolio.quantity[j] + self.pending[j])

    def decide(self, t: int) -> None:
        """The bar's targets, once every strategy has signalled, and the orders they call for.

        When the last decisions had nothing to do and no signal, regime or fill has come since, the
        same decisions would again have nothing to do: they are skipped (not under threshold
        rebalancing, whose sizes move with prices).
        """
        if self.settled:
            return
        for s, active in enumerate(self.active[:, self.regime_code + 1]):
            if not active:  # outside its regimes or weighted 0 in this one: it abstains, and forgets its signal
                self.standing[s] = np.nan
        self.codes[:] = self.regime_code
        targets, bits = self.config.aggregation.targets(self.standing, self.weights, self.codes, self.targets)
        idle = True
        for c, j in enumerate(self.columns):
            idle = self._act(t, j, float(targets[c]), float(bits[c])) and idle
        self.settled = idle and not self.resizes

    def _act(self, t: int, j: int, value: float, bits: float) -> bool:
        """The orders for one symbol's target; True when there was nothing to do."""
        direction = _sign(value)
        if direction < 0 and not self.config.allow_short:
            direction = 0
        current = self.projected(j)
        if direction == _sign(current) and (current == 0 or not self.resizes):
            return True  # the position already is what the target asks for
        if current != 0 and direction != _sign(current):
            self._send(t, j, -current, *self.entry[j])
            current = 0.0
        if direction == 0:
            return False
        size = self._size(t, j, value)
        resulting = direction * size
        order = resulting - current
        if current != 0:  # resize toward the target, past the threshold only
            if size == 0 or not abs(order) > self.config.rebalance.pct / 100.0 * size:
                return True
            if size <= abs(current):  # reducing: always passes
                self._send(t, j, order, *self.entry[j])
                return False
        reason = SIZER_REASON if size == 0 else self._veto(t, j, resulting, order)
        if reason is None:
            attribution = (self.regime, bits) if current == 0 else self.entry[j]
            self._send(t, j, order, *attribution)
            self.entry[j] = attribution
        else:
            self._reject(t, j, 0.0 if size == 0 else resulting, bits, reason)
        return False

    def _size(self, t: int, j: int, strength: float) -> float:
        price = float(self.hub.arrays["close"][t, j])
        now = self.hub.values_at(self.sizer_inputs, j, t)
        return self.config.sizer.size(self.portfolio.equity(), price, strength, now, float(self.periods_per_year[t]))

    def _veto(self, t: int, j: int, resulting: float, order: float) -> str | None:
        """The first limit's reason, then cash (or leverage), for an order adding exposure; None passes."""
        close = self.hub.arrays["close"][t]
        gross, committed = 0.0, 0.0
        for other in range(len(close)):
            if other != j:
                gross += abs(self.projected(other) * close[other])
            committed += self.pending[other] * close[other]
        price, equity = float(close[j]), self.portfolio.equity()
        gross = float(gross + abs(resulting * price))
        check = ExposureCheck(symbol=self.portfolio.symbols[j], price=price, resulting_quantity=resulting,
                              equity=equity, gross_exposure_after=gross, drawdown_pct=self.portfolio.drawdown_pct(),
                              daily_loss_pct=self.portfolio.daily_loss_pct())
        for limit in self.config.limits:
            reason = limit.veto(check)
            if reason is not None:
                return reason
        execution = self.execution
        paid = slipped_price(price, 1 if order > 0 else -1, execution.slippage_bps)
        cash_after = float(self.portfolio.cash - committed - order * paid - execution.commission.charge(order, paid))
        leverage = self.config.leverage
        if leverage is None and cash_after < 0:
            return cash_reason(check.symbol, resulting, price, cash_after)
        if (gross / equity if equity > 0 else math.inf) > (1.0 if leverage is None else leverage):
            return leverage_reason(gross, equity, leverage)
        return None

    def liquidate(self, t: int) -> None:
        """Closes every open position at this bar's close (close_at_end), credited to its entry."""
        for j, held in enumerate(self.portfolio.quantity.tolist()):
            if held != 0:
                self._send(t, j, -held, *self.entry[j], liquidation=True)

    def _send(self, t: int, j: int, quantity: float, regime: str, bits: float, liquidation: bool = False) -> None:
        self.pending[j] += quantity
        self.bus.escalate(Order(next(self.order_ids), t, self.portfolio.name, contributor_names(bits, self.names),
                                self.portfolio.symbols[j], quantity, regime, liquidation))

    def _reject(self, t: int, j: int, quantity: float, bits: float, reason: str) -> None:
        reject = Reject(t, self.portfolio.name, contributor_names(bits, self.names), self.portfolio.symbols[j],
                        quantity, reason)
        self.rejects.append(reject)
        self.bus.publish(reject)
