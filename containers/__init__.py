"""One backtest, no Ray and no Optuna: data, events, scoped buses, components, engine, metrics."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _compiled_code_cache() -> None:
    """Keeps numba's on-disk cache of the compiled kernels in a folder per version of this package's code.

    Numba reuses a cached function while its own file is unchanged, even when a function or constant it
    calls from another module has changed (the kernel calls metric and aggregation functions), which
    would run stale code. A folder named by a hash of every source file here cannot be stale. A user's
    NUMBA_CACHE_DIR is respected (then the user owns that risk).
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    name = f"numba-{digest.hexdigest()[:16]}"
    folder = package / "__pycache__" / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.parent.glob("numba-*"):  # earlier versions of the code, unused for a day
            if stale != folder and time.time() - stale.stat().st_mtime > 86_400:
                shutil.rmtree(stale, ignore_errors=True)
        writable = os.access(folder, os.W_OK)
    except OSError:
        writable = False
    if not writable:  # an installed package in a read-only place: a private cache in the temp folder
        folder = Path(tempfile.gettempdir()) / f"admf-{os.getuid()}" / name
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        print(f"note: {package} is not writable; compiled kernels are cached in {folder}", file=sys.stderr)
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    import numba.core.config

    numba.core.config.CACHE_DIR = str(folder)  # numba may have been imported (and configured) already


_compiled_code_cache()
