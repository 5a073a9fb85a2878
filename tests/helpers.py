"""Small builders shared by the tests: hand-made bars and configs."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from containers.config import BacktestConfig
from containers.data.market import MarketData


def bars(closes: list[float], opens: list[float] | None = None, freq: str = "D",
         start: str = "2024-01-01", symbols: tuple[str, ...] = ("X",)) -> MarketData:
    """One symbol (or the same path for several) with high/low half a unit outside open/close."""
    close = np.asarray(closes, dtype=np.float64)
    open_ = np.asarray(opens if opens is not None else closes, dtype=np.float64)
    columns = {
        "open": open_, "close": close,
        "high": np.maximum(open_, close) + 0.5, "low": np.minimum(open_, close) - 0.5,
        "volume": np.full(len(close), 1000.0),
    }
    stamps = np.arange(len(close)) * np.timedelta64(1, freq) + np.datetime64(start, "ns")
    return MarketData(timestamps=stamps.astype("datetime64[ns]"), symbols=symbols,
                      **{name: np.repeat(values[:, None], len(symbols), axis=1) for name, values in columns.items()})


def portfolio(name: str = "p", capital: float = 1000.0, strategies: list[dict[str, Any]] | None = None,
              **extra: Any) -> dict[str, Any]:
    return {"name": name, "capital": capital,
            "strategies": strategies or [{"name": "xo", "type": "ma_crossover", "params": {"fast": 1, "slow": 2}}],
            **extra}


def config(portfolios: list[dict[str, Any]] | None = None, classifier: str = "none",
           execution: dict[str, Any] | None = None, classifier_params: dict[str, Any] | None = None,
           extra_classifiers: list[dict[str, Any]] | None = None) -> BacktestConfig:
    """A backtest config over synthetic data (the tests pass their own MarketData to run it)."""
    return BacktestConfig.model_validate({
        "data": {"synthetic": {"symbols": ["X"]}},
        "execution": execution or {"commission": {"type": "none"}},
        "classifiers": [{"name": "regime", "type": classifier, "params": classifier_params or {},
                         "portfolios": portfolios or [portfolio()]}, *(extra_classifiers or [])],
    })


DELETE = object()  # as a value for `edit`: remove the key


def edit(base: dict[str, Any], *changes: tuple[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with each dotted path ('a.0.b') set (or deleted with DELETE)."""
    config = copy.deepcopy(base)
    for path, value in changes:
        *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
        node = config
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return config
