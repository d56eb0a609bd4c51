"""`python confirm.py` on a tiny study: the right Kendall tau, reuse, the report section.

The study holds three configs with known proxy accuracies, written through the study store as
the search writes them, all on the Pareto front; its data is a tiny image folder that networks
learn partly in a few dozen steps. The confirmation itself is real: its proxy runs of the
presets and its full runs train, nothing is mocked.
"""

import json
import re
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from mv2search.arch import PRESETS
from mv2search.confirm.run import run_confirm
from mv2search.report import build_report
from mv2search.search.runner import SearchWorker
from mv2search.study.objectives import exact_metrics
from tests.confirm.conftest import CONFIRM_TINY, colour_folder, compose_confirm
from tests.confirm.test_compare import kendall_tau_b
from tests.search.conftest import TINY, search_config

PROXY = [0.3, 0.5, 0.7]  # the study's proxy accuracies ...
LATENCY_MS = [10.0, 20.0, 30.0]  # ... rising with latency: every config is on the front
STUDY_TRAINER = ["trainer.epochs=4", "trainer.batch_size=16"]


def _specs():
    base = PRESETS["mobilevitv2_100"].replace(
        name="", num_classes=10, width_multiplier=0.5, image_size=128, ir_depths=(1, 1, 1, 1, 1)
    )
    return [
        base.replace(attn_blocks=(0, 1, 0), attn_types=("none", "separable", "none")),
        base.replace(attn_blocks=(1, 1, 1)),
        base.replace(attn_blocks=(2, 2, 2), attn_types=("mha", "mha", "mha")),
    ]


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("confirm")
    data = ["data=folder", f"data.source={colour_folder(tmp / 'colours')}"]
    tiny = [o for o in TINY if not o.startswith(("trainer.", "optimizer.n_trials"))]
    worker = SearchWorker(search_config([*tiny, *data, *STUDY_TRAINER], tmp / "runs"))
    for spec, accuracy, latency_ms in zip(_specs(), PROXY, LATENCY_MS, strict=True):
        handle = worker.store.claim(spec, worker.space.encode(spec), seed=0)
        metrics = {"accuracy": accuracy, "latency_ms": latency_ms, **exact_metrics(spec)}
        worker.store.complete(handle, metrics, [accuracy, latency_ms])
    cfg = OmegaConf.to_object(compose_confirm([*CONFIRM_TINY, f"run={worker.out_dir}"]))
    return worker, cfg, run_confirm(cfg, progress=False)


def test_confirmation_has_the_top_k_the_presets_and_the_right_kendall_tau(confirmed):
    worker, _, outcome = confirmed
    data = json.loads(outcome.path.read_text())
    assert outcome.path == worker.out_dir / "confirm" / "confirmation.json"
    assert (worker.out_dir / "confirm" / "proxy_vs_full.png").stat().st_size > 0
    found = [r for r in data["configs"] if r["kind"] == "found"]
    presets = [r for r in data["configs"] if r["kind"] == "preset"]
    assert [r["proxy_accuracy"] for r in found] == PROXY[::-1]  # most accurate first
    assert [r["trial"] for r in found] == [2, 1, 0]
    assert presets and all(r["proxy_accuracy"] is not None for r in presets)  # proxy-trained
    assert all(r["full_status"] == "ok" and r["latency_ms"] > 0 for r in data["configs"])
    assert data["complete"] and outcome.trained == 2 * len(presets) + len(found)
    proxy = [r["proxy_accuracy"] for r in data["configs"]]
    full = [r["full_accuracy"] for r in data["configs"]]
    assert len(set(full)) > 1, full  # the folder is learnt partly: the ranking is not all ties
    agreement = data["kendall_tau"]
    assert agreement["n"] == len(data["configs"]) == 3 + len(presets)
    assert agreement["tau"] == pytest.approx(kendall_tau_b(proxy, full))
    assert len(data["comparisons"]) == len(found)
    rows = {r["name"]: r for r in data["configs"]}
    for pair in data["comparisons"]:
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
    worker, _, outcome = confirmed
    page = build_report(worker.out_dir).read_text()
    assert "<h2>Confirmation: proxy vs full training</h2>" in page
    assert re.search(r'<img alt="confirm" src="data:image/png;base64,', page)
    table = page.split('<table class="confirm">')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + len(outcome.data["configs"])
    assert page.index("Confirmation") < page.index("<h2>Pareto front")
    assert (worker.out_dir / "report" / "confirm.png").is_file()


def test_the_report_section_does_not_import_training_code():
    code = "import sys, mv2search.report.confirmation; assert 'mv2search.train' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
