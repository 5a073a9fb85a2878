"""Search spaces: discrete values, grids under constraints, seeded random points."""

import random

import pytest

from search.space import Choice, Constraint, Range, SearchSpace


def test_range_values() -> None:
    assert Range(low=5, high=20, step=5).values() == [5, 10, 15, 20]
    assert Range(low=1, high=3).values() == [1, 2, 3]
    assert Range(low=0.5, high=1.5, step=0.25).values() == [0.5, 0.75, 1.0, 1.25, 1.5]
    assert Range(low=0.1, high=0.5).values() is None  # continuous
    assert Range(low=1, high=100, log=True).values() is None
    with pytest.raises(ValueError, match="high"):
        Range(low=5, high=1)


def test_grid_respects_constraints_in_a_fixed_order() -> None:
    space = SearchSpace({"a.b.fast": Range(low=10, high=30, step=10), "a.b.slow": Choice(choices=[20, 30])},
                        [Constraint("a.b.fast < a.b.slow")], base=lambda path: None)
    assert list(space.grid()) == [{"a.b.fast": 10, "a.b.slow": 20}, {"a.b.fast": 10, "a.b.slow": 30},
                                  {"a.b.fast": 20, "a.b.slow": 30}]


def test_constraint_against_the_experiments_own_value_and_numbers() -> None:
    space = SearchSpace({"a.b.fast": Choice(choices=[5, 50])}, [Constraint("a.b.fast < a.b.slow"),
                                                                Constraint("a.b.fast >= 5")],
                        base=lambda path: {"a.b.slow": 30}[path])
    assert list(space.grid()) == [{"a.b.fast": 5}]
    with pytest.raises(ValueError, match="is not 'a < b'"):
        Constraint("a.b.fast << 3")


def test_random_points_depend_only_on_seed_and_number() -> None:
    space = SearchSpace({"p.s.x": Range(low=0.0, high=1.0), "p.s.n": Range(low=1, high=100, step=1),
                         "p.s.k": Choice(choices=["sma", "ema"])}, [Constraint("p.s.x < 0.5")], base=lambda p: None)
    first = [space.random_point(7, n) for n in range(50)]
    assert [space.random_point(7, n) for n in reversed(range(50))] == list(reversed(first))
    assert all(point["p.s.x"] < 0.5 and point["p.s.n"] in range(1, 101) for point in first)
    assert first != [space.random_point(8, n) for n in range(50)]
    impossible = SearchSpace({"p.s.x": Range(low=0.0, high=1.0)}, [Constraint("p.s.x > 2")], base=lambda p: None)
    with pytest.raises(ValueError, match="no point satisfying"):
        impossible.random_point(1, 0)


def _big_space(constraints: list[str] | None = None) -> SearchSpace:
    return SearchSpace({"a": Range(low=1, high=100), "b": Range(low=1, high=100)},
                       [Constraint(text) for text in constraints or []], lambda path: 0)


def test_a_capped_grid_is_a_seeded_uniform_sample_not_the_first_corner() -> None:
    space = _big_space(["a < b"])
    whole = list(space.grid())  # product order: a=1 first, for every b
    plan = space.grid_plan(30, seed=4)
    assert len(plan) == 30 and len({tuple(p.values()) for p in plan}) == 30  # without replacement
    assert all(space.feasible(point) for point in plan)
    assert plan != whole[:30] and max(point["a"] for point in plan) > 30  # not the a=1.. corner
    assert space.grid_plan(45, seed=4)[:30] == plan  # a larger cap extends the same order (--extend)
    assert space.grid_plan(30, seed=5) != plan
    assert space.grid_plan(None, seed=4) == whole  # uncapped: every point, product order
    small = SearchSpace({"a": Range(low=1, high=20), "b": Range(low=1, high=20)}, [Constraint("a < b")],
                        lambda path: 0)
    points = list(small.grid())
    firsts = [point["a"] for seed in range(400) for point in small.grid_plan(1, seed)]
    mean = sum(point["a"] for point in points) / len(points)  # a uniform draw's expectation: 7.33
    spread = (sum((point["a"] - mean) ** 2 for point in points) / len(points)) ** 0.5
    assert abs(sum(firsts) / len(firsts) - mean) < 3.5 * spread / 400 ** 0.5  # product order's first: a=1


def test_a_huge_grid_is_sampled_by_point_number_without_listing_it() -> None:
    space = SearchSpace({"a": Range(low=0, high=10**9), "b": Range(low=0, high=10**9)},
                        [Constraint("a < b")], lambda path: 0)
    assert space.grid_size() == (10**9 + 1) ** 2
    plan = space.grid_plan(5, seed=1)
    assert len(plan) == 5 and all(point["a"] < point["b"] for point in plan)
    assert space.grid_plan(5, seed=1) == plan
    with pytest.raises(ValueError, match="too many to run them all"):
        space.grid_plan(None, seed=1)


def test_a_random_point_of_a_huge_range_is_drawn_without_listing_it() -> None:
    huge = Range(low=0, high=10**12)
    assert huge.count() == 10**12 + 1
    assert huge.sample(random.Random(3)) == random.Random(3).randrange(10**12 + 1)  # rng.choice's draw


def test_violation_grows_with_the_gap() -> None:
    constraint = Constraint("a < b")
    assert constraint.violation({"a": 1, "b": 2}, lambda path: 0) == 0.0
    assert constraint.violation({"a": 5, "b": 2}, lambda path: 0) == 4.0
    assert constraint.violation({"a": 9, "b": 2}, lambda path: 0) > constraint.violation({"a": 5, "b": 2},
                                                                                          lambda path: 0)


def test_a_whole_log_range_draws_log_uniform_whole_numbers() -> None:
    spec = Range(low=1, high=10_000, log=True, integer=True)
    draws = [spec.sample(random.Random(seed)) for seed in range(2000)]
    assert all(isinstance(value, int) and 1 <= value <= 10_000 for value in draws)
    below_100 = sum(value < 100 for value in draws) / len(draws)
    assert 0.45 < below_100 < 0.55  # log-uniform: half the draws below the geometric middle (uniform: 1%)
