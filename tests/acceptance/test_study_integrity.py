"""Study integrity: model-based samplers stay inside the constraints, a space's key order changes
nothing, and the resume fingerprint covers the libraries that shape results."""

import json
import math
from pathlib import Path

import numba
import numpy
import optuna
import pandas as pd
import pytest
import yaml

from coordinator.fingerprint import code_version
from search.storage import JOURNAL_NAME, load_with_optuna
from tests.acceptance.cli import admf
from tests.acceptance.studies import study_config, trials_of

SMALL_DATA = {"synthetic": {"symbols": ["AAA", "BBB"], "bars": 600, "seed": 3, "freq": "1h"}}
OVERLAPPING = {"book.xo.fast": {"low": 2, "high": 100}, "book.xo.slow": {"low": 2, "high": 100},
               "book.mr.num_std": {"low": 1.0, "high": 3.0}}  # half of this square breaks fast < slow


def test_tpe_spends_at_least_95_percent_of_its_trials_on_feasible_points(tmp_path: Path) -> None:
    config = study_config(tmp_path, "tpe", 200, data=SMALL_DATA, space=OVERLAPPING)
    run_dir = tmp_path / "run"
    done = admf("run", str(config), "--out", str(run_dir))
    assert done.returncode == 0, done.stderr
    trials = trials_of(run_dir)
    assert len(trials) == 200
    feasible = trials["param.book.xo.fast"] < trials["param.book.xo.slow"]  # checked on the stored params
    assert (trials.loc[feasible, "state"] == "complete").all()
    assert (trials.loc[~feasible, "state"] == "infeasible").all()  # recorded as such, never run
    assert feasible.mean() >= 0.95, trials["state"].value_counts().to_dict()
    # the model still steers: after TPE's 10 random startup trials, slow is not stuck near fast
    assert trials["param.book.xo.slow"].nunique() > 20


@pytest.mark.parametrize("method", ["random", "tpe"])
def test_reordering_the_space_keys_gives_the_same_trials(tmp_path: Path, method: str) -> None:
    forward = study_config(tmp_path, method, 24, name="forward", data=SMALL_DATA)
    raw = yaml.safe_load(forward.read_text())
    raw["name"] = "backward"
    raw["sweep"]["space"] = dict(reversed(list(raw["sweep"]["space"].items())))
    assert list(raw["sweep"]["space"]) != list(yaml.safe_load(forward.read_text())["sweep"]["space"])
    backward = tmp_path / "backward.yaml"
    backward.write_text(yaml.safe_dump(raw, sort_keys=False))
    for config in (forward, backward):
        assert admf("run", str(config), "--out", str(tmp_path / config.stem)).returncode == 0
    first, second = trials_of(tmp_path / "forward"), trials_of(tmp_path / "backward")
    pd.testing.assert_frame_equal(first, second[first.columns])
    recorded = [json.loads((tmp_path / stem / "manifest.json").read_text())["fingerprint"]["search space"]
                for stem in ("forward", "backward")]
    assert recorded[0] == recorded[1]  # so a resume after reordering is allowed, and harmless


def test_the_code_version_names_the_libraries_that_shape_results() -> None:
    version = code_version()
    for library, module in (("optuna", optuna), ("numpy", numpy), ("numba", numba)):
        assert f"{library} {module.__version__}" in version


def test_resume_refuses_a_study_started_under_another_optuna(tmp_path: Path) -> None:
    config = study_config(tmp_path, "tpe", 8, data=SMALL_DATA)
    run_dir = tmp_path / "run"
    assert admf("run", str(config), "--out", str(run_dir)).returncode == 0
    manifest = json.loads((run_dir / "manifest.json").read_text())
    recorded = manifest["fingerprint"]["code version"]
    assert f"optuna {optuna.__version__}" in recorded
    manifest["fingerprint"]["code version"] = recorded.replace(f"optuna {optuna.__version__}", "optuna 3.0.0")
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    refused = admf("resume", str(run_dir), "--extend", "4")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "code version" in refused.stderr and "optuna 3.0.0" in refused.stderr


def test_infeasible_points_are_recorded_as_such_and_never_best(tmp_path: Path) -> None:
    """qmc does not learn: its points that break a constraint are told complete with the worst value and
    their constraint values (what a learning sampler reads), exported as 'infeasible', never best."""
    space = {"book.xo.fast": {"low": 2, "high": 100}, "book.xo.slow": {"low": 101, "high": 200}}
    config = study_config(tmp_path, "qmc", 16, data=SMALL_DATA, space=space)
    raw = yaml.safe_load(config.read_text())
    raw["sweep"]["constraints"] = ["book.xo.fast < 30"]
    config.write_text(yaml.safe_dump(raw))
    run_dir = tmp_path / "run"
    assert admf("run", str(config), "--out", str(run_dir)).returncode == 0
    trials = trials_of(run_dir)
    broken = trials["param.book.xo.fast"] >= 30
    assert 0 < broken.sum() < len(trials)
    assert (trials.loc[broken, "state"] == "infeasible").all() and (trials.loc[~broken, "state"] == "complete").all()
    assert trials.loc[broken, "error"].str.startswith("constraint violated: book.xo.fast < 30").all()
    assert trials.loc[broken, "sharpe_ratio"].isna().all()
    study = load_with_optuna(run_dir / JOURNAL_NAME, "study")
    for trial in study.trials:
        fast = trial.params["book.xo.fast"]
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert (trial.value == -math.inf) == (fast >= 30)
        assert trial.system_attrs["constraints:book.xo.fast < 30"] == (fast - 29.0 if fast >= 30 else 0.0)
    status = admf("status", str(run_dir)).stdout
    assert f"{int(broken.sum())} infeasible" in status and f"{int((~broken).sum())} complete" in status
    best = int(status.split("best so far: trial ")[1].split(" ")[0])
    assert best in set(trials.loc[~broken, "number"])
    assert trials.loc[trials["number"] == best, "sharpe_ratio"].item() == trials.loc[~broken, "sharpe_ratio"].max()


def test_qmc_points_depend_only_on_their_place_so_extend_changes_nothing(tmp_path: Path) -> None:
    short = study_config(tmp_path, "qmc", 8, name="short", data=SMALL_DATA)
    whole = study_config(tmp_path, "qmc", 16, name="whole", data=SMALL_DATA)
    assert admf("run", str(short), "--out", str(tmp_path / "short")).returncode == 0
    assert admf("resume", str(tmp_path / "short"), "--extend", "8").returncode == 0
    assert admf("run", str(whole), "--out", str(tmp_path / "whole")).returncode == 0
    pd.testing.assert_frame_equal(trials_of(tmp_path / "short"), trials_of(tmp_path / "whole"))
