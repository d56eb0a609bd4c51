"""Atomic checkpoint and JSON writes: a reader sees the old file or the new one, never half of one.

The bytes go to a temporary file in the same folder, are flushed to disk, and replace the target
with `os.replace` (atomic on POSIX and Windows). A process killed mid-write leaves at most a stray
`*.tmp*` file, which the next write replaces.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["atomic_write_bytes", "save_checkpoint", "load_checkpoint", "write_json"]


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (see the module docstring).

    Args:
        path: Target file; its folder is created if missing.
        data: The full contents.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Serialise a training state with `torch.save` and write it atomically.

    Args:
        path: The checkpoint file.
        state: Tensors, state dicts and plain Python values.
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`.

    Args:
        path: The checkpoint file.

    Returns:
        The state.

    Raises:
        ValueError: naming the file, if it cannot be read.
    """
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as err:  # zip/pickle errors come in many types
        raise ValueError(
            f"{path}: unreadable training checkpoint ({err}); delete it to start the run afresh"
        ) from err


def write_json(path: str | Path, value: Any) -> None:
    """Write `value` as indented JSON, atomically.

    Args:
        path: The file.
        value: JSON-serialisable data.
    """
    atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode())
