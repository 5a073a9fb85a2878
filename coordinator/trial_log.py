"""trials.parquet: every trial of a study with its parameters, state, reason and metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from optuna.trial import FrozenTrial, TrialState

from containers.metrics import METRIC_NAMES
from coordinator.sweep_config import Objective
from coordinator.workspace import atomic_write
from search.space import Choice, Range

PARAM_PREFIX = "param."
ERROR_ATTR = "admf_error"
STATES = {TrialState.COMPLETE: "complete", TrialState.FAIL: "failed", TrialState.RUNNING: "running"}


def _param_type(spec: Choice | Range) -> pa.DataType:
    if isinstance(spec, Range):
        return pa.int64() if spec.is_int else pa.float64()
    kinds = {type(choice) for choice in spec.choices}
    if kinds <= {bool}:
        return pa.bool_()
    if kinds <= {int}:
        return pa.int64()
    if kinds <= {int, float}:
        return pa.float64()
    return pa.string()


def trial_schema(space: dict[str, Choice | Range]) -> pa.Schema:
    fields = [pa.field("number", pa.int64()), pa.field("state", pa.string()), pa.field("error", pa.string()),
              pa.field("seconds", pa.float64()), pa.field("node", pa.string()), pa.field("pid", pa.int64())]
    fields += [pa.field(PARAM_PREFIX + path, _param_type(spec)) for path, spec in space.items()]
    fields += [pa.field(name, pa.float64()) for name in METRIC_NAMES]
    fields.append(pa.field("regimes_json", pa.string()))
    return pa.schema(fields)


def trial_row(trial: FrozenTrial, space: dict[str, Choice | Range], schema: pa.Schema) -> dict[str, Any]:
    worker = trial.user_attrs.get("worker") or {}
    metrics = trial.user_attrs.get("metrics") or {}
    regimes = trial.user_attrs.get("regimes")
    state = STATES.get(trial.state, trial.state.name.lower())
    if trial.state == TrialState.COMPLETE and ERROR_ATTR in trial.system_attrs:
        state = "infeasible"  # told complete with the worst value so Optuna's samplers learn the constraints
    row: dict[str, Any] = {"number": trial.number, "state": state,
                           "error": trial.system_attrs.get(ERROR_ATTR), "seconds": worker.get("seconds"),
                           "node": worker.get("node"), "pid": worker.get("pid")}
    for path in space:
        value = trial.params.get(path)
        string = schema.field(PARAM_PREFIX + path).type == pa.string()
        row[PARAM_PREFIX + path] = str(value) if string and value is not None else value
    row.update({name: metrics.get(name, math.nan) for name in METRIC_NAMES})
    row["regimes_json"] = json.dumps(regimes) if regimes is not None else None
    return row


def export_trials(study: optuna.Study, space: dict[str, Choice | Range], path: Path) -> pd.DataFrame:
    """Writes every trial, in trial-number order, to `path` (atomically) and returns the frame."""
    schema = trial_schema(space)
    rows = [trial_row(trial, space, schema) for trial in study.get_trials(deepcopy=False)]
    table = pa.Table.from_pylist(rows, schema=schema)
    atomic_write(path, lambda temporary: pq.write_table(table, temporary))
    return table.to_pandas()


def best_trials(frame: pd.DataFrame, goals: tuple[Objective, ...], top: int) -> pd.DataFrame:
    """The top N complete trials by the objective, or (several objectives) the Pareto front."""
    complete = frame[frame["state"] == "complete"]
    if len(goals) == 1:
        goal = goals[0]
        return complete.sort_values([goal.metric, "number"], ascending=[goal.direction == "minimize", True]).head(top)
    signs = [1.0 if goal.direction == "maximize" else -1.0 for goal in goals]
    values = complete[[goal.metric for goal in goals]].to_numpy() * signs
    dominated = [any((other >= mine).all() and (other > mine).any() for other in values) for mine in values]
    return complete[[not flag for flag in dominated]].sort_values("number")
