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

import functools
import hashlib
import json
import os
import secrets
from collections.abc import Callable
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


@functools.cache
def rules_digest() -> str:
    """A digest of the code that computes signals and regimes (components, indicators, the hub): logs
    made by other code get other names, so a fixed rule never reuses an old log."""
    digest = hashlib.sha256(FORMAT.encode())
    here = Path(__file__).parent
    for source in sorted([*(here / "components").rglob("*.py"), here / "hub.py"]):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def variant_key(kind: str, type_name: str, params: dict[str, Any], data_hash: str) -> str:
    """The file name's hash: the same (kind, type, parameters, data, rules' code) gives the same name."""
    text = json.dumps({"kind": kind, "type": type_name, "params": params, "data": data_hash,
                       "rules": rules_digest()}, sort_keys=True, separators=(",", ":"), default=str)
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


def holds(path: Path, variant: Variant) -> bool:
    """Whether the file is a whole log of exactly this variant (its metadata says so)."""
    try:
        meta = json.loads((pq.read_schema(path).metadata or {}).get(b"admf", b"{}"))
    except (OSError, ValueError, pa.ArrowException):
        return False
    return isinstance(meta, dict) and meta == _metadata(variant)


def _metadata(variant: Variant) -> dict[str, Any]:
    return json.loads(json.dumps({"format": FORMAT, "kind": variant.kind, "type": variant.type,
                                  "params": variant.params, "data_hash": variant.data_hash,
                                  "n_bars": variant.n_bars, "rules": rules_digest()}, default=str))


def write_once(folder: Path, variant: Variant, frame: pd.DataFrame | Callable[[], pd.DataFrame]) -> tuple[Path, bool]:
    """Writes the variant's log unless a whole log of it is there already (a damaged or foreign file
    under its name is replaced); returns (path, written). `frame` may be a function, called only to write."""
    path = folder / variant.file_name
    if holds(path, variant):
        return path, False
    if callable(frame):
        frame = frame()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"admf": json.dumps(_metadata(variant)).encode()})
    temporary = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        pq.write_table(table, temporary)
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)  # another writer of the same variant wrote the same rows
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)  # the rename itself survives a crash
        finally:
            os.close(descriptor)
    finally:
        temporary.unlink(missing_ok=True)
    return path, True


def read_log(path: Path, expected: Variant) -> pd.DataFrame:
    """The variant's log; a missing, unreadable or foreign file, or one made from other data or by other
    code, is a one-line DataError naming the file."""
    kind, data_hash = expected.kind, expected.data_hash
    if not path.is_file():
        raise DataError(f"{path}: no signal log of this {kind} for this data and code (the name holds their "
                        "hashes); run the signal_generation pattern on this data first, or point signals: at "
                        "the folder it wrote")
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(b"admf", b"{}"))
    except (OSError, ValueError, pa.ArrowException) as error:
        raise DataError(f"{path}: not a readable signal log ({str(error).splitlines()[0][:120]}); generate "
                        "it again") from error
    columns = SIGNAL_COLUMNS if kind == "strategy" else REGIME_COLUMNS
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("kind") != kind \
            or tuple(table.column_names) != columns:
        raise DataError(f"{path}: not an admf {kind} log (columns {', '.join(table.column_names)[:80]}); delete "
                        "it and generate it again")
    if meta.get("data_hash") != data_hash:
        raise DataError(f"{path}: made from other data (its data hash {str(meta.get('data_hash'))[:12]}..., this "
                        f"data's {data_hash[:12]}...); delete it and generate the signals again for this data")
    if meta != _metadata(expected):
        raise DataError(f"{path}: holds another {kind} ({meta.get('type')} {str(meta.get('params'))[:60]}) or was "
                        "made by other code; delete it and generate it again")
    frame = table.to_pandas()
    bars = frame["bar"].to_numpy()
    groups = frame.groupby("symbol", sort=False)["bar"] if kind == "strategy" else [(None, frame["bar"])]
    if len(bars) and (bars.min() < 0 or bars.max() >= expected.n_bars
                      or not all(part.is_monotonic_increasing for _, part in groups)):
        raise DataError(f"{path}: its bars are out of order or outside the data's {expected.n_bars}; delete it and "
                        "generate it again")
    return frame
