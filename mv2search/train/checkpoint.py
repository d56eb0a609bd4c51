"""Training checkpoints, written atomically (`mv2search.files`): a run killed mid-write keeps its
previous checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mv2search.files import atomic_writer, write_json

__all__ = ["save_checkpoint", "load_checkpoint", "write_json"]


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Serialise a training state with `torch.save` and write it atomically.

    Args:
        path: The checkpoint file.
        state: Tensors, state dicts and plain Python values.
    """
    with atomic_writer(path) as file:
        torch.save(state, file)


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
