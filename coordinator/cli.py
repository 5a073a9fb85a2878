"""The `admf` command line. Every expected failure is one line on stderr and a documented exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from containers.errors import AdmfError, StorageError
from coordinator.config import ExperimentConfig, load_experiment
from coordinator.entry import interrupted
from coordinator.trial_log import PARAM_PREFIX
from coordinator.workflows.backtest import GenerationRun, load_data, run_backtest_workflow, run_generation_workflow
from coordinator.workflows.runs import (
    StudyReport,
    planned_trials,
    read_manifest,
    repair_run,
    resume_study,
    start_study,
    study_status,
)
from coordinator.workspace import run_directory
from workers.cluster import CONNECT_TIMEOUT

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="admf: distributed, resumable backtest optimization.",
)
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigArg = Annotated[Path, typer.Argument(help="Experiment YAML file.", show_default=False)]


class EngineChoice(StrEnum):
    fast = "fast"
    event = "event"


DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]


def _guarded(debug: bool, work: Callable[[], None]) -> None:
    """Runs `work`; turns an AdmfError into one line and its exit code, anything else into exit 1."""
    try:
        work()
    except AdmfError as error:
        if debug:
            raise
        errors.print(f"error: {error}", markup=False)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt as stop:
        raise typer.Exit(interrupted(stop)) from None
    except OSError as error:  # a full disk, a read-only or forbidden folder, an I/O error: storage (exit 5)
        if debug:
            raise
        where = f"{error.filename}: " if getattr(error, "filename", None) else ""
        errors.print(f"error: {where}cannot write or read ({error.strerror or error}); free space or fix the "
                     "folder's permissions, then run the command again", markup=False)
        raise typer.Exit(StorageError.exit_code) from None
    except Exception as error:
        if debug:
            raise
        errors.print(
            f"internal error: {type(error).__name__}: {error} (rerun with --debug for the traceback)", markup=False
        )
        raise typer.Exit(1) from None


def _metrics_table(title: str, metrics: dict[str, float]) -> Table:
    table = Table(title=title, show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        table.add_row(name, f"{value:,.4f}" if abs(value) < 1e15 else f"{value:g}")
    return table


@app.command()
def validate(config: ConfigArg, debug: DebugOpt = False) -> None:
    """Check a config and its data without running anything."""

    def work() -> None:
        experiment = load_experiment(config)
        data = load_data(experiment, config)
        first, last = pd.Timestamp(data.timestamps[0]), pd.Timestamp(data.timestamps[-1])
        study = ""
        if experiment.sweep is not None:  # the trials it would run, and constraints some point meets
            study = f"; sweep: {planned_trials(experiment, config):,} trials ({experiment.sweep.method})"
        console.print(
            f"ok: {config} is valid: {data.n_bars} bars of {', '.join(data.symbols)} from {first} to {last}{study}",
            markup=False,
        )

    _guarded(debug, work)


@app.command()
def backtest(
    config: ConfigArg,
    out: Annotated[str | None, typer.Option("--out", help="Run directory (default runs/<name>).")] = None,
    engine: Annotated[EngineChoice | None, typer.Option("--engine", help="Override execution.engine.")] = None,
    debug: DebugOpt = False,
) -> None:
    """Run one backtest; print its metrics and write metrics.json, equity.parquet, trades.parquet."""

    _guarded(debug, lambda: _backtest(load_experiment(config), config, out, engine))


def _backtest(experiment: ExperimentConfig, config: Path, out: str | None, engine: EngineChoice | None) -> None:
    directory = run_directory(experiment.name, out, experiment.output.dir, config.parent)
    if experiment.pattern == "signal_generation":
        _generation(run_generation_workflow(experiment, config, directory, engine.value if engine else None))
        return
    run = run_backtest_workflow(experiment, config, directory, engine.value if engine else None)
    console.print(_metrics_table(f"{experiment.name}: {run.data.n_bars} bars", run.result.metrics.to_dict()))
    console.print(f"{len(run.result.trades)} fills, {len(run.result.rejects)} vetoed orders "
                  f"({run.result.engine} engine); results in {directory}", markup=False)
    if len(run.result.open_positions):
        console.print(f"{len(run.result.open_positions)} positions left open at the last bar (close_at_end: false); "
                      "see open_positions in metrics.json", markup=False)


def _generation(run: GenerationRun) -> None:
    table = Table(title=f"signal logs in {run.folder}")
    for column in ("variant", "file", "changes"):
        table.add_column(column)
    written = set(run.generated.written)
    for name, path in run.generated.files.items():
        changes = len(pd.read_parquet(path, columns=["bar"]))
        table.add_row(name, path.name + ("" if path in written else " (reused)"), f"{changes:,}")
    console.print(table)
    summary = Table(title="signal analysis (returns signed by direction; MAE/MFE over the next 20 bars)")
    shown = ["signals", "win_rate_1", "expectancy_1", *[f"average_forward_{h}" for h in (1, 5, 10, 20)],
             "average_mae", "average_mfe"]
    for column in ("strategy", "regime", *shown):
        summary.add_column(column.removeprefix("average_"), justify="right")
    for _, row in run.analysis.summary.iterrows():
        summary.add_row(row["strategy"], row["regime"], *[f"{row.get(c, float('nan')):,.4g}" for c in shown])
    console.print(summary)
    console.print(f"{len(run.generated.written)} logs written, {len(run.generated.reused)} reused (identical "
                  f"variants); metadata in {run.directory / 'metadata.json'}", markup=False)


WorkersOpt = Annotated[int | None, typer.Option("--workers", min=0,
                                                help="Actors (default: one per CPU; 0: in this process, no Ray).")]
AddressOpt = Annotated[str | None, typer.Option("--address", help="Join this Ray cluster (host:port).")]
TimeoutOpt = Annotated[float, typer.Option("--connect-timeout", min=0.1,
                                           help="Seconds the --address head has to answer.")]
OutOpt = Annotated[str | None, typer.Option("--out", help="Run directory (default runs/<name>).")]
EngineOpt = Annotated[EngineChoice | None, typer.Option("--engine", help="Override execution.engine.")]


def _report(report: StudyReport, experiment: ExperimentConfig) -> None:
    assert experiment.sweep is not None
    goals = experiment.sweep.goals()
    frame = report.trials
    title = (f"top {len(report.best)} by {goals[0].metric} ({goals[0].direction})" if len(goals) == 1
             else f"Pareto front of {', '.join(f'{g.metric} ({g.direction})' for g in goals)}: {len(report.best)}")
    shown = [g.metric for g in goals] + [m for m in ("total_return_pct", "max_drawdown_pct", "num_trades")
                                         if m not in {g.metric for g in goals}]
    table = Table(title=title)
    params = [column for column in frame.columns if column.startswith(PARAM_PREFIX)]
    for column in ["number", *[p.removeprefix(PARAM_PREFIX) for p in params], *shown]:
        table.add_column(column, justify="right")
    for _, row in report.best.iterrows():
        table.add_row(str(row["number"]), *[str(row[p]) for p in params], *[f"{row[m]:,.4g}" for m in shown])
    console.print(table)
    complete, failed = (frame["state"] == "complete").sum(), (frame["state"] == "failed").sum()
    infeasible = (frame["state"] == "infeasible").sum()
    console.print(f"{complete} complete, {failed} failed" + (f", {infeasible} infeasible" if infeasible else "")
                  + f" of {report.n_trials} trials ({report.seconds:.1f} s this "
                  f"session); results in {report.run_dir / 'trials.parquet'}", markup=False)


def _study(experiment: ExperimentConfig, config: Path, out: str | None, workers: int | None,
           address: str | None, engine: EngineChoice | None, connect_timeout: float) -> None:
    directory = run_directory(experiment.name, out, experiment.output.dir, config.parent)
    report = start_study(experiment, config, directory, _notice, workers=workers, address=address,
                         engine=engine.value if engine else None, connect_timeout=connect_timeout)
    _report(report, experiment)


def _notice(message: str) -> None:
    errors.print(message, markup=False)


@app.command()
def run(config: ConfigArg, out: OutOpt = None, workers: WorkersOpt = None, address: AddressOpt = None,
        engine: EngineOpt = None, connect_timeout: TimeoutOpt = CONNECT_TIMEOUT, debug: DebugOpt = False) -> None:
    """Run an experiment: a backtest, or a study (type: sweep) that admf resume can continue."""

    def work() -> None:
        experiment = load_experiment(config)
        if experiment.type == "backtest":
            _backtest(experiment, config, out, engine)
        else:
            _study(experiment, config, out, workers, address, engine, connect_timeout)

    _guarded(debug, work)


@app.command()
def sweep(config: ConfigArg, out: OutOpt = None, workers: WorkersOpt = None, address: AddressOpt = None,
          engine: EngineOpt = None, connect_timeout: TimeoutOpt = CONNECT_TIMEOUT, debug: DebugOpt = False) -> None:
    """Run the config's sweep as a durable study on Ray (same as admf run for type: sweep)."""
    _guarded(debug, lambda: _study(load_experiment(config), config, out, workers, address, engine, connect_timeout))


@app.command()
def resume(
    run_dir: Annotated[Path, typer.Argument(help="The run directory of an interrupted or finished study.")],
    extend: Annotated[int | None, typer.Option("--extend", min=1, help="Add N trials to the study.")] = None,
    workers: WorkersOpt = None, address: AddressOpt = None, connect_timeout: TimeoutOpt = CONNECT_TIMEOUT,
    debug: DebugOpt = False,
) -> None:
    """Continue a study where it stopped (refuses when its config, space, objective, data or code changed)."""

    def work() -> None:
        report = resume_study(run_dir, _notice, extend, workers=workers, address=address,
                              connect_timeout=connect_timeout)
        _report(report, load_experiment(Path(read_manifest(run_dir)["config_path"])))

    _guarded(debug, work)


@app.command()
def repair(run_dir: Annotated[Path, typer.Argument(help="A study's run directory.")],
           debug: DebugOpt = False) -> None:
    """Cut a damaged study journal back to its longest whole prefix that replays (the original is kept)."""

    _guarded(debug, lambda: console.print(repair_run(run_dir, _notice), markup=False))


@app.command()
def status(run_dir: Annotated[Path, typer.Argument(help="A study's run directory.")],
           debug: DebugOpt = False) -> None:
    """Trials complete/failed/remaining, best so far, throughput, ETA, and the run's state."""

    def work() -> None:
        info = study_status(run_dir)
        rate = f"{info['trials_per_second']:.1f} trials/s" if info["trials_per_second"] else "-"
        eta = f"{info['eta_seconds']:.0f} s" if info["eta_seconds"] is not None else "-"
        best = info["best"]
        console.print(f"{info['run_dir']}: {info['state']}"
                      + (f" (pid {info['pid']})" if info["pid"] and info["pid"] > 0
                         else " (pid unknown: its pid file was deleted)" if info["pid"] else "")
                      + f"; {info['complete']} complete, {info['failed']} failed"
                      + (f", {info['infeasible']} infeasible" if info["infeasible"] else "")
                      + f", {info['remaining']} remaining of "
                      f"{info['n_trials']}; {rate}; ETA {eta}", markup=False)
        if best:
            console.print(f"best so far: trial {best['number']} = {best['value']:.6g} {best['params']}", markup=False)
        if info["state"] == "interrupted":
            console.print(f"continue with: admf resume {run_dir}", markup=False)

    _guarded(debug, work)


def main() -> None:
    """The console script: command-line usage errors are one line and exit 2, like bad configs."""
    try:
        code = app(prog_name="admf", standalone_mode=False)
    except Exception as error:  # click's classes (typer may vendor click): matched by name
        kinds = {cls.__name__ for cls in type(error).__mro__}
        context = getattr(error, "ctx", None)
        if "NoArgsIsHelpError" in kinds and context is not None:
            console.print(context.get_help(), markup=False)
            sys.exit(0)
        if "UsageError" in kinds:
            command = context.command_path if context is not None else "admf"
            errors.print(f"error: {command}: {error.format_message().rstrip('.')}; see {command} --help", markup=False)
            sys.exit(2)
        if "Abort" in kinds:  # click's own Ctrl-C
            sys.exit(interrupted(KeyboardInterrupt()))
        raise
    sys.exit(code or 0)


if __name__ == "__main__":
    sys.exit(main())
