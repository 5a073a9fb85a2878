"""The run directory: every file a run writes, written atomically (temp file + rename)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from containers.errors import ConfigError, StorageError


def run_directory(name: str, out: str | None, configured: str | None, config_dir: Path) -> Path:
    """--out wins, then output.dir (relative to the config file), then runs/<name> in the current folder."""
    if out:
        return Path(out)
    if configured:
        configured_path = Path(configured)
        return configured_path if configured_path.is_absolute() else config_dir / configured_path
    return Path("runs") / name


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()  # what open() would give a new file under this process's umask


def atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.fchmod(handle, FILE_MODE)  # mkstemp makes it 0600: a run's files are as readable as the umask says
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
    """The run directory exists and can be written, or a one-line error: a path that is a file is a bad
    --out (exit 2), a disk or folder that refuses writes is storage (exit 5)."""
    blocker = next((parent for parent in (directory, *directory.parents) if parent.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ConfigError(f"{directory}: {blocker} is a file, not a folder; choose a run directory with --out")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError(f"{directory}: cannot create the run directory ({error.strerror}); "
                           "choose another with --out") from error
    if not os.access(directory, os.W_OK):
        raise StorageError(f"{directory}: the run directory is not writable; choose another with --out")
