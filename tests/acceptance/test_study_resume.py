"""Studies survive SIGKILL and SIGTERM at any moment and resume to exactly the uninterrupted study."""

import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from containers.metrics import METRIC_NAMES
from coordinator.config import load_experiment
from coordinator.sweep_plan import search_space
from coordinator.workflows.study import INTERRUPTED, StudyDriver, StudyRun
from search.storage import JOURNAL_NAME, PID_FILE, StudyStorage, committed_offsets, load_with_optuna
from tests.acceptance.cli import ADMF, admf
from tests.acceptance.studies import study_config, trials_of


def _without_reasked(trials: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """The study without the trials a kill cut short while they were being asked (failed, asked again
    under the next number, as documented), renumbered: what must equal the uninterrupted study."""
    kept = trials[trials["error"] != INTERRUPTED].reset_index(drop=True)
    return kept.assign(number=range(len(kept))).astype(like.dtypes.to_dict())


def _assert_same_study(expected: pd.DataFrame, actual: pd.DataFrame) -> None:
    assert list(actual["number"]) == list(expected["number"])
    assert (actual["state"] != "running").all()
    pd.testing.assert_frame_equal(actual.drop(columns=list(METRIC_NAMES)), expected.drop(columns=list(METRIC_NAMES)))
    np.testing.assert_array_equal(actual[list(METRIC_NAMES)].to_numpy(), expected[list(METRIC_NAMES)].to_numpy())


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([ADMF or "admf", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# (a database's own path, a batch a crash left half asked, is tested deterministically below)
@pytest.mark.parametrize("method", ["random", "tpe"])  # a grid's points do not depend on what is stored
def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_study(tmp_path: Path, method: str) -> None:
    n_trials = 150
    config = study_config(tmp_path, method, n_trials)
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    done = admf("run", str(config), "--out", str(whole))
    assert done.returncode == 0, done.stderr
    rng = random.Random(f"kills-{method}")
    moments = []  # trials stored when each SIGKILL landed
    for kill in range(7):
        target = 0 if kill == 0 else _stored(broken) + rng.randint(5, 12)  # kill once this many are stored
        started = (broken / "manifest.json").exists()
        process = _start("resume", str(broken)) if started else _start("run", str(config), "--out", str(broken))
        deadline = time.monotonic() + 120
        while process.poll() is None and _stored(broken) < target and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.004))  # somewhere inside the next batch
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            moments.append(_stored(broken))
        process.communicate()
    assert len([m for m in moments if 0 < m < n_trials]) >= 5, moments  # killed mid-study at least 5 times
    assert len(set(moments)) >= 5, moments  # at different moments
    finished = admf("resume", str(broken))
    assert finished.returncode == 0, finished.stderr
    _assert_same_study(trials_of(whole), _without_reasked(trials_of(broken), like=trials_of(whole)))
    # Optuna itself opens the journal and sees the same trials
    study = load_with_optuna(broken / JOURNAL_NAME, "study")
    assert [t.params for t in study.trials] == [dict(row) for row in _params(trials_of(broken))]


def _params(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = [c for c in frame.columns if c.startswith("param.")]
    return [{c.removeprefix("param."): row[c] for c in columns} for _, row in frame[columns].iterrows()]


def _stored(run_dir: Path) -> int:
    """Trials told and committed so far, as the last status.json says (0 before the first batch)."""
    path = run_dir / "status.json"
    return json.loads(path.read_text())["done"] if path.exists() else 0


def test_resume_refuses_changed_data_or_space_and_extend_adds_trials(tmp_path: Path) -> None:
    prices = tmp_path / "prices.csv"
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 600)))
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=600, freq="h"), "open": close,
                          "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1000.0})
    frames = [frame.assign(symbol=symbol) for symbol in ("AAA", "BBB")]
    pd.concat(frames).to_csv(prices, index=False)
    config = study_config(tmp_path, "random", 12, data={"path": "prices.csv"})
    run_dir = tmp_path / "run"
    assert admf("run", str(config), "--out", str(run_dir)).returncode == 0

    extended = admf("resume", str(run_dir), "--extend", "8")
    assert extended.returncode == 0, extended.stderr
    assert len(trials_of(run_dir)) == 20
    fresh = study_config(tmp_path, "random", 20, name="fresh", data={"path": "prices.csv"})
    assert admf("run", str(fresh), "--out", str(tmp_path / "fresh")).returncode == 0
    _assert_same_study(trials_of(tmp_path / "fresh"), trials_of(run_dir))

    original = prices.read_bytes()
    prices.write_bytes(original[:-2] + (b"9" if original[-2:-1] != b"9" else b"8") + original[-1:])
    refused = admf("resume", str(run_dir), "--extend", "1")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert f"resume refused: changed since the run started: data file {prices}" in refused.stderr
    prices.write_bytes(original)

    raw = yaml.safe_load(config.read_text())
    raw["sweep"]["space"]["book.xo.fast"]["high"] = 25
    config.write_text(yaml.safe_dump(raw))
    refused = admf("resume", str(run_dir), "--extend", "1")
    assert refused.returncode == 2 and "search space (was" in refused.stderr


TORN = b'{"op_code":6,"worker_id":"x","trial_id":3,"sta'


def test_stale_lock_and_torn_record_are_repaired_with_a_message(tmp_path: Path) -> None:
    config = study_config(tmp_path, "random", 8)
    run_dir = tmp_path / "run"
    assert admf("run", str(config), "--out", str(run_dir)).returncode == 0
    journal = run_dir / JOURNAL_NAME
    (run_dir / PID_FILE).write_text("999999")  # a writer that no longer exists
    with open(journal, "ab") as stream:
        stream.write(TORN)  # a write cut short by a crash
    done = admf("resume", str(run_dir), "--extend", "4")
    assert done.returncode == 0, done.stderr
    assert "repaired: removed a stale lock left by process 999999" in done.stderr
    assert f"repaired: set aside {len(TORN)} bytes" in done.stderr  # the torn record, kept beside the journal
    assert len(trials_of(run_dir)) == 12


def test_running_study_is_reported_and_a_second_writer_refused(tmp_path: Path) -> None:
    config = study_config(tmp_path, "tpe", 400)
    run_dir = tmp_path / "run"
    process = _start("run", str(config), "--out", str(run_dir))
    try:
        deadline = time.monotonic() + 60
        while not (run_dir / "status.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        status = admf("status", str(run_dir))
        assert f"running (pid {process.pid})" in status.stdout
        second = admf("resume", str(run_dir))
        assert second.returncode == 5 and f"another admf process (pid {process.pid}) is writing" in second.stderr
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    assert os.path.exists(run_dir / JOURNAL_NAME)


@pytest.mark.parametrize("method", ["tpe"])
def test_records_after_the_last_whole_commit_are_rolled_back_and_asked_again(tmp_path: Path, method: str) -> None:
    config = study_config(tmp_path, method, 12)  # TPE's model takes over after 10 complete trials
    run_dir = tmp_path / "run"
    assert admf("run", str(config), "--out", str(run_dir)).returncode == 0
    # what a crash in the middle of writing a batch can leave: whole records of a trial half asked
    study = load_with_optuna(run_dir / JOURNAL_NAME, "study")
    study.ask().suggest_int("book.xo.fast", 2, 30)
    done = admf("resume", str(run_dir), "--extend", "8")
    assert done.returncode == 0, done.stderr
    assert "repaired: set aside" in done.stderr
    assert list(run_dir.glob(f"{JOURNAL_NAME}.rolled-back-*"))  # the cut records are kept aside
    fresh = study_config(tmp_path, method, 20, name="fresh")
    assert admf("run", str(fresh), "--out", str(tmp_path / "fresh")).returncode == 0
    _assert_same_study(trials_of(tmp_path / "fresh"), trials_of(run_dir))  # no trial renumbered

def test_a_batch_cut_short_while_being_asked_in_a_database_is_completed_identically(tmp_path: Path) -> None:
    """A database stores each ask on its own: a crash can leave a batch half asked (two trials fully
    asked, a third cut short). Resume must finish asking that batch with the draws it would have had."""
    config = study_config(tmp_path, "tpe", 12, storage="sqlite:///broken.db")
    run_dir = tmp_path / "run"
    assert admf("run", str(config), "--out", str(run_dir)).returncode == 0
    experiment = load_experiment(config)
    storage = StudyStorage(run_dir, experiment.sweep.storage, lambda message: None)
    driver = StudyDriver(StudyRun(experiment, config, run_dir, 20, lambda message: None), storage,
                         search_space(experiment))
    driver.ask(2)  # what the driver had asked of the batch at places 12-15 when the crash came
    driver.study.ask().suggest_int("book.xo.fast", 2, 30)  # and the third, cut short
    storage.close()
    done = admf("resume", str(run_dir), "--extend", "8")
    assert done.returncode == 0, done.stderr
    fresh = study_config(tmp_path, "tpe", 20, name="fresh", storage="sqlite:///fresh.db")
    assert admf("run", str(fresh), "--out", str(tmp_path / "fresh")).returncode == 0
    expected = trials_of(tmp_path / "fresh")
    _assert_same_study(expected, _without_reasked(trials_of(run_dir), like=expected))


def test_a_database_study_belongs_to_one_run_and_resume_keeps_its_name(tmp_path: Path) -> None:
    config = study_config(tmp_path, "random", 6, storage="sqlite:///shared.db")
    assert admf("run", str(config), "--out", str(tmp_path / "a")).returncode == 0
    second = admf("run", str(config), "--out", str(tmp_path / "b"))
    assert second.returncode == 2 and "already holds a study named 'study'" in second.stderr, second.stderr
    assert not (tmp_path / "b" / "manifest.json").exists()
    raw = yaml.safe_load(config.read_text())
    raw["name"] = "renamed"
    config.write_text(yaml.safe_dump(raw))
    refused = admf("resume", str(tmp_path / "a"), "--extend", "2")
    assert refused.returncode == 2 and "name (was study, now renamed)" in refused.stderr, refused.stderr
    assert len(trials_of(tmp_path / "a")) == 6


def test_a_journal_cut_anywhere_resumes_to_the_uninterrupted_study(tmp_path: Path) -> None:
    """Power loss or a kill during a write leaves the journal cut at any byte: inside a record, or
    between whole records of a batch (its asks, its tells, the attributes in between). Every such cut
    rolls back to the last whole commit and resumes to the same study, no trial renumbered."""
    config = study_config(tmp_path, "tpe", 24)
    whole = tmp_path / "whole"
    assert admf("run", str(config), "--out", str(whole)).returncode == 0
    expected = trials_of(whole)
    journal = (whole / JOURNAL_NAME).read_bytes()
    commits = committed_offsets(whole / JOURNAL_NAME)
    assert commits[0] == 0 and commits[-1] == len(journal) and len(commits) >= 7
    rng = random.Random(17)
    cuts = []
    batches = list(itertools.pairwise(commits))
    for start, end in [batches[0], *rng.sample(batches[1:], 1)]:  # the first commit, and another
        lines = [start + i + 1 for i in range(end - start) if journal[start + i:start + i + 1] == b"\n"]
        cuts += [rng.choice(lines[:-1]), rng.randrange(start + 1, end)]  # between two records; inside one
    for cut in cuts:
        broken = tmp_path / f"cut-{cut}"
        shutil.copytree(whole, broken)
        (broken / "trials.parquet").unlink()
        with open(broken / JOURNAL_NAME, "r+b") as stream:
            stream.truncate(cut)
        # the index as the crash left it: the commits before the cut, and maybe not the last of them
        # (written to the journal, its offset not yet appended)
        index = [offset for offset in commits if offset <= cut][:None if rng.random() < 0.5 else -1] or [0]
        (broken / f"{JOURNAL_NAME}.commits").write_text("".join(f"{offset}\n" for offset in index))
        done = admf("resume", str(broken))
        assert done.returncode == 0, (cut, done.stderr)
        _assert_same_study(expected, trials_of(broken))


def test_repair_keeps_the_longest_whole_prefix_and_the_study_resumes_identically(tmp_path: Path) -> None:
    config = study_config(tmp_path, "random", 24)
    whole = tmp_path / "whole"
    assert admf("run", str(config), "--out", str(whole)).returncode == 0
    assert "nothing to repair" in admf("repair", str(whole)).stdout
    broken = tmp_path / "broken"
    shutil.copytree(whole, broken)
    (broken / "trials.parquet").unlink()
    journal = broken / JOURNAL_NAME
    original = journal.read_bytes()
    lines = original.splitlines(keepends=True)
    middle = len(lines) // 2
    journal.write_bytes(b"".join(lines[:middle]) + b"{garbage\n" + b"".join(lines[middle + 1:]))
    refused = admf("resume", str(broken))
    assert refused.returncode == 5 and f"line {middle + 1} is not a journal record" in refused.stderr
    repaired = admf("repair", str(broken))
    assert repaired.returncode == 0, repaired.stderr
    assert f"before the damaged line {middle + 1})" in repaired.stdout
    kept = int(repaired.stdout.split("kept ")[1].split(" ")[0])
    assert 0 < kept < 24
    backups = list(broken.glob(f"{JOURNAL_NAME}.orig-*"))  # study.journal.orig-<bytes>b-<n>
    assert len(backups) == 1 and backups[0].read_bytes().count(b"{garbage") == 1  # the original, kept whole
    assert original.startswith(journal.read_bytes())  # a prefix of what was written, ending on a commit
    assert journal.stat().st_size in committed_offsets(whole / JOURNAL_NAME)
    resumed = admf("resume", str(broken))
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_study(trials_of(whole), trials_of(broken))
