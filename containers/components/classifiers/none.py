"""The `none` classifier: one regime on every bar."""

from __future__ import annotations

from typing import ClassVar

from containers.components.classifiers import CLASSIFIERS
from containers.components.rules import Input, Inputs, Value
from containers.strict import StrictModel


@CLASSIFIERS.register("none")
class NoRegime(StrictModel):
    """One regime, 'all', on every bar: for hierarchies that do not switch on regimes."""

    labels: ClassVar[tuple[str, ...]] = ("all",)
    symbol: str | None = None

    def inputs(self) -> dict[str, Input]:
        return {}

    def regime(self, now: Inputs, prev: Inputs) -> Value:
        return 0
