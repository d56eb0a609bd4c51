"""`confirm.py`'s config and its errors: exit code 2 and a message naming the field or file."""

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from mv2search.apps.confirm import APP
from mv2search.apps.entry import run_checked
from mv2search.study.objectives import Objective, Objectives
from mv2search.study.store import StudySettings, StudyStore
from tests.confirm.conftest import compose_confirm

REPO = Path(__file__).resolve().parents[2]


def test_the_default_is_the_fidelity_benchmarks_reference_recipe():
    """benchmarks/bench_fidelity.py's reference: 250 wsd steps of batch 64 (warm-up 7, decay
    branch 20 %, BN re-estimated on 20 batches) on 10,000 images at a quarter resolution."""
    cfg = OmegaConf.to_object(compose_confirm(["run=runs/x"]))
    assert cfg.top_k == 3 and cfg.presets and cfg.device is None
    t = cfg.trainer
    assert (t.name, t.schedule, t.schedule_steps, t.max_steps) == ("reference", "wsd", 250, None)
    assert (t.batch_size, t.warmup_steps, t.warmup_max_fraction) == (64, 7, 1.0)
    assert (t.decay_fraction, t.bn_recalibration_batches, t.augment) == (0.2, 20, "light")
    assert (t.lr, t.lr_scaling, t.eval_steps) == (None, "sqrt", [])  # the paper's LR table
    assert (cfg.embedded_train_size, cfg.embedded_val_size, cfg.resolution_scale) == (
        10_000,
        10_000,
        0.25,
    )
    full = OmegaConf.to_object(compose_confirm(["run=runs/x", "trainer=full"]))
    assert full.trainer.name == "full" and full.trainer.cutmix_alpha == 1.0
    proxy = OmegaConf.to_object(compose_confirm(["run=runs/x", "trainer=proxy", "device=cuda"]))
    assert proxy.trainer.name == "proxy" and proxy.device.backend == "cuda"
    with pytest.raises(ConfigCompositionException):
        compose_confirm(["run=runs/x", "topk=3"])


def _status(overrides, capsys):
    status = run_checked(APP, compose_confirm(overrides))
    return status, capsys.readouterr().err


def test_input_errors_name_the_field_and_exit_2(tmp_path, capsys):
    status, err = _status([], capsys)
    assert status == 2 and "'run'" in err
    status, err = _status([f"run={tmp_path / 'nope'}"], capsys)
    assert status == 2 and "run: " in err and "nope: no such folder" in err
    status, err = _status([f"run={tmp_path}"], capsys)
    assert status == 2 and "no study store (study.db or study.journal)" in err
    status, err = _status([f"run={tmp_path}", "top_k=0"], capsys)
    assert status == 2 and "top_k: 0; allowed: an integer >= 1" in err
    status, err = _status([f"run={tmp_path}", "embedded_train_size=15"], capsys)
    assert status == 2 and "embedded_train_size: 15; allowed: a positive multiple of 10" in err


def test_a_study_without_objectives_or_with_an_empty_front_is_refused(tmp_path, capsys):
    (tmp_path / "bare").mkdir()
    optuna.create_study(study_name="bare", storage=f"sqlite:///{tmp_path / 'bare' / 'study.db'}")
    status, err = _status([f"run={tmp_path / 'bare'}"], capsys)
    assert status == 2 and "not written by search.py" in err
    settings = StudySettings(Objectives([Objective("accuracy", "max")], [0.1]))
    StudyStore.open("empty", settings=settings, runs_dir=str(tmp_path))
    status, err = _status([f"run={tmp_path / 'empty'}"], capsys)
    assert status == 2 and "empty: the study's Pareto front is empty" in err


def test_the_command_exits_2(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "confirm.py"), f"run={tmp_path / 'nope'}", "top_k=2"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "no such folder" in done.stderr
