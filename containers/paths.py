"""Dotted paths to one value of a backtest config, and copies of a config with values set by path.

`<portfolio>.<strategy>.<param>`, `<portfolio>.sizer.<field>` or `<classifier>.<param>`; portfolio,
strategy and classifier names are unique, so a path names exactly one value.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Literal

from pydantic import TypeAdapter, ValidationError

from containers.components.classifiers import CLASSIFIERS
from containers.components.sizers import SIZERS
from containers.components.strategies import STRATEGIES
from containers.config import BacktestConfig
from containers.errors import ConfigError
from containers.strict import did_you_mean


def _locate(payload: dict[str, Any], path: str) -> tuple[dict[str, Any], str, type]:
    """(the dict holding the value, its key, the pydantic model that validates it) for a path."""
    parts = path.split(".")
    classifiers = {c["name"]: c for c in payload["classifiers"]}
    portfolios = {p["name"]: p for c in payload["classifiers"] for p in c["portfolios"]}
    head = parts[0]
    if head in portfolios and len(parts) == 3:
        book = portfolios[head]
        if parts[1] == "sizer":
            return book["sizer"], parts[2], SIZERS[book["sizer"]["type"]]
        strategies = {s["name"]: s for s in book["strategies"]}
        if parts[1] not in strategies:
            raise ConfigError(f"path '{path}': no strategy '{parts[1]}' in portfolio '{head}' "
                              f"(strategies: {', '.join(strategies)}; or 'sizer')"
                              f"{did_you_mean(parts[1], [*strategies, 'sizer'])}")
        strategy = strategies[parts[1]]
        return strategy.setdefault("params", {}), parts[2], STRATEGIES[strategy["type"]]
    if head in classifiers and len(parts) == 2:
        classifier = classifiers[head]
        return classifier.setdefault("params", {}), parts[1], CLASSIFIERS[classifier["type"]]
    names = [*portfolios, *classifiers]
    raise ConfigError(f"path '{path}' names nothing: use <portfolio>.<strategy>.<param>, <portfolio>.sizer.<field> "
                      f"or <classifier>.<param> (portfolios: {', '.join(portfolios)}; classifiers: "
                      f"{', '.join(classifiers)}){did_you_mean(head, names)}")


def check_path(config: BacktestConfig, path: str) -> None:
    """A ConfigError naming the path when it does not name a parameter of the config."""
    _, key, model = _locate(config.model_dump(mode="json"), path)
    fields = [info.alias or name for name, info in model.model_fields.items() if name != "type"]
    if key not in fields:
        raise ConfigError(f"path '{path}': '{key}' is not a parameter here (parameters: {', '.join(fields)})"
                          f"{did_you_mean(key, fields)}")


def value_at(config: BacktestConfig, path: str) -> Any:
    """The config's own value at a path (defaults included)."""
    holder, key, _ = _locate(config.model_dump(mode="json"), path)
    return holder.get(key)


def with_params(config: BacktestConfig, values: dict[str, Any]) -> BacktestConfig:
    """A re-validated copy with each path set; an invalid value raises pydantic's ValidationError."""
    payload = config.model_dump(mode="json")
    for path, value in values.items():
        holder, key, _ = _locate(payload, path)
        holder[key] = value
    return type(config).model_validate(payload)


def _field(config: BacktestConfig, path: str) -> Any:
    _, key, model = _locate(config.model_dump(mode="json"), path)
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return info
    raise ConfigError(f"path '{path}': '{key}' is not a parameter here")


def parameter_type(config: BacktestConfig, path: str) -> Literal["int", "float", "other"]:
    """Whether the parameter a path names takes whole numbers, floats, or something else (from its
    declared type, so an optional float whose value is unset is still a float)."""
    annotation = _field(config, path).annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [member for member in typing.get_args(annotation) if member is not type(None)]
        annotation = members[0] if len(members) == 1 else annotation
    if annotation is bool:
        return "other"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    return "other"


def value_problem(config: BacktestConfig, path: str, value: Any) -> str | None:
    """Why `value` cannot be the parameter's value on its own type and bounds (None when it can)."""
    info = _field(config, path)
    try:
        kind = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        TypeAdapter(kind).validate_python(value)
    except ValidationError as error:
        return str(error.errors()[0]["msg"])
    return None
