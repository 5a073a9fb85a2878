"""trials.parquet: every trial's parameters, state and metrics, streamed one row group per batch."""

from __future__ import annotations

import heapq
import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from containers.metrics import METRIC_NAMES
from search.space import Choice, Range

PARAM_PREFIX = "param."


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


def _row(result: dict[str, Any], space: dict[str, Choice | Range], schema: pa.Schema) -> dict[str, Any]:
    row = {name: result.get(name) for name in ("number", "state", "error", "seconds", "node", "pid")}
    for path in space:
        value = result["params"].get(path)
        row[PARAM_PREFIX + path] = str(value) if schema.field(PARAM_PREFIX + path).type == pa.string() else value
    metrics = result.get("metrics") or {}
    row.update({name: metrics.get(name, math.nan) for name in METRIC_NAMES})
    row["regimes_json"] = json.dumps(result["regimes"]) if result.get("regimes") is not None else None
    return row


class TrialLog:
    """Streams results to `<path>.partial`, renamed to `path` on close; keeps only the top N in memory."""

    def __init__(self, path: Path, space: dict[str, Choice | Range], objective: str, maximize: bool,
                 top: int) -> None:
        self.path, self.space, self.objective, self.maximize, self.top_n = path, space, objective, maximize, top
        self.schema = trial_schema(space)
        self.partial = path.with_name(path.name + ".partial")
        self.writer = pq.ParquetWriter(self.partial, self.schema)
        self.completed = 0
        self.failed = 0
        self._top: list[tuple[float, int, dict[str, Any]]] = []

    def write(self, results: list[dict[str, Any]]) -> None:
        rows = [_row(result, self.space, self.schema) for result in results]
        self.writer.write_table(pa.Table.from_pylist(rows, schema=self.schema))
        for row in rows:
            if row["state"] != "complete":
                self.failed += 1
                continue
            self.completed += 1
            value = row[self.objective]
            if math.isnan(value):
                continue
            key = value if self.maximize else -value
            entry = (key, -row["number"], row)
            if len(self._top) < self.top_n:
                heapq.heappush(self._top, entry)
            elif entry[:2] > self._top[0][:2]:
                heapq.heapreplace(self._top, entry)

    def best(self) -> dict[str, Any] | None:
        return max(self._top, key=lambda entry: entry[:2])[2] if self._top else None

    def top(self) -> pd.DataFrame:
        ordered = [entry[2] for entry in sorted(self._top, key=lambda entry: entry[:2], reverse=True)]
        return pd.DataFrame(ordered, columns=self.schema.names)

    def close(self) -> None:
        self.writer.close()
        os.replace(self.partial, self.path)
