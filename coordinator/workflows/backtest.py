"""BacktestWorkflow: load and validate data, run one FULL backtest, write the run directory."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from containers.data.loader import load_market_data
from containers.data.market import MarketData
from containers.data.split import select_part
from containers.errors import ConfigError, DataError
from containers.factory import check_symbols
from containers.results import BacktestResult
from containers.run import Engine, run_backtest
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


@dataclass(frozen=True)
class BacktestRun:
    directory: Path
    data: MarketData
    result: BacktestResult


def run_backtest_workflow(config: ExperimentConfig, config_path: Path, directory: Path,
                          engine: Engine | None = None) -> BacktestRun:
    data = load_data(config, config_path)
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
        "name": config.name, "type": config.type, "config": config.model_dump(mode="json"),
        "config_hash": config.content_hash(), "data_hash": data.content_hash(),
        "bars": data.n_bars, "symbols": list(data.symbols),
        "first_timestamp": str(pd.Timestamp(data.timestamps[0])),
        "last_timestamp": str(pd.Timestamp(data.timestamps[-1])),
        "admf_version": __version__, "python": platform.python_version(),
    })
    return BacktestRun(directory, data, result)
