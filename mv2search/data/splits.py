"""Deterministic, class-stratified splits and class-balanced subsets, for any labelled dataset.

Both work on an integer label array and a seed, draw with numpy generators seeded from
`(seed, class)`, and return sorted index arrays, so the result depends neither on the file system
order nor on the machine. Subsets are nested: with the same seed, a larger subset contains every
sample of a smaller one.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from mv2search.data.collate import collate_skip

__all__ = ["stratified_split", "balanced_subset", "subset_or_all", "SubsetDataset"]

_SPLIT_STREAM, _SUBSET_STREAM = 1, 2  # keep the permutations of split and subset independent


def _class_permutation(labels: np.ndarray, label: int, seed: int, stream: int) -> np.ndarray:
    members = np.flatnonzero(labels == label)
    rng = np.random.default_rng([seed, stream, label])
    return members[rng.permutation(len(members))]


def stratified_split(labels, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into train and val with the same class proportions.

    Each class with `n >= 2` samples puts `round(val_fraction * n)` of them (at least 1, at most
    `n - 1`) into val; a class with one sample stays in train.

    Args:
        labels: Integer class of every sample, `N`.
        val_fraction: Share of each class for validation, in (0, 1).
        seed: Seed of the per-class permutations.

    Returns:
        `(train_indices, val_indices)`, sorted int64 arrays that partition `range(N)`.

    Raises:
        ValueError: if `val_fraction` is not in (0, 1).
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction: {val_fraction}; allowed: a number in (0, 1)")
    labels = np.asarray(labels)
    train, val = [], []
    for label in np.unique(labels):
        order = _class_permutation(labels, int(label), seed, _SPLIT_STREAM)
        count = (
            0 if len(order) < 2 else min(len(order) - 1, max(1, round(val_fraction * len(order))))
        )
        val.append(order[:count])
        train.append(order[count:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _quotas(counts: np.ndarray, total: int, seed: int) -> np.ndarray:
    """Per-class quotas summing to `total`, as equal as the class sizes allow (water-filling);
    leftover units go to classes in a seeded order."""
    quotas = np.zeros_like(counts)
    order = np.random.default_rng([seed, _SUBSET_STREAM]).permutation(len(counts))
    remaining = total
    while remaining > 0:
        open_classes = [c for c in order if quotas[c] < counts[c]]
        share = remaining // len(open_classes)
        if share == 0:
            for c in open_classes[:remaining]:
                quotas[c] += 1
            break
        for c in open_classes:
            add = min(share, counts[c] - quotas[c])
            quotas[c] += add
            remaining -= add
    return quotas


def balanced_subset(labels, subset: float | int, seed: int) -> np.ndarray:
    """A class-balanced, deterministic subset of indices.

    Args:
        labels: Integer class of every sample, `N`.
        subset: A fraction in (0, 1] (each class keeps `round(subset * n)`, at least 1) or an int
            count in `[1, N]` (split as equally over the classes as their sizes allow).
        seed: Seed of the per-class permutations.

    Returns:
        Sorted int64 indices.

    Raises:
        ValueError: if `subset` is neither a fraction in (0, 1] nor an int in `[1, N]`.
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    if isinstance(subset, bool) or not isinstance(subset, int | float):
        raise ValueError(f"subset: {subset!r}; allowed: a fraction in (0, 1] or an int count")
    if isinstance(subset, float):
        if not 0 < subset <= 1:
            raise ValueError(f"subset: {subset}; allowed: a fraction in (0, 1] or an int count")
        quotas = np.minimum(counts, np.maximum(1, np.round(subset * counts).astype(np.int64)))
    else:
        if not 1 <= subset <= len(labels):
            raise ValueError(f"subset: {subset}; allowed: an int count in [1, {len(labels)}]")
        quotas = _quotas(counts, subset, seed)
    chosen = [
        _class_permutation(labels, int(label), seed, _SUBSET_STREAM)[:quota]
        for label, quota in zip(classes, quotas, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


class SubsetDataset(Dataset):
    """The samples `indices` of `dataset`, forwarding `seed`, `set_epoch`, `class_names` and
    `collate`. Augmentation stays seeded by the index in the full dataset, so a sample looks
    the same in every subset.

    Args:
        dataset: A dataset with `targets`, `seed` and `set_epoch` (embedded or folder).
        indices: Positions in `dataset`.
    """

    collate = staticmethod(collate_skip)

    def __init__(self, dataset: Dataset, indices) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        self.targets = np.asarray(dataset.targets)[self.indices]

    @property
    def seed(self) -> int:
        """The underlying dataset's seed."""
        return self.dataset.seed

    @property
    def class_names(self) -> tuple[str, ...]:
        """The underlying dataset's class names."""
        return self.dataset.class_names

    def set_epoch(self, epoch: int) -> None:
        """Forward to the underlying dataset."""
        self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.dataset[int(self.indices[index])]


def subset_or_all(dataset: Dataset, subset: float | int | None, seed: int) -> Dataset:
    """`dataset` itself when `subset` is None or 1.0, else a `SubsetDataset` of
    `balanced_subset`."""
    if subset is None or (isinstance(subset, float) and subset == 1.0):
        return dataset
    return SubsetDataset(dataset, balanced_subset(dataset.targets, subset, seed))
