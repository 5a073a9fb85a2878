"""One backtest, no Ray and no Optuna: data, events, scoped buses, components, engine, metrics."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _writable(folder: Path) -> bool:
    """Whether files can be created in `folder` (made if missing): tried, not inferred from mode bits,
    which say nothing on a read-only mount or to root."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def _compiled_code_cache() -> bool:
    """Keeps numba's on-disk cache of the compiled kernels in a folder per version of this package's code;
    returns False when no folder is writable (the kernels are then compiled afresh in each process).

    Numba reuses a cached function while its own file is unchanged, even when a function or constant it
    calls from another module has changed (the kernel calls metric and aggregation functions), which
    would run stale code. A folder named by a hash of every source file here cannot be stale. A user's
    NUMBA_CACHE_DIR is respected when it is writable (then the user owns that risk). An unwritable
    folder (an installed package in a read-only place) falls back to the temp folder, with one note.
    """
    import numba.core.config

    chosen = os.environ.get("NUMBA_CACHE_DIR")
    if chosen and _writable(Path(chosen)):
        return True
    if chosen:
        _note(f"NUMBA_CACHE_DIR {chosen} is not writable; using admf's own cache folder")
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    name = f"numba-{digest.hexdigest()[:16]}"
    folder = package / "__pycache__" / name
    if not _writable(folder):
        try:
            folder = Path(tempfile.gettempdir()) / f"admf-{os.getuid()}" / name
        except OSError:  # no usable temp folder at all
            folder = package / "__pycache__" / name
        if not _writable(folder):
            _note(f"{package} is not writable and neither is a temp folder; compiled kernels are not cached "
                  "(each process compiles them again)")
            os.environ.pop("NUMBA_CACHE_DIR", None)
            return False
        _note(f"{package} is not writable; compiled kernels are cached in {folder}")
    for stale in folder.parent.glob("numba-*"):  # earlier versions of the code, unused for a day
        if stale != folder and time.time() - stale.stat().st_mtime > 86_400:
            shutil.rmtree(stale, ignore_errors=True)
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    numba.core.config.CACHE_DIR = str(folder)  # numba may have been imported (and configured) already
    return True


CACHE_COMPILED = _compiled_code_cache()  # the `cache=` of every @njit in this package
