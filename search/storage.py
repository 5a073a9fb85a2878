"""Study storage: Optuna's journal file format, made durable once per batch (group commit).

Optuna's own JournalFileBackend writes and fsyncs on every operation (tens of them per trial); this
backend keeps the operations of a batch in memory and writes them with one write + fsync at `commit`.
The file is the same one-JSON-object-per-line journal, so `optuna.storages.JournalStorage(
JournalFileBackend(path))` and optuna-dashboard open it as it is. One driver writes a run, holding
an operating-system lock on its directory (`WriterLock`); a torn last line left by a crash is
repaired when the file is opened again, with a one-line message.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import BaseJournalBackend

from containers.errors import StorageError

JOURNAL_NAME = "study.journal"
Notice = Callable[[str], None]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


PID_FILE = "writer.pid"


def live_writer(run_dir: Path) -> int | None:
    """The pid of the live process writing this run (-1 when its pid file is gone), or None.

    Asks the operating system: a writer holds an exclusive lock on the run directory itself, which no
    file operation (a deleted or edited pid file, a replaced journal) can take away.
    """
    try:
        descriptor = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(run_dir / PID_FILE) or -1
    else:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return None
    finally:
        os.close(descriptor)


class WriterLock:
    """An exclusive operating-system lock (flock) on the run directory, held while this process writes
    anything in it (manifest, journal, status, exports), whichever storage holds the study.

    Taken before the first write, so two starts or resumes of one run can never both proceed. The
    kernel drops the lock when the process dies, so nothing is ever stale; `writer.pid` holds the
    writer's pid only to name it in messages.
    """

    ATTEMPTS = 20  # a `status` in another process holds a shared lock for an instant: try for ~1 s

    def __init__(self, run_dir: Path, notice: Notice) -> None:
        self.path = run_dir / PID_FILE
        self.descriptor = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
        for attempt in range(self.ATTEMPTS):
            try:
                fcntl.flock(self.descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _read_pid(self.path)
                if attempt + 1 == self.ATTEMPTS or (holder is not None and pid_alive(holder)):
                    os.close(self.descriptor)
                    who = f"pid {holder}" if holder is not None else "its pid file was deleted"
                    raise StorageError(f"{run_dir}: another admf process ({who}) is writing this run; "
                                       "wait for it or stop it first") from None
                time.sleep(0.05)
        previous = _read_pid(self.path)
        if previous is not None and previous != os.getpid():
            notice(f"repaired: removed a stale lock left by process {previous} that is no longer running")
        self.path.write_text(str(os.getpid()))

    def release(self) -> None:
        self.path.unlink(missing_ok=True)
        fcntl.flock(self.descriptor, fcntl.LOCK_UN)
        os.close(self.descriptor)

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _repair_torn_tail(path: Path, notice: Notice) -> None:
    """Cuts an incomplete last line (a write the crash interrupted) so the journal replays cleanly."""
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    keep = data.rfind(b"\n") + 1
    with open(path, "r+b") as stream:
        stream.truncate(keep)
        stream.flush()
        os.fsync(stream.fileno())
    notice(f"repaired: cut a torn last record ({len(data) - keep} bytes) from {path.name}")


def _read_journal(path: Path) -> list[dict[str, Any]]:
    """Every whole record of a journal file; a line that is not a journal operation is a StorageError
    naming it (only a torn last line is repaired, and only when opened for writing)."""
    logs = []
    with open(path, "rb") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.endswith(b"\n"):
                break
            try:
                log = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError):
                log = None
            if not isinstance(log, dict) or "op_code" not in log:
                raise StorageError(f"{path}: line {number} is not a journal record; the study storage is damaged "
                                   "there: keep a copy, then cut the file before that line to resume from it")
            logs.append(log)
    return logs


class GroupCommitJournal(BaseJournalBackend):
    """An append-only journal file whose writes are buffered until `commit` (one write, one fsync)."""

    def __init__(self, path: Path, notice: Notice, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self.commits_path = commits_path(path)
        if path.exists() and not read_only:
            _read_journal(path)  # a bad line is reported before anything is changed (a torn last one is not read)
            _repair_torn_tail(path, notice)
            _roll_back_to_last_commit(path, notice)
        self._logs: list[dict[str, Any]] = []
        if path.exists():
            self._logs = _read_journal(path)
        self._pending: list[dict[str, Any]] = []
        self.commits = 0
        self.size = path.stat().st_size if path.exists() else 0
        self.failed: StorageError | None = None
        if not read_only and self.size and not self.commits_path.exists():  # a journal from before the index
            _append_line(self.commits_path, str(self.size))

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        return self._logs[log_number_from:]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        if self.read_only:
            raise StorageError(f"{self.path}: opened read-only")
        self._logs.extend(logs)
        self._pending.extend(logs)

    def commit(self) -> None:
        """Makes every operation since the last commit durable: one write, one flush, one fsync, then the
        commit's end offset in the index (`.commits`). All or nothing for the file: a write that fails
        part-way (a full disk, an I/O error) is cut back to the last commit, and nothing more is
        written by this process, so the journal always ends on a whole commit or a torn tail that the
        next open rolls back."""
        if self.failed is not None:
            raise self.failed
        if not self._pending:
            return
        text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in self._pending).encode("utf-8")
        try:
            with open(self.path, "ab") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
        except OSError as error:
            self._cut_back()
            self.failed = StorageError(f"{self.path}: cannot write the study ({error.strerror or error}); "
                                       "nothing was lost: free space or fix the folder's permissions")
            raise self.failed from error
        self.size += len(text)
        self._pending = []
        self.commits += 1
        try:
            _append_line(self.commits_path, str(self.size))
        except OSError as error:  # the batch is in the journal; without its offset the next open rolls it back
            self.failed = StorageError(f"{self.commits_path}: cannot write ({error.strerror or error}); free space "
                                       "or fix the folder's permissions")
            raise self.failed from error

    def _cut_back(self) -> None:
        try:
            with open(self.path, "r+b") as stream:
                stream.truncate(self.size)
                stream.flush()
                os.fsync(stream.fileno())
        except OSError:
            pass  # cannot even truncate: the next open rolls the torn bytes back (they follow the last commit)


def commits_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".commits")


def _append_line(path: Path, line: str) -> None:
    with open(path, "a") as stream:
        stream.write(line + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def committed_offsets(journal: Path) -> list[int]:
    """The end offsets of the journal's whole commits, as its index lists them (empty without one)."""
    try:
        lines = commits_path(journal).read_text().split()
    except OSError:
        return []
    return sorted({int(line) for line in lines if line.isdigit()})


def _roll_back_to_last_commit(path: Path, notice: Notice) -> None:
    """Cuts the records after the last whole commit: what a crash left of a batch being written (whole
    lines of it, the torn tail already gone) would otherwise replay as half a batch, and renumber the
    rest of the study. The cut bytes are kept beside the journal; the study resumes from the commit."""
    offsets = committed_offsets(path)
    size = path.stat().st_size
    if not offsets or offsets[-1] == size:
        return
    kept = max((offset for offset in offsets if offset <= size), default=0)
    with open(path, "rb") as stream:
        if kept:
            stream.seek(kept - 1)
            if stream.read(1) != b"\n":  # the journal was edited since: its index describes another file
                commits_path(path).write_text(f"{size}\n")  # the file as it is counts as committed; cut nothing
                return
        stream.seek(kept)
        cut = stream.read()
    aside = path.with_name(f"{path.name}.rolled-back-{kept}")
    aside.write_bytes(cut)
    with open(path, "r+b") as stream:
        stream.truncate(kept)
        stream.flush()
        os.fsync(stream.fileno())
    commits = commits_path(path)
    commits.write_text("".join(f"{offset}\n" for offset in offsets if offset <= kept))
    records = cut.count(b"\n")
    notice(f"repaired: rolled back {records} record(s) written after the last whole batch "
           f"(kept in {aside.name}); their trials are asked again as they were")


def journal_storage(journal: GroupCommitJournal) -> JournalStorage:
    """Optuna's storage over the journal; records that are well-formed JSON but do not replay as Optuna
    operations (an unknown op code, missing fields) are a one-line StorageError, not a traceback."""
    try:
        return JournalStorage(journal)
    except Exception as error:
        raise StorageError(f"{journal.path}: a record does not replay as an Optuna operation "
                           f"({type(error).__name__}: {str(error)[:80]}); the study storage is damaged: keep a "
                           "copy, then cut the file before the bad record to resume from it") from error


class StudyStorage:
    """The study's storage: the run directory's group-commit journal, or a database URL."""

    def __init__(self, run_dir: Path, url: str | None, notice: Notice, read_only: bool = False) -> None:
        self.url = url
        self.journal: GroupCommitJournal | None = None
        if url:
            try:
                self.optuna: BaseStorage = RDBStorage(url)
            except Exception as error:
                raise StorageError(f"storage '{url}': cannot open ({str(error).splitlines()[0]}); "
                                   "check the URL and that the database is reachable") from error
        else:
            self.journal = GroupCommitJournal(run_dir / JOURNAL_NAME, notice, read_only)
            self.optuna = journal_storage(self.journal)

    def commit(self) -> None:
        if self.journal is not None:
            self.journal.commit()

    def close(self) -> None:
        if self.journal is not None and self.journal.failed is None:  # a failed journal is never written again
            self.journal.commit()


def load_with_optuna(path: Path, study_name: str) -> optuna.Study:
    """The study as Optuna itself reads the journal file (what optuna-dashboard does too)."""
    from optuna.storages.journal import JournalFileBackend

    return optuna.load_study(study_name=study_name, storage=JournalStorage(JournalFileBackend(str(path))))


class _MemoryJournal(BaseJournalBackend):
    """Journal records held in memory, to replay a candidate prefix before anything is cut."""

    def __init__(self, logs: list[dict[str, Any]]) -> None:
        self.logs = logs

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        return self.logs[log_number_from:]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self.logs.extend(logs)


CREATE_TRIAL = 4  # optuna.storages.journal's JournalOperation.CREATE_TRIAL


@dataclass(frozen=True)
class JournalRepair:
    kept_bytes: int
    kept_trials: int
    damaged_trials: int
    first_bad_line: int | None
    original: Path | None


def _parsed_lines(data: bytes) -> tuple[list[tuple[int, dict[str, Any]]], int | None]:
    """(end offset, record) of each whole record before the first line that is not one, and that
    line's number (None when every line is a record)."""
    records, offset = [], 0
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        try:
            log = json.loads(line) if line.endswith(b"\n") else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            log = None
        if not isinstance(log, dict) or "op_code" not in log:
            return records, number
        offset += len(line)
        records.append((offset, log))
    return records, None


def _replays(logs: list[dict[str, Any]], study_name: str) -> int | None:
    """How many trials the study holds after these records, or None when they do not replay."""
    try:
        storage = JournalStorage(_MemoryJournal(list(logs)))
        return len(optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=False))
    except Exception:
        return None


def repair_journal(path: Path, study_name: str) -> JournalRepair | None:
    """Keeps the longest prefix of the journal that replays and ends on a whole commit (a whole line,
    for a journal without a commit index); the original is kept beside it. None: nothing to repair."""
    data = path.read_bytes()
    records, bad_line = _parsed_lines(data)
    if bad_line is None and _replays([log for _, log in records], study_name) is not None:
        return None
    ends = {end for end, _ in records}
    commits = [offset for offset in committed_offsets(path) if offset in ends]
    candidates = [*sorted(commits or ends, reverse=True), 0]
    damaged = data.count(b'"op_code":4,') + data.count(b'"op_code": 4,')  # trial creations, damaged lines too
    for end in candidates:
        logs = [log for stop, log in records if stop <= end]
        trials = _replays(logs, study_name) if logs else 0
        if trials is not None:
            break
    original = path.with_name(f"{path.name}.orig-{int(time.time())}")
    original.write_bytes(data)
    temporary = path.with_name(f".{path.name}.repair")
    temporary.write_bytes(data[:end])
    with open(temporary, "rb+") as stream:
        os.fsync(stream.fileno())
    os.replace(temporary, path)
    commits_path(path).write_text("".join(f"{offset}\n" for offset in commits if offset <= end))
    return JournalRepair(end, trials or 0, damaged, bad_line, original)
