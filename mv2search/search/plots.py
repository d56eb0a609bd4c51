"""Figures of a study: the Pareto scatter and the hypervolume curve (matplotlib, no display).

Used live by the W&B logger and written as PNGs beside a study's outputs. Each function takes the
plain trial records of `StudyStore.records()`, so a figure can be drawn at any time from the store.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mv2search.search.objectives import Objectives  # noqa: E402

__all__ = ["hypervolume_figure", "pareto_figure"]


def pareto_figure(
    records: list[dict[str, Any]], front: list[dict[str, Any]], objectives: Objectives
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
    done = [r for r in records if r["state"] == "COMPLETE" and r["metrics"]]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    if done:
        xs = [r["metrics"][x_name] for r in done]
        ys = [r["metrics"][y_name] for r in done]
        macs = [r["metrics"].get("gmacs", 0.0) for r in done]
        points = ax.scatter(xs, ys, c=macs, cmap="viridis", s=36, edgecolors="none")
        fig.colorbar(points, ax=ax, label="GMACs")
    if front:
        line = sorted(front, key=lambda r: r["metrics"][x_name])
        ax.plot(
            [r["metrics"][x_name] for r in line],
            [r["metrics"][y_name] for r in line],
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
