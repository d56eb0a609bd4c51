"""`python scale.py`: a tiny end-to-end study through the Hydra app (trained trials, GP
analysis, derived configs that train.py accepts, the report section, W&B offline), resuming, the
trained comparison in the confirmation stage (real tiny training), and bad input that fails
naming the field before any study exists."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import wandb
from hydra.errors import MissingConfigException
from omegaconf import OmegaConf

from mv2search.apps.entry import run_checked
from mv2search.apps.scale import APP
from mv2search.arch import load_spec
from mv2search.confirm import rank_agreement
from mv2search.cost import count_macs
from mv2search.report.scaling import scaling_section
from mv2search.scaling import run_scale
from mv2search.scaling.loggers import log_scaling
from mv2search.search.loggers import WandbConfig, WandbLogger
from mv2search.search.space import available_spaces
from tests.scaling.conftest import TINY_SCALE, TRAIN_COMPARISON, compose_scale
from tests.search.wandb_records import read_records

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    cfg = compose_scale([*TINY_SCALE, f"runs_dir={runs}"])
    assert run_checked(APP, cfg) == 0
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
    logger = WandbLogger(WandbConfig(name="wandb"), study.name, study, None, {})
    run_dir = log_scaling(logger, study, a)  # the analysis run only: no trial, no search run
    wandb.teardown()  # finish() can return while the W&B service still writes the file
    (run_file,) = run_dir.glob("run-*.wandb")
    records = read_records(run_file)
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
        ("fidelity=asha", "allowed: fidelity=single"),
    ],
)
def test_bad_input_is_an_error_naming_the_field(override, field, tmp_path, capsys):
    overrides = ["+space=mv2_global", override, f"runs_dir={tmp_path}"]
    if override.startswith("+space="):
        overrides = overrides[1:]
    assert run_checked(APP, compose_scale(overrides)) == 2
    assert field in capsys.readouterr().err
    assert not list(tmp_path.rglob("study.*"))  # refused before a study was created


def test_unknown_or_missing_space_fails_listing_the_spaces(capsys):
    with pytest.raises(MissingConfigException):
        compose_scale(["+space=mv3"])
    assert run_checked(APP, compose_scale([])) == 2
    err = capsys.readouterr().err
    assert all(name in err for name in available_spaces()), err


def test_scale_py_composes_from_another_directory(tmp_path):
    command = [sys.executable, str(REPO / "scale.py"), "+space=mv2_global", "--cfg", "job"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "name: accuracy_macs" in done.stdout and "design: sobol" in done.stdout


@pytest.fixture(scope="module")
def confirmed(study):
    """The tiny study rerun twice with the trained comparison at one budget: (folder, outcome,
    rerun). It rewrites the study's analysis: the tests that use it come last in this file."""
    overrides = [*TINY_SCALE, *TRAIN_COMPARISON, f"runs_dir={study.parent}"]
    cfg = OmegaConf.to_object(compose_scale(overrides))
    outcome = run_scale(cfg, progress=False)
    rerun = run_scale(cfg, progress=False)
    return study, outcome, rerun


def test_trained_comparison_trains_each_config_once_in_the_confirmation_stage(confirmed):
    folder, outcome, _ = confirmed
    t = outcome.analysis["trained"]  # the first run's (analysis.json holds the rerun's)
    assert outcome.search.evaluated == 0  # the study resumed; only the comparison trained
    assert t["stage"] == "confirmation" and t["trainer"] == "reference"
    assert t["recipe"]["trainer"]["schedule_steps"] == 2 and t["recipe"]["resolution_scale"] == 0.25
    assert (t["recipe"]["embedded_train_size"], t["recipe"]["embedded_val_size"]) == (100, 50)
    rows = t["rows"]
    assert rows[0]["rule"] == "base" and len(rows) == 1 + 2 * 4
    signatures = {r["signature"] for r in rows}
    alpha = {r["signature"] for r in rows if r["rule"] == "alpha_only"}
    assert len(alpha) == 1 and len(signatures) < len(rows)  # one config at both budgets
    runs = sorted((folder.parent / "train").glob("*-reference-*"))
    assert t["trained"] == len(signatures) == len(runs)  # a config shared by rules trains once
    for r in rows:  # the accuracies are the runs' own
        result = json.loads((Path(r["run"]) / "result.json").read_text())
        assert r["accuracy"] == result["top1"] and r["status"] == result["status"] == "ok"


def test_trained_comparison_scores_the_gp_against_the_trained_accuracies(confirmed):
    folder, _, _ = confirmed
    a = json.loads((folder / "scaling" / "analysis.json").read_text())
    t, rows = a["trained"], a["trained"]["rows"]
    errors = [(r["mean"] - r["accuracy"]) ** 2 for r in rows]
    assert t["rmse"] == pytest.approx(math.sqrt(sum(errors) / len(errors)))
    expected = rank_agreement([r["mean"] for r in rows], [r["accuracy"] for r in rows])
    assert t["rank_agreement"] == expected and expected["n"] == len(rows)
    for fraction in (0.25, 0.5):
        within = [r for r in rows if r["fraction"] == fraction and r["within_budget"]]
        best = max(within, key=lambda r: r["accuracy"])
        assert t["winners"][f"{fraction:g}"] == best["rule"]
    assert "in the confirmation stage (reference recipe, 2 steps" in a["principles"][-1]
    assert (folder / "scaling" / "scaling_trained.png").stat().st_size > 10_000
    assert "Trained comparison: in the confirmation stage" in scaling_section(folder)


def test_trained_comparison_rerun_trains_nothing(confirmed):
    _, outcome, rerun = confirmed
    assert rerun.analysis["trained"]["trained"] == 0
    assert rerun.analysis["trained"]["rows"] == outcome.analysis["trained"]["rows"]


def test_bad_confirm_override_fails_naming_the_field(tmp_path, capsys):
    overrides = ["+space=mv2_global", "scaling.confirm=['trainer.epoch=1']", f"runs_dir={tmp_path}"]
    assert run_checked(APP, compose_scale(overrides)) == 2
    assert "scaling.confirm: trainer.epoch" in capsys.readouterr().err
    assert not list(tmp_path.rglob("study.*"))
