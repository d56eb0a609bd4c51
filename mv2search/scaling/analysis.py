"""The scaling analysis of a finished study: GP fit, sensitivity, maps, CV, downsizing, baselines.

`analyse` takes the study's trial records and returns a `ScalingAnalysis` (plain data, written
as `runs/<study>/scaling/analysis.json`); `write_analysis` also writes the derived configs and
the figures. Accuracy is a fraction in the data and in percentage points (pp) in the text.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from mv2search.arch.presets import get_preset
from mv2search.cost import count_params
from mv2search.report.scaling_text import Z90, principles
from mv2search.scaling._experimental import experimental
from mv2search.scaling.downsize import DownsizePath, downsize
from mv2search.scaling.gp import FactorGP, bootstrap_fits, cross_validate, fit_gp
from mv2search.scaling.grid import FactorGrid, factor_label
from mv2search.scaling.rules import RULES, scale_by_rule
from mv2search.scaling.sensitivity import factor_sensitivity
from mv2search.scaling.settings import ScalingConfig
from mv2search.study.objectives import Budget
from mv2search.study.store import TrialRecord

__all__ = ["JOINT_PAIRS", "ScalingAnalysis", "analyse", "trial_data"]

# the joint factors of the paper: resolution-width and resolution-depth
JOINT_PAIRS = (
    ("image_size", "width_multiplier"),
    ("image_size", "ir_depths"),
    ("image_size", "attn_blocks"),
)


@dataclass
class ScalingAnalysis:
    """Everything the report, the plots and W&B show (JSON-able via `to_dict`)."""

    names: list[str]
    labels: list[str]
    n_trials: int
    domain: dict[str, Any]  # the budgets and grid points the sensitivity is taken over
    gp: dict[str, Any]  # kernel, lengthscales, noise and signal sd
    sensitivity: dict[str, Any]
    cv: dict[str, Any]
    maps: list[dict[str, Any]]
    base: dict[str, Any]
    paths: list[dict[str, Any]]
    comparison: list[dict[str, Any]]
    trials: list[dict[str, float]]  # gmacs and accuracy of every trial, for the plots
    principles: list[str] = field(default_factory=list)
    trained: dict[str, Any] | None = None  # `trained.train_comparison`, once it has run

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        return dataclasses.asdict(self)


def trial_data(records: list[TrialRecord]) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """`(X n x d, accuracy n, gmacs n)` of the COMPLETE trials with a finite accuracy."""
    rows = [
        r
        for r in records
        if r.state == "COMPLETE" and math.isfinite(r.metrics.get("accuracy", math.nan))
    ]
    X = torch.tensor([r.x for r in rows], dtype=torch.float64)
    y = torch.tensor([r.metrics["accuracy"] for r in rows], dtype=torch.float64)
    return X, y, [float(r.metrics.get("gmacs", math.nan)) for r in rows]


def _domain(grid: FactorGrid, budgets: list[Budget]) -> torch.Tensor:
    """Which grid points are within every budget of the study (`g` bools)."""
    keep = torch.ones(grid.X.shape[0], dtype=torch.bool)
    for i, x in enumerate(grid.X):
        metrics = {"gmacs": float(grid.gmacs[i])}
        if any(b.metric == "mparams" for b in budgets):
            metrics["mparams"] = count_params(grid.spec(x)) / 1e6
        keep[i] = all(b.feasible(metrics) for b in budgets)
    return keep


def base_point(grid: FactorGrid, cfg: ScalingConfig) -> torch.Tensor:
    """The downsizing base's coordinates (`d`).

    Raises:
        ValueError: naming `scaling.downsize.base` when it is not a preset in the space.
    """
    space = grid.space
    try:
        preset = get_preset(cfg.downsize.base)
        spec = dataclasses.replace(
            preset, image_size=cfg.downsize.image_size, num_classes=space.base.num_classes, name=""
        )
        return space.encode(spec)
    except ValueError as err:
        raise ValueError(f"scaling.downsize.base: {err}") from err


def _maps(gp: FactorGrid | Any, grid: FactorGrid, base: torch.Tensor, points: int) -> list[dict]:
    names, (low, high) = grid.names, grid.space.bounds
    out = []
    for first, second in JOINT_PAIRS:
        if first not in names or second not in names:
            continue
        i, j = names.index(first), names.index(second)
        xs, ys = torch.linspace(low[i], high[i], points), torch.linspace(low[j], high[j], points)
        X = base.repeat(points * points, 1)
        X[:, i], X[:, j] = xs.repeat(points).double(), ys.repeat_interleave(points).double()
        mean, sd = gp.predict(X)
        level = grid.level(base)
        macs = []
        for b in range(len(grid.values[j])):
            row = []
            for a in range(len(grid.values[i])):
                level[i], level[j] = a, b
                row.append(grid.gmacs_of(grid.point(level)))
            macs.append(row)
        out.append(
            {
                "x_name": first,
                "y_name": second,
                "x": xs.tolist(),
                "y": ys.tolist(),
                "mean": mean.reshape(points, points).tolist(),
                "sd": sd.reshape(points, points).tolist(),
                "grid_x": list(grid.values[i]),
                "grid_y": list(grid.values[j]),
                "grid_gmacs": macs,
            }
        )
    return out


def _compare(gp: FactorGP, grid: FactorGrid, base: torch.Tensor, path: DownsizePath) -> list[dict]:
    ours = torch.tensor(path.final.x, dtype=torch.float64)
    rows = [
        {
            "rule": "gp_downsize",
            "x": path.final.x,
            "gmacs": path.final.gmacs,
            "within_budget": True,
            "mean": path.final.mean,
            "sd": path.final.sd,
            "p_ours_better": None,
        }
    ]
    for rule in RULES:
        point = scale_by_rule(grid, rule, base, path.budget_gmacs)
        x = torch.tensor(point.x, dtype=torch.float64)
        mean, cov = gp.joint(torch.stack([ours, x]))
        diff_sd = float((cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]).clamp_min(0).sqrt())
        diff = float(mean[0] - mean[1])
        p = 0.5 if diff_sd < 1e-12 else 0.5 * (1 + math.erf(diff / diff_sd / math.sqrt(2)))
        rows.append(
            {
                "rule": rule,
                "x": point.x,
                "gmacs": point.gmacs,
                "within_budget": point.within_budget,
                "mean": float(mean[1]),
                "sd": float(cov[1, 1].clamp_min(0).sqrt()),
                "p_ours_better": p,
                "t": point.t,
                "continuous": point.continuous,
            }
        )
    return [{"budget_gmacs": path.budget_gmacs, **row} for row in rows]


def _path_dict(path: DownsizePath, fraction: float) -> dict[str, Any]:
    final = path.final
    return {
        "fraction": fraction,
        "budget_gmacs": path.budget_gmacs,
        "steps": [dataclasses.asdict(s) for s in path.steps],
        "factor_counts": path.factor_counts(),
        "final": dataclasses.asdict(final),
        "interval_90": [final.mean - Z90 * final.sd, final.mean + Z90 * final.sd],
    }


@experimental(since="0.1.0")
def analyse(
    records: list[TrialRecord],
    grid: FactorGrid,
    budgets: list[Budget],
    cfg: ScalingConfig,
    seed: int = 0,
) -> tuple[ScalingAnalysis, FactorGP]:
    """Fit the GP to the study's trials and derive everything of `ScalingAnalysis`.

    Args:
        records: `StudyStore.records()` of the study.
        grid: The factor grid of its space.
        budgets: The study's exact budgets (they bound the sensitivity domain).
        cfg: The `scaling` group.
        seed: Seed of the bootstrap and the CV folds.

    Returns:
        The analysis and the fitted GP.

    Raises:
        ValueError: for fewer than `cfg.min_trials` COMPLETE trials, a base outside the space,
            or a budget no path reaches.
    """
    X, y, gmacs = trial_data(records)
    if X.shape[0] < cfg.min_trials:
        raise ValueError(
            f"scaling: the study has {X.shape[0]} COMPLETE trials with an accuracy; the analysis "
            f"needs scaling.min_trials = {cfg.min_trials} (raise optimizer.n_trials)"
        )
    base = base_point(grid, cfg)
    bounds = grid.space.bounds
    gp = fit_gp(X, y, bounds)
    refits = bootstrap_fits(X, y, bounds, cfg.n_bootstrap, seed)
    keep = _domain(grid, budgets)
    sens = factor_sensitivity(gp, (grid.X[keep], grid.levels[keep]), list(grid.names), refits)
    base_mean, base_sd = gp.predict(base.unsqueeze(0))
    base_gmacs = grid.gmacs_of(base)
    paths, comparison = [], []
    for fraction in sorted(cfg.downsize.budgets):
        path = downsize(grid, gp.predict, base, fraction * base_gmacs)
        paths.append(_path_dict(path, fraction))
        comparison += [{"fraction": fraction, **row} for row in _compare(gp, grid, base, path)]
    analysis = ScalingAnalysis(
        names=list(grid.names),
        labels=[factor_label(n) for n in grid.names],
        n_trials=int(X.shape[0]),
        domain={
            "budgets": {b.metric: b.max_value for b in budgets},
            "n_points": int(keep.sum()),
            "lowest": [v[0] for v in grid.values],  # each factor's lowest grid value
        },
        gp={
            "kernel": "Matern-5/2, ARD, learned noise",
            "lengthscales": gp.lengthscales.tolist(),
            "noise_sd": gp.noise_sd,
            "signal_sd": gp.signal_sd,
        },
        sensitivity={**dataclasses.asdict(sens), "ranking": sens.ranking},
        cv=dataclasses.asdict(cross_validate(X, y, bounds, cfg.cv_folds, seed)),
        maps=_maps(gp, grid, base, cfg.map_points),
        base={
            "name": cfg.downsize.base,
            "image_size": cfg.downsize.image_size,
            "x": base.tolist(),
            "gmacs": base_gmacs,
            "mean": float(base_mean[0]),
            "sd": float(base_sd[0]),
        },
        paths=paths,
        comparison=comparison,
        trials=[{"gmacs": g, "accuracy": float(a)} for g, a in zip(gmacs, y, strict=True)],
    )
    analysis.principles = principles(analysis)
    return analysis, gp
