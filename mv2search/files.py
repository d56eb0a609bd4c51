"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The bytes go to a temporary file in the same folder, are flushed to disk, and replace the target
with `os.replace` (atomic on POSIX and Windows). A process killed mid-write leaves at most a stray
hidden `.<name>.*.tmp` file, never a truncated target. Used for checkpoints, metrics and the
embedded data set's cache, by every subpackage (this module imports nothing from mv2search).
`file_lock` is the exclusive `flock` that processes sharing a file store take (the study's
claims, the supernet's one training).

The file gets the mode a plain `open()` would give it (0666 less the process's umask): the
temporary file `mkstemp` makes is 0600, which would hide reports from the user's colleagues.

Ctrl-C during a write (in the main thread) waits for the write to finish, then raises: raised inside
`torch.save`'s writer callback, a KeyboardInterrupt would come out as a RuntimeError ("unexpected
pos"), which a search records as a failed trial and carries on past.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_writer", "atomic_write_bytes", "file_lock", "write_json"]


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[IO[bytes]]:
    """A binary file object whose contents replace `path` only if the block completes.

    Args:
        path: Target file; its folder is created if missing.

    Yields:
        The temporary file, open for writing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _interrupt_after():
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(handle, 0o666 & ~_umask())
            with os.fdopen(handle, "wb") as file:
                yield file
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@contextlib.contextmanager
def _interrupt_after() -> Iterator[None]:
    """Hold back SIGINT for the block and deliver it when the block ends (main thread only:
    elsewhere Python runs no signal handler anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and callable(previous):
            previous(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt
        elif received and previous == signal.SIG_DFL:
            raise KeyboardInterrupt


def _umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically.

    Args:
        path: Target file.
        data: The full contents.
    """
    with atomic_writer(path) as file:
        file.write(data)


def write_json(path: str | Path, value: Any) -> None:
    """Write `value` as indented JSON, atomically.

    Args:
        path: The file.
        value: JSON-serialisable data.
    """
    atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode())


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created, with its folder, if missing) for the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
