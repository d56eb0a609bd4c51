"""Process groups for `torchrun`: who am I, which device do I use, and sums across processes.

A plain `python train.py` is a world of one; under `torchrun --nproc_per_node N` the `RANK`,
`WORLD_SIZE` and `LOCAL_RANK` variables are set, and `init_distributed` joins the group (NCCL on
CUDA, gloo on CPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistContext", "init_distributed", "all_reduce_sum", "resolve_device"]


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job."""

    rank: int = 0  # global rank
    world_size: int = 1  # number of processes
    local_rank: int = 0  # rank on this machine (selects the GPU)

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and shows progress."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether a process group with more than one member is in use."""
        return self.world_size > 1


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """Turn `auto`, `cpu`, `cuda` or `cuda:N` into a device.

    Args:
        device: The configured device; `auto` picks CUDA when available.
        local_rank: Used to pick the GPU under torchrun when `device` names no index.

    Returns:
        The device.

    Raises:
        ValueError: for an unknown name or CUDA without a GPU.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"{device!r}: no CUDA device here; use cpu or auto")
        return torch.device(device if ":" in device else f"cuda:{local_rank}")
    raise ValueError(f"device {device!r}: allowed values are auto, cpu, cuda, cuda:N")


def init_distributed(device: torch.device) -> DistContext:
    """Join the torchrun process group if the environment describes one.

    Args:
        device: This process's device (chooses the backend: NCCL for CUDA, else gloo).

    Returns:
        The context; `world_size == 1` without torchrun.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    context = DistContext(
        rank=int(os.environ["RANK"]),
        world_size=world_size,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return context


def all_reduce_sum(values: list[float], context: DistContext, device: torch.device) -> list[float]:
    """Sum a few numbers over all processes (identity in a world of one).

    Args:
        values: This process's numbers.
        context: The job.
        device: Where the reduction tensor lives (NCCL needs CUDA).

    Returns:
        The sums, identical on every process.
    """
    if not context.active:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()
