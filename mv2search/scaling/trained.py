"""The comparison by training: the derived models, the baseline rules' models and the base,
each trained with the study's own proxy recipe, against the GP's predictions (method.md 7.4).

Every config goes through the study's `Evaluator.proxy_train` (the same trainer, resolution
scale, data and seed as the trials the GP was fitted to), so a run is cached by spec signature
under `runs/train/`: a config the study already trained is read back, a killed run resumes, and
running the study again trains nothing twice. One seed per config: the differences between rules
at one budget are within the proxy's noise unless they exceed the GP's learned noise sd.

Summary: per budget, the trained accuracy of every rule and which rule trained best; over all
configs, the RMSE of the GP's predictions and the rank agreement (Kendall tau-b,
`mv2search.confirm.rank_agreement`) of predicted and trained accuracy.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from tqdm import tqdm

from mv2search.confirm.compare import rank_agreement
from mv2search.scaling.grid import FactorGrid
from mv2search.search.evaluator import Evaluator

__all__ = ["train_comparison"]


def _configs(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """The base and every comparison row: fraction, rule, point and prediction."""
    base = analysis["base"]
    rows = [
        {
            "fraction": 1.0,
            "rule": "base",
            "x": base["x"],
            "gmacs": base["gmacs"],
            "within_budget": True,
            "mean": base["mean"],
            "sd": base["sd"],
        }
    ]
    keys = ("fraction", "rule", "x", "gmacs", "within_budget", "mean", "sd")
    return rows + [{k: r[k] for k in keys} for r in analysis["comparison"]]


def _winners(rows: list[dict[str, Any]]) -> dict[str, str | None]:
    winners = {}
    for fraction in sorted({r["fraction"] for r in rows if r["rule"] != "base"}):
        done = [
            r
            for r in rows
            if r["fraction"] == fraction and r["within_budget"] and r["accuracy"] is not None
        ]
        best = max(done, key=lambda r: r["accuracy"], default=None)
        winners[f"{fraction:g}"] = best["rule"] if best else None
    return winners


def train_comparison(
    evaluator: Evaluator,
    analysis: dict[str, Any],
    grid: FactorGrid,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Proxy-train the base, the derived and the baseline configs (module docstring).

    Args:
        evaluator: The study's evaluator (`SearchWorker.evaluator`).
        analysis: The written analysis (`analysis.json`'s content).
        grid: The factor grid of the study's space.
        progress: Show a bar over the configs (None: only on a terminal).

    Returns:
        `rows` (each config with its prediction, trained accuracy, status and run time),
        `winners` (the best-trained rule within budget per budget fraction), `rmse` of the
        predictions, `rank_agreement` and `trainer` (the recipe's name).
    """
    rows = _configs(analysis)
    results: dict[str, Any] = {}
    for row in tqdm(
        rows,
        unit="config",
        desc="train comparison",
        disable=None if progress is None else not progress,
    ):
        spec = grid.spec(torch.tensor(row["x"], dtype=torch.float64))
        if spec.signature not in results:
            results[spec.signature] = evaluator.proxy_train(spec)
        result = results[spec.signature]
        row.update(
            signature=spec.signature,
            accuracy=float(result.top1) if result.ok and result.top1 is not None else None,
            status=result.status,
            train_s=result.wall_s,
        )
    both = [r for r in rows if r["accuracy"] is not None]
    errors = [(r["mean"] - r["accuracy"]) ** 2 for r in both]
    return {
        "trainer": evaluator.trainer.name,
        "rows": rows,
        "winners": _winners(rows),
        "rmse": math.sqrt(sum(errors) / len(errors)) if errors else None,
        "rank_agreement": rank_agreement([r["mean"] for r in both], [r["accuracy"] for r in both]),
    }
