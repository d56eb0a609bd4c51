"""The typed config of `python confirm.py` (Hydra schema `base_confirm`).

`conf/confirm/confirm.yaml` merges into `ConfirmAppConfig`, so a misspelled key or a wrong type
fails when the config is composed, before anything is read or trained. The `trainer` and `device`
groups are the ones `train.py` and `search.py` use (`conf/trainer/`, `conf/device/`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from mv2search.search.settings import DeviceConfig
from mv2search.train.config import TrainerConfig

__all__ = ["ConfirmAppConfig"]


@dataclass
class ConfirmAppConfig:
    """The whole `confirm.py` config (Hydra schema `base_confirm`)."""

    run: str = MISSING  # the search's output folder, runs/<study>
    storage_url: str | None = None  # the study's URL when not the folder's own file (PostgreSQL)
    top_k: int = 3  # Pareto configs to confirm, the most accurate by proxy first
    presets: bool = True  # also train the nearest published preset of each at its resolution
    # the confirmation's recipe ("full"; confirm.yaml cuts its budget down for a CPU)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    # full runs train at round(image_size x scale) px (multiple of 8, >= 32); 1.0: the spec's own
    resolution_scale: float = 0.25
    # images of the embedded set the confirmation trains and scores on (the fidelity reference's;
    # a study on an image folder keeps its own data)
    embedded_train_size: int = 10_000
    embedded_val_size: int = 10_000  # scored on 10,000: the reference's order repeats better
    # latency profile of the presets' latency (None: the study's own profile, by name)
    device: DeviceConfig | None = None
    # costs within this fraction count as equal when a found config is set against a preset
    cost_tolerance: float = 0.05
    torch_device: str = "auto"  # where to train: auto, cpu, cuda, cuda:N
    report: bool = True  # rebuild runs/<study>/report.html at the end
    # root of the confirmation's training runs, latency store and Hydra's files (None: the
    # study's own runs folder, the parent of `run`; confirm.yaml says so with ${parent:${run}})
    runs_dir: str | None = None
