"""Scoped event buses: one per container, events flow down to children, never sideways to siblings.

All buses of one backtest share a Dispatcher, a first-in first-out queue, so that one phase of a bar
(every BAR delivery) finishes before the next (INDICATOR) starts, whatever the nesting. An order goes
up with `escalate`: only the ancestors' subscribers see it, never a sibling container.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

Handler = Callable[[Any], None]
Tracer = Callable[[str, Any], None]


class Dispatcher:
    """The queue all buses of one hierarchy share; `drain` delivers until nothing is left."""

    def __init__(self, tracer: Tracer | None = None) -> None:
        self._queue: deque[tuple[list[Handler], Any]] = deque()
        self.tracer = tracer

    def enqueue(self, bus_name: str, handlers: list[Handler], event: Any) -> None:
        if self.tracer is not None:
            self.tracer(bus_name, event)
        self._queue.append((handlers, event))

    def drain(self) -> None:
        while self._queue:
            handlers, event = self._queue.popleft()
            for handler in handlers:
                handler(event)


class ScopedEventBus:
    """A container's bus: subscribers here see events published here or by any ancestor."""

    def __init__(self, name: str, dispatcher: Dispatcher, parent: ScopedEventBus | None = None) -> None:
        self.name = name
        self.parent = parent
        self.children: list[ScopedEventBus] = []
        self._dispatcher = dispatcher
        self._handlers: dict[type, list[Handler]] = defaultdict(list)
        self._downward: dict[type, list[Handler]] = {}  # wiring is fixed once built; see subscribe
        if parent is not None:
            parent.children.append(self)
            parent._forget_downward()

    def child(self, name: str) -> ScopedEventBus:
        return ScopedEventBus(f"{self.name}/{name}", self._dispatcher, self)

    def subscribe(self, event_type: type, handler: Handler) -> None:
        self._handlers[event_type].append(handler)
        self._forget_downward()

    def _forget_downward(self) -> None:
        bus: ScopedEventBus | None = self
        while bus is not None:
            bus._downward.clear()
            bus = bus.parent

    def publish(self, event: Any) -> None:
        """Delivers to this bus's subscribers, then to every descendant's, in creation order."""
        event_type = type(event)
        handlers = self._downward.get(event_type)
        if handlers is None:
            handlers = []
            self._collect_down(event_type, handlers)
            self._downward[event_type] = handlers
        self._dispatcher.enqueue(self.name, handlers, event)

    def escalate(self, event: Any) -> None:
        """Delivers to this bus's and its ancestors' subscribers only (e.g. ORDER up to the engine)."""
        handlers: list[Handler] = []
        bus: ScopedEventBus | None = self
        while bus is not None:
            handlers.extend(bus._handlers.get(type(event), ()))
            bus = bus.parent
        self._dispatcher.enqueue(self.name, handlers, event)

    def _collect_down(self, event_type: type, into: list[Handler]) -> None:
        into.extend(self._handlers.get(event_type, ()))
        for child in self.children:
            child._collect_down(event_type, into)
