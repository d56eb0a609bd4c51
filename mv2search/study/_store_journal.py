"""Journal study files: a torn tail is found before Optuna reads or appends anything (issue 14).

Private to `mv2search.study` (`_store_open.build_storage` and the `repair-journal` command).

Optuna 5.0's `JournalFileBackend` appends whole lines: each `append_logs` is one `write` of JSON
records, each ending in `\\n`, under the lock file `<file>.lock`, then an fsync. Its reader skips a
last line that has no `\\n` (a writer may be in the middle of it) or is not JSON, and raises a
`JSONDecodeError` that names no file for a bad line followed by another. A write cut short (a
crash, a full disk, a copy cut off) therefore leaves a tail that reports silently drop, and that
the next append glues its record onto: first a study with fewer trials, then one that no longer
opens.

Complete, here, means what Optuna reads now and still reads after one more append: every line
ends with `\\n` and parses as JSON. So a last line that is whole JSON without its `\\n` is torn:
Optuna never reads it, and the next record would be joined onto it. Checks:

- `open_journal`, on every open: the last line only (read backwards from the end), so a clean
  study is parsed once, by Optuna. A bad line in the middle is found by Optuna's own read; only
  then `scan_journal` reads the whole file again, to name the offset.
- A torn-looking tail may be a live worker's append in progress: before refusing, the check
  waits (up to `_WRITER_WAIT_S`) until `<file>.lock` is gone and looks again; a tail that is
  still there, at the same file size, is torn.
- `repair_journal` keeps the complete records and moves the torn tail to `<file>.torn`
  (`.torn.1`, ... if taken; never overwritten, never deleted). The tail file is written and
  fsynced before the journal is truncated, under the journal's lock: a crash in between leaves
  the journal as it was (a rerun copies the tail once more). A corrupt record in the middle is not
  repaired: the records after it may be whole, and only a person can say which to keep.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

__all__: list[str] = []

_WRITER_WAIT_S = 5.0  # longest wait for a live writer's lock before a torn tail is reported
_CHUNK = 1 << 16  # bytes read at a time when looking for the last line
_NO_NEWLINE = "whole JSON, no newline"  # reasons a last line is torn
_CUT_SHORT = "cut short: no newline, not JSON"


@dataclass(frozen=True)
class JournalScan:
    """What a linear scan of a journal file found.

    Attributes:
        path: The file.
        size: Its size in bytes.
        end: Byte offset where the complete records end (`size` for a whole file; the start of
            the first bad line otherwise).
        records: Complete records before `end`.
        bad_line: 1-based number of the first bad line; None for a whole file.
        reason: Why that line is not a complete record.
        lines_after: Lines after the bad one (0: it is the tail; more: corrupt in the middle).
    """

    path: Path
    size: int
    end: int
    records: int
    bad_line: int | None = None
    reason: str = ""
    lines_after: int = 0

    @property
    def torn(self) -> bool:
        """Whether the file ends in a torn tail (and has nothing bad before it)."""
        return self.bad_line is not None and self.lines_after == 0

    @property
    def corrupt(self) -> bool:
        """Whether a bad line has more lines after it (not a torn tail: not repaired)."""
        return self.lines_after > 0


@dataclass(frozen=True)
class JournalRepair:
    """What `repair_journal` did.

    Attributes:
        path: The journal.
        records: Complete records it holds now.
        kept_bytes: Its size now.
        moved_bytes: Bytes of torn tail moved aside (0: it was not torn).
        torn_path: Where they went; None when nothing was moved.
    """

    path: Path
    records: int
    kept_bytes: int
    moved_bytes: int = 0
    torn_path: Path | None = None

    @property
    def summary(self) -> str:
        """One line saying what was done."""
        if self.torn_path is None:
            return (
                f"{self.path}: not torn: {self.records} complete records ({self.kept_bytes} "
                "bytes); nothing changed"
            )
        return (
            f"{self.path}: kept {self.records} complete records ({self.kept_bytes} bytes); moved "
            f"the torn tail ({self.moved_bytes} bytes) to {self.torn_path}"
        )


def open_journal(path: Path) -> JournalStorage:
    """Optuna's storage of a journal file, after checking that it is not torn.

    Args:
        path: The journal file (created empty if missing, as Optuna does).

    Returns:
        The storage.

    Raises:
        ValueError: for a torn tail (where the complete records end, the bytes after them, and
            the `repair-journal` command) or a corrupt record in the middle (its offset); the
            file is left untouched. The message does not repeat the file name: the caller's
            does.
    """
    check_journal(path)
    try:
        return JournalStorage(JournalFileBackend(str(path)))
    except ValueError as err:  # Optuna's reader: a line that is not JSON, with more after it
        scan = scan_journal(path)
        if scan.corrupt:
            raise ValueError(corrupt_message(scan)) from err
        if scan.torn:  # torn since the check (a writer died just now)
            raise ValueError(torn_message(scan)) from err
        raise


def check_journal(path: Path) -> None:
    """Refuse a journal whose last line is not a complete record (cheap: reads the last line).

    Args:
        path: The journal file; a missing or empty one passes.

    Raises:
        ValueError: as `open_journal`.
    """
    size = _torn_size(path)
    deadline = time.monotonic() + _WRITER_WAIT_S
    while size is not None:
        _wait_for_writers(path, deadline)
        again = _torn_size(path)
        if again is None:
            return
        if again == size or time.monotonic() >= deadline:
            break
        size = again  # the file grew: a writer is at work, look once more when it is done
    else:
        return
    scan = scan_journal(path)
    if scan.corrupt:
        raise ValueError(corrupt_message(scan))
    if scan.torn:
        raise ValueError(torn_message(scan))


def scan_journal(path: Path) -> JournalScan:
    """Read every line of a journal file and find where its complete records end.

    Args:
        path: The journal file.

    Returns:
        The scan (one linear pass, each line parsed once).
    """
    offset = records = after = 0
    bad_line, reason = None, ""
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            if bad_line is not None:
                after += 1
                continue
            why = _why_incomplete(line)
            if why is None:
                records += 1
                offset += len(line)
            else:
                bad_line, reason = number, why
        size = file.tell()
    return JournalScan(path, size, offset, records, bad_line, reason, after)


def torn_message(scan: JournalScan) -> str:
    """What is torn and how to recover (no file name: see `open_journal`)."""
    tail = scan.size - scan.end
    what = {
        _NO_NEWLINE: "a whole record without its newline (Optuna never reads it, and the next "
        "append would be joined onto it)",
        _CUT_SHORT: "a record cut short (a write that did not finish)",
    }.get(scan.reason, f"not a record ({scan.reason})")
    return (
        f"torn tail: the complete records end at byte {scan.end} ({scan.records} records) and "
        f"the {tail} bytes after them are {what}. To keep the {scan.records} complete records "
        f"and move the torn tail to {torn_path(scan.path)} (nothing is deleted), run: "
        f"mv2search repair-journal {scan.path}"
    )


def corrupt_message(scan: JournalScan) -> str:
    """Where the corrupt record is, and that it is not repaired (no file name)."""
    return (
        f"corrupt record at byte {scan.end} (line {scan.bad_line}: {scan.reason}) with "
        f"{scan.lines_after} more line{'s' if scan.lines_after > 1 else ''} after it; not a "
        "torn tail, so `mv2search repair-journal` "
        f"does not repair it: restore the file from a copy (the {scan.records} records before "
        f"byte {scan.end} are complete)"
    )


def repair_journal(path: str | Path) -> JournalRepair:
    """Keep a torn journal's complete records and move its torn tail to `<file>.torn`.

    The tail goes to the first of `<file>.torn`, `<file>.torn.1`, ... that does not exist
    (created exclusively, never overwritten), is fsynced, and only then is the journal cut
    after its last complete record and fsynced. All under the journal's Optuna lock, so no
    worker appends meanwhile (a lock left by a dead process is taken after Optuna's 30 s).

    Args:
        path: The journal file.

    Returns:
        What was done (nothing, for a file that is not torn).

    Raises:
        ValueError: naming the file when it is missing, cannot be written, or has a corrupt
            record in the middle (left untouched: see `corrupt_message`).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such journal file")
    try:
        lock = JournalFileSymlinkLock(str(path))
        lock.acquire()
        try:
            scan = scan_journal(path)
            if scan.corrupt:
                raise ValueError(f"{path}: {corrupt_message(scan)}")
            if not scan.torn:
                return JournalRepair(path, scan.records, scan.size)
            moved, where = _move_tail(path, scan.end)
        finally:
            lock.release()
    except OSError as err:
        raise ValueError(f"{path}: cannot repair the journal: {err}") from err
    return JournalRepair(path, scan.records, scan.end, moved, where)


def torn_path(path: Path) -> Path:
    """The first of `<path>.torn`, `<path>.torn.1`, ... that does not exist."""
    k = 0
    while (candidate := _torn_candidate(path, k)).exists():
        k += 1
    return candidate


# ---------------------------------------------------------------------------------- internals
def _why_incomplete(line: bytes) -> str | None:
    """None for a complete record (a JSON line ending in `\\n`), else why it is not one."""
    try:
        json.loads(line)
    except json.JSONDecodeError as err:
        why = f"not JSON: {err.msg} at column {err.colno}"
    except ValueError:  # bytes that are not UTF-8 text
        why = "not UTF-8 text"
    else:
        return None if line.endswith(b"\n") else _NO_NEWLINE
    return why if line.endswith(b"\n") else _CUT_SHORT


def _torn_size(path: Path) -> int | None:
    """The file's size when its last line is not a complete record; None when it is (or the
    file is missing or empty)."""
    try:
        file = open(path, "rb")  # noqa: SIM115 (closed below, after the size is known)
    except FileNotFoundError:
        return None
    with file:
        size = os.fstat(file.fileno()).st_size
        if size == 0:
            return None
        file.seek(size - 1)
        if file.read(1) != b"\n":
            return size
        start = _line_start(file, size - 1)
        file.seek(start)
        line = file.read(size - start)
    return None if _why_incomplete(line) is None else size


def _line_start(file, before: int) -> int:
    """Offset just after the last `\\n` before byte `before` (0 if none), read backwards."""
    position = before
    while position > 0:
        step = min(_CHUNK, position)
        file.seek(position - step)
        found = file.read(step).rfind(b"\n")
        if found >= 0:
            return position - step + found + 1
        position -= step
    return 0


def _wait_for_writers(path: Path, deadline: float) -> None:
    """Return once Optuna's lock file `<path>.lock` is absent, or at `deadline`."""
    lock = f"{path}.lock"
    while os.path.lexists(lock) and time.monotonic() < deadline:
        time.sleep(0.01)


def _torn_candidate(path: Path, k: int) -> Path:
    return path.with_name(f"{path.name}.torn" + (f".{k}" if k else ""))


def _move_tail(path: Path, end: int) -> tuple[int, Path]:
    """Copy the bytes after `end` to a new `.torn` file (fsynced), then cut the journal there."""
    with open(path, "r+b") as journal:
        journal.seek(end)
        tail = journal.read()
        k = 0
        while True:
            where = _torn_candidate(path, k)
            try:
                handle = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                k += 1
                continue
            break
        with os.fdopen(handle, "wb") as out:
            out.write(tail)
            out.flush()
            os.fsync(out.fileno())
        _fsync_folder(path.parent)
        journal.truncate(end)
        journal.flush()
        os.fsync(journal.fileno())
    return len(tail), where


def _fsync_folder(folder: Path) -> None:
    """Make a new file's name durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
