"""run_backtest: one FULL backtest with the engine the config (or the caller) names."""

from __future__ import annotations

from typing import Literal

from containers.config import BacktestConfig
from containers.data.market import MarketData
from containers.event_run import run_event
from containers.fast import run_fast
from containers.results import BacktestResult

Engine = Literal["fast", "event"]


def run_backtest(config: BacktestConfig, data: MarketData, engine: Engine | None = None) -> BacktestResult:
    """The fast engine by default, the event engine when asked; both give the same result."""
    if (engine or config.execution.engine) == "fast":
        return run_fast(config, data)
    return run_event(config, data)
