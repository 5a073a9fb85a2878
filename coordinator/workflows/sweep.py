"""SweepWorkflow: publish features once, evaluate every trial on the actor pool, stream results to disk."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from containers.config import BacktestConfig
from containers.errors import ConfigError
from coordinator.config import ExperimentConfig
from coordinator.sweep_plan import indicator_plan, search_space, trial_points
from coordinator.trial_log import TrialLog
from coordinator.workflows.backtest import load_data
from coordinator.workspace import ensure_writable, write_json
from workers.cluster import connect
from workers.features import publish_features
from workers.pool import TrialPool, auto_batch_size


@dataclass(frozen=True)
class SweepSummary:
    directory: Path
    trials: int
    completed: int
    failed: int
    seconds: float
    workers: int
    batch_size: int
    top: pd.DataFrame
    published_indicators: dict[str, int]
    nodes: list[str]


def _progress(console: Console, objective: str) -> Progress:
    return Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]:>8.1f} trials/s"), TimeRemainingColumn(),
                    TextColumn(f"best {objective} " + "{task.fields[best]}"), console=console,
                    transient=False, disable=not console.is_terminal)


def run_sweep(experiment: ExperimentConfig, config_path: Path, directory: Path, address: str | None = None,
              workers: int | None = None, batch_size: int | None = None, engine: str | None = None,
              console: Console | None = None,
              on_batch: Callable[[TrialPool, list[dict[str, Any]]], None] | None = None) -> SweepSummary:
    """Runs every trial of the experiment's sweep on Ray; `on_batch` sees each finished batch (tests use it)."""
    sweep = experiment.sweep
    if sweep is None:
        raise ConfigError(f"{config_path}: no 'sweep' section; add one (space, method...) to run admf sweep")
    data = load_data(experiment, config_path)
    ensure_writable(directory)
    space = search_space(experiment)
    try:
        count, points = trial_points(experiment, space)
    except ValueError as error:
        raise ConfigError(f"{config_path}: {error}") from error
    if count == 0:
        raise ConfigError(f"{config_path}: sweep: no trial satisfies the constraints; loosen them")
    console = console or Console(stderr=True)
    base = BacktestConfig.model_validate(experiment.model_dump(include={"data", "execution", "classifiers"}))
    chosen_engine = engine or experiment.execution.engine
    with connect(address):
        features, hub = publish_features(data, indicator_plan(experiment, space), key=data.content_hash())
        pool = TrialPool(base, chosen_engine, workers or sweep.workers)
        size = batch_size or sweep.batch_size or auto_batch_size(count, len(pool.actors))
        log = TrialLog(directory / "trials.parquet", dict(sweep.space), sweep.objective,
                       sweep.direction == "maximize", sweep.top)
        started = time.perf_counter()
        try:
            with _progress(console, sweep.objective) as progress:
                task = progress.add_task("sweep", total=count, rate=0.0, best="-")

                def record(results: list[dict[str, Any]]) -> None:
                    log.write(results)
                    best = log.best()
                    done = log.completed + log.failed
                    progress.update(task, completed=done, rate=done / max(time.perf_counter() - started, 1e-9),
                                    best="-" if best is None else f"{best[sweep.objective]:.4g}")
                    if on_batch is not None:
                        on_batch(pool, results)

                pool.run(features, points, size, record)
        finally:
            log.close()
            pool.close()
    seconds = time.perf_counter() - started
    summary = SweepSummary(directory, count, log.completed, log.failed, seconds, len(pool.actors), size, log.top(),
                           dict(hub.computations), sorted({identity["node"] for identity in pool.identities}))
    write_json(directory / "sweep.json", {
        "name": experiment.name, "trials": count, "completed": summary.completed, "failed": summary.failed,
        "seconds": seconds, "trials_per_second": count / seconds if seconds > 0 else None,
        "workers": summary.workers, "batch_size": size, "engine": chosen_engine, "objective": sweep.objective,
        "direction": sweep.direction, "config": experiment.model_dump(mode="json"),
        "config_hash": experiment.content_hash(), "data_hash": data.content_hash(),
        "published_indicators": len(summary.published_indicators),
    })
    return summary
