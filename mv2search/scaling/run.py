"""The scaling study behind `python scale.py +space=mv2_global`: sampling and training through the
search's machinery, then the GP analysis (method.md 7).

1. Sampling and training: the study is a search study (`SearchWorker`): the same evaluator
   (one fixed proxy budget, `trainer=search` by default), the same durable store under
   `runs/<study>/`, resumable and shared by many workers. `scaling.design=sobol` (the default)
   makes every trial a point of the botorch optimizer's scrambled-Sobol design over the grid
   (`optimizer.n_initial = optimizer.n_trials`): a space-filling sample within the budgets.
   `scaling.design=pareto` keeps the optimizer's own start and then samples near the
   accuracy-MACs front (qLogNEHVI, or `optimizer=nsga2` as in the seed paper).
2. Analysis, when the study has its trials: `analyse` fits the GP to the COMPLETE trials and
   derives the sensitivity, maps, cross-validation, downsized models and baseline comparison;
   `write_analysis` writes them under `runs/<study>/scaling/`. Every worker that finishes
   rewrites the same files from the same trials.
3. With `scaling.train_comparison=true`, the base, derived and baseline configs are trained in
   the confirmation stage (the recipe of `conf/confirm/confirm.yaml`, overridden by
   `scaling.confirm`) and set against the GP's predictions (`mv2search.scaling.trained`; cached
   runs, so nothing is trained twice).

The command line is `mv2search.apps.scale`; `python report.py run=runs/<study>` adds the scaling
section.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mv2search.report.scaling_text import principles
from mv2search.scaling.analysis import analyse, base_point
from mv2search.scaling.grid import FactorGrid
from mv2search.scaling.loggers import log_scaling
from mv2search.scaling.outputs import write_analysis
from mv2search.scaling.settings import ScaleAppConfig, check_scaling
from mv2search.scaling.trained import load_recipe_of, train_comparison
from mv2search.search.runner import SearchOutcome, SearchWorker
from mv2search.search.space import SearchSpace
from mv2search.search.workers import run_search

__all__ = ["ScaleOutcome", "prepare", "run_scale", "summary"]


@dataclass(frozen=True)
class ScaleOutcome:
    """The study's outcome and the analysis as written to `analysis.json`."""

    search: SearchOutcome
    analysis: dict[str, Any]
    out_dir: Path


def prepare(cfg: ScaleAppConfig) -> tuple[ScaleAppConfig, FactorGrid]:
    """Check the `scaling` group against the space and apply the design, before any study exists.

    Args:
        cfg: The composed config.

    Returns:
        The config with the design's optimizer settings and study name, and the factor grid.

    Raises:
        ValueError: naming the field: a bad `scaling.*` value, a space that is not a grid of
            numeric factors, a base outside the space, a budget no path from it reaches, a
            bad `scaling.confirm` override, or a fidelity other than `single`.
    """
    check_scaling(cfg.scaling)
    if cfg.fidelity.rungs:
        raise ValueError(
            f"fidelity: {cfg.fidelity.name!r}; the scaling study's GP fits one fidelity, "
            "allowed: fidelity=single"
        )
    load_recipe_of(cfg.scaling)
    space = SearchSpace.from_dict(dict(cfg.space), source="space")
    grid = FactorGrid(space)
    base = base_point(grid, cfg.scaling)
    base_gmacs, level = grid.gmacs_of(base), grid.level(base)
    smallest = grid.gmacs_of(grid.point(level * 0))
    for i, fraction in enumerate(cfg.scaling.downsize.budgets):
        if fraction * base_gmacs < smallest:
            raise ValueError(
                f"scaling.downsize.budgets[{i}]: {fraction:g}x of the base's {base_gmacs:.4g} "
                f"GMACs is below the smallest model of the space ({smallest:.4g} GMACs)"
            )
    optimizer = cfg.optimizer
    if cfg.scaling.design == "sobol":
        if "n_initial" not in optimizer.settings():
            raise ValueError(
                f"scaling.design: 'sobol' is the Sobol start-up design of an optimizer with "
                f"n_initial (botorch), but optimizer={optimizer.name} has none; use "
                "optimizer=botorch or scaling.design=pareto"
            )
        optimizer = dataclasses.replace(optimizer, n_initial=optimizer.n_trials)
    study = cfg.study or f"{space.name}-scale-{cfg.scaling.design}-s{cfg.seed}"
    return dataclasses.replace(cfg, optimizer=optimizer, study=study), grid


def run_scale(cfg: ScaleAppConfig, progress: bool | None = None) -> ScaleOutcome:
    """Run (or resume) the study of `cfg` until it has its trials, then analyse it.

    Args:
        cfg: The composed config.
        progress: Show a bar over trials (None: only on a terminal).

    Returns:
        The outcome.

    Raises:
        ValueError: for bad input (see `prepare` and `SearchWorker`), or too few COMPLETE trials.
    """
    cfg, grid = prepare(cfg)
    search = run_search(cfg, progress)  # `workers` processes on the study
    worker = SearchWorker(dataclasses.replace(cfg, workers="1"))  # the finished study, reopened
    analysis, _ = analyse(
        worker.store.records(), grid, list(worker.objectives.budgets), cfg.scaling, cfg.seed
    )
    data = write_analysis(worker.out_dir, analysis, grid)
    if cfg.scaling.train_comparison:
        recipe = load_recipe_of(cfg.scaling)
        analysis.trained = train_comparison(worker.evaluator, data, grid, recipe, progress)
        analysis.principles = principles(analysis)
        data = write_analysis(worker.out_dir, analysis, grid)
    log_scaling(worker.make_logger(), worker.out_dir, data)
    return ScaleOutcome(search, data, worker.out_dir)


def summary(outcome: ScaleOutcome) -> str:
    """The analysis in a few lines: ranking, fit quality, derived files, principles."""
    a = outcome.analysis
    label = dict(zip(a["names"], a["labels"], strict=True))
    lines = [
        f"{outcome.search.n_complete} complete, {outcome.search.n_failed} failed trials "
        f"({outcome.search.evaluated} evaluated by this worker in {outcome.search.wall_s:.0f} s)",
        "sensitivity ranking (total index): "
        + " > ".join(label[n] for n in a["sensitivity"]["ranking"]),
        f"GP cross-validation: RMSE {a['cv']['rmse']:.4f}, Spearman {a['cv']['spearman']:.3f}",
        *(f"derived {p['fraction']:g}x: {p.get('file')}" for p in a["paths"]),
        "design principles:",
        *(f"  {i}. {text}" for i, text in enumerate(a["principles"], 1)),
        f"outputs: {outcome.out_dir}/scaling/ (analysis.json, derived/, baselines/, *.png); "
        f"report: python report.py run={outcome.out_dir}",
    ]
    return "\n".join(lines)
