"""Connecting to Ray: a local instance by default, or an existing cluster by address; token auth stays on."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

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
        with socket.create_connection((host, int(port)), timeout=5) as connection:
            connection.settimeout(5)
            connection.sendall(HTTP2_PREFACE + EMPTY_SETTINGS)
            head = _receive(connection, 9)
    except OSError as error:
        raise ClusterError(f"cannot reach a Ray head at {address} ({error.strerror or error}); start it with "
                           "`ray start --head` there, or run without --address for a local Ray") from error
    tls = os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true")  # then the handshake is TLS, not this
    if not tls and (len(head) < 9 or head[3] != SETTINGS_FRAME):  # a Ray head (GCS or client) answers gRPC
        raise ClusterError(f"--address {address}: the service there is not a Ray head (it does not answer as "
                           "gRPC); give the head's address, host:6379 by default")


# A gRPC server answers an HTTP/2 client preface with its SETTINGS frame first; anything else (a web
# server, a database) does not, so a wrong port is refused in milliseconds instead of hanging in ray.init.
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
SETTINGS_FRAME = 0x04


def _receive(connection: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = connection.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def token_file() -> Path:
    """Where Ray keeps its authentication token (the one a local Ray makes and a driver presents)."""
    chosen = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(chosen).expanduser() if chosen else Path.home() / ".ray" / "auth_token"


def private_token(joining: bool) -> None:
    """Ray writes ~/.ray/auth_token readable by everyone (0644): for a local Ray, create it 0600 before
    Ray starts, or make an existing one private; when joining a cluster, say so if others can read it."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return
    path = token_file()
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            if joining:
                print(f"warning: {path} is readable by other users (mode {mode:o}); chmod 600 it", file=sys.stderr)
            else:
                path.chmod(0o600)
                print(f"note: {path} was readable by other users (mode {mode:o}); made it private (600)",
                      file=sys.stderr)
        return
    if joining:
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it in between: check it next time
        return
    with os.fdopen(descriptor, "w") as stream:
        stream.write(secrets.token_hex(16))  # the shape of the token Ray would make


def connect(address: str | None = None, num_cpus: int | None = None, dashboard: bool = False) -> Cluster:
    """Joins `address`, or starts a local Ray using all cores (or `num_cpus`); reuses a live connection."""
    import ray

    if ray.is_initialized():
        return Cluster(address, owned=False)
    if address:
        _check_reachable(address)
    private_token(joining=bool(address))
    try:
        # "local" starts a new instance even when a `ray start` on this machine left its address behind
        ray.init(address=address or "local", num_cpus=None if address else num_cpus, include_dashboard=dashboard,
                 logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
    except (ConnectionError, TimeoutError, RuntimeError) as error:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise ClusterError(f"cannot start or join {where}: {str(error).splitlines()[0]}") from error
    return Cluster(address, owned=True)
