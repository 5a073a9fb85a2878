"""The experiment file: YAML (safe_load only) → a frozen, validated ExperimentConfig, or one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from containers.aggregation import AGGREGATORS
from containers.components.classifiers import CLASSIFIERS
from containers.components.costs import COMMISSIONS
from containers.components.limits import LIMITS
from containers.components.sizers import SIZERS
from containers.components.strategies import STRATEGIES
from containers.config import BacktestConfig, Name
from containers.errors import ConfigError
from containers.paths import check_path, parameter_type, value_at, value_problem
from containers.strict import StrictModel, did_you_mean
from coordinator.sweep_config import SweepConfig
from search.space import Constraint, Range

# Discriminator tags pydantic puts in an error's location; the user never typed them there.
_UNION_TAGS = {*STRATEGIES, *CLASSIFIERS, *SIZERS, *LIMITS, *COMMISSIONS, *AGGREGATORS, "on_direction_change",
               "threshold_pct"}
_UNION_FIELDS = {"sizer", "commission", "aggregation", "rebalance"}


class OutputConfig(StrictModel):
    dir: str | None = None


class ExperimentConfig(BacktestConfig):
    """One experiment: a name, what to run, and where results go."""

    name: Name
    type: Literal["backtest", "sweep"] = "backtest"
    pattern: Literal["full", "signal_generation", "signal_replay"] = "full"
    signals: str | None = Field(default=None, min_length=1, max_length=4096)  # the signal-log folder
    output: OutputConfig = OutputConfig()
    description: str = Field(default="", max_length=2000)
    sweep: SweepConfig | None = None

    @model_validator(mode="after")
    def _sweep_paths(self) -> ExperimentConfig:
        if self.type == "sweep" and self.sweep is None:
            raise ValueError("type: sweep needs a 'sweep' section (space, method...)")
        if self.type == "sweep" and self.pattern != "full":
            raise ValueError(f"pattern: {self.pattern} is for type: backtest; a sweep runs full backtests")
        if self.sweep is not None:
            for path in self.sweep.space:
                _check(self, path, f"sweep.space.{path}")
            for text in self.sweep.constraints:
                for path in Constraint(text).paths():
                    _check(self, path, f"sweep.constraints '{text}'")
        return self


def _check(config: ExperimentConfig, path: str, where: str) -> None:
    try:
        check_path(config, path)
    except ConfigError as error:
        raise ValueError(f"{where}: {error}") from error


def _path_of(location: tuple[Any, ...]) -> str:
    """('classifiers', 0, 'volatility', 'name') → 'classifiers[0].name' (union tags dropped)."""
    parts: list[str] = []
    for i, item in enumerate(location):
        previous = location[i - 1] if i else None
        if item in _UNION_TAGS and (isinstance(previous, int) or previous in _UNION_FIELDS):
            continue
        if item in ("choice", "range") and i >= 2 and location[i - 2] == "space":
            continue
        parts.append(f"[{item}]" if isinstance(item, int) else ("." if parts else "") + str(item))
    return "".join(parts)


def _message(error: dict[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "union_tag_invalid":
        tags = [tag.strip(" '") for tag in ctx["expected_tags"].split(",")]
        return (f"unknown type '{ctx['tag']}'{did_you_mean(str(ctx['tag']), tags)}; "
                f"known types: {', '.join(tags)}")
    if kind == "union_tag_not_found":
        return "missing 'type'; every component needs one"
    if kind == "missing":
        return "required field is missing"
    if kind == "string_pattern_mismatch":
        return (f"{_shown(error.get('input'))} is not a valid name: use letters, digits, '_', '.' and '-', "
                "starting with a letter, digit or '_'")
    message = str(error["msg"])
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _shown(value: Any, limit: int = 80) -> str:
    """A user's value quoted for a message, cut to `limit` characters."""
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def format_validation_error(source: str, error: ValidationError) -> str:
    """The first (most specific) problem, as 'file: field.path: what is wrong; how to fix it'."""
    first = error.errors()[0]
    path = _path_of(tuple(first["loc"]))
    return f"{source}: {path + ': ' if path else ''}{_message(first)}"


def parse_experiment(raw: Any, source: str) -> ExperimentConfig:
    if raw is None:
        raise ConfigError(f"{source}: the file is empty; it must be a YAML mapping (key: value) such as the examples")
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the file must be a YAML mapping (key: value), got {type(raw).__name__}")
    try:
        experiment = ExperimentConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_validation_error(source, error)) from error
    return _typed_ranges(experiment, source)


def _typed_ranges(experiment: ExperimentConfig, source: str) -> ExperimentConfig:
    """Each range of the space takes the type of the parameter it sweeps (whole numbers for an int
    parameter, floats for a float one), so `num_std: {low: 1, high: 3}` is continuous and `period:
    {low: 5.0, high: 50.0}` gives ints; a range's ends and each choice must be values the parameter
    accepts, constraints compare numbers, and a grid needs every range discrete."""
    sweep = experiment.sweep
    if sweep is None:
        return experiment
    space = {}
    for path, spec in sweep.space.items():
        where = f"{source}: sweep.space.{path}"
        kind = parameter_type(experiment, path)
        if isinstance(spec, Range):
            if kind == "int":
                if spec.integer is False or not spec.whole():
                    raise ConfigError(f"{where}: the parameter takes whole numbers; give whole low, high and step"
                                      + (", and drop integer: false" if spec.integer is False else ""))
                spec = spec.model_copy(update={"integer": True})
            elif kind == "float" and spec.integer is None:
                spec = spec.model_copy(update={"integer": False})
            elif kind == "other":
                raise ConfigError(f"{where}: the parameter is not a number (it is {value_at(experiment, path)!r}); "
                                  "give a list of its values instead of a range")
            ends = [spec.value_at(0), spec.value_at(spec.count() - 1)] if spec.count() else [spec.low, spec.high]
        else:
            ends = spec.choices[:1000]
        for value in ends:
            problem = value_problem(experiment, path, value)
            if problem is not None:
                raise ConfigError(f"{where}: {_shown(value)} is not a value this parameter takes ({problem}); "
                                  "change the range or the choices")
        if sweep.method == "grid" and spec.count() is None:
            raise ConfigError(f"{where}: method grid needs discrete values, but this range is continuous; "
                              "give it a step, or a list of values, or use method random")
        space[path] = spec
    for text in sweep.constraints:
        for path in Constraint(text).paths():
            if parameter_type(experiment, path) == "other":
                raise ConfigError(f"{source}: sweep.constraints '{text}': {path} is not a number, so it cannot be "
                                  "compared; constrain numeric parameters only")
    return experiment.model_copy(update={"sweep": sweep.model_copy(update={"space": space})})


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (YAML would keep the later one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Keys written twice are refused; a key written beside a merge (`<<: *defaults`) overrides the
        merged one, as YAML means it (SafeLoader merges when it builds the mapping)."""
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                first = seen[key]
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}' (first at line {first.line + 1}); keep one of them",
                    key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


def read_yaml(path: Path) -> Any:
    """The YAML document of a file, or a one-line ConfigError naming the line, column and problem."""
    try:
        text = path.read_text()
    except IsADirectoryError as error:
        raise ConfigError(f"{path}: is a directory, not a config file") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not a text file ({error.reason}); save the config as UTF-8") from error
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config ({error.strerror})") from error
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}:{where}: invalid YAML ({problem}); fix the syntax") from error
    except RecursionError as error:
        raise ConfigError(f"{path}: the YAML is nested too deeply to read; flatten it") from error


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Reads and validates one experiment file; relative data paths are resolved against its folder."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a config file")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    return _storage_beside_config(parse_experiment(read_yaml(path), str(path)), path)


SQLITE_PREFIX = "sqlite:///"


def _storage_beside_config(experiment: ExperimentConfig, path: Path) -> ExperimentConfig:
    """A relative `sqlite:///file.db` is a file beside the config, like relative data paths, not in the cwd."""
    sweep = experiment.sweep
    if sweep is None or sweep.storage is None or not sweep.storage.startswith(SQLITE_PREFIX):
        return experiment
    database = sweep.storage[len(SQLITE_PREFIX):]
    if database in ("", ":memory:") or database.startswith("file:"):
        raise ConfigError(f"{path}: sweep.storage '{sweep.storage}' is not a database file, so the study could "
                          "not be resumed; give a file such as sqlite:///study.db")
    if Path(database).is_absolute():
        return experiment
    url = SQLITE_PREFIX + str((path.parent / database).absolute())
    return experiment.model_copy(update={"sweep": sweep.model_copy(update={"storage": url})})
