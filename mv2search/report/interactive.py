"""The report's interactive figures: Optuna's own plotly figures of a study, embedded offline.

`study_figures(study, objectives)` draws, from the Optuna study the store reads
(`StudyStore.read(...).study`), with `optuna.visualization`:

- `pareto`: the Pareto front (`plot_pareto_front`, axes named after the objectives; 2 or 3
  objectives);
- `hypervolume`: the hypervolume after every COMPLETE trial (`plot_hypervolume_history`, the
  study's reference point; the best value so far for one objective, `plot_optimization_history`);
- `parallel`: parallel coordinates of the trial params, the space's encoded coordinates, coloured
  by the first objective (`plot_parallel_coordinate`);
- `importances`: each objective's parameter importances (`plot_param_importances`, Optuna's
  default PED-ANOVA evaluator, with the target turned so that lower is better for every
  objective: the importance of reaching its best values); skipped, with a note, under
  `MIN_IMPORTANCE_TRIALS` complete trials; an objective whose trials do not tell the params
  apart (all tie) is left out and named in the title.

Each figure is an HTML fragment without plotly.js; the page inlines the library once
(`plotly_library()`), so the file works offline. The page's scripts are here too:
`ERROR_RECORDER` (first in `<head>`: counts JavaScript errors into `data-js-errors` of
`<html>`), `SORT_SCRIPT` (click a header of a `table.sortable` to sort it) and `RENDER_CHECK`
(after load: `data-plots-rendered`, `data-plots-expected`, `data-images-loaded`), so a headless
browser can tell that the page works (`tests/report/test_html.py`).

Nothing here writes to the store.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna
import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline
from optuna import visualization as vis
from optuna.trial import FrozenTrial, TrialState

from mv2search.study.objectives import Objectives

__all__ = [
    "ERROR_RECORDER",
    "MIN_IMPORTANCE_TRIALS",
    "RENDER_CHECK",
    "SORT_SCRIPT",
    "InteractiveFigure",
    "plotly_library",
    "study_figures",
]

MIN_IMPORTANCE_TRIALS = 20
"""Complete trials before the importances are drawn: Optuna's PED-ANOVA compares the top 10 %
of the trials with all of them, and the top needs two trials at least."""

_HEIGHT_PX = 460
_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass(frozen=True)
class InteractiveFigure:
    """One figure of the page, or why it is not drawn."""

    name: str  # pareto, hypervolume, parallel, importances
    caption: str
    html: str | None  # the figure's `<div>` and its `Plotly.newPlot` script; None when skipped
    note: str = ""  # why it is skipped


def study_figures(study: optuna.Study, objectives: Objectives) -> list[InteractiveFigure]:
    """Optuna's figures of `study` (see the module docstring), in page order.

    Args:
        study: The Optuna study of a search (`StudyStore.read(folder).study`); only read.
        objectives: Its objectives, in the order of the trial values.

    Returns:
        The pareto (2 or 3 objectives), hypervolume, parallel and importances figures; a figure
        that cannot be drawn has `html=None` and a `note`.
    """
    n = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    figures = []
    for name, caption, draw in _drawings(study, objectives, n):
        if n == 0:
            figures.append(InteractiveFigure(name, caption, None, "no complete trial yet"))
            continue
        figure, note = _quietly(draw)
        body = None if figure is None else _fragment(figure, name)
        figures.append(InteractiveFigure(name, caption, body, note))
    return figures


def _drawings(
    study: optuna.Study, objectives: Objectives, n_complete: int
) -> list[tuple[str, str, Callable[[], go.Figure]]]:
    """(name, caption, draw) of every figure, in page order."""
    names = list(objectives.names)
    drawings = []
    if objectives.m in (2, 3):
        caption = f"Pareto front, {' vs '.join(names)} (hover a point for its trial and params)"
        drawings.append(
            ("pareto", caption, lambda: vis.plot_pareto_front(study, target_names=names))
        )
    drawings.append(_history(study, objectives))
    caption = f"Parallel coordinates of the encoded params of every trial (colour: {names[0]})"
    drawings.append(
        (
            "parallel",
            caption,
            lambda: vis.plot_parallel_coordinate(
                study, target=lambda t: t.values[0], target_name=names[0]
            ),
        )
    )
    caption = "Parameter importances (PED-ANOVA) for reaching the best values of each objective"
    drawings.append(("importances", caption, lambda: _importances(study, objectives, n_complete)))
    return drawings


def plotly_library() -> str:
    """plotly.js (the version of the installed plotly, minified, about 4.6 MB) in a `<script>`."""
    return f"<script>{plotly.offline.get_plotlyjs()}</script>"


def _history(study: optuna.Study, objectives: Objectives) -> tuple[str, str, Callable]:
    if objectives.m == 1:
        name = objectives.names[0]
        return (
            "hypervolume",
            f"{name} of every complete trial and the best so far",
            lambda: vis.plot_optimization_history(study, target_name=name),
        )
    # Optuna takes the reference point in the objectives' own units and turns it by the study's
    # directions, as `Objectives.hypervolume` does: the curve ends at the front's hypervolume.
    reference = list(objectives.reference_point)
    return (
        "hypervolume",
        f"Hypervolume after every complete trial (reference point {reference})",
        lambda: vis.plot_hypervolume_history(study, reference),
    )


class _Skip(Exception):
    """A figure Optuna cannot draw for this study (yet)."""


def _importances(study: optuna.Study, objectives: Objectives, n_complete: int) -> go.Figure:
    """One bar per param and objective.

    Raises:
        _Skip: under `MIN_IMPORTANCE_TRIALS` complete trials, without trial params, or when
            Optuna warns for every objective that its importances are all equal (its top trials
            are all its trials, e.g. every accuracy ties); an objective with that warning alone is
            left out, named in the title.
    """
    if n_complete < MIN_IMPORTANCE_TRIALS:
        raise _Skip(
            f"needs {MIN_IMPORTANCE_TRIALS} complete trials (2 in the top 10 %), "
            f"the study has {n_complete}"
        )
    if not any(t.params for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))):
        raise _Skip("the trials have no params (a study stored without the space's coordinates)")
    figure, ties = None, []
    for index, objective in enumerate(objectives.objectives):
        target = _lower_is_better(index, objective.sign)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            one = vis.plot_param_importances(study, target=target, target_name=objective.name)
        if any("importances will be equal" in str(w.message) for w in caught):
            ties.append(objective.name)
            continue
        for trace in one.data:
            trace.name, trace.showlegend = objective.name, True
        if figure is None:
            figure = one
        else:
            figure.add_traces(list(one.data))
    if figure is None:
        raise _Skip(f"the trials do not tell the params apart for {', '.join(ties)} yet")
    title = figure.layout.title.text or "Hyperparameter Importances"
    if ties:
        title += f" (not computed for {', '.join(ties)}: the trials do not tell the params apart)"
    figure.update_layout(barmode="group", showlegend=True, title_text=title)
    return figure


def _lower_is_better(index: int, sign: float) -> Callable[[FrozenTrial], float]:
    """PED-ANOVA rates the params that give low targets: a maximised value enters negated."""
    return lambda trial: -sign * trial.values[index]


def _quietly(draw: Callable[[], go.Figure]) -> tuple[go.Figure | None, str]:
    """Draw, keeping Optuna's warnings (few trials, experimental) out of the report's output;
    an error skips the figure with its message."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return draw(), ""
        except _Skip as err:
            return None, f"not computed: {err}"
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            return None, f"not drawn: {err}"


def _fragment(figure: go.Figure, name: str) -> str:
    figure.update_layout(height=_HEIGHT_PX, margin={"t": 40, "b": 40})
    return pio.to_html(
        figure,
        full_html=False,
        include_plotlyjs=False,
        div_id=f"plot-{name}",
        config=_CONFIG,
        default_height=f"{_HEIGHT_PX}px",
    )


# Installed first in <head>: every error and unhandled rejection (also of a resource that fails to
# load, caught in the capture phase) is counted into <html data-js-errors> and described in
# data-js-error-log, so `chromium --dump-dom` shows them.
ERROR_RECORDER = """<script>(function () {
  var root = document.documentElement.dataset;
  root.jsErrors = "0";
  function record(text) {
    root.jsErrors = String(Number(root.jsErrors) + 1);
    root.jsErrorLog = ((root.jsErrorLog || "") + text + " | ").slice(0, 4000);
  }
  window.addEventListener("error", function (e) {
    var where = e.target && e.target !== window ? " <" + e.target.tagName + ">" : "";
    record("error: " + (e.message || "resource failed") + where +
           (e.filename ? " at " + e.filename + ":" + e.lineno : ""));
  }, true);
  window.addEventListener("unhandledrejection", function (e) {
    record("unhandled rejection: " + (e.reason && e.reason.message || e.reason));
  });
})();</script>"""

# Click a header of a table.sortable: sort its body by that column, ascending first, then
# descending; `th data-type="number"` sorts numerically; a cell's data-sort (its exact value;
# empty when missing) is the key, missing values last either way; aria-sort marks the direction.
SORT_SCRIPT = """<script>document.addEventListener("click", function (event) {
  var th = event.target.closest ? event.target.closest("table.sortable thead th") : null;
  if (!th) return;
  var table = th.closest("table"), body = table.tBodies[0], column = th.cellIndex;
  var ascending = th.getAttribute("aria-sort") !== "ascending";
  Array.prototype.forEach.call(th.parentNode.cells, function (c) {
    c.removeAttribute("aria-sort");
  });
  th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  var numeric = th.dataset.type === "number", sign = ascending ? 1 : -1;
  function key(row) {
    var cell = row.cells[column];
    if (!cell) return "";
    return cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent;
  }
  var rows = Array.prototype.slice.call(body.rows);
  rows.sort(function (a, b) {
    var x = key(a), y = key(b);
    if (x === "" || y === "") return (x === "") - (y === "");
    if (numeric) return sign * (parseFloat(x) - parseFloat(y));
    return sign * x.localeCompare(y, undefined, {numeric: true});
  });
  rows.forEach(function (row) { body.appendChild(row); });
});</script>"""

# After load (and until every plotly figure has its SVG, or 5 s): how many figures plotly drew,
# how many the page has, how many images decoded.
RENDER_CHECK = """<script>window.addEventListener("load", function () {
  var root = document.documentElement.dataset, tries = 0;
  function check() {
    var plots = document.querySelectorAll(".js-plotly-plot");
    var drawn = Array.prototype.filter.call(plots, function (p) {
      return p.querySelector(".main-svg") !== null;
    }).length;
    var expected = document.querySelectorAll("figure.plotly-figure").length;
    root.plotsExpected = String(expected);
    root.plotsRendered = String(drawn);
    root.imagesLoaded = String(Array.prototype.filter.call(document.images, function (i) {
      return i.complete && i.naturalWidth > 0;
    }).length);
    if (drawn < expected && ++tries < 50) setTimeout(check, 100);
  }
  check();
});</script>"""
