"""Strategies combined inside one portfolio: hand-computed ensembles, weight maps, rebalancing, cash and
leverage, event-style entries and trade counting, in both engines."""

import numpy as np
import pandas as pd
import pytest

from containers.run import run_backtest
from tests.helpers import bars, config, portfolio

NO_COSTS = {"commission": {"type": "none"}}
A = {"name": "a", "type": "ma_crossover", "weight": 0.7, "params": {"fast": 1, "slow": 2}}  # +1 after an up-close
B = {"name": "b", "type": "ma_crossover", "weight": 0.3, "params": {"fast": 2, "slow": 3}}
ENSEMBLE_CLOSES = [10.0, 11.0, 12.0, 11.0, 10.0, 11.0, 12.0]


def test_weighted_ensemble_by_hand(engine: str) -> None:
    # a: t1 +1, t2 +1, t3 -1, t4 -1, t5 +1, t6 +1;  b: t2 +1, t3 +1, t4 -1, t5 -1, t6 +1
    # weighted targets: t1 +1 (a alone), t2 +1, t3 -0.7, t4 -1, t5 +0.7, t6 +1
    book = portfolio("p", 1000.0, [A, B], sizer={"type": "percentage", "pct": 50})
    result = run_backtest(config([book], execution=NO_COSTS), bars(ENSEMBLE_CLOSES), engine)
    trades = result.trades
    # t1: floor(1000 x 0.5 x 1.0 / 11) = 45 at t2's open (12): cash 460
    # t3: equity 460 + 45 x 11 = 955 → close 45, open floor(955 x 0.5 x 0.7 / 11) = 30 short at t4's open (10)
    # t5: equity 1210 - 30 x 11 = 880 → cover 30, open floor(880 x 0.5 x 0.7 / 11) = 28 long at t6's open (12)
    # t6: the last bar: the 28 are sold at its close (12)
    assert list(trades["bar_index"]) == [2, 4, 4, 6, 6, 6]
    assert list(trades["quantity"]) == [45, -45, -30, 30, 28, -28]
    assert list(trades["price"]) == [12.0, 10.0, 10.0, 12.0, 12.0, 12.0]
    assert list(trades["closing"]) == [False, True, False, True, False, True]
    assert list(trades["strategy"]) == ["a"] * 6  # a's side won every entry
    cash_end = 1000 - 45 * 12 + 45 * 10 + 30 * 10 - 30 * 12 - 28 * 12 + 28 * 12
    assert result.metrics["final_equity"] == pytest.approx(cash_end)
    assert result.metrics["num_trades"] == 3


def test_credited_strategies_are_those_on_the_winning_side(engine: str) -> None:
    closes = [10.0, 11.0, 10.5, 12.0, 13.0, 14.0]
    book = portfolio("p", 1000.0, [dict(A, weight=1.0), dict(B, weight=1.0)], aggregation={"type": "unanimous"},
                     sizer={"type": "fixed", "quantity": 1})
    trades = run_backtest(config([book], execution=NO_COSTS), bars(closes), engine).trades
    # t1: a long, b still warming up → a alone is unanimous: long; t2: a short (10.5 < 11), b long
    # (10.75 > 10.5) → no agreement: flat, the close credited to the entry (a); t3: both long → a long
    # credited to both, sold at the last close
    assert list(trades["quantity"]) == [1, -1, 1, -1]
    assert list(trades["strategy"]) == ["a", "a", "a+b", "a+b"]


def test_a_regime_weight_map_giving_one_strategy_everything_equals_it_alone(engine: str) -> None:
    data = bars(list(100 * np.exp(np.cumsum(np.random.default_rng(2).normal(0, 0.02, 300)))))
    strategies = [{"name": "xo", "type": "ma_crossover", "params": {"fast": 3, "slow": 12}},
                  {"name": "brk", "type": "breakout", "params": {"period": 8}}]
    weighted = portfolio("p", 10_000.0, strategies, weights={"all": {"brk": 1.0}})
    alone = portfolio("p", 10_000.0, strategies[1:])
    ensemble, single = (run_backtest(config([book]), data, engine) for book in (weighted, alone))
    assert len(single.trades) > 10
    pd.testing.assert_frame_equal(ensemble.trades, single.trades)
    silent = run_backtest(config([portfolio("p", 10_000.0, strategies, weights={"all": {}})]), data, engine)
    assert silent.trades.empty  # every weight 0 in the regime: always flat


def test_threshold_rebalance_resizes_toward_the_target_by_hand(engine: str) -> None:
    rising = [10.0, 11.0, 12.0, 13.0, 14.0]
    book = portfolio("p", 1000.0, [A], sizer={"type": "percentage", "pct": 50},
                     rebalance={"type": "threshold_pct", "pct": 5})
    result = run_backtest(config([book], execution=NO_COSTS), bars(rising), engine)
    # t1: 45 at t2's open (12), cash 460; t2: equity 1000 → target floor(1000 x 0.5 / 12) = 41, |41 - 45| = 4 > 2.05
    # → sell 4 at t3's open (13), cash 512; t3: equity 1045 → 40, |40 - 41| = 1 <= 2.0 → hold; t4 (last): 38,
    # |38 - 41| = 3 > 1.9 → sell 3 (no bar left to fill it); close_at_end sells the 41 at t4's close
    assert list(result.trades["quantity"]) == [45, -4, -41]
    assert list(result.trades["bar_index"]) == [2, 3, 4]
    assert list(result.trades["closing"]) == [False, True, True]
    assert result.unfilled_orders == 1
    assert result.metrics["final_equity"] == pytest.approx(512 + 41 * 14)
    holds = run_backtest(config([dict(book, rebalance={"type": "on_direction_change"})], execution=NO_COSTS),
                         bars(rising), engine)
    assert list(holds.trades["quantity"]) == [45, -45]


def test_cash_may_not_go_below_zero_unless_leverage_allows(engine: str) -> None:
    closes = [10.0, 11.0, 12.0]
    sized = {"type": "percentage", "pct": 150}  # t1: floor(1000 x 1.5 / 11) = 136 shares, 1,496 at 11
    no_borrowing = run_backtest(config([portfolio(sizer=sized)], execution=NO_COSTS), bars(closes), engine)
    assert no_borrowing.trades.empty
    assert no_borrowing.rejects["reason"].iloc[0] == (
        "cash: 136 X at 11.00 would leave cash at -496.00 < 0; set the portfolio's leverage to allow borrowing")
    borrowing = run_backtest(config([portfolio(sizer=sized, leverage=2)], execution=NO_COSTS), bars(closes), engine)
    assert list(borrowing.trades["quantity"]) == [136, -136]
    assert borrowing.equity["p"].iloc[2] == pytest.approx(1000 - 136 * 12 + 136 * 12)
    tight = run_backtest(config([portfolio(sizer=sized, leverage=1.2)], execution=NO_COSTS), bars(closes), engine)
    assert tight.rejects["reason"].iloc[0] == "leverage: gross exposure would be 1.50x equity > 1.2x"


def test_cross_signals_open_at_the_first_crossover_not_the_first_bar(engine: str) -> None:
    closes = [10.0, 11.0, 12.0, 11.0, 10.0, 9.0, 10.0, 11.0]
    state = portfolio(strategies=[{"name": "xo", "type": "ma_crossover", "params": {"fast": 1, "slow": 2}}],
                      sizer={"type": "fixed", "quantity": 1})
    cross = portfolio(strategies=[{"name": "xo", "type": "ma_crossover",
                                   "params": {"fast": 1, "slow": 2, "signal": "cross"}}],
                      sizer={"type": "fixed", "quantity": 1})
    by_state = run_backtest(config([state], execution=NO_COSTS), bars(closes), engine).trades
    by_cross = run_backtest(config([cross], execution=NO_COSTS), bars(closes), engine).trades
    assert by_state["bar_index"].iloc[0] == 2  # long from the first bar both averages exist
    # cross: t3 turns down after up-closes (short), t6 turns up after down-closes (cover, long)
    assert list(by_cross["bar_index"]) == [4, 7, 7, 7]
    assert list(by_cross["quantity"]) == [-1, 1, 1, -1]


def test_a_close_at_no_profit_is_a_trade(engine: str) -> None:
    # long 1 at t2's open 10.5, sold at t3's open 10.5 (P&L 0) into a short, covered at the last close 10 (+0.5)
    result = run_backtest(config([portfolio(sizer={"type": "fixed", "quantity": 1})], execution=NO_COSTS),
                          bars([10.0, 11.0, 10.0, 10.0], opens=[10.0, 10.0, 10.5, 10.5]), engine)
    assert list(result.trades["realized_pnl"]) == [0.0, 0.0, 0.0, 0.5]
    assert result.metrics["num_trades"] == 2
    assert result.metrics["win_rate_pct"] == 50.0
    assert result.metrics["profit_factor"] == np.inf


def test_weight_zero_in_a_regime_abstains_like_being_outside_the_regimes(engine: str) -> None:
    """Both ways of saying 'only in high volatility' must trade the same: a signal given while weighted 0
    is forgotten, as one given outside the strategy's regimes would be."""
    data = bars(list(100 * np.exp(np.cumsum(np.random.default_rng(4).normal(0, 0.02, 400)))), freq="h")
    gated = {"name": "brk", "type": "breakout", "params": {"period": 6}, "regimes": ["high_volatility"]}
    weighted = {"name": "brk", "type": "breakout", "params": {"period": 6}}
    volatility = {"classifier": "volatility", "classifier_params": {"fast": 5, "slow": 20}}
    by_regimes = run_backtest(config([portfolio("p", 10_000.0, [gated])], **volatility), data, engine)
    by_weights = run_backtest(config([portfolio("p", 10_000.0, [weighted],
                                                weights={"low_volatility": {}, "unknown": {}})], **volatility),
                              data, engine)
    assert len(by_regimes.trades) > 5
    pd.testing.assert_frame_equal(by_weights.trades, by_regimes.trades)


def test_the_cash_rule_counts_the_orders_commission(engine: str) -> None:
    # t1 closes up at 10: 100% sizing buys 100 shares for 1,000 plus 1% commission: cash would be -10
    execution = {"commission": {"type": "percentage", "rate_pct": 1.0}, "fill_at": "same_bar_close"}
    sized = {"type": "percentage", "pct": 100}
    result = run_backtest(config([portfolio(sizer=sized)], execution=execution), bars([9.0, 10.0, 10.0]), engine)
    assert result.trades.empty
    assert result.rejects["reason"].iloc[0] == (
        "cash: 100 X at 10.00 would leave cash at -10.00 < 0; set the portfolio's leverage to allow borrowing")
    levered = run_backtest(config([portfolio(sizer=sized, leverage=1.0)], execution=execution),
                           bars([9.0, 10.0, 10.0]), engine)
    assert list(levered.trades["quantity"]) == [100, -100]


def test_without_leverage_shorts_are_bounded_by_equity(engine: str) -> None:
    # t1 closes down at 9: 500% sizing would short floor(1000 x 5 / 9) = 555 shares, 4,995 of exposure
    sized = {"type": "percentage", "pct": 500}
    result = run_backtest(config([portfolio(sizer=sized)], execution=NO_COSTS), bars([10.0, 9.0, 8.0]), engine)
    assert result.trades.empty
    assert result.rejects["reason"].iloc[0] == (
        "leverage: gross exposure would be 5.00x equity > 1x; set the portfolio's leverage to allow more")
    levered = run_backtest(config([portfolio(sizer=sized, leverage=5.0)], execution=NO_COSTS),
                           bars([10.0, 9.0, 8.0]), engine)
    assert list(levered.trades["quantity"]) == [-555, 555]
