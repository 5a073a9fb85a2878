"""numba's cache of the compiled kernels: a folder that cannot be written is one `note:` line, never a
traceback, and the kernels still run (cached in the temp folder)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import containers

PROGRAM = """
import numpy as np
from containers.aggregation import hold
print(hold(np.array([1.0, np.nan, -1.0]), np.array([True, True, True]), np.empty(3)).tolist())
"""


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    return subprocess.run([sys.executable, "-c", PROGRAM], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**environment, "PYTHONPATH": str(tmp_path), **env})


def _package_copy(tmp_path: Path) -> Path:
    """This package, in a folder where its `__pycache__` cannot be made (a file is in the way), as on a
    read-only install (mode bits would not stop root, who runs CI)."""
    copy = tmp_path / "containers"
    shutil.copytree(Path(containers.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for folder in [copy, *[path for path in copy.rglob("*") if path.is_dir()]]:
        (folder / "__pycache__").write_text("not a folder")
    return copy


def test_an_unwritable_package_caches_compiled_kernels_in_the_temp_folder(tmp_path: Path) -> None:
    copy = _package_copy(tmp_path)
    temp = tmp_path / "temp"  # a fresh temp folder: what numba writes there is this run's
    temp.mkdir()
    done = _run(tmp_path, PYTHONDONTWRITEBYTECODE="1", TMPDIR=str(temp))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1.0, 1.0, -1.0]"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"note: {copy} is not writable; compiled kernels are cached in ")
    folder = Path(lines[0].rsplit(" ", 1)[1])
    assert folder.is_relative_to(temp)
    assert any(folder.rglob("*.nbi")), list(folder.iterdir())  # numba wrote its index there


def test_an_unwritable_numba_cache_dir_is_a_note_and_admf_uses_its_own(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    done = _run(tmp_path, NUMBA_CACHE_DIR=str(blocked / "cache"), PYTHONPATH=str(Path(containers.__file__).parents[1]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1.0, 1.0, -1.0]"
    assert done.stderr.strip() == (f"note: NUMBA_CACHE_DIR {blocked / 'cache'} is not writable; "
                                   "using admf's own cache folder")
