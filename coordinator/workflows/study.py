"""Deterministic, resumable studies: ask a batch, make it durable, evaluate, tell in trial-number order.

Each trial's sampler is a pure function of (config, seed, the trial's position in the sequence) and of
what the storage holds, so a study resumed after a crash asks exactly what the uninterrupted one would
have, and the number of workers never changes a result. One storage commit (write + fsync) covers the tells of a
batch and the asks of the next one: a crash loses at most the batch in flight, which resume
re-evaluates under its own trial numbers.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from containers.config import BacktestConfig
from containers.errors import AdmfError, ConfigError, StorageError
from coordinator.config import ExperimentConfig
from coordinator.evaluators import Evaluator, LocalEvaluator, RayEvaluator
from coordinator.sweep_plan import indicator_plan, search_space
from coordinator.trial_log import ERROR_ATTR
from coordinator.workflows.backtest import load_data
from coordinator.workspace import write_json
from search.samplers import qmc_points, trial_sampler
from search.space import SearchSpace, distribution
from search.storage import StudyStorage
from workers.cluster import CONNECT_TIMEOUT
from workers.trials import TrialResult

INDEX_ATTR = "admf_index"
INFEASIBLE = "infeasible"
INTERRUPTED = "interrupted while being asked; asked again"
RAY_LOG = "ray.log"  # Ray's native log lines during the run (kept off the terminal)
optuna.logging.set_verbosity(optuna.logging.WARNING)


class StudyInterrupted(AdmfError):
    """Ctrl-C or SIGTERM: the batch in flight was finished and stored; the run can be resumed."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class StudyRun:
    """One session of a study (a start or a resume)."""

    experiment: ExperimentConfig
    config_path: Path
    run_dir: Path
    n_trials: int
    notice: Callable[[str], None]
    workers: int | None = None
    address: str | None = None
    engine: str | None = None
    on_batch: Callable[[Any, list[int]], None] | None = None  # (evaluator, trial numbers); tests use it
    connect_timeout: float = CONNECT_TIMEOUT
    stop_signal: list[int] = field(default_factory=list)
    evaluating: bool = False  # the evaluator is up: a signal now waits for the batch in flight
    progress_console: Console | None = None

    @property
    def sweep(self) -> Any:
        assert self.experiment.sweep is not None
        return self.experiment.sweep


def _progress(console: Console | None, metric: str) -> Progress:
    """trials done / total, trials/s, ETA and best so far; drawn only on a terminal."""
    console = console or Console(stderr=True)
    return Progress(TextColumn("[bold]study"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]:>8.1f} trials/s"), TimeRemainingColumn(),
                    TextColumn(f"best {metric} " + "{task.fields[best]}"), console=console,
                    disable=not console.is_terminal)


def resume_command(run_dir: Path) -> str:
    return f"admf resume {run_dir}"


def _signal_name(signum: int) -> str:
    return "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"


@contextmanager
def stop_handlers(run: StudyRun) -> Iterator[None]:
    """Ctrl-C and SIGTERM: while the study starts (the manifest, the data, joining the cluster) they stop
    at once, with exit 128+signal; once the evaluator is up, after the batch in flight is stored."""
    def stop(signum: int, frame: FrameType | None) -> None:
        run.stop_signal.append(signum)
        if not run.evaluating:  # a KeyboardInterrupt: Ray's waits and connect loops pass only that on
            raise KeyboardInterrupt(signum)
        run.notice("stopping after the batch in flight (its trials will be stored) ...")

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except KeyboardInterrupt:  # Ray's waits raise their own: the signal's number is in stop_signal
        signum = run.stop_signal[0] if run.stop_signal else signal.SIGINT
        raise StudyInterrupted(f"{_signal_name(signum)}: stopped while starting, before any trial of this "
                               "session ran; run the same command again to go on", 128 + signum) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _evaluator(run: StudyRun, data: Any, space: SearchSpace) -> Evaluator:
    base = BacktestConfig.model_validate(run.experiment.model_dump(include={"data", "execution", "classifiers"}))
    engine = run.engine or run.experiment.execution.engine
    specs = indicator_plan(run.experiment, space, data.n_bars, data.n_symbols)
    workers = run.workers if run.workers is not None else run.sweep.workers
    if workers == 0:
        return LocalEvaluator(base, data, specs, engine)
    return RayEvaluator(base, data, specs, engine, workers, run.address, run.connect_timeout,
                        run.run_dir / RAY_LOG)


def feasible_best(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The best complete trial that met the constraints, for a single-objective study (else None)."""
    if len(study.directions) != 1:
        return None
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if ERROR_ATTR not in t.system_attrs]
    if not complete:
        return None
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else 1.0
    return max(complete, key=lambda trial: (sign * trial.value, -trial.number))


def tally(trials: list[optuna.trial.FrozenTrial]) -> dict[str, int]:
    """complete / infeasible / failed / running, as trials.parquet names them (a trial failed as
    'interrupted while asked' and asked again is in none: its place went to the next one)."""
    counts = {"complete": 0, "infeasible": 0, "failed": 0, "running": 0}
    for trial in trials:
        error = trial.system_attrs.get(ERROR_ATTR)
        if trial.state == TrialState.RUNNING:
            counts["running"] += 1
        elif trial.state == TrialState.COMPLETE:
            counts["infeasible" if error is not None else "complete"] += 1
        elif error != INTERRUPTED:
            counts["failed"] += 1
    return counts


def counted(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Trials that take a place in the sequence (those failed as 'interrupted while asked' do not)."""
    return sum(1 for trial in trials if trial.system_attrs.get(ERROR_ATTR) != INTERRUPTED)


class StudyDriver:
    """The ask → commit → evaluate → tell loop over one Optuna study."""

    def __init__(self, run: StudyRun, storage: StudyStorage, space: SearchSpace) -> None:
        self.run, self.storage, self.space = run, storage, space
        sweep = run.sweep
        self.goals = sweep.goals()
        self.study = optuna.create_study(
            study_name=run.experiment.name, storage=storage.optuna, load_if_exists=True,
            directions=[goal.direction for goal in self.goals])
        self.distributions = {path: distribution(spec) for path, spec in space.parameters.items()}
        # a capped grid's order extends with --extend (run.n_trials counts the extension)
        count = None if sweep.n_trials is None else run.n_trials
        self.grid = space.grid_plan(count, sweep.seed) if sweep.method == "grid" else None
        self.started = time.perf_counter()
        self.session_trials = 0

    def recover(self) -> list[tuple[int, dict[str, Any]]]:
        """RUNNING trials left by a crash: fail (and re-ask) those cut short while being asked, keep the
        fully asked ones, and ask the rest of their batch (a database stores each ask on its own, so a
        crash can leave a batch half asked): the batch is then evaluated whole, as it would have been."""
        again = []
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if set(trial.params) == set(self.distributions):
                again.append((trial.number, dict(trial.params)))
            else:
                self.storage.optuna.set_trial_system_attr(trial._trial_id, ERROR_ATTR, INTERRUPTED)
                self.study.tell(trial.number, state=TrialState.FAIL)
        if not again:
            return []
        self.run.notice(f"re-evaluating {len(again)} trial(s) of the batch that was in flight")
        # the batch's first place in the sequence: every trial before it is finished
        first = counted([t for t in self.study.get_trials(deepcopy=False) if t.state != TrialState.RUNNING])
        missing = self._batch_count(first) - len(again)
        if missing > 0:
            again += self.ask(missing)
        return again

    def _wanted(self) -> int:
        return self.run.n_trials if self.grid is None else min(self.run.n_trials, len(self.grid))

    def _batch_count(self, position: int) -> int:
        """How many trials the batch starting at `position` asks."""
        return max(0, min(self.run.sweep.batch_size, self._wanted() - position))

    def ask(self, count: int) -> list[tuple[int, dict[str, Any]]]:
        trials = self.study.get_trials(deepcopy=False)
        first_number, position = len(trials), counted(trials)
        sweep = self.run.sweep
        points = None
        if sweep.method == "grid":
            assert self.grid is not None
            points = {first_number + i: self.grid[position + i] for i in range(count)}
        elif sweep.method == "random":
            try:
                points = {first_number + i: self.space.random_point(sweep.seed, position + i) for i in range(count)}
            except ValueError as error:
                raise ConfigError(f"{self.run.config_path}: sweep: {error}") from error
        elif sweep.method == "qmc":
            drawn = qmc_points(self.distributions, sweep.seed, position, count)
            points = {first_number + i: point for i, point in enumerate(drawn)}
        asked = []
        for i in range(count):
            self.study.sampler = trial_sampler(sweep.method, self.space, sweep.seed, position + i, points,
                                               self.distributions)
            trial = self.study.ask(fixed_distributions=self.distributions)
            self.storage.optuna.set_trial_system_attr(trial._trial_id, INDEX_ATTR, position + i)
            for constraint in self.space.constraints:  # <= 0 feasible, as Optuna's samplers read it
                trial.set_constraint(constraint.text, constraint.violation(trial.params, self.space.base))
            asked.append((trial.number, dict(trial.params)))
        return asked

    def tell(self, asked: list[tuple[int, dict[str, Any]]], results: dict[int, TrialResult]) -> None:
        ids = {trial.number: trial._trial_id for trial in self.study.get_trials(deepcopy=False)}
        for number, _ in sorted(asked):
            result = results[number]
            reason = result["error"]
            trial_id = ids[number]
            if result["metrics"] is not None:
                self.storage.optuna.set_trial_user_attr(trial_id, "metrics", result["metrics"])
                self.storage.optuna.set_trial_user_attr(trial_id, "regimes", result["regimes"])
            self.storage.optuna.set_trial_user_attr(trial_id, "worker", {
                "seconds": result.get("seconds"), "node": result.get("node"), "pid": result.get("pid")})
            values = None
            if reason is None:
                metrics = result["metrics"]
                minimum = self.run.sweep.min_trades
                if minimum is not None and metrics["num_trades"] < minimum:
                    reason = f"min_trades: {metrics['num_trades']:.0f} trades < {minimum}"
                else:
                    values = [metrics[goal.metric] for goal in self.goals]
                    if any(math.isnan(value) for value in values):
                        reason, values = "objective is NaN", None
            if values is None and result.get("state") == INFEASIBLE and self.run.sweep.method not in ("grid", "random"):
                # complete with the worst value and its constraint values: Optuna's samplers learn from
                # complete infeasible trials (a failed one they never read); exported as 'infeasible'
                self.storage.optuna.set_trial_system_attr(trial_id, ERROR_ATTR, reason)
                self.study.tell(number, [math.inf if goal.direction == "minimize" else -math.inf
                                         for goal in self.goals])
            elif values is None:
                self.storage.optuna.set_trial_system_attr(trial_id, ERROR_ATTR, reason)
                self.study.tell(number, state=TrialState.FAIL)
            else:
                self.study.tell(number, values)
        self.session_trials += len(asked)

    def infeasible(self, asked: list[tuple[int, dict[str, Any]]]) -> dict[int, TrialResult]:
        """Points a sampler proposed against the constraints fail without running."""
        failed = {}
        for number, params in asked:
            broken = [c.text for c in self.space.constraints if not c.holds(params, self.space.base)]
            if broken:
                failed[number] = {"number": number, "params": params, "state": INFEASIBLE, "metrics": None,
                                  "regimes": None, "error": f"constraint violated: {'; '.join(broken)}"}
        return failed

    def write_status(self, state: str) -> None:
        trials = self.study.get_trials(deepcopy=False)
        done = [t for t in trials if t.state != TrialState.RUNNING]
        seconds = time.perf_counter() - self.started
        write_json(self.run.run_dir / "status.json", {
            "state": state, "pid": os.getpid(), "updated": time.time(), "n_trials": self.run.n_trials,
            "done": counted(done), **{key: value for key, value in tally(trials).items() if key != "running"},
            "session_seconds": seconds,
            "session_trials": self.session_trials,
            "trials_per_second": self.session_trials / seconds if seconds > 0 else None})

    def progress_fields(self) -> dict[str, Any]:
        """trials/s of this session and the best objective so far, for the progress bar."""
        seconds = time.perf_counter() - self.started
        best = "-"
        best_trial = feasible_best(self.study)
        if best_trial is not None:
            best = f"{best_trial.value:.4g}"
        return {"rate": self.session_trials / seconds if seconds > 0 else 0.0, "best": best}

    def drive(self, evaluator: Evaluator) -> None:
        with _progress(self.run.progress_console, self.goals[0].metric) as bar:
            task = bar.add_task("study", total=self.run.n_trials, completed=self._done(), **self.progress_fields())
            self._loop(evaluator, lambda: bar.update(task, completed=self._done(), **self.progress_fields()))

    def _done(self) -> int:
        return counted([t for t in self.study.get_trials(deepcopy=False) if t.state != TrialState.RUNNING])

    def _loop(self, evaluator: Evaluator, show: Callable[[], None]) -> None:
        pending = self.recover()
        batch_size = self.run.sweep.batch_size
        while True:
            if not pending:
                remaining = self._wanted() - counted(self.study.get_trials(deepcopy=False))
                if remaining <= 0:
                    break
                pending = self.ask(min(batch_size, remaining))
            self.storage.commit()  # the previous batch's tells and this batch's asks, durable together
            failed = self.infeasible(pending)
            results = evaluator.evaluate([trial for trial in pending if trial[0] not in failed])
            results.update(failed)
            self.tell(pending, results)
            if self.run.on_batch is not None:
                self.run.on_batch(evaluator, [number for number, _ in pending])
            pending = []
            self.write_status("running")
            show()
            if self.run.stop_signal:
                self.storage.commit()
                self.write_status("interrupted")
                signum = self.run.stop_signal[0]
                raise StudyInterrupted(f"{_signal_name(signum)}: stopped after storing the batch in flight; "
                                       f"continue with: {resume_command(self.run.run_dir)}", 128 + signum)
        self.storage.commit()
        self.write_status("finished")


def _holds_trials(driver: StudyDriver) -> bool:
    """Whether the storage holds any trial (then the run can be resumed); False when it cannot say."""
    try:
        return bool(driver.study.get_trials(deepcopy=False))
    except Exception:
        return False


def execute(run: StudyRun) -> optuna.Study:
    """Runs (or continues) the study until it has `n_trials` trials; returns it for reporting. Call it
    inside `stop_handlers(run)`."""
    data = load_data(run.experiment, run.config_path)
    space = search_space(run.experiment)
    storage = StudyStorage(run.run_dir, run.sweep.storage, run.notice)
    evaluator: Evaluator | None = None
    finished = False
    try:
        driver = StudyDriver(run, storage, space)
        evaluator = _evaluator(run, data, space)
        run.evaluating = True
        driver.write_status("running")
        try:
            driver.drive(evaluator)
        except StudyInterrupted:
            raise
        except Exception as error:
            hint = f"; the study is stored, continue with: {resume_command(run.run_dir)}" if _holds_trials(driver) \
                else ""
            if isinstance(error, AdmfError):
                raise type(error)(f"{error}{hint}") from error
            if isinstance(error, OSError):  # a full disk, a read-only or forbidden folder: storage, exit 5
                raise StorageError(f"{getattr(error, 'filename', None) or run.run_dir}: cannot write "
                                   f"({error.strerror or error}); free space or fix the folder's permissions"
                                   f"{hint}") from error
            raise AdmfError(f"{type(error).__name__}: {error}{hint}") from error
        finished = True
        return driver.study
    finally:
        if evaluator is not None:
            evaluator.close()
        if not finished and storage.journal is not None:
            storage.journal.discard()  # a batch an error cut short is not made durable half-done
        storage.close()
