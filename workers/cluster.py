"""Connecting to Ray: a local instance by default, or an existing cluster by address; token auth stays on."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import stat
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from containers.errors import ClusterError

CONNECT_TIMEOUT = 30.0  # seconds for a cluster's head to answer (admf run --connect-timeout)


def _check_reachable(address: str, timeout: float) -> None:
    """Asks the head for its cluster id over gRPC, bounded by `timeout` and interruptible (Ctrl-C, SIGTERM):
    a wrong port, another service, a silent host or a refused token is one line here, where ray.init would
    block in native code for minutes."""
    import grpc

    client = address.startswith("ray://")
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--address '{address}' is not host:port (e.g. 10.0.0.5:6379)")
    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
        return  # the handshake is TLS with the cluster's own certificates: ray.init checks it
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        try:
            if client:  # a Ray Client server has no GCS service: a gRPC connection is what can be checked
                grpc.channel_ready_future(channel).result(timeout=timeout)
                return
            from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

            gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel).GetClusterId(
                gcs_service_pb2.GetClusterIdRequest(), timeout=timeout, metadata=_token_metadata())
        except grpc.FutureTimeoutError as error:
            raise ClusterError(_silent(address, timeout)) from error
        except grpc.RpcError as error:
            raise ClusterError(_refusal(address, error.code(), error.details() or "", timeout)) from error


def _silent(address: str, timeout: float) -> str:
    return (f"--address {address}: no answer within {timeout:g} s (--connect-timeout); check the host and the "
            "port, and that the head is up (ray start --head there)")


def _refusal(address: str, code: object, details: str, timeout: float) -> str:
    import grpc

    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return _silent(address, timeout)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return (f"--address {address}: the Ray head refused the authentication token; set RAY_AUTH_TOKEN (or "
                f"RAY_AUTH_TOKEN_PATH) to the cluster's token (this machine's is {token_file()})")
    if code == grpc.StatusCode.UNIMPLEMENTED or "HTTP/2" in details or "http1" in details.lower():
        return (f"--address {address}: the service there is not a Ray head (it does not answer as Ray's GCS); "
                "give the head's address, host:6379 by default")
    first = details.splitlines()[0][:120] if details else str(code)
    return (f"cannot reach a Ray head at {address} ({first}); start it with `ray start --head` there, or run "
            "without --address for a local Ray")


def _token_metadata() -> tuple[tuple[str, str], ...]:
    """The token the driver will present, as Ray looks for it: RAY_AUTH_TOKEN, then the token file."""
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if not token:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            token = token_file().read_text().strip()
    return (("authorization", f"Bearer {token}"),) if token else ()


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


class NativeOutput:
    """Ray's native threads write their warnings straight to file descriptor 2: while admf's Ray session is
    open they go to a log file (the run directory's ray.log), and admf's own lines (sys.stderr) still
    reach the terminal."""

    def __init__(self, path: Path) -> None:
        sys.stderr.flush()
        self.saved: int | None = os.dup(2)
        self.previous, self.stream = sys.stderr, None
        try:
            if _writes_to_descriptor_2(sys.stderr):
                self.stream = open(os.dup(self.saved), "w", buffering=1, encoding=sys.stderr.encoding,  # noqa: SIM115
                                   errors="backslashreplace")
            log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)  # the umask decides, as for run files
        except BaseException:
            self.close()
            raise
        os.dup2(log, 2)
        os.close(log)
        if self.stream is not None:
            sys.stderr = self.stream

    def close(self) -> None:
        """Puts file descriptor 2 and sys.stderr back (once; a second call does nothing)."""
        if self.saved is None:
            return
        sys.stderr.flush()
        if self.stream is not None:
            if sys.stderr is self.stream:  # unless something else replaced it meanwhile
                sys.stderr = self.previous
            self.stream.close()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.saved = None


def _writes_to_descriptor_2(stream: object) -> bool:
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # a test's capture, or no file behind it
        return False


@dataclass
class Cluster:
    """A connection to Ray; `close` shuts down only what this handle started."""

    address: str | None
    owned: bool
    output: NativeOutput | None = None

    def close(self) -> None:
        import ray

        if self.owned and ray.is_initialized():
            ray.shutdown()
        if self.output is not None:
            self.output.close()
            self.output = None

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def connect(address: str | None = None, num_cpus: int | None = None, dashboard: bool = False,
            timeout: float = CONNECT_TIMEOUT, native_log: Path | None = None) -> Cluster:
    """Joins `address` (its head must answer within `timeout` seconds), or starts a local Ray using all
    cores (or `num_cpus`); reuses a live connection. Ray's native log lines go to `native_log` if given.
    The SIGTERM handler in place before (ray.init replaces it with an exit) is put back."""
    import ray

    if ray.is_initialized():
        return Cluster(address, owned=False)
    if address:
        _check_reachable(address, timeout)
    private_token(joining=bool(address))
    output = NativeOutput(native_log) if native_log is not None else None
    handler = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    try:
        try:
            # "local" starts a new instance even when a `ray start` on this machine left its address behind
            ray.init(address=address or "local", num_cpus=None if address else num_cpus,
                     include_dashboard=dashboard, logging_level=logging.ERROR, log_to_driver=False,
                     configure_logging=True)
        finally:
            if handler is not None:
                signal.signal(signal.SIGTERM, handler)
    except SystemExit as stop:  # Ray's own SIGTERM handler: deliver the signal to the one that was in place
        if handler is not None:
            signal.signal(signal.SIGTERM, handler)
        _shut_down(output)
        if stop.code == signal.SIGTERM and handler is not None:
            signal.raise_signal(signal.SIGTERM)
        raise
    except (ConnectionError, TimeoutError, RuntimeError) as error:
        _shut_down(output)
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise ClusterError(f"cannot start or join {where}: {str(error).splitlines()[0]}") from error
    except BaseException:
        _shut_down(output)
        raise
    return Cluster(address, owned=True, output=output)


def _shut_down(output: NativeOutput | None) -> None:
    """What a connection cut short by an error or a signal started."""
    import ray

    ray.shutdown()  # also a local Ray that started but had not connected yet (is_initialized is False then)
    if output is not None:
        output.close()
