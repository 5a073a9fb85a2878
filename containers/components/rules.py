"""What strategies and classifiers share: named inputs from the hub, and rules over them.

A rule is a pure function of the inputs at bar t (`now`) and bar t-1 (`prev`). The same function runs
on scalars, one bar at a time (event engine), and on whole columns at once (fast engine), so both
engines give one meaning. Inputs are either a price field ('close') or an indicator output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from containers.components.indicators import IndicatorSpec

Value = float | np.ndarray
Inputs = Mapping[str, Value]


@dataclass(frozen=True)
class Input:
    """One input of a rule: a price field, or one output of an indicator."""

    spec: IndicatorSpec | None = None
    output: str | None = None
    price: str = "close"

    @cached_property
    def key(self) -> str:
        return self.price if self.spec is None else self.spec.output(self.output)


def price(field: str = "close") -> Input:
    return Input(price=field)


def indicator(kind: str, *params: float, output: str | None = None) -> Input:
    return Input(spec=IndicatorSpec(kind, tuple(float(p) for p in params)), output=output)


def valid(*values: Value) -> Value:
    """True where every value is a number (warm-up NaN makes a rule say nothing)."""
    mask = np.isfinite(values[0])
    for value in values[1:]:
        mask = mask & np.isfinite(value)
    return mask


def when(mask: Value, value: Value) -> Value:
    """`value` where `mask`, else NaN (no opinion)."""
    return np.where(mask, value, np.nan)
