"""Supernet training: budget-restricted subnet sampling and the sandwich rule with in-place
distillation, resumable and cached under `runs/supernet/<key>/`."""

from mv2search.supernet_train.config import SupernetTrainConfig
from mv2search.supernet_train.run import (
    SupernetResult,
    SupernetRun,
    SupernetTask,
    run_key,
    train_supernet,
)
from mv2search.supernet_train.sampler import Feasibility, SubnetSampler
from mv2search.supernet_train.sandwich import (
    SandwichLosses,
    proxy_resolution,
    resize,
    sandwich_backward,
)

__all__ = [
    "Feasibility",
    "SandwichLosses",
    "SubnetSampler",
    "SupernetResult",
    "SupernetRun",
    "SupernetTask",
    "SupernetTrainConfig",
    "proxy_resolution",
    "resize",
    "run_key",
    "sandwich_backward",
    "train_supernet",
]
