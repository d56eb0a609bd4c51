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
from pathlib import Path
from typing import Any

from mv2search.search.objectives import Objectives
from mv2search.search.outputs import trial_rows
from mv2search.search.settings import LoggerConfig

__all__ = ["LOGGERS", "StudyLogger", "WandbLogger", "make_logger", "start_wandb_run"]


def start_wandb_run(
    cfg: LoggerConfig,
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


LOGGERS = ("none", "wandb")
_FACTORS = ("width_multiplier", "image_size", "ffn_multiplier")
_STAGES = ("ir_depths", "attn_blocks", "attn_types")


class StudyLogger:
    """The no-op logger (`logger=none`); subclasses report somewhere."""

    def log_trial(
        self,
        record: dict[str, Any],
        records: list[dict[str, Any]],
        front: list[dict[str, Any]],
        trace: list[float],
    ) -> None:
        """Report one finished trial and the study as it stands after it."""

    def finish(self, out_dir: Path) -> None:
        """Report the end of this worker's work (`out_dir`: the study's output folder)."""


def make_logger(
    cfg: LoggerConfig, study: str, out_dir: Path, objectives: Objectives, config: dict[str, Any]
) -> StudyLogger:
    """The logger of the `logger` group.

    Raises:
        ValueError: for an unknown logger name (listing `LOGGERS`).
    """
    if cfg.name == "none":
        return StudyLogger()
    if cfg.name == "wandb":
        return WandbLogger(cfg, study, out_dir, objectives, config)
    raise ValueError(f"logger.name: unknown logger {cfg.name!r}; allowed: {list(LOGGERS)}")


class WandbLogger(StudyLogger):
    """One W&B run per worker, grouped by study (see the module docstring)."""

    def __init__(
        self,
        cfg: LoggerConfig,
        study: str,
        out_dir: Path,
        objectives: Objectives,
        config: dict[str, Any],
    ) -> None:
        self.wandb, self.run = start_wandb_run(cfg, study, "search", out_dir, config)
        self.study, self.objectives = study, objectives

    def log_trial(
        self,
        record: dict[str, Any],
        records: list[dict[str, Any]],
        front: list[dict[str, Any]],
        trace: list[float],
    ) -> None:
        from matplotlib import pyplot as plt

        from mv2search.search.plots import hypervolume_figure, pareto_figure

        wandb = self.wandb
        table = _trials_table(wandb, records, {r["number"] for r in front})
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
        self.run.log(row)
        for fig in figures.values():
            plt.close(fig)

    def finish(self, out_dir: Path) -> None:
        files = sorted((out_dir / "pareto").glob("*.yaml"))
        if files:
            artifact = self.wandb.Artifact(f"{self.study}-pareto", type="pareto-configs")
            for path in files:
                artifact.add_file(str(path))
            self.run.log_artifact(artifact)
        self.run.finish()


def _trial_row(record: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"trial/number": record["number"], "trial/status": record["state"]}
    row.update({f"trial/{k}": v for k, v in (record["metrics"] or {}).items()})
    spec = record["spec"] or {}
    row.update({f"trial/{k}": spec[k] for k in _FACTORS if k in spec})
    for key in _STAGES:
        for i, value in enumerate(spec.get(key, ())):
            row[f"trial/{key}.{i}"] = value
    if record["reason"]:
        row["trial/reason"] = record["reason"]
    return row


def _trials_table(wandb: Any, records: list[dict[str, Any]], on_front: set[int]) -> Any:
    columns, rows = trial_rows(records, on_front)
    return wandb.Table(columns=columns, data=rows)
