"""The scaling analysis in Weights & Biases (`logger=wandb`): one run per analysis, grouped with
the study's search runs, offline unless `WANDB_MODE` says otherwise (as `mv2search.search.loggers`).

It logs the figures (`scaling/*`), the sensitivity, comparison and cross-validation tables, the
fit-quality numbers as the run summary, and the derived and baseline configs as an artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mv2search.scaling.plots import FIGURES
from mv2search.search.loggers import start_wandb_run
from mv2search.search.settings import LoggerConfig

__all__ = ["log_scaling_wandb"]


def _tables(wandb: Any, a: dict[str, Any]) -> dict[str, Any]:
    s = a["sensitivity"]
    sensitivity = wandb.Table(
        columns=["factor", "name", "total", "total_lo", "total_hi", "first_order", "lengthscale"],
        data=[
            [
                a["labels"][j],
                a["names"][j],
                s["total"][j],
                *s["total_interval"][j],
                s["first_order"][j],
                s["lengthscale"][j],
            ]
            for j in range(len(a["names"]))
        ],
    )
    comparison = wandb.Table(
        columns=[
            "fraction",
            "budget_gmacs",
            "rule",
            "gmacs",
            "within_budget",
            "mean",
            "sd",
            "p_ours_better",
            *a["names"],
        ],
        data=[
            [
                r["fraction"],
                r["budget_gmacs"],
                r["rule"],
                r["gmacs"],
                r["within_budget"],
                r["mean"],
                r["sd"],
                r["p_ours_better"],
                *r["x"],
            ]
            for r in a["comparison"]
        ],
    )
    cv = a["cv"]
    held_out = wandb.Table(
        columns=["observed", "predicted", "sd"],
        data=[list(row) for row in zip(cv["y"], cv["mean"], cv["sd"], strict=True)],
    )
    return {"sensitivity": sensitivity, "comparison": comparison, "cv": held_out}


def log_scaling_wandb(
    cfg: LoggerConfig, study: str, out_dir: Path, analysis: dict[str, Any]
) -> Path:
    """Log a written analysis (`runs/<study>/scaling/`) as one W&B run.

    Args:
        cfg: The `logger` group (project, entity, mode).
        study: The study name (the W&B group).
        out_dir: `runs/<study>/`.
        analysis: The analysis as written to `analysis.json`.

    Returns:
        The run's local directory.
    """
    folder = Path(out_dir) / "scaling"
    config = {"names": analysis["names"], "base": analysis["base"], "domain": analysis["domain"]}
    wandb, run = start_wandb_run(cfg, study, "scaling", Path(out_dir), config, label="scaling")
    row: dict[str, Any] = {f"scaling/{k}": v for k, v in _tables(wandb, analysis).items()}
    for stem in FIGURES:
        if (folder / f"{stem}.png").is_file():
            row[f"scaling/{stem}"] = wandb.Image(str(folder / f"{stem}.png"))
    run.log(row)
    cv = analysis["cv"]
    run.summary.update(
        {
            "cv_rmse": cv["rmse"],
            "cv_spearman": cv["spearman"],
            "cv_kendall": cv["kendall"],
            "ranking": analysis["sensitivity"]["ranking"],
            "principles": analysis["principles"],
        }
    )
    artifact = wandb.Artifact(f"{study}-scaling-configs", type="scaling-configs")
    for path in sorted(folder.glob("*/*.yaml")):
        artifact.add_file(str(path), name=f"{path.parent.name}/{path.name}")
    run.log_artifact(artifact)
    run_dir = Path(run.dir).parent
    run.finish()
    return run_dir
