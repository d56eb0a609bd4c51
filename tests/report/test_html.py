"""`python report.py run=runs/<study>`: a self-contained page with Optuna's interactive figures,
sortable tables and PNGs, built from the store; checked as text and in a headless Chromium."""

import dataclasses
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import create_trial
from PIL import Image

from mv2search.report import build_report
from mv2search.report.interactive import MIN_IMPORTANCE_TRIALS, plotly_library, study_figures
from mv2search.search import run_search
from mv2search.study.front import front_of
from tests.report.test_dashboard import SETTINGS, write_study
from tests.search.conftest import TINY, search_config

REPO = Path(__file__).resolve().parents[2]
BROWSER = [
    "chromium",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1200,1800",
    "--virtual-time-budget=5000",  # load, plotly's drawing and RENDER_CHECK's retries
]
# Appended to a copy of a page: clicks headers of the trials table, as a user would, and writes
# what each click left into <html data-sort-result>.
CLICKS = """<script>window.addEventListener("load", function () {
  var table = document.querySelector("table.trials"), head = table.tHead.rows[0].cells, out = {};
  function index(name) {
    return Array.prototype.findIndex.call(head, function (th) { return th.textContent === name; });
  }
  function click(name, key) {
    head[index(name)].click();
    out[key] = Array.prototype.map.call(table.tBodies[0].rows, function (row) {
      return row.cells[index(name)].dataset.sort;
    });
    out[key + "Mark"] = head[index(name)].getAttribute("aria-sort");
  }
  click("trial", "first");
  click("trial", "second");
  click("latency_ms", "up");
  click("latency_ms", "down");
  click("state", "states");
  out.marks = Array.prototype.filter.call(head, function (th) {
    return th.hasAttribute("aria-sort");
  }).length;
  document.documentElement.dataset.sortResult = JSON.stringify(out);
});</script>"""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A real 3-trial search (its report is built by `report.py` in the first test)."""
    runs = tmp_path_factory.mktemp("runs")
    return run_search(search_config([*TINY, "optimizer.n_trials=3"], runs), progress=False)


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """(store, report.html) of a 20-trial predicted-latency study written through the store,
    with a failure, a dead worker, a running trial and the latency predictor's check."""
    runs = tmp_path_factory.mktemp("wide")
    settings = dataclasses.replace(SETTINGS, latency="predicted")
    store = write_study(runs, "wide", MIN_IMPORTANCE_TRIALS, journal=True, settings=settings)
    points = [
        {"trial": r.number, "measured_ms": r.metrics["latency_ms"], "predicted_ms": 0.1 * k + 5}
        for k, r in enumerate(store.records())
        if r.complete
    ]
    check = {"device": "cpu_eager_1t", "points": points}
    (runs / "wide" / "latency_check.json").write_text(json.dumps(check))
    return store, build_report(runs / "wide")


def _reports(*commands: list[str]) -> list[subprocess.CompletedProcess]:
    """`report.py` with each argument list, all at once (each start imports for seconds)."""
    started = [
        subprocess.Popen(
            [sys.executable, str(REPO / "report.py"), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    done = []
    for process, args in zip(started, commands, strict=True):
        out, err = process.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(args, process.returncode, out, err))
    return done


def _figures(page: str) -> list[str]:
    return re.findall(r'<figure class="plotly-figure" id="figure-(\w+)">', page)


def _plot_data(page: str, name: str) -> list[dict]:
    """The traces a page passes to `Plotly.newPlot` for figure `name`."""
    start = re.search(rf'Plotly\.newPlot\(\s*"plot-{name}",\s*', page).end()
    return json.JSONDecoder().raw_decode(page, start)[0]


def _table(page: str, css: str) -> str:
    return page.split(f'<table class="{css} sortable">')[1].split("</table>")[0]


def test_report_is_self_contained_with_plots_and_every_trial(study):
    (done,) = _reports([f"run={study.out_dir}"])
    assert done.returncode == 0, done.stderr[-2000:]
    page = (study.out_dir / "report.html").read_text()
    assert _figures(page) == ["pareto", "hypervolume", "parallel"]  # Optuna's, interactive
    assert "Parameter importances" in page and f"needs {MIN_IMPORTANCE_TRIALS} complete" in page
    assert page.count(plotly_library()) == 1 and page.count("plotly.js v") == 1  # inlined once
    assert 'src="http' not in page and "<link" not in page  # nothing to fetch
    assert "<img" not in page  # no predictor check, confirmation or scaling here
    assert "3 complete, 0 failed, 0 retried (worker died), 0 running" in page
    trials = _table(page, "trials")
    assert trials.count("<tr>") == 1 + 3  # header + every trial
    numeric = re.findall(r'<th data-type="number">(\w+)</th>', trials)
    assert numeric == [
        "trial",
        "accuracy",
        "latency_ms",
        "gmacs",
        "mparams",
        "propose_s",
        "train_s",
        "width_multiplier",
        "image_size",
        "ffn_multiplier",
        "wall_time_s",
    ]  # sorted as numbers; ir_depths ("13111"), attn_types and reason as text
    front = _table(page, "front")
    assert front.count("<tr>") == 1 + len(study.front.records)
    assert f"{study.front.hypervolume:.6g}" in page
    *dominated, best = _plot_data(page, "pareto")  # Optuna draws the front last
    assert len(best["x"]) == len(study.front.records)  # Optuna's front is ours
    assert sum(len(t["x"]) for t in dominated) == 3 - len(study.front.records)
    for name in ("factors", "hypervolume", "pareto"):  # the matplotlib PNGs stay
        pixels = np.asarray(Image.open(study.out_dir / "report" / f"{name}.png").convert("L"))
        assert pixels.std() > 5  # drawn, not blank


def test_a_longer_study_has_every_figure_and_counts_retried_trials(wide):
    store, path = wide
    page = path.read_text()
    assert _figures(page) == ["pareto", "hypervolume", "parallel", "importances"]
    assert re.findall(r'<img alt="(\w+)"', page) == ["latency"]  # no Optuna equivalent: a PNG
    assert "20 complete, 1 failed, 1 retried (worker died), 1 running" in page
    front = front_of(store.records(), store.settings.objectives)
    # Optuna's hypervolume history (the study's reference point) ends at the front's hypervolume
    assert _plot_data(page, "hypervolume")[0]["y"][-1] == pytest.approx(front.hypervolume)
    assert front.hypervolume > 0
    names = {trace["name"] for trace in _plot_data(page, "importances")}
    assert names == {"accuracy", "latency_ms"}  # one bar per param and objective
    # the page is plotly.js, once, and a little more (size printed with -s)
    extra = len(page.encode()) - len(plotly_library().encode())
    print(f"report of {len(store.records())} trials: {len(page.encode())} bytes")
    assert page.count("plotly.js v") == 1 and 0 < extra < 300_000
    assert _table(page, "trials").count("<tr>") == 1 + 23


def test_importances_leave_out_an_objective_whose_trials_all_tie():
    study = optuna.create_study(directions=["maximize", "minimize"])
    width = FloatDistribution(0.5, 2.0)
    for k in range(MIN_IMPORTANCE_TRIALS):
        params = {"width_multiplier": 0.5 + 0.07 * k, "image_size": 128.0 + (k % 5)}
        distributions = {"width_multiplier": width, "image_size": FloatDistribution(128, 256)}
        values = [0.1, 10.0 + 3 * params["width_multiplier"]]  # chance accuracy, every trial
        study.add_trial(create_trial(params=params, distributions=distributions, values=values))
    figures = {f.name: f for f in study_figures(study, SETTINGS.objectives)}
    assert all(f.html for f in figures.values())
    page = figures["importances"].html
    assert {t["name"] for t in _plot_data(page, "importances")} == {"latency_ms"}
    assert "not computed for accuracy" in page


def test_a_study_without_complete_trials_has_notes_and_no_plotly(tmp_path):
    write_study(tmp_path, "empty", 0, journal=True)  # a failure, a dead worker, a running trial
    page = build_report(tmp_path / "empty").read_text()
    assert _figures(page) == [] and page.count("no complete trial yet") == 4
    assert "plotly.js" not in page and len(page) < 100_000
    assert "0 complete, 1 failed, 1 retried (worker died), 1 running" in page


def test_report_errors_name_the_folder_and_the_argument(tmp_path):
    missing, bad, none = _reports([f"run={tmp_path / 'nope'}"], ["study=x"], [])
    assert missing.returncode == 2 and "nope: no study store" in missing.stderr
    assert bad.returncode == 2
    allowed = re.fullmatch(r"error: study: unknown key; allowed: \[(.*)\]\n", bad.stderr)
    assert allowed and {"'run'", "'storage_url'"} <= set(allowed.group(1).split(", "))
    assert none.returncode == 2 and "no value for ['run']" in none.stderr


def test_report_py_is_a_hydra_app(study, tmp_path):
    helped, job = _reports(["--help"], [f"run={study.out_dir}", "--cfg", "job"])
    assert helped.returncode == 0 and "run: ???" in helped.stdout
    assert job.returncode == 0 and f"run: {study.out_dir}" in job.stdout


def _root_data(dom: str) -> dict[str, str]:
    """The `data-*` attributes of a dumped page's `<html>` element."""
    tag = re.search(r"<html([^>]*)>", dom).group(1)
    return {k: html.unescape(v) for k, v in re.findall(r'data-([\w-]+)="([^"]*)"', tag)}


def _chromium(page: Path, profile: Path, shot: Path | None = None) -> subprocess.Popen:
    """Chromium loading `page` (a fresh profile), dumping its DOM, with a screenshot if asked."""
    shots = [f"--screenshot={shot}"] if shot else []
    command = [*BROWSER, f"--user-data-dir={profile}", *shots, "--dump-dom", page.as_uri()]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium package")
def test_report_renders_in_headless_chromium(study, wide, tmp_path):
    page = (study.out_dir / "report.html").resolve()
    if not page.is_file():
        assert _reports([f"run={study.out_dir}"])[0].returncode == 0
    # A copy of the longer page, with clicks on the trials table appended (the page itself has
    # no test hook); both browsers at once.
    clicked = tmp_path / "clicked.html"
    clicked.write_text(wide[1].read_text().replace("</body>", CLICKS + "</body>"))
    shot = tmp_path / "shot.png"
    browsers = [_chromium(page, tmp_path / "a", shot), _chromium(clicked, tmp_path / "b")]
    dom, dom_clicked = (b.communicate(timeout=120)[0] for b in browsers)

    data = _root_data(dom)
    assert data["js-errors"] == "0", data.get("js-error-log")
    assert data["plots-rendered"] == data["plots-expected"] == "3"  # every figure has its SVG
    assert data["images-loaded"] == "0"
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert (pixels.sum(axis=-1) < 700).mean() > 0.02  # not blank: text and plots drawn
    colour = pixels.max(axis=-1) - pixels.min(axis=-1)
    assert (colour > 80).mean() > 0.005  # coloured plot marks, not only black text

    data = _root_data(dom_clicked)
    assert data["js-errors"] == "0", data.get("js-error-log")
    assert data["plots-rendered"] == data["plots-expected"] == "4"
    assert data["images-loaded"] == "1"  # the latency predictor's PNG decoded
    result = json.loads(data["sort-result"])
    numbers = [int(v) for v in result["second"]]
    assert result["first"] == [str(n) for n in range(23)]  # ascending first: as it was
    assert numbers == list(range(22, -1, -1))  # then descending, numerically ("9" < "10")
    latencies = [float(v) for v in result["up"] if v]
    assert len(latencies) == 20 and result["up"][20:] == ["", "", ""]  # missing values last
    assert latencies == sorted(latencies)
    assert [float(v) for v in result["down"] if v] == latencies[::-1]
    assert result["down"][20:] == ["", "", ""]
    assert (result["upMark"], result["downMark"], result["marks"]) == ("ascending", "descending", 1)
    assert result["states"] == ["COMPLETE"] * 20 + ["FAIL", "FAIL", "RUNNING"]
