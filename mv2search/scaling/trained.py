"""The comparison by training: the base, the derived models and the baseline rules' models,
each trained in the confirmation stage, against the GP's predictions (method.md 7.4).

Every config is trained with the confirmation recipe (`conf/confirm/confirm.yaml`: the fidelity
benchmark's reference recipe at its resolution scale, `mv2search.confirm.load_recipe`) on the
study's own data source (on the embedded set, the recipe's 10,000 / 1,000 images) and seed,
through `mv2search.confirm.train_specs`: each run is cached by spec signature under
`runs/train/`, so a config shared by two rules trains once, a killed run resumes, and
running the study again trains nothing twice. One seed per config: the differences between rules
at one budget are within the recipe's noise unless they exceed the GP's learned noise sd.

Summary: per budget, the confirmed accuracy of every rule and which rule trained best; over all
configs, the RMSE of the GP's predictions (which are of the study's proxy accuracy, so the RMSE
also holds the gap between the proxy and the confirmation recipe) and the rank agreement
(Kendall tau-b, `mv2search.confirm.rank_agreement`) of predicted and confirmed accuracy.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import torch

from mv2search.confirm.compare import rank_agreement
from mv2search.confirm.recipe import ConfirmRecipe, confirm_evaluator, load_recipe, train_specs
from mv2search.scaling.grid import FactorGrid
from mv2search.scaling.settings import ScalingConfig
from mv2search.search.evaluator import Evaluator

__all__ = ["load_recipe_of", "train_comparison"]


def load_recipe_of(cfg: ScalingConfig) -> ConfirmRecipe:
    """The confirmation recipe with the `scaling.confirm` overrides.

    Args:
        cfg: The `scaling` group.

    Returns:
        The recipe the trained comparison uses.

    Raises:
        ValueError: naming `scaling.confirm` and the bad override.
    """
    try:
        return load_recipe(list(cfg.confirm))
    except ValueError as err:
        raise ValueError(f"scaling.confirm: {err}") from err


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
    recipe: ConfirmRecipe,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Train the base, the derived and the baseline configs in the confirmation stage.

    Args:
        evaluator: The study's evaluator (`SearchWorker.evaluator`): its data, seed and runs.
        analysis: The written analysis (`analysis.json`'s content).
        grid: The factor grid of the study's space.
        recipe: The confirmation recipe (`mv2search.confirm.load_recipe`).
        progress: Show a bar over the configs (None: only on a terminal).

    Returns:
        `rows` (each config with its prediction, confirmed accuracy, status, run time and
        run folder), `winners` (the best-trained rule within budget per budget fraction),
        `rmse` of the predictions, `rank_agreement`, `stage` ("confirmation"), `trainer` (the
        recipe's name), `recipe` (its trainer and resolution scale), `trained` (runs this
        call trained or resumed) and `wall_s`.
    """
    start = time.monotonic()
    rows = _configs(analysis)
    named = [
        (f"{r['fraction']:g}x-{r['rule']}", grid.spec(torch.tensor(r["x"], dtype=torch.float64)))
        for r in rows
    ]
    runs = train_specs(confirm_evaluator(evaluator, recipe), named, progress)
    for row, (name, _) in zip(rows, named, strict=True):
        run = runs[name]
        row.update(
            signature=run.signature,
            accuracy=run.accuracy,
            status=run.result.status,
            train_s=run.result.wall_s,
            run=str(run.run_dir),
        )
    both = [r for r in rows if r["accuracy"] is not None]
    errors = [(r["mean"] - r["accuracy"]) ** 2 for r in both]
    return {
        "stage": "confirmation",
        "trainer": recipe.trainer.name,
        "recipe": dataclasses.asdict(recipe),
        "rows": rows,
        "winners": _winners(rows),
        "rmse": math.sqrt(sum(errors) / len(errors)) if errors else None,
        "rank_agreement": rank_agreement([r["mean"] for r in both], [r["accuracy"] for r in both]),
        "trained": sum(run.trained for run in runs.values()),
        "wall_s": time.monotonic() - start,
    }
