"""Studies with --address on a real multi-node Ray cluster on this machine (each node 1 CPU, token auth on):
both nodes take trials, a node whose raylet is SIGKILLed mid-study is passed over, a node that joins
mid-study is put to work, and the study is the one an uninterrupted run stores.

Every node is started with `ray start --block` by this test and stopped by its own process group, never
with `ray stop`. Ray's health checks are shortened here (in the nodes' environment), not in the product.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.acceptance.cli import ADMF, admf
from tests.integration.sweeps import sequential_results, sweep_experiment
from tests.integration.test_sweep import _assert_same_as_sequential

FAST_HEALTH_CHECKS = {"RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "500",
                      "RAY_health_check_timeout_ms": "500", "RAY_health_check_failure_threshold": "2"}
SPACE = {"book.xo.fast": list(range(4, 28, 2)), "book.xo.slow": [30, 40], "book.mr.num_std": [1.5, 2.5],
         "book.mr.period": [10, 30]}
SPACE_POINTS = range(12 * 2 * 2 * 2)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"Ray head did not open port {port} in {seconds} s")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the node's own process group, SIGKILL if it lingers: never `ray stop`."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


class LocalCluster:
    """A head and the nodes added to it, each a `ray start --block` in its own session."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = _free_port(), folder
        self.env = {**os.environ, **FAST_HEALTH_CHECKS, "RAY_AUTH_MODE": "token",
                    "RAY_AUTH_TOKEN": secrets.token_hex(16)}
        self.nodes: list[subprocess.Popen] = []
        self._start("--head", "--port", str(self.port), "--include-dashboard=false", "--temp-dir", str(folder))
        _wait_for_port(self.port, 90)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _start(self, *args: str) -> subprocess.Popen:
        with open(self.folder / f"node{len(self.nodes)}.log", "w") as log:
            node = subprocess.Popen(["ray", "start", *args, "--block", "--num-cpus", "1", "--disable-usage-stats"],
                                    env=self.env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
        self.nodes.append(node)
        return node

    def add_node(self) -> subprocess.Popen:
        return self._start("--address", self.address)

    def started(self, node: subprocess.Popen) -> bool:
        """Whether `ray start` said the node is up."""
        return "Ray runtime started" in (self.folder / f"node{self.nodes.index(node)}.log").read_text()

    def kill_raylet(self, node: subprocess.Popen) -> None:
        """SIGKILL the node's raylet only (as when its machine dies): Ray itself must notice."""
        raylet = self.raylet(node)
        assert raylet is not None
        os.kill(raylet, signal.SIGKILL)

    @staticmethod
    def raylet(node: subprocess.Popen) -> int | None:
        """The node's raylet (None before it started)."""
        raylets = [pid for pid, name, _, group in _processes() if name == "raylet" and group == node.pid]
        assert len(raylets) <= 1, raylets
        return raylets[0] if raylets else None

    def close(self) -> None:
        for node in reversed(self.nodes):
            _stop(node)


def _processes() -> Iterator[tuple[int, str, int, int]]:
    """(pid, name, parent, process group) of every process, from /proc."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # it ended meanwhile
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()  # state, ppid, pgrp, ...
        yield int(stat.parent.name), name, int(fields[1]), int(fields[2])


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    folder = Path(tempfile.mkdtemp(prefix="admf-ray-", dir="/tmp"))  # short: Ray's socket paths must fit
    cluster = LocalCluster(folder)
    try:
        yield cluster
    finally:
        cluster.close()
        shutil.rmtree(folder, ignore_errors=True)


def _done(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / "status.json").read_text())["done"]
    except (OSError, ValueError, KeyError):
        return 0


def _wait_until(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _actors_on(node: subprocess.Popen) -> int:
    """admf's actor processes the node's raylet started (each in a process group of its own)."""
    raylet = LocalCluster.raylet(node)
    if raylet is None:
        return 0
    return sum(1 for _, name, parent, _ in _processes() if name.startswith("ray::TrialActor") and parent == raylet)


def test_nodes_joining_and_lost_mid_study_leave_the_uninterrupted_study(cluster: LocalCluster, tmp_path: Path) -> None:
    """The study starts on the head alone; a node joins (the pool adds an actor there); that node's raylet
    is SIGKILLed (its batches go to the head, which carries on alone); a third node joins (Ray restarts the
    lost actor there). Every trial is stored once, equal to the same trials run in one process."""
    path = sweep_experiment(tmp_path, SPACE, name="nodes")
    config = yaml.safe_load(path.read_text())
    config["data"]["synthetic"]["bars"] = 3000  # the event engine: about half a second per trial
    config["execution"]["engine"] = "event"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    refused = admf("run", str(path), "--address", cluster.address, "--out", str(out),
                   env={**cluster.env, "RAY_AUTH_TOKEN": secrets.token_hex(16)})
    assert refused.returncode == 4 and refused.stderr.count("\n") == 1, refused.stderr
    assert f"--address {cluster.address}: the Ray head refused the authentication token" in refused.stderr
    driver = subprocess.Popen([ADMF, "run", str(path), "--address", cluster.address, "--out", str(out)],
                              env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_until(lambda: _done(out) >= 4, 120, "the first batch")
        second = cluster.add_node()
        _wait_until(lambda: _actors_on(second) == 1, 90, "an actor on the node that joined")
        grown_at = _done(out)
        _wait_until(lambda: _done(out) >= grown_at + 8, 90, "batches on both nodes")
        cluster.kill_raylet(second)
        _wait_until(lambda: second.poll() is not None, 60, "the killed node to go")
        lost_at = _done(out)
        _wait_until(lambda: _done(out) >= lost_at + 8, 90, "batches on the head alone")
        third = cluster.add_node()
        _wait_until(lambda: _actors_on(third) == 1 or driver.poll() is not None, 90, "the lost actor's restart")
        _, stderr = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr and "raylet" not in stderr  # Ray's own lines go to the run's ray.log
    assert lost_at < len(SPACE_POINTS)
    trials = pd.read_parquet(out / "trials.parquet")
    assert len(trials) == len(SPACE_POINTS) and trials["number"].is_unique and (trials["state"] == "complete").all()
    assert trials["node"].nunique() == 3, trials["node"].value_counts()  # head, lost node, the last to join
    _assert_same_as_sequential(trials, sequential_results(path))
