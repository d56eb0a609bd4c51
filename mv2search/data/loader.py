"""Seeded, resumable batching: which samples a step sees is a pure function of (seed, epoch, step).

A training run that is killed and restarted must see exactly the batches it would have seen.
`EpochSampler` therefore draws the epoch's permutation from a generator seeded with
`(seed, epoch)`, shards it across ranks like `DistributedSampler`, and can start part-way
through an epoch. Per-sample augmentation is seeded by the datasets themselves from
`(seed, epoch, index)` (see `set_epoch`), so neither the worker count nor the resume point changes
a single pixel.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mv2search.data.collate import collate_skip
from mv2search.data.seeding import derive_seed

__all__ = ["EpochSampler", "build_loader", "steps_per_epoch"]


class EpochSampler(Sampler[int]):
    """The indices one rank reads in one epoch, optionally skipping the first `start` of them.

    Args:
        size: Number of samples in the data set.
        seed: Run seed.
        epoch: Epoch number; each epoch has its own permutation.
        shuffle: Permute (training) or keep the data set order (evaluation).
        rank: This process's rank.
        world_size: Number of processes. Training (`equal=True`) drops the tail so every rank
            gets the same count; evaluation keeps every sample exactly once across ranks.
        start: Number of this rank's indices to skip (resume inside an epoch).
        equal: Give every rank the same number of indices.
    """

    def __init__(
        self,
        size: int,
        *,
        seed: int,
        epoch: int,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
        equal: bool = True,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank={rank} must lie in [0, world_size={world_size})")
        if shuffle:
            generator = torch.Generator().manual_seed(derive_seed(seed, epoch))
            order = torch.randperm(size, generator=generator)
        else:
            order = torch.arange(size)
        if equal:
            order = order[: size - size % world_size]
        self._indices = order[rank::world_size][start:].tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices)

    def __len__(self) -> int:
        return len(self._indices)


def steps_per_epoch(size: int, batch_size: int, world_size: int = 1) -> int:
    """Optimizer steps per epoch with `drop_last` batching of equal rank shards.

    Args:
        size: Training set size.
        batch_size: Per-process batch size.
        world_size: Number of processes.

    Returns:
        `floor(floor(size / world_size) / batch_size)`.
    """
    return (size // world_size) // batch_size


def build_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    train: bool,
    sampler: EpochSampler,
    num_workers: int = 0,
) -> DataLoader:
    """A `DataLoader` over `sampler`'s indices that skips undecodable samples.

    Batches are `(images B x 3 x H x W, labels B, skipped paths)` (`mv2search.data.collate_skip`).
    Workers are not persistent: each epoch's loader is fresh, so `dataset.set_epoch` reaches them.

    Args:
        dataset: A map-style data set from `mv2search.data.build_datasets`.
        batch_size: Per-process batch size.
        train: Drop the last incomplete batch (training) or keep it (evaluation).
        sampler: The indices to read, in order.
        num_workers: Loader processes (0 loads in the calling process).

    Returns:
        The loader.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=train,
        num_workers=num_workers,
        collate_fn=collate_skip,
        pin_memory=torch.cuda.is_available(),
    )
