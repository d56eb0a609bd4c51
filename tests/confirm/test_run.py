"""`python confirm.py` on a tiny study: the right Kendall tau, reuse, the report section.

One real search (3 trials) and one real confirmation (2 found configs, their presets) are shared
by the tests of this module; nothing is mocked.
"""

import json
import re
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from mv2search.confirm.run import run_confirm
from mv2search.report import build_report
from mv2search.search.runner import run_search
from tests.confirm.conftest import CONFIRM_TINY, compose_confirm
from tests.confirm.test_compare import kendall_tau_b
from tests.search.conftest import TINY, search_config


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    study = run_search(search_config([*TINY, "optimizer.n_trials=3"], runs), progress=False)
    cfg = OmegaConf.to_object(compose_confirm([*CONFIRM_TINY, f"run={study.out_dir}"]))
    return study, cfg, run_confirm(cfg, progress=False)


def test_confirmation_has_the_top_k_the_presets_and_the_right_kendall_tau(confirmed):
    study, _, outcome = confirmed
    data = json.loads(outcome.path.read_text())
    assert outcome.path == study.out_dir / "confirm" / "confirmation.json"
    assert (study.out_dir / "confirm" / "proxy_vs_full.png").stat().st_size > 0
    found = [r for r in data["configs"] if r["kind"] == "found"]
    presets = [r for r in data["configs"] if r["kind"] == "preset"]
    front = sorted(study.front.records, key=lambda r: (-r["metrics"]["accuracy"], r["number"]))
    assert [r["trial"] for r in found] == [r["number"] for r in front[:2]]
    assert [r["proxy_accuracy"] for r in found] == [r["metrics"]["accuracy"] for r in front[:2]]
    assert presets and all(r["proxy_accuracy"] is not None for r in presets)  # proxy-trained
    assert all(r["full_status"] == "ok" and r["latency_ms"] > 0 for r in data["configs"])
    assert data["complete"] and outcome.trained == 2 * len(presets) + len(found)
    proxy = [r["proxy_accuracy"] for r in data["configs"]]
    full = [r["full_accuracy"] for r in data["configs"]]
    agreement = data["kendall_tau"]
    assert agreement["n"] == len(data["configs"])
    if len(set(proxy)) > 1 and len(set(full)) > 1:
        assert agreement["tau"] == pytest.approx(kendall_tau_b(proxy, full))
    else:  # a constant ranking has no tau
        assert agreement["tau"] is None
    assert len(data["comparisons"]) == len(found)
    for pair in data["comparisons"]:
        rows = {r["name"]: r for r in data["configs"]}
        f, p = rows[pair["found"]], rows[pair["preset"]]
        assert p["image_size"] == f["image_size"]
        if pair["beats"] is not None:
            assert pair["beats"] == (f["full_accuracy"] > p["full_accuracy"])


def test_running_it_again_trains_nothing_and_gives_the_same_results(confirmed):
    _, cfg, first = confirmed
    again = run_confirm(cfg, progress=False)
    assert again.trained == 0
    assert again.data["configs"] == first.data["configs"]
    assert again.data["kendall_tau"] == first.data["kendall_tau"]


def test_the_report_shows_the_confirmation_section(confirmed):
    study, _, outcome = confirmed
    page = build_report(study.out_dir).read_text()
    assert "<h2>Confirmation: proxy vs full training</h2>" in page
    assert re.search(r'<img alt="confirm" src="data:image/png;base64,', page)
    table = page.split('<table class="confirm">')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + len(outcome.data["configs"])
    assert page.index("Confirmation") < page.index("<h2>Pareto front")
    assert (study.out_dir / "report" / "confirm.png").is_file()


def test_the_report_does_not_import_training_code():
    code = "import sys, mv2search.report; assert 'mv2search.train' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
