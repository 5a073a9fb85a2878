"""Storage faults on real mounts (root, in a private mount namespace): a disk that fills up during a
study, and a run directory that is read-only. Each is one line with exit 5, the lock is released, and
the study resumes to the uninterrupted one once the fault is gone."""

import shlex
import subprocess
from pathlib import Path

from search.storage import JOURNAL_NAME, PID_FILE, committed_offsets
from tests.acceptance.cli import ADMF, admf
from tests.acceptance.studies import study_config, trials_of
from tests.acceptance.test_study_resume import _assert_same_study


def _in_private_mounts(script: str) -> subprocess.CompletedProcess[str]:
    """Runs a shell script in a mount namespace of its own: its mounts vanish with it."""
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=600)


def test_a_full_disk_stops_the_study_in_one_line_and_it_resumes_identically(tmp_path: Path) -> None:
    config = study_config(tmp_path, "random", 300)
    assert admf("run", str(config), "--out", str(tmp_path / "whole")).returncode == 0
    disk, saved = tmp_path / "disk", tmp_path / "saved"
    disk.mkdir()
    done = _in_private_mounts(
        f"mount -t tmpfs -o size=64k tmpfs {disk} && "
        f"{shlex.quote(ADMF or 'admf')} run {config} --out {disk}/run 2> {tmp_path}/stderr; "
        f"echo $? > {tmp_path}/code; cp -a {disk}/run {saved}")
    assert done.returncode == 0, done.stderr
    stderr = (tmp_path / "stderr").read_text()
    assert (tmp_path / "code").read_text().strip() == "5", stderr
    assert len(stderr.strip().splitlines()) == 1 and "No space left on device" in stderr, stderr
    assert f"continue with: admf resume {disk}/run" in stderr
    assert not (saved / PID_FILE).exists()  # the lock was released
    journal = saved / JOURNAL_NAME
    assert committed_offsets(journal)[-1] == journal.stat().st_size  # cut back to a whole commit
    resumed = admf("resume", str(saved))
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_study(trials_of(tmp_path / "whole"), trials_of(saved))


def test_a_read_only_run_directory_refuses_resume_in_one_line_and_status_still_works(tmp_path: Path) -> None:
    config = study_config(tmp_path, "random", 8)
    run_dir = tmp_path / "run"
    assert admf("run", str(config), "--out", str(run_dir)).returncode == 0
    admf_path = shlex.quote(ADMF or "admf")
    done = _in_private_mounts(
        f"mount --bind {run_dir} {run_dir} && mount -o remount,ro,bind {run_dir} && "
        f"{admf_path} resume {run_dir} --extend 4 2> {tmp_path}/resume.err; echo $? > {tmp_path}/resume.code; "
        f"{admf_path} status {run_dir} > {tmp_path}/status.out 2>&1; echo $? > {tmp_path}/status.code")
    assert done.returncode == 0, done.stderr
    stderr = (tmp_path / "resume.err").read_text()
    assert (tmp_path / "resume.code").read_text().strip() == "5", stderr
    assert len(stderr.strip().splitlines()) == 1 and "Read-only file system" in stderr, stderr
    assert (tmp_path / "status.code").read_text().strip() == "0"
    assert "finished" in (tmp_path / "status.out").read_text()
    assert len(trials_of(run_dir)) == 8  # nothing changed


def _without_root_overrides(*args: str) -> subprocess.CompletedProcess[str]:
    """Runs admf as root without the capabilities that let root ignore file modes (the tests run as
    root), so a folder's permissions refuse it as they would refuse any user: EACCES."""
    return subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search,-fowner",
                           ADMF or "admf", *args], capture_output=True, text=True, timeout=300)


def test_a_run_directory_the_user_may_not_write_is_one_line_and_exit_5(tmp_path: Path) -> None:
    config = study_config(tmp_path, "random", 8)
    run_dir = tmp_path / "run"
    assert admf("run", str(config), "--out", str(run_dir)).returncode == 0
    before = (run_dir / JOURNAL_NAME).read_bytes()
    forbidden = tmp_path / "forbidden"
    forbidden.mkdir()
    for folder in (run_dir, forbidden):
        folder.chmod(0o555)
    try:
        resumed = _without_root_overrides("resume", str(run_dir), "--extend", "4")
        started = _without_root_overrides("run", str(config), "--out", str(forbidden / "run"))
        status = _without_root_overrides("status", str(run_dir))
    finally:
        for folder in (run_dir, forbidden):
            folder.chmod(0o755)
    for done in (resumed, started):
        assert done.returncode == 5, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Permission denied" in done.stderr, done.stderr
    assert str(forbidden / "run") in started.stderr and "--out" in started.stderr
    assert status.returncode == 0 and "finished" in status.stdout, status.stderr
    assert (run_dir / JOURNAL_NAME).read_bytes() == before and not (run_dir / PID_FILE).exists()
