"""Accounting invariants over random prices and configs (hypothesis), rebuilt independently from the fills."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from containers.event_run import collect
from containers.events import Fill, Order
from containers.factory import build_backtest
from tests.helpers import bars, config, portfolio

SIZERS = [{"type": "fixed", "quantity": 7}, {"type": "percentage", "pct": 30},
          {"type": "atr", "risk_pct": 1.0, "period": 5, "max_pct": 80},
          {"type": "volatility", "target_vol_pct": 20, "lookback": 5}]
COMMISSIONS = [{"type": "none"}, {"type": "fixed", "amount": 1.5}, {"type": "percentage", "rate_pct": 0.2},
               {"type": "per_share", "rate": 0.01, "min": 1, "max": 4}]
STRATEGIES = [{"name": "xo", "type": "ma_crossover", "params": {"fast": 2, "slow": 5}},
              {"name": "mr", "type": "mean_reversion", "params": {"period": 5, "num_std": 1.0}},
              {"name": "mom", "type": "momentum", "params": {"lookback": 3, "threshold": 0.01, "rsi_period": 5}},
              {"name": "brk", "type": "breakout", "params": {"period": 4}}]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    returns=st.lists(st.floats(-0.08, 0.08), min_size=12, max_size=60),
    sizer=st.sampled_from(SIZERS),
    commission=st.sampled_from(COMMISSIONS),
    strategy_picks=st.lists(st.sampled_from(STRATEGIES), min_size=1, max_size=3, unique_by=lambda s: s["name"]),
    allow_short=st.booleans(),
    fill_at=st.sampled_from(["next_open", "same_bar_close"]),
    slippage=st.sampled_from([0.0, 5.0]),
)
def test_equity_is_cash_plus_marked_positions_and_every_fill_has_one_order(
        returns: list[float], sizer: dict, commission: dict, strategy_picks: list[dict], allow_short: bool,
        fill_at: str, slippage: float) -> None:
    closes = list(50 * np.exp(np.cumsum(returns)))
    opens = [50.0, *closes[:-1]]
    data = bars(closes, opens, symbols=("X", "Y"))
    portfolios = [portfolio("a", 10_000.0, strategy_picks, sizer=sizer, allow_short=allow_short),
                  portfolio("b", 3_000.0, strategy_picks[:1], sizer={"type": "fixed", "quantity": 3})]
    cfg = config(portfolios, execution={"fill_at": fill_at, "slippage_bps": slippage, "commission": commission})
    orders: list[Order] = []
    container = build_backtest(cfg, data, tracer=lambda bus, event: orders.append(event)
                               if isinstance(event, Order) else None)
    container.run()
    result = collect(container, 252.0)
    fills: list[Fill] = container.engine.fills

    # every fill belongs to exactly one order, placed by the same portfolio, for the same quantity
    order_by_id = {order.order_id: order for order in orders}
    assert len(order_by_id) == len(orders)
    assert len({fill.order_id for fill in fills}) == len(fills)
    for fill in fills:
        order = order_by_id[fill.order_id]
        assert (order.portfolio, order.symbol, order.quantity) == (fill.portfolio, fill.symbol, fill.quantity)

    # equity = cash + positions marked at the close, at every bar, rebuilt from the fills alone
    for rp in container.portfolios:
        p = rp.portfolio
        cash = np.full(data.n_bars, p.initial_capital)
        position = np.zeros((data.n_bars, 2))
        for fill in (f for f in fills if f.portfolio == p.name):
            cash[fill.bar_index:] -= fill.quantity * fill.price + fill.commission
            position[fill.bar_index:, data.symbols.index(fill.symbol)] += fill.quantity
        np.testing.assert_allclose(p.cash_curve, cash, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(p.equity_curve, cash + (position * data.close).sum(axis=1), rtol=1e-9, atol=1e-6)
        if not allow_short and p.name == "a":
            assert (position >= 0).all()
    np.testing.assert_allclose(result.equity["total"], result.equity["a"] + result.equity["b"])
