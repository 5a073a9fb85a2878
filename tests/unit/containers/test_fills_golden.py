"""Hand-computed fills: next-open fills with adverse slippage and fixed commission, and same-bar-close."""

import numpy as np
import pytest

from containers.factory import build_backtest
from containers.run import run_backtest
from tests.helpers import bars, config, portfolio

# fast SMA(1) vs slow SMA(2) is long after an up-close and short after a down-close
CLOSES = [10.0, 11.0, 10.5, 12.0, 12.5]
OPENS = [10.0, 10.2, 10.8, 10.6, 12.1]


def _run(fill_at: str, engine: str, close_at_end: bool = True) -> object:
    execution = {"fill_at": fill_at, "slippage_bps": 10, "commission": {"type": "fixed", "amount": 1.0},
                 "close_at_end": close_at_end}
    cfg = config([portfolio(capital=1000.0, sizer={"type": "fixed", "quantity": 10})], execution=execution)
    return run_backtest(cfg, bars(CLOSES, OPENS), engine)


def test_next_open_fills_by_hand(engine: str) -> None:
    result = _run("next_open", engine)
    trades = result.trades
    buy, sell = 1.001, 0.999
    # bar 1 closes up → buy 10 at bar 2's open; bar 2 closes down → sell 10 (close) + sell 10 (short)
    # at bar 3's open; bar 3 closes up → buy 10 (cover) + buy 10 (long) at bar 4's open; bar 4 up again → hold;
    # close_at_end sells the 10 at bar 4's own close, with slippage and commission
    assert list(trades["bar_index"]) == [2, 3, 3, 4, 4, 4]
    assert list(trades["quantity"]) == [10, -10, -10, 10, 10, -10]
    assert list(trades["closing"]) == [False, True, False, True, False, True]
    expected_prices = [10.8 * buy, 10.6 * sell, 10.6 * sell, 12.1 * buy, 12.1 * buy, 12.5 * sell]
    np.testing.assert_allclose(trades["price"], expected_prices, rtol=1e-12)
    assert list(trades["commission"]) == [1.0] * 6
    np.testing.assert_allclose(trades["realized_pnl"],
                               [0, 10 * (10.6 * sell - 10.8 * buy), 0, 10 * (10.6 * sell - 12.1 * buy), 0,
                                10 * (12.5 * sell - 12.1 * buy)], atol=1e-9)
    cash_after_2 = 1000 - 10 * 10.8 * buy - 1
    cash_after_3 = cash_after_2 + 2 * (10 * 10.6 * sell - 1)
    cash_after_4 = cash_after_3 - 2 * (10 * 12.1 * buy + 1) + 10 * 12.5 * sell - 1
    expected_equity = [1000, 1000, cash_after_2 + 10 * 10.5, cash_after_3 - 10 * 12.0, cash_after_4]
    np.testing.assert_allclose(result.equity["p"], expected_equity, rtol=1e-12)
    assert result.metrics["final_equity"] == pytest.approx(expected_equity[-1])
    assert result.metrics["num_trades"] == 3 and result.open_positions.empty
    np.testing.assert_allclose(result.trades["slippage_cost"].iloc[-1], 10 * 12.5 * 0.001, rtol=1e-12)


def test_without_close_at_end_the_last_position_is_reported_open(engine: str) -> None:
    result = _run("next_open", engine, close_at_end=False)
    assert list(result.trades["quantity"]) == [10, -10, -10, 10, 10]
    assert result.metrics["num_trades"] == 2  # the two closing fills
    (position,) = result.open_positions.itertuples(index=False)
    assert (position.portfolio, position.symbol, position.quantity) == ("p", "X", 10)
    assert position.average_price == pytest.approx(12.1 * 1.001)
    assert position.unrealized_pnl == pytest.approx(10 * (12.5 - 12.1 * 1.001))


def test_realized_and_unrealized_pnl_by_hand() -> None:
    execution = {"slippage_bps": 10, "commission": {"type": "fixed", "amount": 1.0}, "close_at_end": False}
    cfg = config([portfolio(capital=1000.0, sizer={"type": "fixed", "quantity": 10})], execution=execution)
    container = build_backtest(cfg, bars(CLOSES, OPENS))
    container.run()
    book = container.portfolios[0].portfolio
    realized = 10 * (10.6 * 0.999 - 10.8 * 1.001) + 10 * (10.6 * 0.999 - 12.1 * 1.001)
    assert book.realized_pnl == pytest.approx(realized)
    assert book.unrealized_pnl() == pytest.approx(10 * (12.5 - 12.1 * 1.001))
    assert book.commission_paid == 5.0
    assert book.equity() == pytest.approx(1000 + realized + book.unrealized_pnl() - 5.0)


def test_same_bar_close_fills_only_when_asked(engine: str) -> None:
    result = _run("same_bar_close", engine)
    trades = result.trades
    assert list(trades["bar_index"]) == [1, 2, 2, 3, 3, 4]
    np.testing.assert_allclose(trades["price"], [11.0 * 1.001, 10.5 * 0.999, 10.5 * 0.999, 12.0 * 1.001,
                                                 12.0 * 1.001, 12.5 * 0.999], rtol=1e-12)


def test_order_on_the_last_bar_is_reported_unfilled(engine: str) -> None:
    cfg = config([portfolio(sizer={"type": "fixed", "quantity": 1})], execution={"close_at_end": False})
    result = run_backtest(cfg, bars([10.0, 11.0, 10.0]), engine)  # bar 2 closes down: orders with no bar 3 to fill on
    assert list(result.trades["bar_index"]) == [2]
    assert result.unfilled_orders == 2
    # with close_at_end the long bought at bar 2's open is sold at its close instead; the orders stay unfilled
    ended = run_backtest(config([portfolio(sizer={"type": "fixed", "quantity": 1})]), bars([10.0, 11.0, 10.0]), engine)
    assert list(ended.trades["quantity"]) == [1, -1] and list(ended.trades["price"]) == [10.0, 10.0]
    assert ended.unfilled_orders == 2 and ended.open_positions.empty
