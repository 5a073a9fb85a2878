"""Trades against a reference library on real data: backtesting.py's SmaCross tutorial strategy on the
daily GOOG bars it ships, and admf's ma_crossover with `signal: cross`, one share, no costs, orders
filled at the next bar's open. Every round trip must be the same: direction, entry and exit bar, entry
and exit price; except the price the last position is closed at, by design: admf's close_at_end sells
at the last close, backtesting.py's finalize_trades at the last bar's open."""

import warnings

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.lib import crossover
from backtesting.test import GOOG, SMA

from containers.data.market import MarketData
from containers.results import BacktestResult
from containers.run import run_backtest
from tests.helpers import config, portfolio


class SmaCross(Strategy):
    fast_period, slow_period = 10, 20

    def init(self) -> None:
        self.fast = self.I(SMA, self.data.Close, self.fast_period)
        self.slow = self.I(SMA, self.data.Close, self.slow_period)

    def next(self) -> None:
        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy(size=1)
        elif crossover(self.slow, self.fast):
            self.position.close()
            self.sell(size=1)


def _reference() -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its progress bar and bokeh notices
        stats = Backtest(GOOG, SmaCross, cash=100_000, commission=0, finalize_trades=True).run()
    trades = stats._trades
    return pd.DataFrame({"side": np.sign(trades["Size"]).astype(int), "entry_bar": trades["EntryBar"],
                         "exit_bar": trades["ExitBar"], "entry_price": trades["EntryPrice"],
                         "exit_price": trades["ExitPrice"]}).reset_index(drop=True)


def _round_trips(result: BacktestResult) -> pd.DataFrame:
    """(side, entry bar, exit bar, prices) per position, from admf's fills."""
    trips, held, entry = [], 0.0, None
    for fill in result.trades.itertuples():
        if held == 0:
            entry = fill
        held += fill.quantity
        if held == 0:
            trips.append((int(np.sign(entry.quantity)), entry.bar_index, fill.bar_index, entry.price, fill.price))
    return pd.DataFrame(trips, columns=["side", "entry_bar", "exit_bar", "entry_price", "exit_price"])


def _goog() -> MarketData:
    columns = {name: GOOG[name.title()].to_numpy(dtype=np.float64)[:, None]
               for name in ("open", "high", "low", "close", "volume")}
    return MarketData(timestamps=GOOG.index.to_numpy(dtype="datetime64[ns]"), symbols=("GOOG",), **columns)


def test_cross_entries_trade_as_backtesting_py_does_on_goog(engine: str) -> None:
    strategy = {"name": "sma_cross", "type": "ma_crossover", "params": {"fast": 10, "slow": 20, "signal": "cross"}}
    cfg = config([portfolio("book", 100_000.0, [strategy], sizer={"type": "fixed", "quantity": 1})],
                 execution={"commission": {"type": "none"}})
    ours, reference = _round_trips(run_backtest(cfg, _goog(), engine)), _reference()
    assert len(reference) > 80
    pd.testing.assert_frame_equal(ours[["side", "entry_bar", "exit_bar"]], reference[["side", "entry_bar", "exit_bar"]],
                                  check_dtype=False)
    np.testing.assert_allclose(ours["entry_price"], reference["entry_price"], rtol=1e-12)
    np.testing.assert_allclose(ours["exit_price"].iloc[:-1], reference["exit_price"].iloc[:-1], rtol=1e-12)
    assert (ours["exit_price"].iloc[-1], reference["exit_price"].iloc[-1]) == (GOOG["Close"].iloc[-1],
                                                                             GOOG["Open"].iloc[-1])
    assert ours["entry_bar"].iloc[0] == 63  # the first crossover, not the first bar with both averages
