"""Sweeps on a real local Ray: parallel equals sequential, killed actors, failed trials, shared features."""

import json
import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import ray

from containers.metrics import METRIC_NAMES
from coordinator.config import load_experiment
from coordinator.sweep_plan import indicator_plan, search_space
from coordinator.workflows.backtest import load_data
from coordinator.workflows.runs import start_study
from tests.integration.sweeps import sequential_results, sweep_experiment
from workers.features import publish_features
from workers.pool import TrialActor

SPACE = {"book.xo.fast": {"low": 4, "high": 16, "step": 4}, "book.xo.slow": [20, 40],
         "book.mr.num_std": [1.5, 2.5], "book.mr.period": [10, 30]}


def _assert_same_as_sequential(trials: pd.DataFrame, expected: dict[int, dict[str, Any]]) -> None:
    assert sorted(trials["number"]) == sorted(expected)  # every trial exactly once
    for _, row in trials.iterrows():
        want = expected[row["number"]]
        assert row["state"] == want["state"]
        np.testing.assert_array_equal(row[list(METRIC_NAMES)].to_numpy(dtype=float),
                                      [want["metrics"][m] for m in METRIC_NAMES])
        assert json.loads(row["regimes_json"]) == json.loads(json.dumps(want["regimes"]))


def _sweep(path: Path, run_dir: Path, workers: int = 2, on_batch: Any = None) -> Any:
    return start_study(load_experiment(path), path, run_dir, lambda message: None, workers=workers,
                       on_batch=on_batch)


def test_parallel_sweep_equals_sequential_trial_by_trial(ray_cluster: Any, tmp_path: Path) -> None:
    path = sweep_experiment(tmp_path, SPACE)
    report = _sweep(path, tmp_path / "run")
    trials = pd.read_parquet(tmp_path / "run" / "trials.parquet")
    assert report.n_trials == len(trials) == 32 and (trials["state"] == "complete").all()
    assert trials["pid"].nunique() == 2  # both actors took part
    _assert_same_as_sequential(trials, sequential_results(path))


def test_sigkilled_actor_is_restarted_and_every_trial_counted_once(ray_cluster: Any, tmp_path: Path) -> None:
    path = sweep_experiment(tmp_path, SPACE)
    killed: list[int] = []

    def kill_one_actor(evaluator: Any, numbers: list[int]) -> None:
        if not killed:
            pid = evaluator.pool.identities[0]["pid"]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    _sweep(path, tmp_path / "run", on_batch=kill_one_actor)
    trials = pd.read_parquet(tmp_path / "run" / "trials.parquet")
    assert killed and (trials["state"] == "complete").sum() == 32
    assert trials["number"].is_unique
    assert trials["pid"].nunique() >= 3  # the killed actor came back as a new process
    _assert_same_as_sequential(trials, sequential_results(path))


def test_a_trial_that_raises_is_recorded_and_the_sweep_goes_on(ray_cluster: Any, tmp_path: Path) -> None:
    space = {"book.xo.fast": [5, 10, 30, 35], "book.xo.slow": [30]}  # fast >= slow is invalid
    path = sweep_experiment(tmp_path, space)
    _sweep(path, tmp_path / "run")
    trials = pd.read_parquet(tmp_path / "run" / "trials.parquet").sort_values("number")
    assert list(trials["state"]) == ["complete", "complete", "failed", "failed"]
    assert trials["error"].iloc[2] == "invalid parameters: fast (30) must be smaller than slow (30)"
    assert trials["sharpe_ratio"].iloc[2:].isna().all() and trials["sharpe_ratio"].iloc[:2].notna().all()


def test_features_are_computed_once_published_once_and_read_only(ray_cluster: Any, tmp_path: Path) -> None:
    space = {**SPACE, "book.mr.exit_z": {"low": 0.1, "high": 0.5}}  # continuous, feeds no indicator
    path = sweep_experiment(tmp_path, space, method="random", n_trials=10)
    experiment = load_experiment(path)
    data = load_data(experiment, path)
    specs = indicator_plan(experiment, search_space(experiment), data.n_bars, data.n_symbols)
    features, hub = publish_features(data, specs, key="it")
    assert set(hub.computations.values()) == {1} and len(hub.computations) == len(specs)
    assert {"sma_4", "sma_16", "sma_40", "bollinger_10_1.5.upper", "bollinger_30_2.5.lower"} <= set(features.published)
    actor = TrialActor.remote(experiment.model_dump(mode="json", include={"data", "execution", "classifiers"}),
                              "fast")
    box = [features]
    assert ray.get(actor.shared_arrays_are_read_only.remote(box)) is True
    results = ray.get(actor.run.remote(box, [(0, {"book.xo.fast": 8, "book.xo.slow": 40}),
                                             (1, {"book.xo.fast": 7, "book.xo.slow": 40})]))
    assert [r["state"] for r in results] == ["complete", "complete"]
    # sma_8 was published; sma_7 (outside the grid) was computed on the actor, once, and cached there
    assert ray.get(actor.own_computations.remote(box)) == {"sma_7": 1}
    ray.kill(actor)


def test_unreachable_address_is_a_one_line_error(tmp_path: Path) -> None:
    from tests.acceptance.cli import admf

    path = sweep_experiment(tmp_path, {"book.xo.fast": [5, 10]})
    done = admf("sweep", str(path), "--address", "127.0.0.1:9", "--out", str(tmp_path / "out"))
    assert done.returncode == 4
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "cannot reach a Ray head at 127.0.0.1:9" in done.stderr


def test_an_address_that_is_not_a_ray_head_is_refused_at_once_and_leaves_nothing(tmp_path: Path) -> None:
    """A port where another service listens (here a web server) used to hang in ray.init for minutes."""
    import socket
    import threading
    import time

    from tests.acceptance.cli import admf

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            with client:
                client.recv(1024)
                client.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    path = sweep_experiment(tmp_path, {"book.xo.fast": [5, 10]})
    started = time.monotonic()
    try:
        done = admf("sweep", str(path), "--address", f"127.0.0.1:{port}", "--out", str(tmp_path / "out"))
    finally:
        server.close()
    assert time.monotonic() - started < 60
    assert done.returncode == 4 and done.stderr.count("\n") == 1, done.stderr
    assert f"--address 127.0.0.1:{port}: the service there is not a Ray head" in done.stderr
    assert not (tmp_path / "out" / "manifest.json").exists()  # the same --out takes the next start
    assert admf("sweep", str(path), "--workers", "0", "--out", str(tmp_path / "out")).returncode == 0


def test_sweep_config_errors_name_the_path(tmp_path: Path) -> None:
    from tests.acceptance.cli import admf

    path = sweep_experiment(tmp_path, {"book.xo.fastt": [5, 10]})
    done = admf("sweep", str(path))
    assert done.returncode == 2
    assert "sweep.space.book.xo.fastt: path 'book.xo.fastt': 'fastt' is not a parameter here" in done.stderr
    assert "did you mean 'fast'?" in done.stderr
