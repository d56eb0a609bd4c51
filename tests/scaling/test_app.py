"""`python scale.py`: a tiny end-to-end study through the Hydra app (trained trials, GP
analysis, derived configs that train.py accepts, the report section, W&B offline), resuming, and
bad input that fails naming the field before any study exists."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra.errors import MissingConfigException
from omegaconf import OmegaConf

from mv2search.arch import load_spec
from mv2search.cost import count_macs
from mv2search.scaling.app import run_scale, run_scale_app
from mv2search.scaling.grid import FactorGrid
from mv2search.scaling.loggers import log_scaling_wandb
from mv2search.scaling.trained import train_comparison
from mv2search.search.settings import LoggerConfig
from mv2search.search.space import available_spaces, load_space
from mv2search.train import TrainerConfig
from mv2search.train.result import TrainResult
from tests.scaling.conftest import TINY_SCALE, compose_scale
from tests.search.wandb_records import read_records

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    cfg = compose_scale([*TINY_SCALE, f"runs_dir={runs}"])
    assert run_scale_app(cfg) == 0
    return runs / "mv2_global-scale-sobol-s0"


def test_tiny_study_trains_sobol_trials_and_writes_the_analysis(study, capsys):
    a = json.loads((study / "scaling" / "analysis.json").read_text())
    assert a["n_trials"] == 5 and a["labels"] == ["r", "w", "d_i", "d_m"]
    assert sorted(a["sensitivity"]["ranking"]) == sorted(a["names"])
    assert len(a["maps"]) == 3 and len(a["maps"][0]["mean"]) == 7
    assert [p["fraction"] for p in a["paths"]] == [0.25, 0.5, 0.75]
    assert {r["rule"] for r in a["comparison"]} == {
        "gp_downsize",
        "alpha_only",
        "efficientnet",
        "dollar",
    }
    assert len(a["principles"]) == 6
    for stem in ("sensitivity", "maps", "cv", "downsize"):
        assert (study / "scaling" / f"scaling_{stem}.png").stat().st_size > 10_000


def test_derived_configs_meet_their_budgets_and_load_as_train_py_specs(study):
    a = json.loads((study / "scaling" / "analysis.json").read_text())
    for path in a["paths"]:
        spec = load_spec(path["file"])  # what `python train.py arch=<file>` reads
        assert count_macs(spec) / 1e9 <= path["budget_gmacs"]
        assert "python train.py arch=" in Path(path["file"]).read_text()
    assert len(list((study / "scaling" / "baselines").glob("*.yaml"))) == 1 + 3 * 3


def test_rerun_resumes_without_training_again(study):
    cfg = OmegaConf.to_object(compose_scale([*TINY_SCALE, f"runs_dir={study.parent}"]))
    outcome = run_scale(cfg, progress=False)
    assert outcome.search.evaluated == 0 and outcome.search.n_complete == 5


def test_report_gets_the_scaling_section(study):
    done = subprocess.run(
        [sys.executable, str(REPO / "report.py"), f"run={study}"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    page = (study / "report.html").read_text()
    assert "<h2>Scaling study" in page and "Design principles" in page
    for stem in ("sensitivity", "maps", "cv", "downsize"):
        assert f'<img alt="scaling_{stem}" src="data:image/png;base64,' in page


def test_wandb_offline_run_has_the_figures_tables_and_configs(study, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    a = json.loads((study / "scaling" / "analysis.json").read_text())
    run_dir = log_scaling_wandb(LoggerConfig(name="wandb"), study.name, study, a)
    (run_file,) = run_dir.glob("run-*.wandb")
    records = []
    for _ in range(50):  # the W&B service may still be writing the file when finish returns
        records = read_records(run_file)
        if any(r.WhichOneof("record_type") == "artifact" for r in records):
            break
        time.sleep(0.2)
    history = [r.history for r in records if r.WhichOneof("record_type") == "history"]
    keys = {item.key or "/".join(item.nested_key) for h in history for item in h.item}
    for name in ("sensitivity", "comparison", "cv", "scaling_maps", "scaling_downsize"):
        assert any(k.startswith(f"scaling/{name}") for k in keys), name
    artifacts = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact"]
    shipped = {e.path for a in artifacts for e in a.manifest.contents}
    assert {"derived/mobilevitv2_100-gp-0.5x.yaml", "baselines/mobilevitv2_100.yaml"} <= shipped


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("scaling.downsize.budgets=[0.5,1.5]", "scaling.downsize.budgets[1]"),
        ("scaling.downsize.budgets=[]", "scaling.downsize.budgets"),
        ("scaling.downsize.budgets=[0.01]", "scaling.downsize.budgets[0]"),
        ("scaling.downsize.base=mobilevitv2_300", "scaling.downsize.base"),
        ("scaling.downsize.image_size=250", "scaling.downsize.base"),
        ("scaling.design=lhs", "scaling.design"),
        ("optimizer=tpe", "scaling.design"),
        ("scaling.cv_folds=1", "scaling.cv_folds"),
        ("+space=mv2_attention", "not a numeric factor"),
    ],
)
def test_bad_input_is_an_error_naming_the_field(override, field, tmp_path, capsys):
    overrides = ["+space=mv2_global", override, f"runs_dir={tmp_path}"]
    if override.startswith("+space="):
        overrides = overrides[1:]
    assert run_scale_app(compose_scale(overrides)) == 2
    assert field in capsys.readouterr().err
    assert not list(tmp_path.rglob("study.*"))  # refused before a study was created


def test_unknown_or_missing_space_fails_listing_the_spaces(capsys):
    with pytest.raises(MissingConfigException):
        compose_scale(["+space=mv3"])
    assert run_scale_app(compose_scale([])) == 2
    err = capsys.readouterr().err
    assert all(name in err for name in available_spaces()), err


def test_scale_py_composes_from_another_directory(tmp_path):
    command = [sys.executable, str(REPO / "scale.py"), "+space=mv2_global", "--cfg", "job"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "name: accuracy_macs" in done.stdout and "design: sobol" in done.stdout


class _StubEvaluator:
    """Trains nothing: accuracy grows with MACs; the base's run "diverges"."""

    trainer = TrainerConfig(name="stub")

    def __init__(self):
        self.calls = []

    def proxy_train(self, spec):
        self.calls.append(spec.signature)
        if spec.width_multiplier == 1.0 and spec.image_size == 256 and spec.attn_blocks[0] == 2:
            return TrainResult(status="diverged", reason="stub")
        return TrainResult(status="ok", reason="", top1=0.2 + 0.1 * count_macs(spec) / 1e9)


def test_trained_comparison_trains_each_config_once_and_names_the_winners(study):
    a = json.loads((study / "scaling" / "analysis.json").read_text())
    grid = FactorGrid(load_space("mv2_global"))
    stub = _StubEvaluator()
    trained = train_comparison(stub, a, grid, progress=False)
    assert len(stub.calls) == len(set(stub.calls))  # a config shared by rules trains once
    assert len(trained["rows"]) == 1 + len(a["comparison"])
    base = trained["rows"][0]
    assert base["rule"] == "base" and base["accuracy"] is None and base["status"] == "diverged"
    for fraction, winner in trained["winners"].items():  # the most MACs within budget wins
        rows = [
            r for r in trained["rows"] if f"{r['fraction']:g}" == fraction and r["within_budget"]
        ]
        assert winner == max(rows, key=lambda r: r["gmacs"])["rule"]
    assert trained["rank_agreement"]["n"] == len(trained["rows"]) - 1
    assert trained["trainer"] == "stub" and trained["rmse"] is not None


def test_train_comparison_setting_writes_the_trained_section(study, monkeypatch):
    from mv2search.scaling import app

    stub = _StubEvaluator()
    monkeypatch.setattr(
        app, "train_comparison", lambda _, data, grid, progress: train_comparison(stub, data, grid)
    )
    overrides = [*TINY_SCALE, "scaling.train_comparison=true", f"runs_dir={study.parent}"]
    outcome = run_scale(OmegaConf.to_object(compose_scale(overrides)), progress=False)
    a = json.loads((study / "scaling" / "analysis.json").read_text())
    assert outcome.search.evaluated == 0 and stub.calls  # the study resumed; the stub trained
    assert a["trained"]["trainer"] == "stub" and len(a["principles"]) == 7
    assert "Trained with the study's proxy recipe (stub" in a["principles"][-1]
    assert (study / "scaling" / "scaling_trained.png").stat().st_size > 10_000
