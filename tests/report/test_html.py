"""`python report.py run=runs/<study>`: a self-contained HTML page and PNGs built from the store."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mv2search.search.runner import run_search
from tests.search.conftest import TINY, search_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return run_search(search_config([*TINY, "optimizer.n_trials=3"], runs), progress=False)


def _report(*args: str):
    return subprocess.run(
        [sys.executable, str(REPO / "report.py"), *args], capture_output=True, text=True
    )


def test_report_is_self_contained_with_plots_and_every_trial(study):
    done = _report(f"run={study.out_dir}")
    assert done.returncode == 0, done.stderr[-2000:]
    page = (study.out_dir / "report.html").read_text()
    images = re.findall(r'<img alt="(\w+)" src="data:image/png;base64,', page)
    assert sorted(images) == ["factors", "hypervolume", "pareto"]
    assert 'src="http' not in page and "<link" not in page  # nothing to fetch
    trials = page.split('<table class="trials">')[1].split("</table>")[0]
    assert trials.count("<tr>") == 1 + 3  # header + every trial
    front = page.split('<table class="front">')[1].split("</table>")[0]
    assert front.count("<tr>") == 1 + len(study.front.records)
    assert f"{study.front.hypervolume:.6g}" in page
    for name in images:
        pixels = np.asarray(Image.open(study.out_dir / "report" / f"{name}.png").convert("L"))
        assert pixels.std() > 5  # drawn, not blank


def test_report_errors_name_the_folder_and_the_argument(tmp_path):
    missing = _report(f"run={tmp_path / 'nope'}")
    assert missing.returncode == 2 and "nope: no study store" in missing.stderr
    bad = _report("study=x")
    assert bad.returncode == 2
    assert bad.stderr == "error: study: unknown key; allowed: ['run', 'storage_url']\n"
    none = _report()
    assert none.returncode == 2 and "no value for ['run']" in none.stderr


def test_report_py_is_a_hydra_app(study, tmp_path):
    helped = _report("--help")
    assert helped.returncode == 0 and "run: ???" in helped.stdout
    job = _report(f"run={study.out_dir}", "--cfg", "job")
    assert job.returncode == 0 and f"run: {study.out_dir}" in job.stdout


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium package")
def test_report_renders_in_headless_chromium(study, tmp_path):
    page = (study.out_dir / "report.html").resolve()
    if not page.is_file():
        assert _report(f"run={study.out_dir}").returncode == 0
    browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    browser += ["--virtual-time-budget=3000", "--window-size=1200,1800"]
    shot = tmp_path / "shot.png"
    subprocess.run([*browser, f"--screenshot={shot}", page.as_uri()], capture_output=True)
    dom = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True)
    assert 'data-images-loaded="3"' in dom.stdout  # every figure decoded in the page
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert (pixels.sum(axis=-1) < 700).mean() > 0.02  # not blank: text and plots drawn
    colour = pixels.max(axis=-1) - pixels.min(axis=-1)
    assert (colour > 80).mean() > 0.005  # coloured plot marks, not only black text
