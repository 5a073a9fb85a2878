"""A run's fingerprint: what must not change between a study's start and its resume."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numba
import numpy
import optuna

import containers
import coordinator
import search
import workers
from coordinator import __version__
from coordinator.config import ExperimentConfig
from search.samplers import SAMPLER_SETTINGS


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def code_version() -> str:
    """admf's version, a digest of its code (the driver's included: it decides which trial gets which
    point) and the versions of the libraries that shape results."""
    digest = hashlib.sha256(__version__.encode())
    for package in (containers, search, workers, coordinator):
        for source in sorted(Path(package.__file__).parent.rglob("*.py")):
            digest.update(source.read_bytes())
    libraries = f"optuna {optuna.__version__}, numpy {numpy.__version__}, numba {numba.__version__}"
    return f"{__version__}+{digest.hexdigest()[:12]} ({libraries})"


def data_files(experiment: ExperimentConfig, config_path: Path) -> dict[str, str]:
    """Each data file's sha256 prefix by path (synthetic data: the generator's settings)."""
    source = experiment.data
    base = config_path.parent
    if source.synthetic is not None:
        return {"synthetic": _digest(source.synthetic.model_dump(mode="json"))}
    paths = [source.path] if source.path else list((source.files or {}).values())
    result = {}
    for name in paths:
        path = Path(name) if Path(name).is_absolute() else base / name
        result[str(path)] = _file_digest(path) if path.exists() else "missing"
    return result


def fingerprint(experiment: ExperimentConfig, config_path: Path) -> dict[str, Any]:
    sweep = experiment.sweep
    assert sweep is not None
    backtest = experiment.model_dump(mode="json", include={"data", "execution", "classifiers"})
    return {
        "config": _digest({"backtest": backtest, "batch_size": sweep.batch_size, "engine":
                           experiment.execution.engine}),
        "search space": _digest({"space": {k: v.model_dump() for k, v in sweep.space.items()},
                                 "constraints": sweep.constraints, "method": sweep.method, "seed": sweep.seed,
                                 "n_trials": sweep.n_trials if sweep.method == "grid" else None,
                                 "sampler": SAMPLER_SETTINGS.get(sweep.method)}),
        "objective": _digest({"goals": [g.model_dump() for g in sweep.goals()], "min_trades": sweep.min_trades}),
        "data files": data_files(experiment, config_path),
        "code version": code_version(),
    }


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What changed, in words, e.g. "data file /d/prices.csv (was 1a2b..., now 3c4d...)"."""
    changed = []
    for part in recorded:
        if part == "data files":
            before, after = recorded[part], current.get(part, {})
            for name in sorted(set(before) | set(after)):
                if before.get(name) != after.get(name):
                    changed.append(f"data file {name} (was {before.get(name, 'absent')}, now "
                                   f"{after.get(name, 'absent')})")
        elif recorded[part] != current.get(part):
            changed.append(f"{part} (was {recorded[part]}, now {current.get(part)})")
    return changed
