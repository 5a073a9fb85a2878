"""IndicatorHub: computes every indicator the hierarchy needs exactly once, and serves it causally."""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from containers.bus import ScopedEventBus
from containers.components.indicators import INDICATORS, IndicatorSpec, compute
from containers.components.rules import Input
from containers.data.market import PRICE_FIELDS, MarketData
from containers.events import Bar, Indicator

TRIAL_CACHE_BYTES = 512 * 2**20  # what a trial worker keeps of the indicators it computes itself


class FutureAccessError(RuntimeError):
    """A component asked for a value of a bar that has not happened yet."""


def plan(inputs: Iterable[Input]) -> list[IndicatorSpec]:
    """The distinct indicators behind a set of inputs, in a stable order."""
    return sorted({item.spec for item in inputs if item.spec is not None})


class IndicatorHub:
    """Holds (bars, symbols) arrays of prices and indicators; per bar it serves only bars <= the current one."""

    def __init__(self, data: MarketData, specs: Iterable[IndicatorSpec],
                 precomputed: Mapping[str, np.ndarray] | None = None, cache_bytes: int | None = None) -> None:
        """`cache_bytes` bounds what the hub computes itself (not what it was given): beyond it, the
        indicators used longest ago are dropped, and computed again if asked for again."""
        self.data = data
        self.computations: Counter[str] = Counter()
        self.arrays: dict[str, np.ndarray] = {name: data.field(name) for name in PRICE_FIELDS}
        self.arrays.update(precomputed or {})
        self._indicator_keys = [key for key in self.arrays if key not in PRICE_FIELDS]
        self.cache_bytes = cache_bytes
        self._computed: OrderedDict[IndicatorSpec, tuple[list[str], int]] = OrderedDict()  # least recent first
        self.ensure(specs)
        self.current_bar = -1
        self._bus: ScopedEventBus | None = None

    def ensure(self, specs: Iterable[IndicatorSpec]) -> None:
        """Computes each indicator not held yet (once); what is held already is reused as it is.

        Costs O(what is asked for), whatever the number of indicators held.
        """
        asked, added = [], False
        for spec in specs:
            asked.append(spec)
            if spec in self._computed:
                self._computed.move_to_end(spec)
            elif spec.output(_first_output(spec)) not in self.arrays:
                outputs = compute(spec, self.data)
                self.arrays.update(outputs)
                self._indicator_keys.extend(outputs)
                self._computed[spec] = (list(outputs), sum(array.nbytes for array in outputs.values()))
                self.computations[spec.key] += 1
                added = True
        if added and self.cache_bytes is not None:
            self._evict(set(asked))

    def _evict(self, keep: set[IndicatorSpec]) -> None:
        held = sum(size for _, size in self._computed.values())
        for spec in list(self._computed):
            if held <= (self.cache_bytes or 0):
                break
            if spec in keep:
                continue
            keys, size = self._computed.pop(spec)
            for key in keys:
                del self.arrays[key]
            self._indicator_keys = [key for key in self._indicator_keys if key not in keys]
            held -= size

    @property
    def computed_bytes(self) -> int:
        """Memory of the indicators this hub computed itself and still holds."""
        return sum(size for _, size in self._computed.values())

    def attach(self, bus: ScopedEventBus) -> None:
        """Listens for BAR and answers with one INDICATOR event per bar."""
        self._bus = bus
        bus.subscribe(Bar, self.on_bar)

    def on_bar(self, bar: Bar) -> None:
        self.current_bar = bar.bar_index
        if self._bus is not None:
            values = {key: self.arrays[key][bar.bar_index] for key in self._indicator_keys}
            self._bus.publish(Indicator(bar.bar_index, values))

    def values_at(self, inputs: Mapping[str, Input], symbol: int, bar_index: int) -> dict[str, float]:
        """Each input's value for one symbol at one bar; NaN before the first bar."""
        if bar_index > self.current_bar:
            raise FutureAccessError(f"bar {bar_index} requested while the hub is at bar {self.current_bar}")
        if bar_index < 0:
            return {role: float("nan") for role in inputs}
        return {role: float(self.arrays[item.key][bar_index, symbol]) for role, item in inputs.items()}

    def columns(self, inputs: Mapping[str, Input], symbol: int, lag: int = 0) -> Mapping[str, np.ndarray]:
        """Whole columns of one symbol, shifted by `lag` bars (NaN-padded), for vectorized rules.

        Columns are made when a rule reads them, so a rule that never looks back pays nothing for `prev`.
        """
        return LazyColumns(self.arrays, inputs, symbol, lag)


class LazyColumns(Mapping[str, np.ndarray]):
    """role → a hub column of one symbol, lagged by `lag` bars, built on first access."""

    def __init__(self, arrays: Mapping[str, np.ndarray], inputs: Mapping[str, Input], symbol: int, lag: int) -> None:
        self._arrays, self._inputs, self._symbol, self._lag = arrays, inputs, symbol, lag

    def __getitem__(self, role: str) -> np.ndarray:
        column = self._arrays[self._inputs[role].key][:, self._symbol]
        if self._lag == 0:
            return column
        return np.concatenate([np.full(self._lag, np.nan), column[: -self._lag]])

    def __iter__(self) -> Iterator[str]:
        return iter(self._inputs)

    def __len__(self) -> int:
        return len(self._inputs)


def _first_output(spec: IndicatorSpec) -> str:
    return INDICATORS[spec.kind].outputs[0]
