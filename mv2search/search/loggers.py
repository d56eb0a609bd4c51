"""Where a worker reports its trials besides the study store: nothing (`logger=none`) or Weights
& Biases (`logger=wandb`).

W&B runs offline unless the user's environment says otherwise (`WANDB_MODE` is only set when
absent): the run files land in `runs/<study>/wandb/` and `wandb sync runs/<study>/wandb/offline-*`
uploads them later. Each worker is one W&B run, grouped by study. After each trial it logs:

- the trial (`trial/*`: its spec's factors, params, MACs, latency, accuracy, status);
- the study as it stands (`study/*`): hypervolume, front size, the table of all trials, a scatter
  chart of it (latency vs accuracy) and a PNG of the Pareto plane coloured by MACs with the front
  highlighted, plus the hypervolume curve.

At the end it logs the exported Pareto configs (`runs/<study>/pareto/*.yaml`) as an artifact.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mv2search.report.tables import trial_rows
from mv2search.study.objectives import Objectives
from mv2search.study.store import TrialRecord

__all__ = [
    "LOGGERS",
    "LoggerConfig",
    "StudyLogger",
    "WandbConfig",
    "WandbLogger",
    "start_wandb_run",
]


@dataclass
class LoggerConfig:
    """Group `logger`: where trials are reported besides the study and the terminal."""

    name: str = "none"  # a key of LOGGERS


@dataclass
class WandbConfig(LoggerConfig):
    """`logger=wandb`: the W&B project and mode."""

    project: str = "mv2search"  # W&B project
    entity: str | None = None  # W&B entity (None: the user's default)
    # W&B mode when WANDB_MODE is not set: offline (files under runs/<study>/wandb/, upload
    # later with `wandb sync`), online, or disabled
    mode: str = "offline"


def start_wandb_run(
    cfg: WandbConfig,
    study: str,
    job_type: str,
    out_dir: Path,
    config: dict[str, Any],
    label: str | None = None,
) -> tuple[Any, Any]:
    """Start one W&B run of a study (offline by default: `WANDB_MODE` from `cfg.mode`).

    Args:
        cfg: The `logger` group.
        study: The study's name: the run's group.
        job_type: `search`, `scaling`, ...
        out_dir: `runs/<study>/`; the run's files go to `out_dir/wandb/` (created if need be).
        config: The run's config.
        label: Put between the study and the host in the run's name (None: nothing).

    Returns:
        `(wandb, run)`: the imported module (imported here, after the environment is set) and
        the run, named `<study>[-<label>]-<host>-<pid>`.
    """
    os.environ.setdefault("WANDB_MODE", cfg.mode)
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    out_dir.mkdir(parents=True, exist_ok=True)
    name = "-".join(p for p in (study, label, socket.gethostname(), str(os.getpid())) if p)
    run = wandb.init(
        project=cfg.project,
        entity=cfg.entity,
        group=study,
        job_type=job_type,
        name=name,
        dir=str(out_dir),
        config=config,
    )
    return wandb, run


_FACTORS = ("width_multiplier", "image_size", "ffn_multiplier")
_STAGES = ("ir_depths", "attn_blocks", "attn_types")

# One analysis table: its columns and rows.
Table = tuple[list[str], list[list[Any]]]


class StudyLogger:
    """The no-op logger (`logger=none`); subclasses report somewhere.

    Args:
        cfg: The `logger` group.
        study: The study's name.
        out_dir: `runs/<study>/`.
        objectives: The study's objectives.
        config: The run's settings, for the logger's record of them.
    """

    Config = LoggerConfig

    def __init__(
        self,
        cfg: LoggerConfig,
        study: str,
        out_dir: Path,
        objectives: Objectives,
        config: dict[str, Any],
    ) -> None:
        self.cfg, self.study, self.out_dir, self.objectives = cfg, study, out_dir, objectives

    def log_trial(
        self,
        record: TrialRecord,
        records: list[TrialRecord],
        front: list[TrialRecord],
        trace: list[float],
    ) -> None:
        """Report one finished trial and the study as it stands after it."""

    def finish(self) -> None:
        """Report the end of this worker's work."""

    def log_analysis(
        self,
        label: str,
        config: dict[str, Any],
        tables: dict[str, Table],
        images: dict[str, Path],
        summary: dict[str, Any],
        files: dict[str, Path],
    ) -> Path | None:
        """Report a study's analysis (e.g. the scaling study's) as one record of its own.

        Args:
            label: What the analysis is (`scaling`): the job type and part of the run's name.
            config: Its settings.
            tables: Name -> (columns, rows).
            images: Name -> PNG file.
            summary: Headline numbers.
            files: Name inside the record -> file to attach.

        Returns:
            Where the record was written (None: nowhere).
        """
        return None


class WandbLogger(StudyLogger):
    """One W&B run per worker, grouped by study (see the module docstring)."""

    Config = WandbConfig

    def __init__(
        self,
        cfg: WandbConfig,
        study: str,
        out_dir: Path,
        objectives: Objectives,
        config: dict[str, Any],
    ) -> None:
        super().__init__(cfg, study, out_dir, objectives, config)
        self.config = config
        self.wandb: Any = None
        self._run: Any = None

    @property
    def run(self) -> Any:
        """This worker's W&B run, started on first use."""
        if self._run is None:
            self.wandb, self._run = start_wandb_run(
                self.cfg, self.study, "search", self.out_dir, self.config
            )
        return self._run

    def log_trial(
        self,
        record: TrialRecord,
        records: list[TrialRecord],
        front: list[TrialRecord],
        trace: list[float],
    ) -> None:
        from matplotlib import pyplot as plt

        from mv2search.report.plots import hypervolume_figure, pareto_figure

        run = self.run
        wandb = self.wandb
        table = _trials_table(wandb, records, {r.number for r in front})
        row = _trial_row(record)
        row["study/hypervolume"] = trace[-1] if trace else 0.0
        row["study/front_size"] = len(front)
        row["study/trials"] = table
        figures = {
            "study/hypervolume_curve": hypervolume_figure(trace, self.objectives.reference_point)
        }
        if self.objectives.m >= 2:
            x, y = self.objectives.names[1], self.objectives.names[0]
            row["study/pareto_scatter"] = wandb.plot.scatter(table, x, y, title="Pareto plane")
            figures["study/pareto"] = pareto_figure(records, front, self.objectives)
        row.update({key: wandb.Image(fig) for key, fig in figures.items()})
        run.log(row)
        for fig in figures.values():
            plt.close(fig)

    def finish(self) -> None:
        run = self.run
        files = sorted((self.out_dir / "pareto").glob("*.yaml"))
        if files:
            artifact = self.wandb.Artifact(f"{self.study}-pareto", type="pareto-configs")
            for path in files:
                artifact.add_file(str(path))
            run.log_artifact(artifact)
        run.finish()

    def log_analysis(
        self,
        label: str,
        config: dict[str, Any],
        tables: dict[str, Table],
        images: dict[str, Path],
        summary: dict[str, Any],
        files: dict[str, Path],
    ) -> Path | None:
        wandb, run = start_wandb_run(self.cfg, self.study, label, self.out_dir, config, label)
        row: dict[str, Any] = {
            f"{label}/{name}": wandb.Table(columns=columns, data=rows)
            for name, (columns, rows) in tables.items()
        }
        row.update({f"{label}/{name}": wandb.Image(str(p)) for name, p in images.items()})
        run.log(row)
        run.summary.update(summary)
        if files:
            artifact = wandb.Artifact(f"{self.study}-{label}-configs", type=f"{label}-configs")
            for name, path in files.items():
                artifact.add_file(str(path), name=name)
            run.log_artifact(artifact)
        run_dir = Path(run.dir).parent
        run.finish()
        return run_dir


LOGGERS: dict[str, type[StudyLogger]] = {"none": StudyLogger, "wandb": WandbLogger}


def _trial_row(record: TrialRecord) -> dict[str, Any]:
    row: dict[str, Any] = {"trial/number": record.number, "trial/status": record.state}
    row.update({f"trial/{k}": v for k, v in record.metrics.items()})
    spec = record.spec or {}
    row.update({f"trial/{k}": spec[k] for k in _FACTORS if k in spec})
    for key in _STAGES:
        for i, value in enumerate(spec.get(key, ())):
            row[f"trial/{key}.{i}"] = value
    if record.steps is not None:  # a rung of a multi-fidelity study, and its learning curve
        row["trial/rung"], row["trial/steps"] = record.rung, record.steps
        row["trial/curve"] = " ".join(f"{s:g}:{a:.4f}" for s, a in record.curve)
    if record.reason:
        row["trial/reason"] = record.reason
    return row


def _trials_table(wandb: Any, records: list[TrialRecord], on_front: set[int]) -> Any:
    columns, rows = trial_rows(records, on_front)
    return wandb.Table(columns=columns, data=rows)
