"""The scaling analysis for the study's logger (`StudyLogger.log_analysis`): with
`logger=wandb`, one W&B run per analysis, grouped with the study's search runs.

It logs the figures (`scaling/*`), the sensitivity, comparison and cross-validation tables, the
fit-quality numbers as the run summary, and the derived and baseline configs as an artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mv2search.report.scaling_figures import FIGURES
from mv2search.search.loggers import StudyLogger, Table

__all__ = ["log_scaling"]


def _tables(a: dict[str, Any]) -> dict[str, Table]:
    s = a["sensitivity"]
    sensitivity = (
        ["factor", "name", "total", "total_lo", "total_hi", "first_order", "lengthscale"],
        [
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
    comparison = (
        [
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
        [
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
    held_out = (
        ["observed", "predicted", "sd"],
        [list(row) for row in zip(cv["y"], cv["mean"], cv["sd"], strict=True)],
    )
    return {"sensitivity": sensitivity, "comparison": comparison, "cv": held_out}


def log_scaling(logger: StudyLogger, out_dir: Path, analysis: dict[str, Any]) -> Path | None:
    """Log a written analysis (`runs/<study>/scaling/`) through the study's logger.

    Args:
        logger: The study's logger (`logger=none`: nothing is logged).
        out_dir: `runs/<study>/`.
        analysis: The analysis as written to `analysis.json`.

    Returns:
        Where the logger wrote it (W&B: the run's local directory), or None.
    """
    folder = Path(out_dir) / "scaling"
    cv = analysis["cv"]
    return logger.log_analysis(
        "scaling",
        config={"names": analysis["names"], "base": analysis["base"], "domain": analysis["domain"]},
        tables=_tables(analysis),
        images={s: folder / f"{s}.png" for s in FIGURES if (folder / f"{s}.png").is_file()},
        summary={
            "cv_rmse": cv["rmse"],
            "cv_spearman": cv["spearman"],
            "cv_kendall": cv["kendall"],
            "ranking": analysis["sensitivity"]["ranking"],
            "principles": analysis["principles"],
        },
        files={f"{p.parent.name}/{p.name}": p for p in sorted(folder.glob("*/*.yaml"))},
    )
