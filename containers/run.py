"""run_backtest: one FULL backtest with the engine the config (or the caller) names."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from containers.config import BacktestConfig
from containers.data.market import MarketData
from containers.event_run import run_event
from containers.fast import fast_unsupported, run_fast
from containers.results import BacktestResult

Engine = Literal["fast", "event"]


def run_backtest(config: BacktestConfig, data: MarketData, engine: Engine | None = None) -> BacktestResult:
    """Fast engine by default; a config the kernel cannot run falls back to the event engine and says why."""
    chosen = engine or config.execution.engine
    if chosen == "fast":
        reason = fast_unsupported(config)
        if reason is None:
            return run_fast(config, data)
        return replace(run_event(config, data), fallback=f"fast engine unavailable ({reason}); used the event engine")
    return run_event(config, data)
