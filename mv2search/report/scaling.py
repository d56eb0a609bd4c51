"""The scaling section of `runs/<study>/report.html`, built from `runs/<study>/scaling/` only.

`scaling_section(folder)` returns an HTML fragment (figures inlined as PNG data) or an empty
string when the study has no scaling analysis; `mv2search.report.html` places it in the page.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from mv2search.report.scaling_figures import FIGURES
from mv2search.report.scaling_text import Z90, describe_point, recipe_words

__all__ = ["scaling_section"]


def _table(header: list[str], rows: list[list[Any]], css: str) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table class="{css}">{head}{body}</table>'


def _interval(pair: list[float]) -> str:
    return "-" if pair[0] != pair[0] else f"[{pair[0]:.3g}, {pair[1]:.3g}]"


def _sensitivity_table(a: dict[str, Any]) -> str:
    s = a["sensitivity"]
    rows = [
        [
            a["labels"][j],
            f"{s['total'][j]:.3f}",
            _interval(s["total_interval"][j]),
            f"{s['first_order'][j]:.3f}",
            _interval(s["first_order_interval"][j]),
            f"{s['lengthscale'][j]:.3g}",
            _interval(s["lengthscale_interval"][j]),
        ]
        for j in range(len(a["names"]))
    ]
    header = ["factor", "total index", "90 %", "first order", "90 %", "lengthscale", "90 %"]
    return _table(header, rows, "scaling_sensitivity")


def _point_cells(a: dict[str, Any], r: dict[str, Any]) -> list[str]:
    """A compared config's factors, GMACs, whether within budget, predicted % (90 %)."""
    return [
        describe_point(a["labels"], r["x"]),
        f"{r['gmacs']:.3g}",
        "yes" if r["within_budget"] else "no",
        f"{100 * r['mean']:.1f} ± {100 * Z90 * r['sd']:.1f}",
    ]


def _comparison_table(a: dict[str, Any]) -> str:
    rows = []
    for r in a["comparison"]:
        p = "-" if r["p_ours_better"] is None else f"{r['p_ours_better']:.2f}"
        rows.append(
            [
                f"{r['fraction']:g}x ({r['budget_gmacs']:.3g})",
                r["rule"],
                *_point_cells(a, r),
                p,
            ]
        )
    header = [
        "budget (GMACs)",
        "rule",
        "factors",
        "GMACs",
        "within",
        "predicted % (90 %)",
        "P(ours better)",
    ]
    return _table(header, rows, "scaling_comparison")


def _trained_table(a: dict[str, Any]) -> str:
    t = a.get("trained")
    if not t:
        return ""
    rows = [
        [
            f"{r['fraction']:g}x",
            r["rule"],
            *_point_cells(a, r),
            "-" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f}",
            r["status"],
        ]
        for r in t["rows"]
    ]
    header = ["budget", "rule", "factors", "GMACs", "within", "predicted %", "trained %", "status"]
    title = f"<h3>Trained comparison: {html.escape(recipe_words(t))}</h3>"
    agreement, rmse = t["rank_agreement"], t["rmse"]
    tau = "undefined" if agreement["tau"] is None else f"{agreement['tau']:.2f}"
    title += (
        f"<p>GP prediction vs trained accuracy: RMSE "
        f"{'-' if rmse is None else f'{100 * rmse:.1f}'} pp, Kendall tau {tau} over "
        f"{agreement['n']} configs; best within budget: "
        + html.escape(", ".join(f"{f}x {w}" for f, w in t["winners"].items()))
        + ".</p>"
    )
    return title + _table(header, rows, "scaling_trained")


def _figures(folder: Path) -> list[str]:
    parts = []
    for stem, (_, caption) in FIGURES.items():
        path = folder / f"{stem}.png"
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode()
            parts.append(f'<figure><img alt="{stem}" src="data:image/png;base64,{data}">')
            parts.append(f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    return parts


def scaling_section(folder: str | Path) -> str:
    """The report's scaling section for the study in `folder` (`runs/<study>/`).

    Args:
        folder: The study's output folder.

    Returns:
        An HTML fragment, or "" when `folder/scaling/analysis.json` does not exist.
    """
    folder = Path(folder) / "scaling"
    if not (folder / "analysis.json").is_file():
        return ""
    a = json.loads((folder / "analysis.json").read_text())
    cv = a["cv"]
    parts = [
        f"<h2>Scaling study ({a['n_trials']} trials, GP: {html.escape(a['gp']['kernel'])})</h2>",
        "<h3>Design principles</h3><ol>",
        *(f"<li>{html.escape(text)}</li>" for text in a["principles"]),
        "</ol>",
        _sensitivity_table(a),
        f"<p>GP fit, {cv['folds']}-fold cross-validation: held-out RMSE {100 * cv['rmse']:.2f} pp "
        f"(mean predictor {100 * cv['rmse_mean_predictor']:.2f} pp), Spearman "
        f"{cv['spearman']:.3f}, Kendall {cv['kendall']:.3f}, 90 % interval coverage "
        f"{100 * cv['coverage_90']:.0f} %.</p>",
        "<h3>Derived models and baseline rules at each budget</h3>",
        _comparison_table(a),
        _trained_table(a),
        "<p>Derived configs: "
        + ", ".join(html.escape(Path(p.get("file", "")).name) for p in a["paths"])
        + " (in scaling/derived/; train one with python train.py arch=FILE).</p>",
        *_figures(folder),
    ]
    return "\n".join(parts)
