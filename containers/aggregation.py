"""Signal aggregation: the signals of a portfolio's strategies for one symbol become one target.

Per bar, each strategy of the portfolio has a standing signal for the symbol (the last value its rule
gave since it last entered its regimes; see `hold`) or none: it abstains (outside its regimes, still
warming up, or not trading the symbol). The portfolio's aggregator combines the standing signals of
the contributing strategies, each with its weight (per regime when the portfolio has a weight map),
into one target: a signed strength in [-1, 1], 0 = flat. With no contributor, or no agreement, the
target is flat. The RiskManager turns target minus position into orders.

Aggregators are compiled functions over (strategies, columns) arrays: the fast engine calls them on
whole columns of bars, the event engine on one bar's column per symbol, so both give the same floats.
A new aggregator is one registered class in this file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from numba import njit
from pydantic import Field

from containers import CACHE_COMPILED
from containers.registry import Registry
from containers.strict import StrictModel

AGGREGATORS: Registry[StrictModel] = Registry("aggregator")
MAX_STRATEGIES = 52  # contributors are kept as bits of a float64 (exact up to 2**53)


@njit(cache=CACHE_COMPILED, error_model="numpy")
def hold(raw: np.ndarray, active: np.ndarray, standing: np.ndarray) -> np.ndarray:
    """Standing signal per bar, into `standing`: the last non-NaN rule value since the strategy last
    became active.

    `raw` is the rule's value per bar (NaN = nothing new), `active` whether the bar is inside the
    strategy's regimes. Outside them the result is NaN (abstain), and a return to them starts with
    no standing signal: an entry needs a signal given inside the regime.
    """
    current = np.nan
    for t in range(raw.shape[0]):
        if not active[t]:
            current = np.nan
        elif not np.isnan(raw[t]):
            current = raw[t]
        standing[t] = current
    return standing


@njit(cache=CACHE_COMPILED, error_model="numpy", inline="always")
def _tally(values: np.ndarray, weights: np.ndarray, row: int, column: int) -> tuple:
    """Sums over the contributing strategies of one column, in strategy order.

    (count, total weight, buy = sum strength x weight of longs, sell = the same of shorts,
    weight long, weight short, weight flat, number long, number short, long bits, short bits, first).
    """
    count, n_up, n_down, first = 0, 0, 0, -1
    total, buy, sell, up, down, flat, up_bits, down_bits = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    for s in range(values.shape[0]):
        value, weight = values[s, column], weights[row, s]
        if np.isnan(value) or weight <= 0.0:
            continue
        if first < 0:
            first = s
        count += 1
        total += weight
        if value > 0.0:
            buy += value * weight
            up += weight
            n_up += 1
            up_bits += float(1 << s)
        elif value < 0.0:
            sell += -value * weight
            down += weight
            n_down += 1
            down_bits += float(1 << s)
        else:
            flat += weight
    return count, total, buy, sell, up, down, flat, n_up, n_down, up_bits, down_bits, first


@njit(cache=CACHE_COMPILED, error_model="numpy")
def combine_weighted(values: np.ndarray, weights: np.ndarray, codes: np.ndarray, min_agreement: float,
                     min_signals: int, target: np.ndarray, bits: np.ndarray) -> None:
    """Reference design §2.2: the larger of the buy and sell sums wins; strength = it / total weight."""
    for c in range(values.shape[1]):
        count, total, buy, sell, _, _, _, _, _, up_bits, down_bits, _ = _tally(values, weights, codes[c] + 1, c)
        target[c], bits[c] = 0.0, 0.0
        if count == 0 or count < min_signals or buy == sell:
            continue
        win, side, winners = (buy, 1.0, up_bits) if buy > sell else (sell, -1.0, down_bits)
        if min_agreement == 0.0 or win / (buy + sell) >= min_agreement:  # agreement > 0 always passes 0
            target[c], bits[c] = side * (win / total), winners


@njit(cache=CACHE_COMPILED, error_model="numpy")
def combine_weighted_average(values: np.ndarray, weights: np.ndarray, codes: np.ndarray, min_agreement: float,
                             min_signals: int, target: np.ndarray, bits: np.ndarray) -> None:
    """Signed strengths averaged by weight: (buy - sell) / total weight."""
    for c in range(values.shape[1]):
        count, total, buy, sell, _, _, _, _, _, up_bits, down_bits, _ = _tally(values, weights, codes[c] + 1, c)
        target[c], bits[c] = 0.0, 0.0
        if count == 0 or count < min_signals or buy == sell:
            continue
        win, winners = (buy, up_bits) if buy > sell else (sell, down_bits)
        if min_agreement == 0.0 or win / (buy + sell) >= min_agreement:
            target[c], bits[c] = (buy - sell) / total, winners


@njit(cache=CACHE_COMPILED, error_model="numpy")
def combine_majority_vote(values: np.ndarray, weights: np.ndarray, codes: np.ndarray, min_agreement: float,
                          min_signals: int, target: np.ndarray, bits: np.ndarray) -> None:
    """Each contributor votes long, short or flat with its weight; the strict plurality wins (a tie: flat);
    strength = the winning vote share."""
    for c in range(values.shape[1]):
        count, total, _, _, up, down, flat, _, _, up_bits, down_bits, _ = _tally(values, weights, codes[c] + 1, c)
        target[c], bits[c] = 0.0, 0.0
        if count == 0 or count < min_signals:
            continue
        if up > down and up > flat:
            win, side, winners = up, 1.0, up_bits
        elif down > up and down > flat:
            win, side, winners = down, -1.0, down_bits
        else:
            continue
        if min_agreement == 0.0 or win / (up + down) >= min_agreement:
            target[c], bits[c] = side * (win / total), winners


@njit(cache=CACHE_COMPILED, error_model="numpy")
def combine_unanimous(values: np.ndarray, weights: np.ndarray, codes: np.ndarray, min_agreement: float,
                      min_signals: int, target: np.ndarray, bits: np.ndarray) -> None:
    """A direction only when every contributor has it; strength = their weighted mean strength."""
    for c in range(values.shape[1]):
        count, total, buy, sell, _, _, _, n_up, n_down, up_bits, down_bits, _ = _tally(values, weights,
                                                                                     codes[c] + 1, c)
        target[c], bits[c] = 0.0, 0.0
        if count == 0 or count < min_signals:
            continue
        if n_up == count:
            target[c], bits[c] = buy / total, up_bits
        elif n_down == count:
            target[c], bits[c] = -(sell / total), down_bits


@njit(cache=CACHE_COMPILED, error_model="numpy")
def combine_first(values: np.ndarray, weights: np.ndarray, codes: np.ndarray, min_agreement: float,
                  min_signals: int, target: np.ndarray, bits: np.ndarray) -> None:
    """The first contributing strategy, in config order, decides alone."""
    for c in range(values.shape[1]):
        count, _, _, _, _, _, _, _, _, _, _, first = _tally(values, weights, codes[c] + 1, c)
        target[c], bits[c] = 0.0, 0.0
        if count == 0 or count < min_signals:
            continue
        value = values[first, c]
        if value != 0.0:
            target[c], bits[c] = value, float(1 << first)


class Aggregation(StrictModel):
    """Options every aggregator has; `combine` is its compiled function."""

    min_agreement: float = Field(default=0.0, ge=0, le=1)
    min_signals: int = Field(default=1, ge=1, le=MAX_STRATEGIES)
    combine: ClassVar[Callable[..., None]]

    def targets(self, values: np.ndarray, weights: np.ndarray, codes: np.ndarray,
                out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(target, contributor bits) per column of `values` (strategies, columns), into `out` if given;
        `codes` are the regime codes of the columns (-1 = unknown), selecting rows `codes + 1` of `weights`."""
        target, bits = out if out is not None else (np.empty(values.shape[1]), np.empty(values.shape[1]))
        type(self).combine(values, weights, codes, self.min_agreement, self.min_signals, target, bits)
        return target, bits


@AGGREGATORS.register()
class Weighted(Aggregation):
    """buy/sell sums of strength x weight; the larger side wins with strength = it / total weight,
    agreement = it / (buy + sell)."""

    type: Literal["weighted"] = "weighted"
    combine = combine_weighted


@AGGREGATORS.register()
class WeightedAverage(Aggregation):
    type: Literal["weighted_average"] = "weighted_average"
    combine = combine_weighted_average


@AGGREGATORS.register()
class MajorityVote(Aggregation):
    type: Literal["majority_vote"] = "majority_vote"
    combine = combine_majority_vote


@AGGREGATORS.register()
class Unanimous(Aggregation):
    type: Literal["unanimous"] = "unanimous"
    combine = combine_unanimous


@AGGREGATORS.register()
class First(Aggregation):
    type: Literal["first"] = "first"
    combine = combine_first


AggregationConfig = AGGREGATORS.union()


def weight_table(strategies: Sequence[Any], labels: tuple[str, ...],
                 by_regime: dict[str, dict[str, float]] | None) -> np.ndarray:
    """(1 + regimes, strategies) weights: row 0 for 'unknown', row r + 1 for labels[r].

    A regime of the map gives its strategies their mapped weight and every other strategy 0; a regime
    outside the map uses each strategy's own `weight`.
    """
    own = np.array([strategy.weight for strategy in strategies], dtype=np.float64)
    table = np.tile(own, (1 + len(labels), 1))
    names = [strategy.name for strategy in strategies]
    for regime, weights in (by_regime or {}).items():
        row = 0 if regime == "unknown" else 1 + labels.index(regime)
        table[row] = [float(weights.get(name, 0.0)) for name in names]
    return table


def active_table(strategies: Sequence[Any], labels: tuple[str, ...], weights: np.ndarray) -> np.ndarray:
    """(strategies, 1 + regimes) booleans: where a strategy may contribute, inside its `regimes` and
    weighted above 0 there (column 0 'unknown', column r + 1 labels[r]); elsewhere it abstains and
    forgets its signal, whichever of the two says so."""
    regimes = ("unknown", *labels)
    inside = np.array([[strategy.regimes is None or regime in strategy.regimes for regime in regimes]
                       for strategy in strategies], dtype=np.bool_)
    return inside & (weights.T > 0)


def contributor_names(bits: float, names: Sequence[str]) -> str:
    """'a+b' for the strategies whose bits are set, in config order ('' for none)."""
    mask = int(bits)
    return "+".join(name for s, name in enumerate(names) if mask >> s & 1)
