"""Small sweep experiments for the integration tests, and the same trials run in one plain process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from containers.config import BacktestConfig
from containers.hub import IndicatorHub
from coordinator.config import ExperimentConfig, load_experiment
from coordinator.sweep_plan import search_space
from coordinator.workflows.backtest import load_data
from workers.trials import evaluate_trial


def sweep_experiment(tmp_path: Path, space: dict[str, Any], constraints: list[str] | None = None,
                     name: str = "it-sweep", method: str = "grid", n_trials: int | None = None) -> Path:
    config = {
        "name": name, "type": "sweep",
        "data": {"synthetic": {"symbols": ["AAA", "BBB"], "bars": 1500, "seed": 5, "freq": "1h"}},
        "execution": {"commission": {"type": "percentage", "rate_pct": 0.05}},
        "classifiers": [{"name": "vol", "type": "volatility", "params": {"fast": 10, "slow": 40}, "portfolios": [
            {"name": "book", "capital": 100_000, "sizer": {"type": "percentage", "pct": 40},
             "strategies": [{"name": "xo", "type": "ma_crossover", "symbols": ["AAA"]},
                            {"name": "mr", "type": "mean_reversion", "symbols": ["BBB"]}]}]}],
        "sweep": {"method": method, "n_trials": n_trials, "space": space, "constraints": constraints or [],
                  "batch_size": 4},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def sequential_results(config_path: Path) -> dict[int, dict[str, Any]]:
    """Every trial of the sweep evaluated in this process, without Ray, keyed by trial number."""
    experiment: ExperimentConfig = load_experiment(config_path)
    data = load_data(experiment, config_path)
    base = BacktestConfig.model_validate(experiment.model_dump(include={"data", "execution", "classifiers"}))
    space = search_space(experiment)
    assert experiment.sweep is not None and experiment.sweep.method == "grid"
    points = enumerate(space.grid())  # trial k of a grid study is the k-th feasible grid point
    hub = IndicatorHub(data, [])
    return {number: evaluate_trial(base, number, params, hub, "fast") for number, params in points}
