"""Connecting to Ray: a local instance by default, or an existing cluster by address; token auth stays on."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

from containers.errors import ClusterError


@dataclass
class Cluster:
    """A connection to Ray; `close` shuts down only what this handle started."""

    address: str | None
    owned: bool

    def close(self) -> None:
        import ray

        if self.owned and ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _check_reachable(address: str) -> None:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--address '{address}' is not host:port (e.g. 10.0.0.5:6379)")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as error:
        raise ClusterError(f"cannot reach a Ray head at {address} ({error.strerror or error}); start it with "
                           "`ray start --head` there, or run without --address for a local Ray") from error


def connect(address: str | None = None, num_cpus: int | None = None, dashboard: bool = False) -> Cluster:
    """Joins `address`, or starts a local Ray using all cores (or `num_cpus`); reuses a live connection."""
    import ray

    if ray.is_initialized():
        return Cluster(address, owned=False)
    if address:
        _check_reachable(address)
    try:
        # "local" starts a new instance even when a `ray start` on this machine left its address behind
        ray.init(address=address or "local", num_cpus=None if address else num_cpus, include_dashboard=dashboard,
                 logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
    except (ConnectionError, TimeoutError, RuntimeError) as error:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise ClusterError(f"cannot start or join {where}: {str(error).splitlines()[0]}") from error
    return Cluster(address, owned=True)
