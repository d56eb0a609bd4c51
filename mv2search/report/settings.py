"""The typed config of `python report.py` (Hydra schema `base_report`)."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

__all__ = ["ReportAppConfig"]


@dataclass
class ReportAppConfig:
    """The whole `report.py` config."""

    run: str = MISSING  # the search's output folder, runs/<study>
    storage_url: str | None = None  # the study's URL when not the folder's own file (PostgreSQL)
    runs_dir: str | None = None  # where Hydra's files go (report.yaml: the parent of `run`)
