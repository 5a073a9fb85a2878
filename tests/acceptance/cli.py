"""Runs the real `admf` console script in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ADMF = shutil.which("admf")


def admf(*args: str, cwd: Path | None = None, timeout: float = 300,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [ADMF, *args] if ADMF else [sys.executable, "-m", "coordinator.cli", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**(env or os.environ), "COLUMNS": "200"})
