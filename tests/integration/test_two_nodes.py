"""A sweep with --address on a two-node Ray cluster on this machine (head + second node, each 1 CPU).

Both nodes are started with `ray start --block` by this test and stopped by their own process groups.
Ray binds nodes to this machine's own interface address; nothing leaves the machine.
"""

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

from tests.acceptance.cli import admf
from tests.integration.sweeps import sequential_results, sweep_experiment
from tests.integration.test_sweep import SPACE, _assert_same_as_sequential


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
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def two_node_cluster() -> Iterator[tuple[str, dict[str, str]]]:
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix="admf-ray-", dir="/tmp")  # short: Ray's socket paths must fit
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    common = ["--block", "--num-cpus", "1", "--disable-usage-stats"]
    logs = [open(Path(temp_dir) / name, "w") for name in ("head.log", "node.log")]  # noqa: SIM115
    head = subprocess.Popen(["ray", "start", "--head", "--port", str(port), "--include-dashboard=false",
                             "--temp-dir", temp_dir, *common], env=env, start_new_session=True,
                            stdout=logs[0], stderr=subprocess.STDOUT)
    nodes = [head]
    try:
        _wait_for_port(port, 90)
        nodes.append(subprocess.Popen(["ray", "start", "--address", f"127.0.0.1:{port}", *common], env=env,
                                      start_new_session=True, stdout=logs[1], stderr=subprocess.STDOUT))
        yield f"127.0.0.1:{port}", env
    finally:
        for node in reversed(nodes):
            _stop(node)
        for log in logs:
            log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_sweep_with_address_uses_both_nodes_and_matches_a_local_run(
        two_node_cluster: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    address, env = two_node_cluster
    path = sweep_experiment(tmp_path, SPACE, name="two-nodes")
    out = tmp_path / "run"
    done = admf("sweep", str(path), "--address", address, "--workers", "2",
                "--out", str(out), env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = pd.read_parquet(out / "trials.parquet")
    assert trials["node"].nunique() == 2  # trials ran on the head and on the second node
    _assert_same_as_sequential(trials, sequential_results(path))

