"""Seeds derived from tuples of integers, the same in every process, worker and machine.

A sample's randomness is `torch.Generator().manual_seed(derive_seed(seed, epoch, index))`, so it
does not depend on the number of DataLoader workers or on the order in which samples are drawn.
"""

from __future__ import annotations

import hashlib

import torch
from torch.utils.data import Dataset

__all__ = ["EpochSeeded", "derive_seed", "sample_generator"]

_MASK_63 = (1 << 63) - 1


def derive_seed(*values: int) -> int:
    """Mix integers into one 63-bit seed (BLAKE2b of their decimal text).

    Unlike `seed + epoch * n + index`, nearby tuples give unrelated seeds, and no two tuples of
    different length collide by construction (the values are joined with a separator).

    Args:
        *values: Any integers (negative allowed), e.g. `(seed, epoch, index)`.

    Returns:
        An integer in `[0, 2**63)`, usable by `torch.Generator.manual_seed` and numpy.
    """
    text = ",".join(str(int(v)) for v in values).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") & _MASK_63


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A CPU `torch.Generator` for one sample of one epoch (see the module docstring)."""
    return torch.Generator().manual_seed(derive_seed(seed, epoch, index))


class EpochSeeded(Dataset):
    """Base of the data sets: an epoch in shared memory that seeds each sample's augmentation.

    The epoch lives in a shared-memory tensor, so `set_epoch` reaches DataLoader workers that were
    started before it (persistent workers) as well as new ones.
    """

    def __init__(self) -> None:
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        """The epoch that seeds the augmentation."""
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Use `epoch` for the augmentation of every following `__getitem__` (all workers)."""
        self._epoch.fill_(int(epoch))
