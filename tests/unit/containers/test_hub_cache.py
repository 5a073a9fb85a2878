"""The IndicatorHub's own cache: bounded by bytes (least recently used dropped first), recomputing what
it dropped to the same values, never touching what it was given."""

import numpy as np

from containers.components.indicators import IndicatorSpec, compute
from containers.data.config import SyntheticData
from containers.data.synthetic import generate_synthetic
from containers.hub import IndicatorHub

DATA = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=2_000, seed=9))
ONE = DATA.n_bars * DATA.n_symbols * 8  # bytes of one single-output indicator


def sma(period: int) -> IndicatorSpec:
    return IndicatorSpec("sma", (period,))


def test_the_cache_stays_within_its_bytes_and_drops_the_least_recently_used() -> None:
    given = compute(sma(3), DATA)
    hub = IndicatorHub(DATA, [], precomputed=given, cache_bytes=5 * ONE)
    for period in range(10, 40):
        hub.ensure([sma(period)])
        hub.ensure([sma(10)])  # kept in use: never the least recent
        assert hub.computed_bytes <= 5 * ONE
    assert {"sma_10", "sma_39", "sma_3"} <= set(hub.arrays) and "sma_20" not in hub.arrays
    assert "sma_3" in hub.arrays  # what the hub was given is never dropped
    hub.ensure([sma(20)])  # dropped before: computed again, to the same values
    np.testing.assert_array_equal(hub.arrays["sma_20"], compute(sma(20), DATA)["sma_20"])
    assert hub.computations["sma_20"] == 2


def test_what_one_request_needs_stays_even_beyond_the_budget() -> None:
    hub = IndicatorHub(DATA, [], cache_bytes=ONE)
    wanted = [sma(period) for period in (5, 6, 7)]
    hub.ensure(wanted)
    assert all(spec.key in hub.arrays for spec in wanted)  # a request is never cut short
    hub.ensure([sma(8)])
    assert "sma_8" in hub.arrays and hub.computed_bytes == ONE  # the others are dropped now


def test_without_a_budget_nothing_is_dropped() -> None:
    hub = IndicatorHub(DATA, [])
    hub.ensure([sma(period) for period in range(2, 30)])
    assert hub.computed_bytes == 28 * ONE
