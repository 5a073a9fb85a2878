"""Aggregators, standing signals and weight maps, against arithmetic written out by hand here."""

import numpy as np
import pytest

from containers.aggregation import (
    AGGREGATORS,
    First,
    MajorityVote,
    Unanimous,
    Weighted,
    WeightedAverage,
    contributor_names,
    hold,
    weight_table,
)
from containers.config import PortfolioConfig

NAN = np.nan


def _one_column(aggregator, values, weights, code=-1):
    """Target and contributor bits of a single column (strategies as rows)."""
    table = np.array([weights], dtype=np.float64)
    target, bits = aggregator.targets(np.array(values, dtype=np.float64)[:, None], table,
                                      np.array([code], dtype=np.int64))
    return float(target[0]), int(bits[0])


def test_reference_scenario_10_weighted_buy_wins_with_strength_056() -> None:
    # BUY 0.8 at weight 0.7, SELL 0.6 at weight 0.3: buy = 0.56, sell = 0.18, total weight 1.0
    target, bits = _one_column(Weighted(), [0.8, -0.6], [0.7, 0.3])
    assert target == pytest.approx(0.56)
    assert bits == 0b01  # only the buyer contributed to the long
    # agreement = 0.56 / (0.56 + 0.18) ≈ 0.757: a threshold just below passes, just above drops
    assert _one_column(Weighted(min_agreement=0.7567), [0.8, -0.6], [0.7, 0.3])[0] == pytest.approx(0.56)
    assert _one_column(Weighted(min_agreement=0.7568), [0.8, -0.6], [0.7, 0.3]) == (0.0, 0)
    assert _one_column(Weighted(min_agreement=0.8), [0.8, -0.6], [0.7, 0.3]) == (0.0, 0)  # dropped: flat


# Four strategies: long 0.5 (w 1), long 1.0 (w 2), short 0.9 (w 1), flat (w 1); total weight 5
VALUES, WEIGHTS = [0.5, 1.0, -0.9, 0.0], [1.0, 2.0, 1.0, 1.0]
BUY, SELL, TOTAL = 0.5 * 1 + 1.0 * 2, 0.9 * 1, 5.0


@pytest.mark.parametrize(("aggregator", "expected_target", "expected_bits"), [
    (Weighted(), BUY / TOTAL, 0b0011),
    (WeightedAverage(), (BUY - SELL) / TOTAL, 0b0011),
    (MajorityVote(), 3.0 / TOTAL, 0b0011),  # long votes weigh 3 of 5: short 1, flat 1
    (Unanimous(), 0.0, 0),  # they disagree
    (First(), 0.5, 0b0001),
])
def test_each_aggregator_by_hand(aggregator, expected_target: float, expected_bits: int) -> None:
    target, bits = _one_column(aggregator, VALUES, WEIGHTS)
    assert target == pytest.approx(expected_target, abs=1e-15)
    assert bits == expected_bits


def test_unanimous_and_majority_ties_and_flat_majorities() -> None:
    assert _one_column(Unanimous(), [-0.4, -0.8], [1.0, 3.0]) == (pytest.approx(-(0.4 + 2.4) / 4), 0b11)
    assert _one_column(MajorityVote(), [1.0, -1.0], [1.0, 1.0]) == (0.0, 0)  # a tie: no direction
    assert _one_column(MajorityVote(), [1.0, 0.0, 0.0], [1.0, 1.0, 1.0]) == (0.0, 0)  # the flats win
    assert _one_column(Weighted(), [0.5, -0.5], [1.0, 1.0]) == (0.0, 0)  # equal sides: flat
    assert _one_column(First(), [0.0, 1.0], [1.0, 1.0]) == (0.0, 0)  # the first contributor says flat


def test_abstaining_strategies_count_for_nothing() -> None:
    # NaN (no standing signal) and weight 0 both abstain: the weighted target is the lone voter's own
    for aggregator in (Weighted(), WeightedAverage(), Unanimous(), First()):
        assert _one_column(aggregator, [NAN, 0.3, -1.0], [1.0, 2.0, 0.0]) == (pytest.approx(0.3), 0b010)
    for kind, cls in AGGREGATORS.items():  # nobody contributes: flat, for every aggregator
        assert _one_column(cls(), [NAN, NAN], [1.0, 1.0]) == (0.0, 0), kind
        assert _one_column(cls(), [1.0, -1.0], [0.0, 0.0]) == (0.0, 0), kind


def test_min_agreement_of_weighted_average_and_majority_vote() -> None:
    # weighted_average: buy 0.8 x 3 = 2.4, sell 0.5 x 1 = 0.5 → target (2.4 - 0.5) / 4 = 0.475, agreement 2.4 / 2.9
    values, weights = [0.8, -0.5], [3.0, 1.0]
    assert _one_column(WeightedAverage(min_agreement=0.82), values, weights)[0] == pytest.approx(0.475)
    assert _one_column(WeightedAverage(min_agreement=0.83), values, weights) == (0.0, 0)
    # majority_vote: long weight 3 of 4, agreement 3 / (3 + 1) = 0.75
    assert _one_column(MajorityVote(min_agreement=0.75), values, weights)[0] == pytest.approx(0.75)
    assert _one_column(MajorityVote(min_agreement=0.76), values, weights) == (0.0, 0)


def test_min_signals_needs_that_many_contributors() -> None:
    assert _one_column(Weighted(min_signals=2), [0.7, NAN], [1.0, 1.0]) == (0.0, 0)
    assert _one_column(Weighted(min_signals=2), [0.7, 0.1], [1.0, 1.0])[0] == pytest.approx(0.4)


def test_columns_pick_their_regime_row_of_the_weight_table() -> None:
    values = np.array([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]])
    table = np.array([[1.0, 1.0],    # unknown: equal, a tie → flat
                      [3.0, 1.0],    # regime 0: the long side outweighs
                      [0.0, 2.0]])   # regime 1: only the short strategy counts
    target, bits = Weighted().targets(values, table, np.array([-1, 0, 1], dtype=np.int64))
    np.testing.assert_allclose(target, [0.0, 3.0 / 4.0, -1.0])
    assert list(bits) == [0, 0b01, 0b10]


def test_weight_table_maps_regimes_and_zeroes_strategies_it_leaves_out() -> None:
    book = PortfolioConfig.model_validate({
        "name": "p", "capital": 1000, "weights": {"high_volatility": {"b": 0.25}},
        "strategies": [{"name": "a", "type": "breakout", "weight": 2.0}, {"name": "b", "type": "breakout"}]})
    table = weight_table(book.strategies, ("low_volatility", "high_volatility"), book.weights)
    np.testing.assert_array_equal(table, [[2.0, 1.0], [2.0, 1.0], [0.0, 0.25]])


def test_hold_keeps_the_last_signal_and_forgets_it_outside_the_regime() -> None:
    raw = np.array([NAN, 1.0, NAN, NAN, -0.5, NAN, NAN, NAN, 0.0, NAN])
    active = np.array([True, True, True, False, True, True, False, True, True, True])
    expected = [NAN, 1.0, 1.0, NAN, -0.5, -0.5, NAN, NAN, 0.0, 0.0]
    np.testing.assert_array_equal(hold(raw, active, np.empty(len(raw))), expected)


def test_contributor_names_follow_config_order() -> None:
    assert contributor_names(0b101, ["a", "b", "c"]) == "a+c"
    assert contributor_names(0.0, ["a"]) == ""
    assert contributor_names(2.0 ** 51, [f"s{i}" for i in range(52)]) == "s51"
