"""`runs/<study>/report.html`: one self-contained page (images inlined), built from the store.

It can be built at any time, also while workers are still running: it reads the store, never
writes to it. Sections: the run's facts (objectives, reference point, budgets, device, trainer),
the Pareto plane (colour = MACs, front highlighted), the hypervolume curve, parallel coordinates
of the global factors, `confirm.py`'s proxy-vs-full section once it has run, the front as a
table and every trial as a table. The same figures are written as PNGs under `runs/<study>/report/`.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from matplotlib import pyplot as plt

from mv2search.cost.validation import scatter_figure
from mv2search.files import atomic_write_bytes
from mv2search.report.confirmation import confirmation_section
from mv2search.report.latency_check import read_latency_check
from mv2search.report.plots import hypervolume_figure, parallel_figure, pareto_figure
from mv2search.report.scaling import scaling_section
from mv2search.report.tables import trial_rows
from mv2search.study.front import Front, front_of, hypervolume_trace
from mv2search.study.store import StudySettings, StudyStore, TrialRecord

__all__ = ["build_report"]


def build_report(folder: str | Path, url: str | None = None) -> Path:
    """Write `report.html` and `report/*.png` for the study of `folder` (`runs/<study>/`).

    Args:
        folder: The search's output folder.
        url: The storage URL when it is not the folder's own file (PostgreSQL).

    Returns:
        The path of `report.html`.

    Raises:
        ValueError: naming the folder when it holds no study of a search.
    """
    folder = Path(folder)
    store = StudyStore.read(folder, url)
    settings = store.settings
    objectives = settings.objectives
    records = store.records()
    front = front_of(records, objectives)
    trace = hypervolume_trace(records, objectives)
    figures = {"hypervolume": hypervolume_figure(trace, objectives.reference_point)}
    if objectives.m >= 2:
        figures["pareto"] = pareto_figure(records, front.records, objectives)
    figures["factors"] = parallel_figure(records)
    facts = {}
    if settings.latency == "predicted":
        check = read_latency_check(folder)
        facts["latency predictor"] = (
            check.summary() + " (front, measured whole)"
            if check
            else "not checked yet: a worker measures the front when it finishes"
        )
        if check is not None:
            figures["latency"] = scatter_figure(check)
    images = {}
    for name, fig in figures.items():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
        images[name] = buffer.getvalue()
        atomic_write_bytes(folder / "report" / f"{name}.png", images[name])
    confirmation = confirmation_section(folder)  # confirm.py's section, once it has run
    for name, png in (confirmation.images if confirmation else {}).items():
        atomic_write_bytes(folder / "report" / f"{name}.png", png)
    extra = confirmation.html if confirmation else ""
    extra += scaling_section(folder)  # scale.py's section, once it has run
    page = _page(folder.name, settings, records, front, images, facts, extra)
    atomic_write_bytes(folder / "report.html", page.encode())
    return folder / "report.html"


def _page(
    name: str,
    settings: StudySettings,
    records: list[TrialRecord],
    front: Front,
    images: dict[str, bytes],
    extra_facts: dict[str, str],
    sections: str = "",
) -> str:
    objectives = settings.objectives
    states = [r.state for r in records]
    facts = {
        "objectives": ", ".join(f"{o.name} ({o.direction})" for o in objectives.objectives),
        "reference point": list(objectives.reference_point),
        "budgets": {b.metric: b.max_value for b in objectives.budgets},
        "device / latency": f"{settings.device} ({settings.latency})",
        "proxy trainer": settings.trainer.get("name"),
        "optimizer": settings.optimizer,
        "trials": f"{states.count('COMPLETE')} complete, {states.count('FAIL')} failed, "
        f"{states.count('RUNNING')} running",
        "hypervolume": f"{front.hypervolume:.6g}",
        "code version": settings.code_version,
        **extra_facts,
    }
    parts = [f"<h1>Study {html.escape(name)}</h1>", _facts_table(facts)]
    captions = {
        "pareto": "Pareto plane (colour: GMACs; the front in red)",
        "hypervolume": "Hypervolume after every finished trial",
        "factors": "Global factors of every trial (colour: accuracy)",
        "latency": "Latency predictor: predicted vs measured latency of the front's networks",
    }
    for key, caption in captions.items():
        if key in images:
            data = base64.b64encode(images[key]).decode()
            parts.append(f'<figure><img alt="{key}" src="data:image/png;base64,{data}">')
            parts.append(f"<figcaption>{caption}</figcaption></figure>")
    parts.append(sections)
    parts.append(f"<h2>Pareto front ({len(front.records)} points)</h2>")
    parts.append(_trials_table(front.records, "front"))
    parts.append(f"<h2>All trials ({len(records)})</h2>")
    parts.append(_trials_table(records, "trials"))
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:2px 6px;text-align:right}figure{display:inline-block;margin:1em}"
    )
    # Lets a headless browser tell that every figure decoded (tests/report/test_html.py).
    parts.append(
        "<script>document.body.dataset.imagesLoaded = Array.from(document.images)"
        ".filter(i => i.complete && i.naturalWidth > 0).length;</script>"
    )
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(name)}</title>'
        f"<style>{style}</style></head><body>\n{body}\n</body></html>\n"
    )


def _facts_table(facts: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(_text(v))}</td></tr>"
        for k, v in facts.items()
    )
    return f'<table class="facts">{rows}</table>'


def _trials_table(records: list[TrialRecord], css: str) -> str:
    columns, rows = trial_rows(records)
    keep = [i for i, c in enumerate(columns) if c not in ("signature", "on_front")]
    lines = ["<tr>" + "".join(f"<th>{columns[i]}</th>" for i in keep) + "</tr>"]
    for row in rows:
        cells = "".join(f"<td>{html.escape(_text(row[i]))}</td>" for i in keep)
        lines.append(f"<tr>{cells}</tr>")
    return f'<table class="{css}">' + "".join(lines) + "</table>"


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
