"""One trial: a fresh container hierarchy for a parameter point, run and summarized as plain data."""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError

from containers.config import BacktestConfig
from containers.event_run import run_event
from containers.factory import periods_per_year
from containers.fast import FastModel
from containers.hub import IndicatorHub
from containers.metrics import METRIC_NAMES
from containers.paths import with_params
from containers.regime_metrics import regime_metrics

TrialResult = dict[str, Any]


def _validation_message(error: ValidationError) -> str:
    return f"invalid parameters: {str(error.errors()[0]['msg']).removeprefix('Value error, ')}"


def evaluate_trial(base: BacktestConfig, number: int, params: dict[str, Any], hub: IndicatorHub,
                   engine: str) -> TrialResult:
    """Builds the trial's own hierarchy from `base` with `params` set, runs it, returns plain data.

    A trial that raises is a result too: state 'failed' with the reason, never an exception.
    """
    started = time.perf_counter()
    result: TrialResult = {"number": number, "params": params, "state": "complete", "error": None,
                           "metrics": None, "regimes": None}
    try:
        config = with_params(base, params)
        if engine == "fast":
            values, regimes = FastModel(config, hub.data, hub).summary()
            result["metrics"] = dict(zip(METRIC_NAMES, map(float, values), strict=True))
            result["regimes"] = regimes
        else:
            outcome = run_event(config, hub.data, precomputed=hub.arrays)
            result["metrics"] = {name: float(value) for name, value in outcome.metrics.items()}
            result["regimes"] = regime_metrics(outcome, config, periods_per_year(config, hub.data))
    except ValidationError as error:
        result.update(state="failed", error=_validation_message(error))
    except Exception as error:  # a failed trial is data: record why and go on
        result.update(state="failed", error=f"{type(error).__name__}: {error}")
    result["seconds"] = time.perf_counter() - started
    return result
