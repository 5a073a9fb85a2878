"""admf run / resume / status for studies: the manifest, the drift check, the export and the report."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from containers.errors import ConfigError, StorageError
from coordinator.config import ExperimentConfig, load_experiment
from coordinator.fingerprint import differences, fingerprint
from coordinator.sweep_plan import search_space
from coordinator.trial_log import best_trials, export_trials
from coordinator.workflows.study import StudyRun, counted, execute, feasible_best, stop_handlers, tally
from coordinator.workspace import ensure_writable, write_json
from search.storage import (
    JOURNAL_NAME,
    GroupCommitJournal,
    WriterLock,
    commits_path,
    journal_storage,
    live_writer,
    repair_journal,
)

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class StudyReport:
    run_dir: Path
    trials: pd.DataFrame
    best: pd.DataFrame
    n_trials: int
    seconds: float


def planned_trials(experiment: ExperimentConfig, config_path: Path) -> int:
    sweep = experiment.sweep
    assert sweep is not None
    if sweep.method != "grid":
        try:  # constraints that (almost) no point meets are refused before the study starts
            search_space(experiment).random_point(sweep.seed, 0)
        except ValueError as error:
            raise ConfigError(f"{config_path}: sweep: {error}") from error
        return sweep.n_trials or 0
    try:
        count = len(search_space(experiment).grid_plan(sweep.n_trials, sweep.seed))
    except ValueError as error:
        raise ConfigError(f"{config_path}: sweep: {error}") from error
    if count == 0:
        raise ConfigError(f"{config_path}: sweep: no grid point satisfies the constraints; loosen them")
    return count


def _finish(run: StudyRun, study: optuna.Study, started: float) -> StudyReport:
    sweep = run.sweep
    frame = export_trials(study, dict(sweep.space), run.run_dir / "trials.parquet")
    return StudyReport(run.run_dir, frame, best_trials(frame, sweep.goals(), sweep.top), run.n_trials,
                       time.perf_counter() - started)


def start_study(experiment: ExperimentConfig, config_path: Path, run_dir: Path, notice: Any,
                **options: Any) -> StudyReport:
    """A new study in `run_dir` (refuses a directory that already holds one, or that another process
    is starting at the same moment)."""
    if experiment.sweep is None:
        raise ConfigError(f"{config_path}: no 'sweep' section; add one (space, method...) to run a study")
    _refuse_existing_run(run_dir)
    n_trials = planned_trials(experiment, config_path)
    ensure_writable(run_dir)
    with WriterLock(run_dir, notice):
        _refuse_existing_run(run_dir)  # another start may have won the lock first
        _refuse_taken_study(experiment, config_path)
        run = StudyRun(experiment, config_path, run_dir, n_trials, notice, **options)
        started = time.perf_counter()
        with stop_handlers(run):
            try:
                write_json(run_dir / MANIFEST, {
                    "name": experiment.name, "config_path": str(config_path.resolve()), "n_trials": n_trials,
                    "fingerprint": fingerprint(experiment, config_path),
                    "storage": experiment.sweep.storage or JOURNAL_NAME,
                    "config": experiment.model_dump(mode="json"), "created": time.time()})
                study = execute(run)
            except BaseException:
                _forget_failed_start(run_dir, experiment)
                raise
        return _finish(run, study, started)


def _refuse_taken_study(experiment: ExperimentConfig, config_path: Path) -> None:
    """A database holds studies of many runs: a new run never takes over (or writes into) another's."""
    assert experiment.sweep is not None
    url = experiment.sweep.storage
    if url is None:
        return
    try:
        names = optuna.study.get_all_study_names(storage=url)
    except Exception as error:
        raise StorageError(f"storage '{url}': cannot open ({str(error).splitlines()[0]}); check the URL and that "
                           "the database is reachable") from error
    if experiment.name in names:
        raise ConfigError(f"{config_path}: sweep.storage '{url}' already holds a study named '{experiment.name}' "
                          "(another run's); continue that run with admf resume, or give this one another name")


def _refuse_existing_run(run_dir: Path) -> None:
    if (run_dir / MANIFEST).exists():
        raise ConfigError(f"{run_dir} already holds a run; continue it with: admf resume {run_dir}, "
                          "or choose another directory with --out")
    if (run_dir / JOURNAL_NAME).exists():
        raise ConfigError(f"{run_dir} holds a {JOURNAL_NAME} but no {MANIFEST} (not a run admf started); "
                          "choose another directory with --out")


def _forget_failed_start(run_dir: Path, experiment: ExperimentConfig) -> None:
    """A start that failed before storing any trial leaves nothing that claims to hold a run."""
    assert experiment.sweep is not None
    try:
        stored = _stored_trials(run_dir, experiment.name, experiment.sweep.storage)
    except Exception:  # the storage cannot say what it holds: keep everything, so nothing is lost
        return
    if stored == 0:
        for name in (MANIFEST, "status.json", JOURNAL_NAME, commits_path(Path(JOURNAL_NAME)).name):
            (run_dir / name).unlink(missing_ok=True)
        if experiment.sweep.storage is not None:  # the empty study it created, so the name is free again
            with contextlib.suppress(Exception):  # never created, or the database failed: nothing to free
                optuna.delete_study(study_name=experiment.name, storage=experiment.sweep.storage)


MANIFEST_KEYS = ("name", "config_path", "n_trials", "fingerprint", "storage")


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's manifest, or a one-line StorageError when it is missing, unreadable or incomplete."""
    path = run_dir / MANIFEST
    if not run_dir.is_dir():
        raise StorageError(f"{run_dir}: not a run directory (no such folder); give the folder admf run created")
    if not path.is_file():
        raise StorageError(f"{run_dir}: no {MANIFEST} here; give the run directory that admf run created")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StorageError(f"{path}: unreadable ({str(error).splitlines()[0]}); the run directory is damaged: "
                           "start the study again with admf run into a new directory") from error
    missing = [key for key in MANIFEST_KEYS if not isinstance(manifest, dict) or key not in manifest]
    if missing:
        raise StorageError(f"{path}: lacks {', '.join(missing)}; the run directory is damaged: start the study "
                           "again with admf run into a new directory")
    if not isinstance(manifest["n_trials"], int) or isinstance(manifest["n_trials"], bool):
        raise StorageError(f"{path}: n_trials is not a whole number; the run directory is damaged")
    for key, kind in (("name", str), ("config_path", str), ("storage", str), ("fingerprint", dict)):
        if not isinstance(manifest[key], kind):
            raise StorageError(f"{path}: {key} is not a {'mapping' if kind is dict else 'text'}; the run directory "
                               "is damaged: start the study again with admf run into a new directory")
    return manifest


def _read_status(run_dir: Path) -> dict[str, Any]:
    """The last session's status.json; an unreadable one only loses the throughput figure (it is
    rewritten after every batch, and nothing is decided from it)."""
    try:
        status = json.loads((run_dir / "status.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return status if isinstance(status, dict) else {}


def _stored_trials(run_dir: Path, manifest_name: str, url: str | None) -> int:
    """How many trials the run's storage holds (0 when it holds no study)."""
    journal = run_dir / JOURNAL_NAME
    if url is None and not journal.exists():
        return 0
    storage: Any = url or journal_storage(GroupCommitJournal(journal, lambda message: None, read_only=True))
    try:
        return len(optuna.load_study(study_name=manifest_name, storage=storage).get_trials(deepcopy=False))
    except KeyError:
        return 0


def resume_study(run_dir: Path, notice: Any, extend: int | None = None, **options: Any) -> StudyReport:
    """Continues the study in `run_dir` if its config, space, objective, data and code are unchanged."""
    read_manifest(run_dir)  # a damaged or missing run says so before anything waits on its lock
    with WriterLock(run_dir, notice):
        manifest = read_manifest(run_dir)  # as the last writer left it
        if manifest["storage"] == JOURNAL_NAME and not (run_dir / JOURNAL_NAME).is_file():
            raise StorageError(f"{run_dir}: {JOURNAL_NAME} is missing, so the study is lost; start it again with "
                               "admf run into a new directory")
        config_path = Path(manifest["config_path"])
        experiment = load_experiment(config_path)
        assert experiment.sweep is not None
        where = {"name": (manifest["name"], experiment.name),
                 "sweep.storage": (manifest["storage"], experiment.sweep.storage or JOURNAL_NAME)}
        moved = [f"{key} (was {was}, now {now})" for key, (was, now) in where.items() if was != now]
        if moved:
            raise ConfigError(f"resume refused: changed since the run started: {'; '.join(moved)}; the study is "
                              "stored under the first; restore it, or start a new run with admf run")
        changed = differences(manifest["fingerprint"], fingerprint(experiment, config_path))
        if changed:
            raise ConfigError(f"resume refused: changed since the run started: {'; '.join(changed)}; restore "
                              "them, or start a new run with admf run")
        n_trials = manifest["n_trials"] + (extend or 0)
        sweep = experiment.sweep
        if extend and sweep is not None and sweep.method == "grid":  # a grid has only so many points
            n_trials = min(n_trials, len(search_space(experiment).grid_plan(
                None if sweep.n_trials is None else n_trials, sweep.seed)))
        run = StudyRun(experiment, config_path, run_dir, n_trials, notice, **options)
        started = time.perf_counter()
        with stop_handlers(run):
            if extend:
                write_json(run_dir / MANIFEST, {**manifest, "n_trials": n_trials})
            study = execute(run)
        return _finish(run, study, started)


def repair_run(run_dir: Path, notice: Any) -> str:
    """`admf repair`: cuts a damaged journal back to its longest whole prefix that replays, keeping the
    original beside it; says what it kept and dropped."""
    manifest = read_manifest(run_dir)
    if manifest["storage"] != JOURNAL_NAME:
        raise ConfigError(f"{run_dir}: the study is in {manifest['storage']}, not in a journal here; repair that "
                          "database with its own tools")
    journal = run_dir / JOURNAL_NAME
    if not journal.is_file():
        raise StorageError(f"{run_dir}: holds no {JOURNAL_NAME} to repair; start the study with admf run")
    with WriterLock(run_dir, notice):
        repair = repair_journal(journal, manifest["name"])
    if repair is None:
        return f"{journal}: every record is whole and replays; nothing to repair"
    damaged = f", before the damaged line {repair.first_bad_line}" if repair.first_bad_line else ""
    return (f"repaired {journal}: kept {repair.kept_trials} trial(s) in its first {repair.kept_bytes:,} bytes (the "
            f"last whole batch that replays{damaged}); {max(repair.damaged_trials - repair.kept_trials, 0)} more "
            f"trial(s) had been started after it; the original is kept as {repair.original.name}; continue with: "
            f"admf resume {run_dir}")


def study_status(run_dir: Path) -> dict[str, Any]:
    """Counts, best so far, throughput, ETA and whether the run is finished, interrupted or running."""
    manifest = read_manifest(run_dir)
    journal = run_dir / JOURNAL_NAME
    if manifest["storage"] != JOURNAL_NAME:
        storage: Any = manifest["storage"]
    elif not journal.exists():
        raise StorageError(f"{run_dir}: holds no study yet ({JOURNAL_NAME} is missing); start it with admf run")
    else:
        storage = journal_storage(GroupCommitJournal(journal, lambda message: None, read_only=True))
    try:
        study = optuna.load_study(study_name=manifest["name"], storage=storage)
    except KeyError as error:
        raise StorageError(f"{run_dir}: the storage holds no study named '{manifest['name']}'; the run directory "
                           "is damaged or was never started") from error
    trials = study.get_trials(deepcopy=False)
    status = _read_status(run_dir)
    pid = live_writer(run_dir)
    alive = pid is not None
    done = counted([t for t in trials if t.state != TrialState.RUNNING])
    remaining = max(manifest["n_trials"] - done, 0)
    state = "running" if alive else ("finished" if remaining == 0 else "interrupted")
    rate = status.get("trials_per_second")
    counts = tally(trials)
    top = feasible_best(study)
    best = None if top is None else {"number": top.number, "value": top.value, "params": top.params}
    return {"run_dir": str(run_dir), "state": state, "n_trials": manifest["n_trials"], "complete": counts["complete"],
            "infeasible": counts["infeasible"], "failed": counts["failed"], "remaining": remaining,
            "trials_per_second": rate, "eta_seconds": remaining / rate if rate and state == "running" else None,
            "best": best, "pid": pid}
