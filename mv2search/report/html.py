"""`runs/<study>/report.html`: one self-contained page, built from the store, that works offline.

It can be built at any time, also while workers are still running: it reads the store, never
writes to it. Sections: the run's facts (objectives, reference point, budgets, device, trainer,
trials complete / failed / retried / running), Optuna's interactive figures of the study
(`mv2search.report.interactive`: Pareto front, hypervolume history, parallel coordinates,
parameter importances; plotly.js inlined once), the latency predictor's check (PNG), the
confirmation and scaling sections once they have run (PNGs), and the front and every trial as
tables that sort by a click on a header. The matplotlib figures (Pareto plane, hypervolume,
global factors, latency check) are written as PNGs under `runs/<study>/report/`.

A multi-fidelity study (`fidelity=asha`) speaks of one fidelity: the front, the hypervolume,
Optuna's figures and the front's table are of the top rung's trials only; a table gives the
front of every rung (and says which rung the rest is of), and a figure the learning curves.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from matplotlib import pyplot as plt

from mv2search.cost.validation import scatter_figure
from mv2search.files import atomic_write_bytes
from mv2search.report.confirmation import confirmation_section
from mv2search.report.interactive import (
    ERROR_RECORDER,
    RENDER_CHECK,
    SORT_SCRIPT,
    InteractiveFigure,
    plotly_library,
    study_figures,
)
from mv2search.report.latency_check import read_latency_check
from mv2search.report.outputs import rung_fronts
from mv2search.report.plots import (
    curves_figure,
    hypervolume_figure,
    parallel_figure,
    pareto_figure,
)
from mv2search.report.scaling import scaling_section
from mv2search.report.tables import trial_rows
from mv2search.study.front import Front, front_of, hypervolume_trace
from mv2search.study.store import WORKER_DIED, StudySettings, StudyStore, TrialRecord

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
    top = _top_rung(records, settings)
    front = front_of(top, objectives)
    images, facts = _static_figures(folder, settings, top, front)
    confirmation = confirmation_section(folder)  # confirm.py's section, once it has run
    for name, png in (confirmation.images if confirmation else {}).items():
        atomic_write_bytes(folder / "report" / f"{name}.png", png)
    extra = confirmation.html if confirmation else ""
    extra += scaling_section(folder)  # scale.py's section, once it has run
    study = store.study
    if settings.rungs:
        extra = _rungs_section(folder, records, settings) + extra
        study = _study_of(study, {r.number for r in top})
    content = _Content(
        interactive=study_figures(study, objectives),
        images={k: v for k, v in images.items() if k in _STATIC},
        facts=facts,
        sections=extra,
    )
    page = _page(folder.name, settings, records, front, content)
    atomic_write_bytes(folder / "report.html", page.encode())
    return folder / "report.html"


def _top_rung(records: list[TrialRecord], settings: StudySettings) -> list[TrialRecord]:
    """The trials the front speaks of: all of them, or the top rung's (multi-fidelity)."""
    if not settings.rungs:
        return records
    return [r for r in records if r.rung == len(settings.rungs) - 1]


def _study_of(study: optuna.Study, numbers: set[int]) -> optuna.Study:
    """An in-memory copy of `study` holding only the trials `numbers` (for Optuna's figures)."""
    copy = optuna.create_study(directions=study.directions)
    if study.metric_names:
        copy.set_metric_names(study.metric_names)
    copy.add_trials([t for t in study.get_trials(deepcopy=False) if t.number in numbers])
    return copy


def _rungs_section(folder: Path, records: list[TrialRecord], settings: StudySettings) -> str:
    """The front of every rung, and the learning curves (PNG), of a multi-fidelity study."""
    table = rung_fronts(records, settings.objectives, settings.rungs)
    rows = "".join(
        f"<tr><td>{r['rung']}</td><td>{r['steps']}</td><td>{r['complete']}</td>"
        f"<td>{r['failed']}</td><td>{len(r['front'])}</td><td>{r['hypervolume']:.6g}</td>"
        f"<td>{html.escape(' '.join(str(n) for n in r['front']))}</td></tr>"
        for r in table["rungs"]
    )
    top = settings.rungs[-1]
    parts = [
        "<h2>Rungs</h2>",
        f"<p>Successive halving (eta {settings.eta}): everything above and the Pareto files are "
        f"of the top rung ({top} training steps); each rung's own front is below.</p>",
        '<table class="sortable"><thead><tr><th>rung</th><th>steps</th><th>complete</th>'
        "<th>failed</th><th>front size</th><th>hypervolume</th><th>front (trials)</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>",
    ]
    fig = curves_figure(records)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(folder / "report" / "curves.png", buffer.getvalue())
    data = base64.b64encode(buffer.getvalue()).decode()
    parts.append(f'<figure><img alt="curves" src="data:image/png;base64,{data}">')
    parts.append(
        "<figcaption>Learning curves: accuracy at every evaluation of each spec's run, "
        "up to its highest rung</figcaption></figure>"
    )
    return "\n".join(parts)


def _static_figures(
    folder: Path, settings: StudySettings, records: list[TrialRecord], front: Front
) -> tuple[dict[str, bytes], dict[str, str]]:
    """Write the matplotlib figures as `report/<name>.png`; return the PNGs by name and the
    latency predictor's fact (a predicted-latency study)."""
    objectives = settings.objectives
    trace = hypervolume_trace(records, objectives)
    # The page draws these with plotly; the PNGs stay for slides and papers.
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
    return images, facts


@dataclass(frozen=True)
class _Content:
    """What the page shows besides the facts and the tables."""

    interactive: list[InteractiveFigure]  # Optuna's figures, drawn by plotly.js in the page
    images: dict[str, bytes]  # PNGs inlined: figures Optuna has no equivalent of
    facts: dict[str, str]  # facts of a later stage (the latency predictor's check)
    sections: str  # the confirmation and scaling sections (HTML)


# Figures inlined as PNGs, with their captions.
_STATIC = {
    "latency": "Latency predictor: predicted vs measured latency of the front's networks",
}


def _page(
    name: str,
    settings: StudySettings,
    records: list[TrialRecord],
    front: Front,
    content: _Content,
) -> str:
    facts = {**_facts(settings, records, front), **content.facts}
    parts = [f"<h1>Study {html.escape(name)}</h1>", _facts_table(facts)]
    drawn = [f for f in content.interactive if f.html is not None]
    for figure in content.interactive:
        if figure.html is None:
            note = f"{figure.caption}: {figure.note}."
            parts.append(f'<p class="skipped">{html.escape(note)}</p>')
            continue
        parts.append(f'<figure class="plotly-figure" id="figure-{figure.name}">{figure.html}')
        parts.append(f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>")
    for key, caption in _STATIC.items():
        if key in content.images:
            data = base64.b64encode(content.images[key]).decode()
            parts.append(f'<figure><img alt="{key}" src="data:image/png;base64,{data}">')
            parts.append(f"<figcaption>{caption}</figcaption></figure>")
    parts.append(content.sections)
    parts.append(f"<h2>Pareto front ({len(front.records)} points)</h2>")
    parts.append(_trials_table(front.records, "front"))
    parts.append(f"<h2>All trials ({len(records)})</h2>")
    parts.append(_trials_table(records, "trials"))
    parts += [SORT_SCRIPT, RENDER_CHECK]
    body = "\n".join(parts)
    # plotly.js once, before the first figure's script; none when no figure is drawn.
    library = plotly_library() if drawn else ""
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(name)}</title>'
        f"{ERROR_RECORDER}<style>{_STYLE}</style>{library}</head><body>\n{body}\n</body></html>\n"
    )


_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1100px}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
    "padding:2px 6px;text-align:right}figure{display:inline-block;margin:1em}"
    "figure.plotly-figure{display:block;margin:1em 0}p.skipped{color:#666}"
    "table.sortable thead th{cursor:pointer;background:#f4f4f4;user-select:none}"
    'table.sortable th[aria-sort=ascending]::after{content:" \\25B2"}'
    'table.sortable th[aria-sort=descending]::after{content:" \\25BC"}'
)


def _facts(settings: StudySettings, records: list[TrialRecord], front: Front) -> dict[str, Any]:
    objectives = settings.objectives
    states = [r.state for r in records]
    # A trial whose worker died is not a failure: its spec is claimed again (`StudyStore`).
    retried = sum(r.state == "FAIL" and r.reason == WORKER_DIED for r in records)
    return {
        "objectives": ", ".join(f"{o.name} ({o.direction})" for o in objectives.objectives),
        "reference point": list(objectives.reference_point),
        "budgets": {b.metric: b.max_value for b in objectives.budgets},
        "device / latency": f"{settings.device} ({settings.latency})",
        "proxy trainer": settings.trainer.get("name"),
        "optimizer": settings.optimizer,
        "trials": f"{states.count('COMPLETE')} complete, {states.count('FAIL') - retried} failed, "
        f"{retried} retried ({WORKER_DIED}), {states.count('RUNNING')} running",
        "hypervolume": f"{front.hypervolume:.6g}",
        "code version": settings.code_version,
    } | (
        {
            "fidelity": f"successive halving over rungs of "
            f"{'/'.join(str(s) for s in settings.rungs)} steps (eta {settings.eta}); the front, "
            "hypervolume and figures are of the top rung"
        }
        if settings.rungs
        else {}
    )


def _facts_table(facts: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(_text(v))}</td></tr>"
        for k, v in facts.items()
    )
    return f'<table class="facts">{rows}</table>'


def _trials_table(records: list[TrialRecord], css: str) -> str:
    """A sortable table (`SORT_SCRIPT`): numeric columns are marked `data-type="number"` and
    every cell carries its exact value as `data-sort` (empty when missing)."""
    columns, rows = trial_rows(records)
    keep = [i for i, c in enumerate(columns) if c not in ("signature", "on_front")]
    numeric = set()
    for i in keep:
        values = [row[i] for row in rows if not _missing(row[i])]
        if values and all(_is_number(v) for v in values):
            numeric.add(i)
    marks = {i: ' data-type="number"' if i in numeric else "" for i in keep}
    head = "".join(f"<th{marks[i]}>{html.escape(columns[i])}</th>" for i in keep)
    lines = [f"<thead><tr>{head}</tr></thead><tbody>"]
    for row in rows:
        cells = "".join(
            f'<td data-sort="{html.escape(_key(row[i]))}">{html.escape(_text(row[i]))}</td>'
            for i in keep
        )
        lines.append(f"<tr>{cells}</tr>")
    return f'<table class="{css} sortable">' + "".join(lines) + "</tbody></table>"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def _key(value: Any) -> str:
    """A cell's sort key: its exact value (`repr` of a number), empty when missing."""
    if _missing(value):
        return ""
    return repr(value) if _is_number(value) else _text(value)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
