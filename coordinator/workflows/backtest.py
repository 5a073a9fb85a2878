"""BacktestWorkflow: load and validate data, run one FULL backtest, write the run directory."""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from containers.data.loader import load_market_data
from containers.data.market import MarketData
from containers.data.split import select_part
from containers.errors import ConfigError, DataError
from containers.factory import check_symbols
from containers.results import BacktestResult
from containers.run import Engine, run_backtest
from containers.signal_patterns import Analysis, Generated, SignalLogs, analyze, generate_signals, run_replay
from coordinator import __version__
from coordinator.config import ExperimentConfig
from coordinator.workspace import ensure_writable, write_json, write_parquet


def load_data(config: ExperimentConfig, config_path: Path) -> MarketData:
    """The part of the data the experiment runs on (full, train or test), validated against the config."""
    try:
        data = load_market_data(config.data, config_path.parent)
        check_symbols(config, data)
        return select_part(data, config.data.split, config.data.use)
    except ConfigError as error:
        raise ConfigError(f"{config_path}: {error}") from error
    except DataError as error:
        if str(error).startswith(("data.", "data:", "the symbols")):  # a rule of the config's data section
            raise DataError(f"{config_path}: {error}") from error
        raise


def signal_folder(config: ExperimentConfig, config_path: Path) -> Path:
    """Where signal logs live: `signals:` (relative to the config file), else runs/signals, shared by every
    run so that an identical variant is written once."""
    if config.signals:
        path = Path(config.signals)
        return path if path.is_absolute() else config_path.parent / path
    return Path("runs") / "signals"


@dataclass(frozen=True)
class GenerationRun:
    directory: Path
    folder: Path
    data: MarketData
    generated: Generated
    analysis: Analysis


def run_generation_workflow(config: ExperimentConfig, config_path: Path, directory: Path,
                            engine: Engine | None = None) -> GenerationRun:
    """SIGNAL_GENERATION: the logs of every classifier and strategy variant, and the run's metadata.json."""
    data = load_data(config, config_path)
    ensure_writable(directory)
    folder = signal_folder(config, config_path)
    ensure_writable(folder)
    generated = generate_signals(config, data, folder, engine=engine or config.execution.engine)
    logs = SignalLogs(config, data, folder)  # the analysis reads what was written
    analysis = analyze(config, data, logs)
    write_parquet(directory / "signals.parquet", analysis.signals)
    write_json(directory / "analysis.json", _finite({
        "summary": analysis.summary.to_dict(orient="records"), "distribution": analysis.distribution,
        "correlation": analysis.correlation.to_dict()}))
    files = {name: str(path) for name, path in generated.files.items()}
    write_json(directory / "metadata.json", {
        "name": config.name, "pattern": config.pattern, "signals": str(folder),
        "config_hash": config.content_hash(), "data_hash": logs.data_hash, "admf_version": __version__,
        "classifiers": [{"name": c.name, "type": c.type, "params": c.params.model_dump(mode="json"),
                         "file": files[f"classifier {c.name}"]} for c in config.classifiers],
        "strategies": [{"portfolio": book.name, "name": s.name, "type": s.type,
                        "params": s.params.model_dump(mode="json"), "file": files[f"strategy {book.name}.{s.name}"]}
                       for c in config.classifiers for book in c.portfolios for s in book.strategies],
        "config": config.model_dump(mode="json"),
    })
    return GenerationRun(directory, folder, data, generated, analysis)


def _finite(value: Any) -> Any:
    """NaN and infinities as JSON's null (a figure with no signal to measure)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


@dataclass(frozen=True)
class BacktestRun:
    directory: Path
    data: MarketData
    result: BacktestResult


def run_backtest_workflow(config: ExperimentConfig, config_path: Path, directory: Path,
                          engine: Engine | None = None) -> BacktestRun:
    """FULL, or SIGNAL_REPLAY of the logs in the config's signal folder; writes the run directory."""
    data = load_data(config, config_path)
    if config.pattern == "signal_replay":  # every log is found and checked before the run directory is made
        logs = SignalLogs(config, data, signal_folder(config, config_path))
        ensure_writable(directory)
        result = run_replay(config, data, logs, engine)
    else:
        ensure_writable(directory)
        result = run_backtest(config, data, engine)
    write_parquet(directory / "equity.parquet", result.equity.reset_index())
    write_parquet(directory / "trades.parquet", result.trades)
    write_parquet(directory / "rejects.parquet", result.rejects)
    write_json(directory / "metrics.json", {
        "total": result.metrics.to_dict(),
        "portfolios": {name: row.to_dict() for name, row in result.portfolio_metrics.iterrows()},
        "unfilled_orders": result.unfilled_orders,
        "open_positions": result.open_positions.to_dict(orient="records"),
        "engine": result.engine,
        "rejected_signals": len(result.rejects),
    })
    write_json(directory / "manifest.json", {
        "name": config.name, "type": config.type, "pattern": config.pattern, "config": config.model_dump(mode="json"),
        "config_hash": config.content_hash(), "data_hash": data.content_hash(),
        "bars": data.n_bars, "symbols": list(data.symbols),
        "first_timestamp": str(pd.Timestamp(data.timestamps[0])),
        "last_timestamp": str(pd.Timestamp(data.timestamps[-1])),
        "admf_version": __version__, "python": platform.python_version(),
    })
    return BacktestRun(directory, data, result)
