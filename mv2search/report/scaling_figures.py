"""Figures of a scaling analysis (matplotlib, no display), drawn from `ScalingAnalysis.to_dict()`.

`sensitivity`: total and first-order indices and the ARD lengthscales, with their intervals over
bootstrap refits. `maps`: posterior mean and sd over r x w and r x d
(other factors at the base), with iso-MACs lines of the grid. `cv`: held-out predictions against
the trials. `downsize`: the downsizing paths and the baseline rules, predicted accuracy vs MACs,
over the trials.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mv2search.report.scaling_text import Z90  # noqa: E402

__all__ = [
    "FIGURES",
    "cv_figure",
    "downsize_figure",
    "maps_figure",
    "sensitivity_figure",
    "trained_figure",
]

_COLOURS = {
    "gp_downsize": "crimson",
    "alpha_only": "tab:blue",
    "efficientnet": "tab:green",
    "dollar": "tab:orange",
}


def _errors(values: list[float], intervals: list[list[float]]) -> list[list[float]]:
    low = [max(v - lo, 0.0) for v, (lo, _) in zip(values, intervals, strict=True)]
    high = [max(hi - v, 0.0) for v, (_, hi) in zip(values, intervals, strict=True)]
    return [low, high]


def sensitivity_figure(a: dict[str, Any]) -> Figure:
    """Indices (left) and lengthscales (right) per factor, with 90 % intervals."""
    s, labels = a["sensitivity"], a["labels"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.8), dpi=100)
    pos = range(len(labels))
    for shift, key, name in ((-0.2, "total", "total ST"), (0.2, "first_order", "first order S")):
        left.bar(
            [p + shift for p in pos],
            s[key],
            width=0.4,
            label=name,
            yerr=_errors(s[key], s[f"{key}_interval"]),
            capsize=3,
        )
    left.set_xticks(list(pos), labels)
    left.set_ylabel("variance share of accuracy")
    left.set_title(f"Sensitivity ({s['n_refits']} bootstrap refits)")
    left.legend()
    boot = s["lengthscale_interval"]
    has_boot = all(lo == lo for lo, _ in boot)  # NaN without refits
    right.bar(
        list(pos),
        s["lengthscale"],
        color="tab:gray",
        yerr=_errors(s["lengthscale"], boot) if has_boot else None,
        capsize=3,
    )
    right.set_xticks(list(pos), labels)
    right.set_yscale("log")
    right.set_ylabel("lengthscale (fraction of range)")
    right.set_title("ARD lengthscales (short: sensitive)")
    fig.tight_layout()
    return fig


def maps_figure(a: dict[str, Any]) -> Figure:
    """Posterior mean (top) and sd (bottom) of accuracy over each joint pair."""
    maps, label = a["maps"], dict(zip(a["names"], a["labels"], strict=True))
    fig, axes = plt.subplots(
        2, max(len(maps), 1), figsize=(4.2 * max(len(maps), 1), 7), dpi=100, squeeze=False
    )
    for k, m in enumerate(maps):
        for row, key in enumerate(("mean", "sd")):
            ax = axes[row][k]
            values = [[100 * v for v in line] for line in m[key]]
            image = ax.contourf(m["x"], m["y"], values, levels=14, cmap="viridis")
            fig.colorbar(image, ax=ax, label=f"accuracy {key} (%)")
            lines = ax.contour(
                m["grid_x"], m["grid_y"], m["grid_gmacs"], levels=5, colors="white", linewidths=0.8
            )
            ax.clabel(lines, fmt="%.2g G", fontsize=7)
            ax.set_xlabel(label[m["x_name"]] + " (" + m["x_name"] + ")")
            ax.set_ylabel(label[m["y_name"]] + " (" + m["y_name"] + ")")
            ax.set_title(f"{label[m['x_name']]} x {label[m['y_name']]}: posterior {key}")
    fig.tight_layout()
    return fig


def cv_figure(a: dict[str, Any]) -> Figure:
    """Held-out predicted vs observed accuracy with 90 % predictive intervals."""
    cv = a["cv"]
    fig, ax = plt.subplots(figsize=(4.8, 4.4), dpi=100)
    y = [100 * v for v in cv["y"]]
    mean = [100 * v for v in cv["mean"]]
    err = [100 * Z90 * v for v in cv["sd"]]
    ax.errorbar(y, mean, yerr=err, fmt="o", ms=4, capsize=2, color="tab:blue")
    low, high = min(y + mean), max(y + mean)
    ax.plot([low, high], [low, high], "k--", lw=1)
    ax.set_xlabel("observed proxy accuracy (%)")
    ax.set_ylabel("held-out prediction (%)")
    ax.set_title(f"{cv['folds']}-fold CV: RMSE {100 * cv['rmse']:.1f} pp, rho {cv['spearman']:.2f}")
    fig.tight_layout()
    return fig


def downsize_figure(a: dict[str, Any]) -> Figure:
    """Trials, downsizing paths and baseline rules: accuracy vs GMACs."""
    fig, ax = plt.subplots(figsize=(7.2, 4.6), dpi=100)
    ax.scatter(
        [t["gmacs"] for t in a["trials"]],
        [100 * t["accuracy"] for t in a["trials"]],
        color="lightgray",
        s=20,
        label="trials (observed)",
    )
    for k, path in enumerate(a["paths"]):
        steps = path["steps"]
        ax.plot(
            [s["gmacs"] for s in steps],
            [100 * s["mean"] for s in steps],
            "-",
            color="crimson",
            alpha=0.35,
            label="downsizing paths" if k == 0 else None,
        )
        ax.axvline(path["budget_gmacs"], color="gray", ls=":", lw=0.8)
    seen = set()
    for row in a["comparison"]:
        rule = row["rule"]
        ax.errorbar(
            row["gmacs"],
            100 * row["mean"],
            yerr=100 * Z90 * row["sd"],
            fmt="o" if row["within_budget"] else "x",
            color=_COLOURS[rule],
            capsize=3,
            label=None if rule in seen else rule,
        )
        seen.add(rule)
    base = a["base"]
    ax.plot(base["gmacs"], 100 * base["mean"], "k*", ms=12, label=f"base {base['name']}")
    ax.set_xlabel("GMACs (exact)")
    ax.set_ylabel("predicted proxy accuracy (%)")
    ax.set_title("Derived models vs scaling rules at each budget (x: over budget)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def trained_figure(a: dict[str, Any]) -> Figure | None:
    """Predicted vs trained (confirmed) accuracy of the compared configs (None before training)."""
    if not a.get("trained"):
        return None
    rows = [r for r in a["trained"]["rows"] if r["accuracy"] is not None]
    fig, ax = plt.subplots(figsize=(5.6, 4.6), dpi=100)
    seen = set()
    for r in rows:
        colour = _COLOURS.get(r["rule"], "black")
        ax.errorbar(
            100 * r["accuracy"],
            100 * r["mean"],
            yerr=100 * Z90 * r["sd"],
            capsize=2,
            fmt="o" if r["within_budget"] else "x",
            color=colour,
            label=None if r["rule"] in seen else r["rule"],
        )
        seen.add(r["rule"])
    values = [100 * r["accuracy"] for r in rows] + [100 * r["mean"] for r in rows]
    if values:
        ax.plot([min(values), max(values)], [min(values), max(values)], "k--", lw=1)
    stage = a["trained"].get("stage", "proxy")
    ax.set_xlabel(f"trained accuracy, {stage} recipe (%)")
    ax.set_ylabel("GP prediction (%)")
    ax.set_title("Compared configs: predicted vs trained")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# file stem -> (figure function, caption)
FIGURES = {
    "scaling_sensitivity": (
        sensitivity_figure,
        "Per-factor sensitivity: variance-based indices "
        "on the GP and ARD lengthscales, 90 % intervals",
    ),
    "scaling_maps": (
        maps_figure,
        "Joint factors: posterior mean and sd of accuracy over r x w "
        "and r x d (other factors at the base; white: iso-GMACs)",
    ),
    "scaling_cv": (cv_figure, "Cross-validated GP fit: held-out predictions vs observed"),
    "scaling_downsize": (
        downsize_figure,
        "Downsizing paths and the baseline rules at each "
        "budget (predicted accuracy, 90 % intervals)",
    ),
    "scaling_trained": (
        trained_figure,
        "The compared configs trained in the confirmation stage: GP prediction vs trained "
        "accuracy (x: over budget)",
    ),
}
