"""Rungs continue, they do not restart: a run measured in steps stopped at rung 1 and continued
to rung 2 ends bit-identical to a run that went to rung 2 straight (weights, EMA, optimizer
state, every evaluation); BatchNorm statistics are re-estimated for the weights they score."""

import dataclasses

import pytest
import torch
from torch import nn

from mv2search.data import build_datasets
from mv2search.train import TrainerConfig, train
from mv2search.train.bn import recalibrate_bn
from mv2search.train.checkpoint import load_checkpoint
from mv2search.train.config import load_trainer
from mv2search.train.loop import TrainRun
from tests.train.conftest import IMAGE_SIZE, VAL_SIZE

TIMING = {"wall_s", "images_per_s"}
RUNG_1, RUNG_2 = 13, 30  # rung 1 ends mid-epoch (20 steps an epoch at batch 32)


def _ladder(schedule: str, **changes) -> TrainerConfig:
    return TrainerConfig(
        name="rungs",
        schedule=schedule,
        schedule_steps=RUNG_2,
        eval_steps=[RUNG_1, RUNG_2],
        batch_size=32,
        warmup_steps=4,
        warmup_max_fraction=1.0,
        ema_momentum=0.1,
        bn_recalibration_batches=3,
        num_workers=0,
        checkpoint_every_steps=7,
        **changes,
    )


def _rows(history):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


@pytest.mark.parametrize("schedule", ["cosine", "wsd"])
def test_rung_2_through_rung_1_is_bit_identical_to_rung_2_straight(
    schedule, small_spec, small_data, tmp_path
):
    through, straight = tmp_path / "through", tmp_path / "straight"
    first = train(small_spec, small_data, _ladder(schedule, max_steps=RUNG_1), run_dir=through)
    assert first.ok and first.steps == RUNG_1
    continued = train(small_spec, small_data, _ladder(schedule, max_steps=RUNG_2), run_dir=through)
    direct = train(small_spec, small_data, _ladder(schedule, max_steps=RUNG_2), run_dir=straight)
    assert continued.ok and direct.ok and continued.steps == direct.steps == RUNG_2
    a, b = load_checkpoint(through / "checkpoint.pt"), load_checkpoint(straight / "checkpoint.pt")
    for part in ("model", "ema"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    for x, y in zip(
        a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True
    ):
        assert all(torch.equal(x[k], y[k]) for k in x)
    assert _rows(continued.history) == _rows(direct.history)
    assert (continued.top1, continued.val_loss) == (direct.top1, direct.val_loss)
    # the rung-1 score is the same whether the run stopped there or went on
    row_1 = next(r for r in direct.history if r["step"] == RUNG_1)
    assert first.top1 == row_1["ema_top1"]
    again = train(small_spec, small_data, _ladder(schedule, max_steps=RUNG_1), run_dir=straight)
    assert again.steps == RUNG_1 and again.top1 == first.top1  # read back, not trained
    if schedule == "wsd":
        assert row_1["decay_steps"] == round(0.2 * RUNG_1)


def test_a_cosine_rung_follows_the_top_rungs_schedule(small_spec, small_data):
    run = TrainRun(small_spec, small_data, _ladder("cosine", max_steps=RUNG_1))
    assert (run.total_steps, run.schedule_steps, run.warmup) == (RUNG_1, RUNG_2, 4)


def test_bn_recalibration_changes_only_batchnorm_statistics_to_the_batch_averages():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.GELU(), nn.GroupNorm(1, 4))
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = [torch.randn(8, 3, 6, 6) * (i + 1) for i in range(3)]
    assert recalibrate_bn(model, batches, torch.device("cpu")) == 24
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"1.running_mean", "1.running_var", "1.num_batches_tracked"}
    assert not model.training and model[1].momentum == 0.1  # mode and momentum put back
    with torch.no_grad():
        features = [model[0](b) for b in batches]
    means = torch.stack([f.mean(dim=(0, 2, 3)) for f in features])
    variances = torch.stack([f.var(dim=(0, 2, 3), unbiased=True) for f in features])
    assert torch.allclose(after["1.running_mean"], means.mean(0), atol=1e-6)
    assert torch.allclose(after["1.running_var"], variances.mean(0), atol=1e-5)


def test_scores_use_statistics_of_the_weights_and_say_what_stale_ones_gave(small_spec, small_data):
    cfg = dataclasses.replace(
        load_trainer("search"), epochs=1, batch_size=32, eval_running_bn=True, max_steps=10
    )
    result = train(small_spec, small_data, cfg)
    row = result.history[-1]
    assert row["bn_images"] == 20 * 32  # 20 fixed batches of the training set
    assert {"running_bn_top1", "top1"} <= row.keys() and result.top1 == row["top1"]


def test_the_search_trainer_runs_the_warm_up_it_states(small_spec, small_data):
    cfg = load_trainer("search")
    run = TrainRun(small_spec, small_data, dataclasses.replace(cfg, batch_size=32))
    assert run.warmup == cfg.warmup_steps  # no silent cap


def test_rescore_reproduces_the_runs_own_score_and_leaves_the_run_as_it_was(
    small_spec, small_data, small_options, tmp_path
):
    cfg = _ladder("wsd", max_steps=RUNG_1)
    result = train(small_spec, small_data, cfg, run_dir=tmp_path)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    run = TrainRun(small_spec, small_data, cfg, run_dir=tmp_path)  # restored at rung 1
    again = run.rescore()
    row = result.history[-1]
    assert (again["top1"], again["ema_top1"], again["loss"]) == (
        row["top1"],
        row["ema_top1"],
        row["loss"],
    )  # the same decay branch from the checkpoint: the same score, bit for bit
    assert (tmp_path / "checkpoint.pt").read_bytes() == before and run.progress["step"] == RUNG_1
    # on a larger validation split the same weights are scored on every image of it
    options = dataclasses.replace(small_options, embedded_val_size=2 * VAL_SIZE)
    other = build_datasets("embedded", IMAGE_SIZE, policy="light", seed=0, options=options)
    larger = dataclasses.replace(small_data, val=other.val)
    scored = TrainRun(small_spec, larger, cfg, run_dir=tmp_path).rescore()
    assert scored["count"] == 2 * VAL_SIZE
