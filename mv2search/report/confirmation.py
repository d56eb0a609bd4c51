"""The confirmation as people read it: a figure, a terminal table and a report section.

Everything here reads `runs/<study>/confirm/confirmation.json` only (written by
`mv2search.confirm.run`), so the report can show it without importing training code.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = [
    "ConfirmSection",
    "budget_words",
    "confirmation_figure",
    "confirmation_section",
    "confirmation_text",
]

_COLUMNS = ("name", "kind", "image_size", "gmacs", "latency_ms", "proxy_accuracy", "full_accuracy")


@dataclass(frozen=True)
class ConfirmSection:
    """The report's confirmation section."""

    html: str  # an HTML fragment, its figure inlined
    images: dict[str, bytes]  # PNG bytes by name, to write beside the report


def confirmation_figure(data: dict[str, Any]) -> Figure:
    """Full vs proxy top-1 of every config (circles: found, squares: presets), with `y = x`.

    Args:
        data: The content of `confirmation.json`.

    Returns:
        The figure (close it with `plt.close(fig)` when done).
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    for kind, marker, colour in (("found", "o", "tab:red"), ("preset", "s", "tab:blue")):
        rows = [r for r in data["configs"] if r["kind"] == kind and _both(r)]
        x = [r["proxy_accuracy"] for r in rows]
        y = [r["full_accuracy"] for r in rows]
        ax.scatter(x, y, marker=marker, color=colour, label=kind, zorder=3)
        for row in rows:
            ax.annotate(row["name"], (row["proxy_accuracy"], row["full_accuracy"]), fontsize=7)
    both = [r for r in data["configs"] if _both(r)]
    values = [v for r in both for v in (r["proxy_accuracy"], r["full_accuracy"])]
    if values:
        low, high = min(values), max(values)
        ax.plot([low, high], [low, high], "--", color="grey", lw=1, label="y = x")
    ax.set_xlabel("proxy top-1 (the search's)")
    ax.set_ylabel("full top-1 (confirmation)")
    ax.set_title(f"Proxy vs full accuracy: {_tau_text(data['kendall_tau'])}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confirmation_text(data: dict[str, Any]) -> str:
    """A plain-text table of the configs, the rank agreement and the verdicts.

    Args:
        data: The content of `confirmation.json`.

    Returns:
        The text, several lines.
    """
    rows = [list(_COLUMNS)] + [[_cell(r.get(c)) for c in _COLUMNS] for r in data["configs"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"rank agreement of proxy and full accuracy: {_tau_text(data['kendall_tau'])}")
    for pair in data["comparisons"]:
        lines.append(f"{pair['found']} vs {pair['preset']}: {pair['verdict']}")
    return "\n".join(lines)


def confirmation_section(folder: str | Path) -> ConfirmSection | None:
    """The report section of a study's confirmation, or None when it has none.

    Args:
        folder: The search's output folder, `runs/<study>/`.

    Returns:
        The HTML fragment (heading, rank agreement, configs, verdicts, figure) and its PNG.

    Raises:
        ValueError: naming the file when `confirm/confirmation.json` is not readable JSON.
    """
    path = Path(folder) / "confirm" / "confirmation.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not JSON ({err}); run confirm.py again") from err
    buffer = io.BytesIO()
    figure = confirmation_figure(data)
    figure.savefig(buffer, format="png")
    plt.close(figure)
    png = buffer.getvalue()
    full = data["full"]["trainer"]
    parts = [
        "<h2>Confirmation: proxy vs full training</h2>",
        f"<p>{html.escape(_facts(data, full))}</p>",
        f"<p>Rank agreement: {html.escape(_tau_text(data['kendall_tau']))}</p>",
        _table(data["configs"], _COLUMNS + ("full_status",), "confirm"),
        _table(data["comparisons"], ("found", "preset", "costs", "verdict"), "confirm-pairs"),
        f'<figure><img alt="confirm" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        "<figcaption>Full vs proxy accuracy (circles: found configs, squares: presets)"
        "</figcaption></figure>",
    ]
    return ConfirmSection("\n".join(parts), {"confirm": png})


def budget_words(trainer: dict[str, Any]) -> str:
    """A trainer's length in words, from its fields (a `TrainerConfig` as a dict, e.g. read from
    a JSON file): "250 steps" for a run measured in steps, else "3 epochs"."""
    if trainer.get("schedule_steps") is None:
        return f"{trainer['epochs']} epochs"
    return f"{trainer.get('max_steps') or trainer['schedule_steps']} steps"  # where the run stops


def _images(data: dict[str, Any]) -> str:
    images = data["full"].get("embedded_images")  # older files: the study's own data
    if images is None or data["data"][0] != "embedded":
        return ""
    return f" on {images[0]:,} embedded images (scored on {images[1]:,})"


def _facts(data: dict[str, Any], full: dict[str, Any]) -> str:
    done = "" if data["complete"] else " (incomplete: confirm.py is running or was stopped)"
    return (
        f"The {data['top_k']} most accurate Pareto configs and the nearest presets, trained with "
        f"the {full['name']} recipe: {budget_words(full)}, batch {full['batch_size']}, at "
        f"{data['full']['resolution_scale']:g} x resolution{_images(data)} (the proxy: "
        f"{budget_words(data['proxy']['trainer'])} at {data['proxy']['resolution_scale']:g} x)"
        f"{done}."
    )


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...], css: str) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>"
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f'<table class="{css}">{head}{body}</table>'


def _tau_text(agreement: dict[str, Any]) -> str:
    if agreement["tau"] is None:
        return f"Kendall tau undefined (n = {agreement['n']})"
    tau, p_value, n = agreement["tau"], agreement["p_value"], agreement["n"]
    return f"Kendall tau {tau:.3f} (p = {p_value:.3g}, n = {n})"


def _both(row: dict[str, Any]) -> bool:
    return row["proxy_accuracy"] is not None and row["full_accuracy"] is not None


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(v[0])} vs {_cell(v[1])}" for k, v in value.items())
    return str(value)
