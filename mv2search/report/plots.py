"""Figures of a study: the Pareto scatter and the hypervolume curve (matplotlib, no display).

Used live by the W&B logger and written as PNGs beside a study's outputs. Each function takes the
trial records of `StudyStore.records()`, so a figure can be drawn at any time from the store.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mv2search.study.objectives import Objectives  # noqa: E402
from mv2search.study.store import TrialRecord  # noqa: E402

__all__ = ["PARALLEL_FACTORS", "hypervolume_figure", "parallel_figure", "pareto_figure"]


def pareto_figure(
    records: list[TrialRecord], front: list[TrialRecord], objectives: Objectives
) -> Figure:
    """Every COMPLETE trial in the plane of the first two objectives, coloured by giga-MACs,
    with the front drawn as a line through its points.

    Args:
        records: `StudyStore.records()`.
        front: The front's records (`outputs.front_of(...).records`).
        objectives: The study's objectives (at least two).

    Returns:
        The figure (close it with `plt.close(fig)` when done).
    """
    y_name, x_name = objectives.names[0], objectives.names[1]
    done = [r for r in records if r.state == "COMPLETE" and r.metrics]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    if done:
        xs = [r.metrics[x_name] for r in done]
        ys = [r.metrics[y_name] for r in done]
        macs = [r.metrics.get("gmacs", 0.0) for r in done]
        points = ax.scatter(xs, ys, c=macs, cmap="viridis", s=36, edgecolors="none")
        fig.colorbar(points, ax=ax, label="GMACs")
    if front:
        line = sorted(front, key=lambda r: r.metrics[x_name])
        ax.plot(
            [r.metrics[x_name] for r in line],
            [r.metrics[y_name] for r in line],
            "o-",
            color="crimson",
            mfc="none",
            ms=10,
            label=f"Pareto front ({len(front)})",
        )
        ax.legend(loc="lower right")
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    ax.set_title(f"{len(done)} trials")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def hypervolume_figure(trace: list[float], reference_point: tuple[float, ...]) -> Figure:
    """Hypervolume after every finished trial.

    Args:
        trace: `outputs.hypervolume_trace(...)`.
        reference_point: The study's reference point (shown in the title).

    Returns:
        The figure.
    """
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    ax.plot(range(1, len(trace) + 1), trace, "o-", ms=3)
    ax.set_xlabel("finished trials")
    ax.set_ylabel("hypervolume")
    ax.set_title(f"reference point {list(reference_point)}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# The spec fields on the axes and their labels (a depth tuple is drawn as its sum).
PARALLEL_FACTORS = {
    "width_multiplier": "width_multiplier",
    "image_size": "image_size",
    "ir_depths": "sum(ir_depths)",
    "attn_blocks": "sum(attn_blocks)",
    "ffn_multiplier": "ffn_multiplier",
}


def parallel_figure(records: list[TrialRecord], colour: str = "accuracy") -> Figure:
    """Parallel coordinates of the global factors of every COMPLETE trial, coloured by `colour`.

    Factors (`PARALLEL_FACTORS`): width multiplier, resolution, the IR blocks and attention
    layers of all stages together, FFN multiplier; each axis is scaled to its own range over
    the trials.

    Args:
        records: `StudyStore.records()`.
        colour: The metric that colours the lines.

    Returns:
        The figure.
    """
    done = [r for r in records if r.state == "COMPLETE" and r.metrics and r.spec]
    fig, ax = plt.subplots(figsize=(7.2, 4.0), dpi=100)
    if done:
        rows = [_factors(r.spec) for r in done]
        low = [min(col) for col in zip(*rows, strict=True)]
        high = [max(col) for col in zip(*rows, strict=True)]
        values = [r.metrics.get(colour, 0.0) for r in done]
        vmin, vmax = min(values), max(values)
        cmap = plt.get_cmap("viridis")
        for row, value in zip(rows, values, strict=True):
            scaled = [
                (v - lo) / (hi - lo) if hi > lo else 0.5
                for v, lo, hi in zip(row, low, high, strict=True)
            ]
            shade = (value - vmin) / (vmax - vmin) if vmax > vmin else 1.0
            ax.plot(range(len(row)), scaled, color=cmap(shade), alpha=0.8)
        mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(vmin, vmax))
        fig.colorbar(mappable, ax=ax, label=colour)
        names = PARALLEL_FACTORS.values()
        labels = [f"{n}\n{lo:g}-{hi:g}" for n, lo, hi in zip(names, low, high, strict=True)]
        ax.set_xticks(range(len(PARALLEL_FACTORS)), labels, fontsize=8)
    ax.set_yticks([])
    ax.set_title(f"global factors of {len(done)} trials (each axis: its range)")
    fig.tight_layout()
    return fig


def _factors(spec: dict[str, Any]) -> list[float]:
    values = [spec[name] for name in PARALLEL_FACTORS]
    return [float(sum(v)) if isinstance(v, list | tuple) else float(v) for v in values]


def curves_figure(records: list[TrialRecord]) -> Figure:
    """Learning curves of a multi-fidelity study: each spec's accuracy at every evaluation of its
    run, up to its highest finished rung (one line per spec), the rungs' steps marked.

    Args:
        records: `StudyStore.records()` of the study.

    Returns:
        The figure (close it with `plt.close(fig)` when done).
    """
    highest: dict[str, TrialRecord] = {}
    for r in records:
        if r.complete and r.curve and r.rung >= getattr(highest.get(r.signature), "rung", -1):
            highest[r.signature] = r
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    for r in highest.values():
        steps, accuracy = zip(*r.curve, strict=True)
        ax.plot(steps, accuracy, "-o", ms=3, lw=1, alpha=0.6)
    for steps in sorted({r.steps for r in records if r.steps is not None}):
        ax.axvline(steps, color="grey", lw=0.5, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("training steps (dotted: the rungs)")
    ax.set_ylabel("top-1 accuracy")
    ax.set_title(f"{len(highest)} specs, each to its highest rung")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
