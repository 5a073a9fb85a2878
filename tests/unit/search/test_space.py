"""Search spaces: discrete values, grids under constraints, seeded random points."""

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
