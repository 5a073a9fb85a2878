"""The run directory: every file a run writes, written atomically (temp file + rename)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from containers.errors import AdmfError


def run_directory(name: str, out: str | None, configured: str | None, config_dir: Path) -> Path:
    """--out wins, then output.dir (relative to the config file), then runs/<name> in the current folder."""
    if out:
        return Path(out)
    if configured:
        configured_path = Path(configured)
        return configured_path if configured_path.is_absolute() else config_dir / configured_path
    return Path("runs") / name


def atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        write(temporary)
        with open(temporary, "rb+") as stream:  # durable before it replaces the old file
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, payload: Any) -> None:
    def write(temporary: str) -> None:
        with open(temporary, "w") as stream:
            json.dump(payload, stream, indent=2, sort_keys=True, default=str)
            stream.write("\n")

    atomic_write(path, write)


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda temporary: frame.to_parquet(temporary, index=False))


def ensure_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AdmfError(f"{directory}: cannot create the run directory ({error.strerror}); "
                        "choose another with --out") from error
