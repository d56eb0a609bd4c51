"""train.py's configs compose into typed dataclasses, and the command runs as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from mv2search.apps.config import register_train_configs
from mv2search.train import TrainAppConfig, TrainerConfig, default_run_dir, run_train
from tests.train.conftest import IMAGE_SIZE, TRAIN_SIZE, VAL_SIZE

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"


def _compose(*overrides: str) -> TrainAppConfig:
    register_train_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return OmegaConf.to_object(compose("train", overrides=list(overrides)))


@pytest.mark.parametrize("trainer", sorted(p.stem for p in (CONF / "trainer").glob("*.yaml")))
def test_every_trainer_composes_to_its_dataclass(trainer):
    cfg = _compose(f"trainer={trainer}")
    assert isinstance(cfg, TrainAppConfig) and isinstance(cfg.trainer, TrainerConfig)
    assert cfg.trainer.name == trainer


def test_full_trainer_is_the_papers_recipe():
    full = _compose("trainer=full").trainer
    assert (full.epochs, full.batch_size, full.warmup_steps) == (300, 1024, 20000)
    assert (full.label_smoothing, full.mixup_alpha, full.cutmix_alpha) == (0.1, 0.2, 1.0)
    assert (full.ema_momentum, full.grad_clip, full.augment) == (0.0005, 10.0, "full")
    assert full.peak_lr_and_decay(1.0) == (0.0075, 0.013)  # batch 1024: the table itself


def test_a_misspelled_key_fails_at_composition():
    with pytest.raises(ConfigCompositionException, match="epoch"):
        _compose("trainer.epoch=3")


def test_a_bad_value_names_the_field():
    with pytest.raises(ValueError, match="trainer.precision='fp8'"):
        _compose("trainer.precision=fp8")


def test_unknown_preset_and_missing_folder_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown preset 'mobilevitv9'"):
        run_train(_compose("arch=mobilevitv9"))
    # an input error (exit 2 from train.py), checked before anything is built
    with pytest.raises(ValueError, match="data.source: .*nowhere' is neither 'embedded' nor an"):
        run_train(_compose(f"data={tmp_path / 'nowhere'}", "torch_device=cpu"))


def test_run_folder_is_stable_and_changes_with_the_settings():
    a, b = _compose(), _compose("trainer.epochs=2")
    from mv2search.arch import get_preset

    spec = get_preset("mobilevitv2_050")
    assert default_run_dir(a, spec) == default_run_dir(_compose(), spec)
    assert default_run_dir(a, spec) != default_run_dir(b, spec)
    assert default_run_dir(a, spec).name.startswith("mobilevitv2_050-proxy-")


def test_train_py_writes_metrics_checkpoint_and_result(tmp_path, data_cache):
    spec = tmp_path / "tiny.yaml"
    spec.write_text("width_multiplier: 0.5\nimage_size: 32\nname: tiny\n")
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        f"arch={spec}",
        "data=embedded",
        "trainer=proxy",
        "trainer.epochs=1",
        f"trainer.image_size={IMAGE_SIZE}",
        "trainer.batch_size=64",
        "trainer.num_workers=0",
        f"data_options.embedded_train_size={TRAIN_SIZE}",
        f"data_options.embedded_val_size={VAL_SIZE}",
        f"data_options.cache_dir={data_cache}",
        f"runs_dir={tmp_path / 'runs'}",
    ]
    env = {**os.environ, "TQDM_DISABLE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # a failed run exits with 1 (Hydra would drop a returned status)
    diverged = command[:-1] + ["trainer.lr=1e6", f"runs_dir={tmp_path / 'bad'}"]
    failed = subprocess.run(diverged, capture_output=True, text=True, env=env, timeout=300)
    assert failed.returncode == 1 and "diverged" in failed.stdout, failed.stderr[-3000:]
    (run,) = (tmp_path / "runs" / "train").iterdir()
    assert run.name.startswith("tiny-proxy-")
    assert {p.name for p in run.iterdir()} >= {
        "spec.yaml",
        "config.json",
        "metrics.json",
        "checkpoint.pt",
        "result.json",
    }
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "ok" and result["steps"] == TRAIN_SIZE // 64
    assert f"ok: top-1 {result['top1']:.2%}" in done.stdout


@pytest.mark.parametrize("trainer", ["proxy", "full"])
def test_load_trainer_equals_what_hydra_composes(trainer):
    from mv2search.train import load_trainer

    assert load_trainer(trainer) == _compose(f"trainer={trainer}").trainer


def test_a_changed_data_generator_moves_the_run_folder(monkeypatch):
    """A cached run is keyed by the generator that drew its images: a bumped version retrains
    (the run folders of train.py and of the search's evaluator both move)."""
    from mv2search.arch import get_preset
    from mv2search.cost.device import DeviceProfile
    from mv2search.data import DataOptions, embedded
    from mv2search.search.evaluator import Evaluator
    from mv2search.search.settings import EvaluatorConfig, TrainingSetup
    from mv2search.train import load_trainer

    spec = get_preset("mobilevitv2_050")
    cfg = _compose()
    trainer = load_trainer("search")
    training = TrainingSetup(trainer, "embedded", DataOptions())
    evaluator = Evaluator(
        ("accuracy",), training, DeviceProfile(name="unused"), EvaluatorConfig(), "runs"
    )
    before = default_run_dir(cfg, spec), evaluator.train_dir(spec, trainer)
    data_before = embedded.cache_path("c", 0, "val", 20, 32)
    monkeypatch.setattr(embedded, "GENERATOR_VERSION", embedded.GENERATOR_VERSION + 1)
    after = default_run_dir(cfg, spec), evaluator.train_dir(spec, trainer)
    assert after[0] != before[0] and after[1] != before[1]
    assert embedded.cache_path("c", 0, "val", 20, 32) != data_before
    monkeypatch.undo()
    assert (default_run_dir(cfg, spec), evaluator.train_dir(spec, trainer)) == before
