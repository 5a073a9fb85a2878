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


def _read_journal(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Every whole record of a journal file (of its first `limit` bytes); a line that is not a journal
    operation is a StorageError naming it (a torn last line is not read)."""
    logs = []
    with open(path, "rb") as stream:
        data = stream.read() if limit is None else stream.read(limit)
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        if not line.endswith(b"\n"):
            break
        try:
            log = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            log = None
        if not isinstance(log, dict) or "op_code" not in log:
            raise StorageError(f"{path}: line {number} is not a journal record; the study storage is damaged "
                               f"there: keep a copy, then run admf repair {path.parent} to resume from the last "
                               "whole batch before it")
        logs.append(log)
    return logs


class GroupCommitJournal(BaseJournalBackend):
    """An append-only journal file whose writes are buffered until `commit` (one write, one fsync), with
    an index of the offsets where whole commits end (`.commits`, starting with 0, made before the first
    write). On open for writing, whatever follows the last whole commit (a torn or half-written batch,
    or records another program appended) is set aside and cut, so the study resumes from a whole batch;
    read-only, only the committed records are read."""

    def __init__(self, path: Path, notice: Notice, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self.commits_path = commits_path(path)
        indexed = self.commits_path.exists()
        if not read_only:
            if path.exists() and indexed:
                _roll_back_to_last_commit(path, notice)
            elif path.exists():  # a journal from before the index (or written by Optuna itself)
                _read_journal(path)  # a bad line is reported before anything is changed
                _repair_torn_tail(path, notice)
                _write_index(self.commits_path, [0, path.stat().st_size])
            else:
                _write_index(self.commits_path, [0])
        self._logs: list[dict[str, Any]] = []
        if path.exists():
            limit = last_commit(path) if read_only and indexed else None
            self._logs = _read_journal(path, limit)
        self._pending: list[dict[str, Any]] = []
        self.commits = 0
        self.size = path.stat().st_size if path.exists() else 0
        self.failed: StorageError | None = None

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        return self._logs[log_number_from:]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        if self.read_only:
            raise StorageError(f"{self.path}: opened read-only")
        self._logs.extend(logs)
        self._pending.extend(logs)

    def discard(self) -> None:
        """Forgets what was not committed (a batch an error cut short is never made durable half-done)."""
        self._pending = []

    def commit(self) -> None:
        """Makes every operation since the last commit durable: one write, one flush, one fsync, then the
        commit's end offset in the index. All or nothing for the file: a write that fails part-way (a
        full disk, an I/O error) is cut back to the last commit, and nothing more is written by this
        process; a journal that grew under it (another program writing) is refused, not appended to."""
        if self.failed is not None:
            raise self.failed
        if not self._pending:
            return
        text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in self._pending).encode("utf-8")
        try:
            stream = open(self.path, "ab", buffering=0)  # noqa: SIM115 (unbuffered: a close never writes again)
        except OSError as error:
            self.failed = StorageError(f"{self.path}: cannot write the study ({error.strerror or error}); "
                                       "nothing was lost: free space or fix the folder's permissions")
            raise self.failed from error
        with stream:
            found = os.fstat(stream.fileno()).st_size
            if found != self.size:
                self.failed = StorageError(
                    f"{self.path}: another program wrote to the journal while admf was writing it ({found:,} "
                    f"bytes, {self.size:,} expected); stop it, then resume (what it wrote is set aside)")
                raise self.failed
            try:
                view = memoryview(text)
                while view:  # a raw write may take part of the batch and fail on the rest
                    view = view[stream.write(view):]
                os.fsync(stream.fileno())
            except BaseException as error:  # a failed write, or a signal's exception part-way through it
                self._cut_back()
                self.failed = StorageError(f"{self.path}: cannot write the study ({_reason(error)}); nothing was "
                                           "lost: free space or fix the folder's permissions, then resume")
                if isinstance(error, OSError):
                    raise self.failed from error
                raise
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


def _reason(error: BaseException) -> str:
    return (error.strerror or str(error)) if isinstance(error, OSError) else f"interrupted: {type(error).__name__}"


def commits_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".commits")


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_index(path: Path, offsets: list[int]) -> None:
    """The commit index, replaced atomically (a crash leaves the old one or the new one)."""
    temporary = path.with_name(f".{path.name}.new")
    with open(temporary, "w") as stream:
        stream.write("".join(f"{offset}\n" for offset in offsets))
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)
    _fsync_folder(path.parent)


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


def last_commit(journal: Path) -> int:
    """Where the last whole commit ends, within the journal as it is (0 when none is whole)."""
    size = journal.stat().st_size
    return max((offset for offset in committed_offsets(journal) if offset <= size), default=0)


def _set_aside(path: Path, data: bytes, kind: str = "rolled-back") -> Path:
    """`data` in a new file beside `path` (never overwriting an earlier one), durable before return."""
    for attempt in range(1000):
        aside = path.with_name(f"{path.name}.{kind}-{len(data)}b-{attempt}")
        try:
            descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        _fsync_folder(path.parent)
        return aside
    raise StorageError(f"{path.parent}: too many rolled-back files; move them away, then resume")


def _roll_back_to_last_commit(path: Path, notice: Notice) -> None:
    """Cuts what follows the last whole commit: what a crash left of a batch being written (a torn line,
    whole lines of half a batch) would otherwise replay as half a batch and renumber the rest of the
    study, and records another program appended are not admf's to interpret. The cut bytes are kept
    beside the journal first; the study resumes from the commit, and its records are then validated."""
    offsets = committed_offsets(path)
    size = path.stat().st_size
    kept = last_commit(path)
    if kept < size:
        with open(path, "rb") as stream:
            if kept:
                stream.seek(kept - 1)
                if stream.read(1) != b"\n":  # edited since: the index describes another file
                    _read_journal(path)  # a line that is not a record is the clearer message
                    raise StorageError(f"{path}: its commit index {commits_path(path).name} does not match it "
                                       f"(edited by hand?); run admf repair {path.parent}")
            stream.seek(kept)
            cut = stream.read()
        aside = _set_aside(path, cut)
        with open(path, "r+b") as stream:
            stream.truncate(kept)
            stream.flush()
            os.fsync(stream.fileno())
        notice(f"repaired: set aside {len(cut):,} bytes ({cut.count(b'{')} record(s)) written after the last "
               f"whole batch, in {aside.name}; that batch is asked and evaluated again as it was")
    if offsets[-1:] != [kept]:
        _write_index(commits_path(path), [offset for offset in offsets if offset <= kept] or [0])
    _read_journal(path)  # the committed records must all be records


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
    original: Path


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
    """Keeps the longest prefix of the journal that replays and ends on a whole commit (on a whole line,
    for a journal whose index is missing or matches none of its lines); the original is kept beside it.
    None: nothing to repair. A StorageError when no prefix with a trial replays (nothing worth keeping)."""
    data = path.read_bytes()
    records, bad_line = _parsed_lines(data)
    if bad_line is None and _replays([log for _, log in records], study_name) is not None \
            and last_commit(path) == len(data):
        return None
    ends = {end for end, _ in records}
    commits = [offset for offset in committed_offsets(path) if offset in ends]
    damaged = data.count(b'"op_code":4,') + data.count(b'"op_code": 4,')  # trial creations, damaged lines too
    for end in sorted(commits or ends, reverse=True):
        logs = [log for stop, log in records if stop <= end]
        trials = _replays(logs, study_name)
        if trials is not None:
            break
    else:
        raise StorageError(f"{path}: no whole batch at its start replays as the study '{study_name}'; nothing "
                           "worth keeping: start the study again with admf run into a new directory")
    original = _set_aside(path, data, kind="orig")
    temporary = path.with_name(f".{path.name}.repair")
    with open(temporary, "wb") as stream:
        stream.write(data[:end])
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)
    _write_index(commits_path(path), sorted({0, *[offset for offset in commits if offset <= end], end}))
    return JournalRepair(end, trials, damaged, bad_line, original)
