"""Sparse signal logs: for a strategy variant, the bars where its rule's output changes; for a classifier
variant, the bars where its regime changes. One Parquet file per variant, named by a content hash of
(kind, type, parameters, data hash), so an identical variant is written once and reused across trials
and runs. Files are written atomically (a temporary file, then a rename), so two writers of the same
variant are safe and a reader never sees half a file. A reader needs only pandas.

Signal file columns: `bar` (index into the data), `timestamp`, `symbol`, `value` (the rule's output
from this bar on: signed strength, 0 for flat, NaN for "no new signal", which holds the last one) and
`price` (the close at that bar). Regime file columns: `bar`, `timestamp`, `code` (-1 while the
classifier warms up) and `regime` (its label).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from containers.errors import DataError

SIGNAL_COLUMNS = ("bar", "timestamp", "symbol", "value", "price")
REGIME_COLUMNS = ("bar", "timestamp", "code", "regime")
FORMAT = "admf-signal-log/1"


def variant_key(kind: str, type_name: str, params: dict[str, Any], data_hash: str) -> str:
    """The file name's hash: the same (kind, type, parameters, data) always gives the same name."""
    text = json.dumps({"kind": kind, "type": type_name, "params": params, "data": data_hash}, sort_keys=True,
                      separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def changes(column: np.ndarray) -> np.ndarray:
    """Bars where `column` differs from the bar before (NaN equals NaN; the first bar counts unless NaN)."""
    before = np.concatenate(([np.nan], column[:-1]))
    same = (column == before) | (np.isnan(column) & np.isnan(before))
    return np.flatnonzero(~same)


def expand(bars: np.ndarray, values: np.ndarray, n_bars: int, missing: float = np.nan) -> np.ndarray:
    """The whole column back from its changes: each value holds until the next change."""
    at = np.searchsorted(bars, np.arange(n_bars), side="right") - 1
    out = np.full(n_bars, missing, dtype=np.float64)
    known = at >= 0
    out[known] = values[at[known]]
    return out


@dataclass(frozen=True)
class Variant:
    """What a log file holds, as its metadata says."""

    kind: str  # "strategy" or "classifier"
    type: str
    params: dict[str, Any]
    data_hash: str
    n_bars: int

    @property
    def key(self) -> str:
        return variant_key(self.kind, self.type, self.params, self.data_hash)

    @property
    def file_name(self) -> str:
        return f"{self.kind}-{self.type}-{self.key}.parquet"


def write_once(folder: Path, variant: Variant, frame: pd.DataFrame) -> tuple[Path, bool]:
    """Writes the variant's log unless a file of that name exists; returns (path, written)."""
    path = folder / variant.file_name
    if path.exists():
        return path, False
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {"format": FORMAT, "kind": variant.kind, "type": variant.type, "params": variant.params,
            "data_hash": variant.data_hash, "n_bars": variant.n_bars}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"admf": json.dumps(meta, default=str).encode()})
    temporary = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        pq.write_table(table, temporary)
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)  # another writer of the same variant wrote the same bytes
    finally:
        temporary.unlink(missing_ok=True)
    return path, True


def read_log(path: Path, kind: str, data_hash: str) -> tuple[Variant, pd.DataFrame]:
    """A log and its metadata; a missing, unreadable or foreign file, or one made from other data, is a
    one-line DataError naming the file."""
    if not path.is_file():
        raise DataError(f"{path}: no such signal log; run the signal_generation pattern first, or point "
                        "signals: at the folder it wrote")
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(b"admf", b"{}"))
    except (OSError, ValueError, pa.ArrowException) as error:
        raise DataError(f"{path}: not a readable signal log ({str(error).splitlines()[0][:120]}); generate "
                        "it again") from error
    expected = SIGNAL_COLUMNS if kind == "strategy" else REGIME_COLUMNS
    if meta.get("format") != FORMAT or meta.get("kind") != kind or tuple(table.column_names) != expected:
        raise DataError(f"{path}: not an admf {kind} log (columns {', '.join(table.column_names)[:80]}); "
                        "generate it again")
    if meta.get("data_hash") != data_hash:
        raise DataError(f"{path}: made from other data (its data hash {str(meta.get('data_hash'))[:12]}..., this "
                        f"data's {data_hash[:12]}...); generate the signals again for this data")
    variant = Variant(kind, str(meta["type"]), dict(meta["params"]), data_hash, int(meta["n_bars"]))
    frame = table.to_pandas()
    bars = frame["bar"].to_numpy()
    if len(bars) and (bars.min() < 0 or bars.max() >= variant.n_bars):
        raise DataError(f"{path}: bar {int(bars.max())} outside the data's {variant.n_bars} bars; generate it again")
    return variant, frame
