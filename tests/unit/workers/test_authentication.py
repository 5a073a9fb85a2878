"""Ray's token authentication is never silently off, and its token file is private."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from workers.cluster import private_token, token_file

PROGRAM = "import os, workers; print(os.environ['RAY_AUTH_MODE'])"


def _import_workers(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("RAY_AUTH_MODE", "ADMF_INSECURE_RAY")}
    return subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120,
                          env={**environment, **env})


def test_a_disabled_auth_mode_in_the_environment_is_overridden_with_a_note() -> None:
    done = _import_workers(RAY_AUTH_MODE="disabled")
    assert done.stdout.strip() == "token"
    assert done.stderr.strip() == ("note: RAY_AUTH_MODE=disabled ignored: admf keeps Ray's token authentication on "
                                   "(set ADMF_INSECURE_RAY=1 to turn it off)")


def test_turning_authentication_off_takes_an_explicit_option_and_warns() -> None:
    done = _import_workers(RAY_AUTH_MODE="disabled", ADMF_INSECURE_RAY="1")
    assert done.stdout.strip() == "disabled"
    assert done.stderr.startswith("warning: ADMF_INSECURE_RAY=1: Ray runs without token authentication")


def test_unset_auth_mode_becomes_token_silently() -> None:
    done = _import_workers()
    assert done.stdout.strip() == "token" and done.stderr == ""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    return tmp_path


def test_a_local_ray_gets_a_token_file_only_its_owner_can_read(home: Path) -> None:
    private_token(joining=False)
    path = token_file()
    assert path == home / ".ray" / "auth_token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text()
    assert len(token) == 32 and int(token, 16) >= 0


def test_a_readable_token_file_is_made_private_for_a_local_ray_and_reported_when_joining(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = home / ".ray" / "auth_token"
    path.parent.mkdir()
    path.write_text("0" * 32)
    path.chmod(0o644)
    private_token(joining=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # someone else's cluster's token: only warned about
    assert "is readable by other users (mode 644); chmod 600 it" in capsys.readouterr().err
    private_token(joining=False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "made it private (600)" in capsys.readouterr().err
    assert path.read_text() == "0" * 32  # the token itself is kept
