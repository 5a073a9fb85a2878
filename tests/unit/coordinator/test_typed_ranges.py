"""A sweep range takes the type of the parameter it sweeps."""

from typing import Any

import pytest

from containers.errors import ConfigError
from coordinator.config import parse_experiment
from search.space import Range, distribution

SPACE_BASE: dict[str, Any] = {
    "name": "typed", "type": "sweep",
    "data": {"synthetic": {"symbols": ["A"], "bars": 300, "seed": 1}},
    "classifiers": [{"name": "vol", "type": "volatility", "portfolios": [
        {"name": "book", "capital": 10_000,
         "strategies": [{"name": "mr", "type": "mean_reversion"}]}]}],
}


def _space(space: dict[str, Any], method: str = "random") -> dict[str, Any]:
    return parse_experiment({**SPACE_BASE, "sweep": {"method": method, "n_trials": 5, "space": space}},
                            "exp.yaml").sweep.space


def test_whole_bounds_on_a_float_parameter_are_a_continuous_range() -> None:
    spec = _space({"book.mr.num_std": {"low": 1, "high": 3}})["book.mr.num_std"]
    assert isinstance(spec, Range) and not spec.is_int and spec.values() is None
    assert distribution(spec).__class__.__name__ == "FloatDistribution"


def test_float_bounds_on_a_whole_parameter_give_whole_numbers() -> None:
    spec = _space({"book.mr.period": {"low": 5.0, "high": 9.0}})["book.mr.period"]
    assert isinstance(spec, Range) and spec.values() == [5, 6, 7, 8, 9]
    assert all(isinstance(value, int) for value in spec.values())


def test_integer_true_keeps_whole_numbers_on_a_float_parameter() -> None:
    spec = _space({"book.mr.num_std": {"low": 1, "high": 3, "integer": True}})["book.mr.num_std"]
    assert spec.values() == [1, 2, 3]


@pytest.mark.parametrize(("space", "needle"), [
    ({"book.mr.period": {"low": 5.5, "high": 9}}, "the parameter takes whole numbers"),
    ({"book.mr.period": {"low": 5, "high": 9, "step": 0.5}}, "takes whole numbers"),
    ({"book.mr.period": {"low": 5, "high": 9, "integer": False}}, "drop integer: false"),
])
def test_a_fractional_range_on_a_whole_parameter_is_refused(space: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as error:
        _space(space)
    assert str(error.value).startswith("exp.yaml: sweep.space.book.mr.period: ") and needle in str(error.value)


def test_a_grid_over_a_float_parameter_needs_a_step() -> None:
    with pytest.raises(ConfigError, match="method grid needs discrete values"):
        _space({"book.mr.num_std": {"low": 1, "high": 3}}, method="grid")
    assert _space({"book.mr.num_std": {"low": 1, "high": 3, "step": 0.5}}, method="grid")[
        "book.mr.num_std"].values() == [1.0, 1.5, 2.0, 2.5, 3.0]
