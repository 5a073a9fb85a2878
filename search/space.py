"""Search spaces: parameter ranges and choices by dotted path, constraints between them, grid and random points.

A path names one value of the experiment: `<portfolio>.<strategy>.<param>`, `<portfolio>.sizer.<field>`
or `<classifier>.<param>`. Points are plain dicts {path: value}.
"""

from __future__ import annotations

import itertools
import math
import operator
import random
import re
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from pydantic import BeforeValidator, Discriminator, Field, Tag, model_validator

from containers.strict import StrictModel

Scalar = int | float | str | bool
MAX_LISTED_GRID = 1_000_000  # a grid up to this size is listed (and sampled from); beyond, only sampled
MAX_GRID_DRAWS_PER_TRIAL = 100  # draws per wanted point before a too-constrained huge grid is refused


class Range(StrictModel):
    """Numbers from low to high, every `step` apart if given, on a log scale with `log`.

    Whole numbers or not follows the parameter the range sweeps (an experiment resolves `integer`
    from it: a strategy's `period` gets ints, its `num_std` floats, whatever the bounds look like);
    `integer: true` asks for whole numbers explicitly. A range on its own, unresolved, is whole when
    low, high and step are whole and it is not on a log scale.
    """

    low: float
    high: float
    step: float | None = Field(default=None, gt=0)
    log: bool = False
    integer: bool | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale range needs low > 0")
        if self.log and self.step is not None:
            raise ValueError("give either step or log, not both")
        if self.integer and not self.whole():
            raise ValueError("integer: true needs whole numbers for low, high and step")
        return self

    def whole(self) -> bool:
        """Whether low, high and step are whole numbers."""
        return all(float(value).is_integer() for value in (self.low, self.high, self.step or 1))

    @property
    def is_int(self) -> bool:
        if self.integer is not None:
            return self.integer
        return self.whole() and not self.log

    def count(self) -> int | None:
        """How many values a discrete range has (without listing them); None for a continuous one."""
        if self.is_int:
            return (int(self.high) - int(self.low)) // int(self.step or 1) + 1
        if self.step is None:
            return None
        return math.floor((self.high - self.low) / self.step + 1e-9) + 1

    def value_at(self, index: int) -> Scalar:
        if self.is_int:
            return int(self.low) + index * int(self.step or 1)
        assert self.step is not None
        return round(self.low + index * self.step, 12)

    def values(self) -> list[Scalar] | None:
        """Every value of a discrete range (ints, or floats with a step); None for a continuous one.
        Lists as many as `count()` says: callers check the count before asking for a huge range."""
        count = self.count()
        return None if count is None else [self.value_at(i) for i in range(count)]

    def sample(self, rng: random.Random) -> Scalar:
        if self.is_int and self.log:  # log-uniform, rounded to a whole number inside the range
            drawn = round(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
            return min(max(drawn, int(self.low)), int(self.high))
        count = self.count()
        if count is not None:  # the same draw as rng.choice over the values, without listing them
            return self.value_at(rng.randrange(count))
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.uniform(self.low, self.high)


def _choices(value: Any) -> Any:
    return {"choices": value} if isinstance(value, list) else value


class Choice(StrictModel):
    choices: list[Scalar] = Field(min_length=1, max_length=1_000_000)

    @model_validator(mode="after")
    def _distinct(self) -> Choice:
        seen: set[tuple[type, Scalar]] = set()
        for value in self.choices:
            if (type(value), value) in seen:
                raise ValueError(f"{value!r} is listed twice; list each value once")
            seen.add((type(value), value))
        return self

    def count(self) -> int:
        return len(self.choices)

    def value_at(self, index: int) -> Scalar:
        return self.choices[index]

    def values(self) -> list[Scalar]:
        return list(self.choices)

    def sample(self, rng: random.Random) -> Scalar:
        return rng.choice(self.choices)


def _kind(value: Any) -> str:
    """Which model a space entry is: a list or {choices: ...} is a Choice, anything else a Range (so a
    range's mistakes are reported as a range's, not as unknown keys of a Choice)."""
    if isinstance(value, Choice) or (isinstance(value, dict) and "choices" in value):
        return "choice"
    return "range"


ParameterSpec = Annotated[Annotated[Choice, Tag("choice")] | Annotated[Range, Tag("range")],
                          Discriminator(_kind), BeforeValidator(_choices)]

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq, "!=": operator.ne}
_CONSTRAINT = re.compile(r"^\s*([\w.\-]+)\s*(<=|>=|==|!=|<|>)\s*([\w.\-]+)\s*$")


class Constraint:
    """`left op right`, each side a parameter path or a number, e.g. 'book.xo.fast < book.xo.slow'."""

    def __init__(self, text: str) -> None:
        match = _CONSTRAINT.match(text)
        if match is None:
            raise ValueError(f"constraint '{text}' is not 'a < b' (operators: <, <=, >, >=, ==, !=)")
        self.text = text
        self.left, self.op, self.right = match.group(1), match.group(2), match.group(3)

    def paths(self) -> list[str]:
        return [side for side in (self.left, self.right) if not _is_number(side)]

    def _sides(self, point: dict[str, Scalar], base: Callable[[str], Any]) -> tuple[Any, Any]:
        def value(side: str) -> Any:
            if _is_number(side):
                return float(side)
            return point[side] if side in point else base(side)

        return value(self.left), value(self.right)

    def holds(self, point: dict[str, Scalar], base: Callable[[str], Any]) -> bool:
        return bool(_COMPARISONS[self.op](*self._sides(point, base)))

    def violation(self, point: dict[str, Scalar], base: Callable[[str], Any]) -> float:
        """0 when the constraint holds, else how far it is broken (1 + the gap between numeric sides), the
        value Optuna's samplers rank infeasible trials by (closer to feasible is better)."""
        if self.holds(point, base):
            return 0.0
        left, right = self._sides(point, base)
        numeric = all(isinstance(side, int | float) and not isinstance(side, bool) for side in (left, right))
        return 1.0 + abs(float(left) - float(right)) if numeric else 1.0


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class SearchSpace:
    """Parameters by path, and the constraints every point must satisfy."""

    MAX_RANDOM_TRIES = 10_000

    def __init__(self, parameters: dict[str, Choice | Range], constraints: list[Constraint],
                 base: Callable[[str], Any]) -> None:
        self.parameters = parameters
        self.constraints = constraints
        self.base = base  # the experiment's own value of a path not in the space

    def feasible(self, point: dict[str, Scalar]) -> bool:
        return all(constraint.holds(point, self.base) for constraint in self.constraints)

    def grid_size(self) -> int:
        """The number of points of the full grid (feasible or not), without listing them."""
        return math.prod(self._count(name) for name in self.parameters)

    def grid(self) -> Iterator[dict[str, Scalar]]:
        """Every combination of the parameters' values that satisfies the constraints, in product order
        (the last parameter changing fastest)."""
        names = list(self.parameters)
        axes = [self._axis(name) for name in names]
        for combination in itertools.product(*axes):
            point = dict(zip(names, combination, strict=True))
            if self.feasible(point):
                yield point

    def grid_plan(self, count: int | None, seed: int) -> list[dict[str, Scalar]]:
        """The grid's trials, in trial order.

        `count` None: the whole feasible grid, in product order. A `count`: that many feasible points
        (all, if the grid has fewer) in a seeded random order without replacement, so a capped grid is a
        uniform sample and not the corner the product order starts in; a larger count extends the order
        of a smaller one (`--extend`). A grid too large to list is only ever sampled, by drawing point
        numbers, so planning costs O(count), not O(size).
        """
        size = self.grid_size()
        rng = random.Random(f"grid:{seed}")
        if size <= MAX_LISTED_GRID:
            feasible = list(self.grid())
            if count is None:
                return feasible
            rng.shuffle(feasible)
            return feasible[:count]
        if count is None:
            raise ValueError(f"the grid has {size:,} points, too many to run them all; set sweep.n_trials to "
                             "sample that many of them, or coarsen the steps")
        chosen: dict[int, dict[str, Scalar]] = {}
        for _ in range(MAX_GRID_DRAWS_PER_TRIAL * count + 10_000):
            index = rng.randrange(size)
            if index not in chosen:
                point = self._point_at(index)
                if self.feasible(point):
                    chosen[index] = point
                    if len(chosen) == count:
                        return list(chosen.values())
        raise ValueError(f"only {len(chosen)} of {count} grid points drawn satisfy "
                         f"{[c.text for c in self.constraints]}; loosen the constraints or lower n_trials")

    def _axis(self, name: str) -> list[Scalar]:
        self._count(name)  # refuses a continuous range
        return self.parameters[name].values() or []

    def _count(self, name: str) -> int:
        count = self.parameters[name].count()
        if count is None:
            raise ValueError(f"sweep.space.{name}: a grid needs discrete values; give a step or a list")
        return count

    def _point_at(self, index: int) -> dict[str, Scalar]:
        """The grid point with this number in product order (mixed radix, the last parameter fastest)."""
        point: dict[str, Scalar] = {}
        for name in reversed(list(self.parameters)):
            index, digit = divmod(index, self._count(name))
            point[name] = self.parameters[name].value_at(digit)
        return {name: point[name] for name in self.parameters}

    def random_point(self, seed: int, number: int) -> dict[str, Scalar]:
        """The point of trial `number`: depends only on (seed, number), so any worker count gives the same."""
        rng = random.Random(f"{seed}:{number}")
        for _ in range(self.MAX_RANDOM_TRIES):
            point = {name: spec.sample(rng) for name, spec in self.parameters.items()}
            if self.feasible(point):
                return point
        raise ValueError(f"no point satisfying {[c.text for c in self.constraints]} found in "
                         f"{self.MAX_RANDOM_TRIES} draws; loosen the constraints or the ranges")

    def discrete_count(self, name: str) -> int | None:
        return self.parameters[name].count()

    def discrete_values(self, name: str) -> list[Scalar] | None:
        return self.parameters[name].values()


def distribution(spec: Choice | Range) -> BaseDistribution:
    """The Optuna distribution of one parameter."""
    if isinstance(spec, Choice):
        return CategoricalDistribution(spec.choices)
    if spec.is_int:
        return IntDistribution(int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log)
    return FloatDistribution(spec.low, spec.high, step=spec.step, log=spec.log)
