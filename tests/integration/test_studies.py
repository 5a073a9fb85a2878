"""Studies through Optuna: worker count never changes a study; every sampler runs; Pareto fronts."""

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml

from coordinator.config import load_experiment
from coordinator.workflows.runs import start_study
from search.storage import JOURNAL_NAME, load_with_optuna
from tests.acceptance.test_study_resume import study_config


def _run(path: Path, run_dir: Path, workers: int) -> Any:
    return start_study(load_experiment(path), path, run_dir, lambda message: None, workers=workers)


def test_one_and_two_workers_give_identical_studies(ray_cluster: Any, tmp_path: Path) -> None:
    path = study_config(tmp_path, "tpe", 40)
    one, two = _run(path, tmp_path / "one", 1), _run(path, tmp_path / "two", 2)
    columns = [c for c in one.trials.columns if c not in ("seconds", "node", "pid")]
    pd.testing.assert_frame_equal(one.trials[columns], two.trials[columns])
    assert two.trials["pid"].nunique() == 2


@pytest.mark.parametrize("method", ["cmaes", "qmc", "random"])
def test_every_sampler_runs_and_records_in_optuna_storage(tmp_path: Path, method: str) -> None:
    path = study_config(tmp_path, method, 12)
    report = _run(path, tmp_path / "run", 0)
    assert len(report.trials) == 12 and (report.trials["state"] != "running").all()
    study = load_with_optuna(tmp_path / "run" / JOURNAL_NAME, "study")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    expected = report.trials[report.trials["state"] == "complete"]
    np.testing.assert_array_equal([t.value for t in complete], expected["sharpe_ratio"].to_numpy())
    # a failed trial carries its reason; constraints are never broken by a completed one
    failed = report.trials[report.trials["state"] == "failed"]
    assert failed["error"].notna().all()
    assert (expected["param.book.xo.fast"] < expected["param.book.xo.slow"]).all()


def test_nsga2_reports_the_pareto_front(tmp_path: Path) -> None:
    path = study_config(tmp_path, "nsga2", 24)
    raw = yaml.safe_load(path.read_text())
    raw["sweep"]["objectives"] = [{"metric": "sharpe_ratio", "direction": "maximize"},
                                  {"metric": "max_drawdown_pct", "direction": "minimize"}]
    path.write_text(yaml.safe_dump(raw))
    report = _run(path, tmp_path / "run", 0)
    front = report.best
    complete = report.trials[report.trials["state"] == "complete"]
    assert 1 <= len(front) <= len(complete)
    for _, row in complete.iterrows():  # nothing outside the front dominates a front member
        for _, member in front.iterrows():
            assert not (row["sharpe_ratio"] >= member["sharpe_ratio"] and
                        row["max_drawdown_pct"] <= member["max_drawdown_pct"] and
                        (row["sharpe_ratio"] > member["sharpe_ratio"] or
                         row["max_drawdown_pct"] < member["max_drawdown_pct"]))
    study = load_with_optuna(tmp_path / "run" / JOURNAL_NAME, "study")
    assert sorted(t.number for t in study.best_trials) == sorted(front["number"])


def test_min_trades_fails_trials_with_the_reason(tmp_path: Path) -> None:
    path = study_config(tmp_path, "random", 6)
    raw = yaml.safe_load(path.read_text())
    raw["sweep"]["min_trades"] = 100_000
    path.write_text(yaml.safe_dump(raw))
    report = _run(path, tmp_path / "run", 0)
    assert (report.trials["state"] == "failed").all()
    assert report.trials["error"].str.match(r"min_trades: \d+ trades < 100000").all()
