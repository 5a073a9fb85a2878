"""Registries: the components of each extension point (strategy, classifier, sizer, limit, cost model,
aggregator), by the `type` a config names them with.

A component is added in one file: its class, registered with the point's decorator. The config
unions, the path lookup, both engines and the contract tests all read the registry, so nothing else
lists component kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, Generic, TypeVar, Union

from pydantic import Field

T = TypeVar("T")


class Registry(Generic[T]):
    """kind → component class for one extension point, in registration order."""

    def __init__(self, point: str) -> None:
        self.point = point
        self._kinds: dict[str, type[T]] = {}

    def register(self, kind: str | None = None) -> Callable[[type[T]], type[T]]:
        """Class decorator; `kind` defaults to the class's `type` field (a Literal with a default)."""

        def add(cls: type[T]) -> type[T]:
            name = kind or cls.model_fields["type"].default  # type: ignore[attr-defined]
            if name in self._kinds:
                raise ValueError(f"{self.point} '{name}' is registered twice")
            self._kinds[name] = cls
            return cls

        return add

    def __getitem__(self, kind: str) -> type[T]:
        return self._kinds[kind]

    def __contains__(self, kind: object) -> bool:
        return kind in self._kinds

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def items(self) -> list[tuple[str, type[T]]]:
        return list(self._kinds.items())

    def union(self) -> Any:
        """A pydantic discriminated union (on `type`) over every registered class."""
        classes = tuple(self._kinds.values())
        if len(classes) == 1:  # a discriminator needs a union of two or more
            return classes[0]
        return Annotated[Union[classes], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
