import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from mv2search.arch import build_model
from mv2search.data import DataOptions, build_datasets
from mv2search.train import TrainerConfig, TrainRun, train

FAST = dict(batch_size=32, warmup_steps=10, num_workers=0, eval_batch_size=100, image_size=32)


def test_a_short_run_learns_well_above_chance(small_spec, data_cache, tmp_path):
    # 64 px: at 32 px the shapes are a few pixels wide and 100 steps learn little
    options = DataOptions(embedded_train_size=1000, embedded_val_size=200, cache_dir=data_cache)
    data = build_datasets("embedded", 64, policy="light", options=options)
    spec = dataclasses.replace(small_spec, image_size=64)
    trainer = TrainerConfig(epochs=3, lr=3e-3, **{**FAST, "image_size": 64})
    result = train(spec, data, trainer, seed=0, run_dir=tmp_path / "run")
    assert result.status == "ok" and result.steps == 3 * 31 and result.epochs == 3
    assert result.top1 > 0.3, result.history  # chance is 0.10; 0.47 measured
    assert result.top5 >= result.top1 and result.images_per_s > 0
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert all(row["count"] == 200 for row in history)  # every val image, once
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    stored = json.loads((tmp_path / "run" / "result.json").read_text())
    assert stored["top1"] == result.top1 and stored["status"] == "ok"


def test_a_finished_run_is_not_trained_again(small_spec, small_data, tmp_path):
    trainer = TrainerConfig(epochs=1, max_steps=3, **FAST)
    first = train(small_spec, small_data, trainer, run_dir=tmp_path)
    again = train(small_spec, small_data, trainer, run_dir=tmp_path)
    assert again.to_dict() == first.to_dict()


def test_step_budget_cuts_the_epoch_and_still_evaluates(small_spec, small_data):
    result = train(small_spec, small_data, TrainerConfig(epochs=3, max_steps=5, **FAST))
    assert result.steps == 5 and result.epochs == 0.25 and len(result.history) == 1
    assert result.reason == "budget spent: 5 steps"


def test_time_budget_stops_the_run_with_its_reason(small_spec, small_data):
    result = train(small_spec, small_data, TrainerConfig(epochs=50, max_minutes=1e-4, **FAST))
    assert result.status == "ok" and result.steps == 1
    assert "time budget" in result.reason and result.top1 is not None


def test_divergence_is_a_status_not_an_exception(small_spec, small_data, tmp_path):
    trainer = TrainerConfig(
        epochs=2,
        lr=1e6,
        warmup_steps=0,
        grad_clip=None,
        **{k: v for k, v in FAST.items() if k != "warmup_steps"},
    )
    result = train(small_spec, small_data, trainer, run_dir=tmp_path)
    assert result.status == "diverged" and not result.ok
    assert "non-finite" in result.reason and result.steps < 40
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "diverged"


def test_loader_workers_do_not_change_the_result(small_spec, small_data):
    trainer = TrainerConfig(epochs=1, max_steps=4, **FAST)
    runs = []
    for workers in (0, 2):
        run = TrainRun(small_spec, small_data, dataclasses.replace(trainer, num_workers=workers))
        runs.append((run.fit(), run.model.state_dict()))
    (a, weights_a), (b, weights_b) = runs
    assert a.top1 == b.top1 and a.val_loss == b.val_loss and a.train_loss == b.train_loss
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_a_checkpoint_of_another_run_is_refused(small_spec, small_data, tmp_path):
    trainer = TrainerConfig(epochs=1, max_steps=2, **FAST)
    train(small_spec, small_data, trainer, seed=0, run_dir=tmp_path)
    with pytest.raises(ValueError, match="belongs to a different run"):
        train(small_spec, small_data, trainer, seed=1, run_dir=tmp_path)


def test_init_from_a_timm_checkpoint_keeps_the_backbone(small_spec, small_data, tmp_path):
    source = build_model(small_spec)  # 1000 classes: the head cannot be loaded into 10
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    run = TrainRun(small_spec, small_data, TrainerConfig(init_from=str(path), **FAST))
    loaded = run.model.state_dict()
    assert run.model.head.fc.out_features == 10
    for key, value in source.state_dict().items():
        if not key.startswith("head.fc"):
            assert torch.equal(loaded[key], value), key


def test_mixing_and_ema_train_and_report_ema_metrics(small_spec, small_data):
    trainer = TrainerConfig(
        epochs=1, max_steps=3, mixup_alpha=0.2, cutmix_alpha=1.0, ema_momentum=0.01, **FAST
    )
    result = train(small_spec, small_data, trainer)
    row = result.history[-1]
    assert result.top1 == row["ema_top1"] and "top1" in row and result.status == "ok"


def test_a_corrupt_image_in_a_folder_is_skipped_and_reported(small_spec, tmp_path):
    rng = np.random.default_rng(0)
    for split, count in (("train", 16), ("val", 4)):
        for label, name in enumerate(("red", "green")):
            folder = tmp_path / "data" / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                array = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
                array[..., label] = 255
                Image.fromarray(array).save(folder / f"{i}.png")
    broken = tmp_path / "data" / "train" / "red" / "broken.png"
    broken.write_bytes((tmp_path / "data" / "train" / "red" / "0.png").read_bytes()[:60])
    data = build_datasets(tmp_path / "data", 32, policy="imagenet")
    trainer = TrainerConfig(epochs=2, **{**FAST, "batch_size": 11})
    result = train(small_spec, data, trainer)
    assert result.status == "ok" and result.steps == 2 * 3  # 33 files, 3 batches of 11
    assert result.skipped_images == 2 and result.skipped_paths == [str(broken)]  # once per epoch
    assert result.history[-1]["count"] == 8 and result.top1 is not None
