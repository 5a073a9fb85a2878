"""Sweeps on a real local Ray: parallel equals sequential, killed actors, failed trials, shared features."""

import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import ray
import yaml

from containers.config import BacktestConfig
from containers.metrics import METRIC_NAMES
from coordinator.config import load_experiment
from coordinator.sweep_plan import indicator_plan, search_space
from coordinator.workflows.backtest import load_data
from coordinator.workflows.runs import start_study
from tests.integration.sweeps import sequential_results, sweep_experiment
from workers.features import publish_features
from workers.pool import TrialActor, TrialPool

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


def test_an_actor_that_stalls_is_passed_over_and_taken_back_when_it_answers(ray_cluster: Any,
                                                                           tmp_path: Path) -> None:
    """A stopped actor process (SIGSTOP: alive to Ray, answering nothing) holds a batch: past the overdue
    bound its batches run on the other actor, every trial once; after SIGCONT it gets work again."""
    path = sweep_experiment(tmp_path, SPACE)
    experiment = load_experiment(path)
    data = load_data(experiment, path)
    features, _ = publish_features(data, [], key="stall")
    base = BacktestConfig.model_validate(experiment.model_dump(include={"data", "execution", "classifiers"}))
    pool = TrialPool(base, "fast", 2)
    pool.overdue_seconds = 2.0
    expected = sequential_results(path)
    points = list(enumerate(search_space(experiment).grid()))
    stalled = pool.identities[1]["pid"]
    got: list[Any] = []
    os.kill(stalled, signal.SIGSTOP)
    try:
        assert pool.run(features, points[:16], 2, got.extend) == 16
        assert pool.lost.keys() == {1}
    finally:
        os.kill(stalled, signal.SIGCONT)
    ray.get(pool.lost[1], timeout=60)  # it answers again
    assert pool.run(features, points[16:], 2, got.extend) == 16
    pool.close()
    assert not pool.lost and {r["pid"] for r in got[16:]} == {i["pid"] for i in pool.identities}
    assert sorted(r["number"] for r in got) == list(range(32))
    for result in got:
        assert result["metrics"] == expected[result["number"]]["metrics"]


def _silent_server() -> tuple[socket.socket, list[socket.socket]]:
    """A port that accepts connections and never answers (a firewall's tarpit, a hung service)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return server, accepted


def test_a_silent_address_is_bounded_by_connect_timeout_and_signals_stop_the_wait(tmp_path: Path) -> None:
    from tests.acceptance.cli import ADMF, admf

    path = sweep_experiment(tmp_path, {"book.xo.fast": [5, 10]})
    server, accepted = _silent_server()
    address = f"127.0.0.1:{server.getsockname()[1]}"
    out = tmp_path / "out"
    try:
        started = time.monotonic()
        done = admf("sweep", str(path), "--address", address, "--connect-timeout", "2", "--out", str(out))
        assert time.monotonic() - started < 30  # the 2 s bound, not Ray's minutes
        assert done.returncode == 4 and done.stderr.count("\n") == 1, done.stderr
        assert f"--address {address}: no answer within 2 s (--connect-timeout)" in done.stderr
        for sig, code, name in ((signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")):
            count = len(accepted)
            process = subprocess.Popen([ADMF, "run", str(path), "--address", address, "--out", str(out)],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 60
            while len(accepted) == count and time.monotonic() < deadline:  # it is waiting on the head now
                time.sleep(0.05)
            process.send_signal(sig)
            _, stderr = process.communicate(timeout=20)  # at once, not after the 30 s default bound
            assert process.returncode == code and stderr.count("\n") == 1, stderr
            assert f"error: {name}: stopped while starting, before any trial of this session ran" in stderr
            assert not (out / "manifest.json").exists()  # nothing claims a run: the same command can start it
    finally:
        server.close()


def test_a_grpc_service_that_is_not_ray_is_refused(tmp_path: Path) -> None:
    from concurrent import futures

    import grpc

    from tests.acceptance.cli import admf

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        path = sweep_experiment(tmp_path, {"book.xo.fast": [5, 10]})
        done = admf("sweep", str(path), "--address", f"127.0.0.1:{port}", "--out", str(tmp_path / "out"))
    finally:
        server.stop(None)
    assert done.returncode == 4 and done.stderr.count("\n") == 1, done.stderr
    assert f"--address 127.0.0.1:{port}: the service there is not a Ray head" in done.stderr


def test_sigterm_during_a_study_on_ray_stores_the_batch_and_keeps_ray_lines_off_the_terminal(
        ray_cluster: Any, tmp_path: Path) -> None:
    """ray.init installs its own SIGTERM handler (an exit with code 15, and Ray's native crash lines):
    admf's handler is put back, so the batch in flight is stored and the resume command is printed."""
    from tests.acceptance.cli import ADMF, admf

    space = {"book.xo.fast": [4, 8, 12, 16], "book.xo.slow": [20, 40], "book.mr.num_std": [1.5, 2.5]}
    path = sweep_experiment(tmp_path, space, name="stopped")
    config = yaml.safe_load(path.read_text())
    config["execution"]["engine"] = "event"  # slow enough to be stopped mid-study
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    address = ray.get_runtime_context().gcs_address  # this session's cluster: no second Ray to start
    waiting = subprocess.Popen([ADMF, "run", str(path), "--workers", "5", "--address", address, "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # 5 actors, 2 CPUs
    deadline = time.monotonic() + 120
    while not (out / "ray.log").exists() and time.monotonic() < deadline:  # joined: now it waits for actors
        time.sleep(0.05)
    time.sleep(2)
    waiting.send_signal(signal.SIGTERM)
    _, stderr = waiting.communicate(timeout=60)
    assert waiting.returncode == 143 and stderr.count("\n") == 1, stderr
    assert "error: SIGTERM: stopped while starting, before any trial of this session ran" in stderr
    assert not (out / "manifest.json").exists()
    process = subprocess.Popen([ADMF, "run", str(path), "--workers", "1", "--address", address, "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "status.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert stderr.splitlines()[-1] == f"error: SIGTERM: stopped after storing the batch in flight; continue with: " \
        f"admf resume {out}"
    assert all(line.startswith(("error:", "stopping after")) for line in stderr.splitlines()), stderr
    assert (out / "ray.log").exists()
    status = admf("status", str(out))
    assert "interrupted" in status.stdout and f"continue with: admf resume {out}" in status.stdout
    assert admf("resume", str(out), "--workers", "0").returncode == 0
    _assert_same_as_sequential(pd.read_parquet(out / "trials.parquet"), sequential_results(path))


def test_sweep_config_errors_name_the_path(tmp_path: Path) -> None:
    from tests.acceptance.cli import admf

    path = sweep_experiment(tmp_path, {"book.xo.fastt": [5, 10]})
    done = admf("sweep", str(path))
    assert done.returncode == 2
    assert "sweep.space.book.xo.fastt: path 'book.xo.fastt': 'fastt' is not a parameter here" in done.stderr
    assert "did you mean 'fast'?" in done.stderr


def test_batched_replay_on_ray_reads_the_logs_from_the_object_store_and_equals_the_local_batch(
        ray_cluster: Any, tmp_path: Path) -> None:
    from containers.data.config import SyntheticData
    from containers.data.synthetic import generate_synthetic
    from containers.signal_patterns import SignalLogs, generate_signals, replay_batch
    from tests.unit.containers.test_signal_patterns import _config
    from workers.replay import replay_on_ray

    data = generate_synthetic(SyntheticData(symbols=("A", "B"), bars=800, seed=12, freq="1h"))
    config = _config()
    generate_signals(config, data, tmp_path)
    logs = SignalLogs(config, data, tmp_path)
    sets = [{"p.xo": w, "p.mr": 1 - w} for w in (0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0)]
    distributed = replay_on_ray(config, logs, sets, chunk=4)  # three tasks
    pd.testing.assert_frame_equal(distributed, replay_batch(config, data, logs, sets))
