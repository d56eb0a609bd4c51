"""Training checkpoints, written atomically (`mv2search.files`): a run killed mid-write keeps its
previous checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mv2search.files import atomic_writer, write_json

__all__ = ["save_checkpoint", "load_checkpoint", "load_own_checkpoint", "write_json"]


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


def load_own_checkpoint(path: Path, identity: Any, differs: str) -> dict[str, Any] | None:
    """The checkpoint of a run that is resuming: None before its first, an error for another's.

    Args:
        path: The run's checkpoint file (it need not exist).
        identity: What the run's checkpoints record as theirs (spec, recipe, seed, data ...).
        differs: The fields the error names as possibly different, e.g. "spec, trainer or seed".

    Returns:
        The state, or None when `path` is not a file.

    Raises:
        ValueError: naming the file, when it cannot be read or belongs to a different run.
    """
    if not path.is_file():
        return None
    state = load_checkpoint(path)
    if state["identity"] != identity:
        raise ValueError(
            f"{path} belongs to a different run ({differs} differ); choose another run folder "
            "or delete it to start afresh"
        )
    return state
