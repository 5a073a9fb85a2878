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

from containers.errors import AdmfError
from coordinator.config import ExperimentConfig, load_experiment
from coordinator.trial_log import PARAM_PREFIX
from coordinator.workflows.backtest import load_data, run_backtest_workflow
from coordinator.workflows.sweep import SweepSummary, run_sweep
from coordinator.workspace import run_directory

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
    except KeyboardInterrupt:
        errors.print("interrupted", markup=False)
        raise typer.Exit(130) from None
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
        console.print(
            f"ok: {config} is valid: {data.n_bars} bars of {', '.join(data.symbols)} from {first} to {last}",
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

    def work() -> None:
        experiment = load_experiment(config)
        directory = run_directory(experiment.name, out, experiment.output.dir, config.parent)
        run = run_backtest_workflow(experiment, config, directory, engine.value if engine else None)
        if run.result.fallback:
            errors.print(f"note: {run.result.fallback}", markup=False)
        console.print(_metrics_table(f"{experiment.name}: {run.data.n_bars} bars", run.result.metrics.to_dict()))
        console.print(
            f"{len(run.result.trades)} fills, {len(run.result.rejects)} vetoed signals "
            f"({run.result.engine} engine); results in {directory}",
            markup=False,
        )

    _guarded(debug, work)


@app.command()
def sweep(
    config: ConfigArg,
    address: Annotated[str | None, typer.Option("--address", help="Join this Ray cluster (host:port).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Actors (default: one per CPU).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Trials per batch (default: auto).")]
    = None,
    engine: Annotated[EngineChoice | None, typer.Option("--engine", help="Override execution.engine.")] = None,
    out: Annotated[str | None, typer.Option("--out", help="Run directory (default runs/<name>).")] = None,
    debug: DebugOpt = False,
) -> None:
    """Run every trial of the config's sweep in parallel on Ray; stream them to trials.parquet."""

    def work() -> None:
        experiment = load_experiment(config)
        directory = run_directory(experiment.name, out, experiment.output.dir, config.parent)
        summary = run_sweep(experiment, config, directory, address, workers, batch_size,
                            engine.value if engine else None, console=errors)
        console.print(_top_table(summary, experiment))
        rate = summary.trials / summary.seconds if summary.seconds > 0 else float("nan")
        console.print(f"{summary.completed} complete, {summary.failed} failed of {summary.trials} trials in "
                      f"{summary.seconds:.1f} s ({rate:.1f} trials/s, {summary.workers} workers, batches of "
                      f"{summary.batch_size}); results in {directory / 'trials.parquet'}", markup=False)

    _guarded(debug, work)


def _top_table(summary: SweepSummary, experiment: ExperimentConfig) -> Table:
    assert experiment.sweep is not None
    objective = experiment.sweep.objective
    shown = [objective, *[m for m in ("total_return_pct", "max_drawdown_pct", "num_trades") if m != objective]]
    table = Table(title=f"top {len(summary.top)} by {objective} ({experiment.sweep.direction})")
    params = [column for column in summary.top.columns if column.startswith(PARAM_PREFIX)]
    for column in ["number", *[p.removeprefix(PARAM_PREFIX) for p in params], *shown]:
        table.add_column(column, justify="right")
    for _, row in summary.top.iterrows():
        table.add_row(str(row["number"]), *[str(row[p]) for p in params], *[f"{row[m]:,.4g}" for m in shown])
    return table


def main() -> None:
    app(prog_name="admf")


if __name__ == "__main__":
    sys.exit(main())
