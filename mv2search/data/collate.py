"""Batching that survives undecodable images: `Skipped` markers and `collate_skip`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["Skipped", "collate_skip"]


@dataclass(frozen=True)
class Skipped:
    """Returned by a dataset instead of `(image, label)` for a file that could not be decoded."""

    path: str  # the file that failed
    reason: str = ""  # the decoder's message


def collate_skip(
    batch: Sequence[tuple[torch.Tensor, int] | Skipped | None],
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Stack the good samples of a batch and list the skipped ones.

    Args:
        batch: `(image 3 x H x W, label)` pairs, `Skipped` markers or None (a skip whose path is
            unknown, listed as "<unknown>").

    Returns:
        `(images B x 3 x H x W, labels B int64, skipped paths)`, B <= len(batch). If every sample
        was skipped, `images` is `0 x 0 x 0 x 0` float32 and `labels` is empty: callers should
        skip such a batch.
    """
    good = [item for item in batch if isinstance(item, tuple)]
    skipped = [
        item.path if isinstance(item, Skipped) else "<unknown>"
        for item in batch
        if not isinstance(item, tuple)
    ]
    if not good:
        return torch.empty(0, 0, 0, 0), torch.empty(0, dtype=torch.int64), skipped
    images = torch.stack([image for image, _ in good])
    labels = torch.tensor([int(label) for _, label in good], dtype=torch.int64)
    return images, labels, skipped
