"""Sandwich-rule supernet training (`mv2search.supernet_train`) on a tiny space at 32-48 px: the
loss falls, a resumed run is bit-identical, a finished run is cached, bad settings are named."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from mv2search.cost import count_macs
from mv2search.supernet_train import (
    Feasibility,
    SupernetRun,
    SupernetTask,
    SupernetTrainConfig,
    proxy_resolution,
    resize,
    run_key,
    train_supernet,
)
from mv2search.supernet_train.sampler import attention_free_twin
from mv2search.train.checkpoint import load_checkpoint

# 6 steps of 8 images over a 40-image set (5 steps an epoch: the run crosses an epoch end)
CFG = SupernetTrainConfig(
    steps=6,
    batch_size=8,
    num_random=1,
    lr=2e-3,
    weight_decay=0.01,
    warmup_steps=2,
    warmup_max_fraction=1.0,
    checkpoint_every_steps=2,
)
BUDGET = 0.4  # giga-MACs: below the tiny space's largest (0.60), so the largest is scaled down


@pytest.fixture
def task(tiny_space, tiny_space_file, tiny_options):
    return SupernetTask(
        tiny_space, tiny_space_file, Feasibility.budget(max_gmacs=BUDGET), options=tiny_options
    )


def _label_loss(run: SupernetRun, spec, images, labels) -> float:
    side = proxy_resolution(spec.image_size, run.cfg.resolution_scale)
    with torch.no_grad(), run.supernet.active(spec):
        return F.cross_entropy(run.supernet(resize(images, side)), labels).item()


def test_sandwich_steps_lower_the_loss_of_the_largest_and_the_smallest(task, tmp_path):
    cfg = dataclasses.replace(CFG, steps=8, lr=3e-3, warmup_steps=0, label_smoothing=0.0)
    run = SupernetRun(task, cfg, runs_dir=tmp_path)
    assert run.resolution == 48  # 192 px x 0.25; the smallest trains at 32
    largest, smallest = run.sampler.largest, run.sampler.smallest
    assert proxy_resolution(smallest.image_size, 0.25) == 32
    images = torch.stack([run.data.train[i][0] for i in range(16)])  # one fixed batch
    labels = torch.tensor([run.data.train[i][1] for i in range(16)])
    run.supernet.train()
    before = [_label_loss(run, spec, images, labels) for spec in (largest, smallest)]
    for _ in range(cfg.steps):
        losses = run.train_step(images, labels)
        assert len(losses.distill) == 1 + cfg.num_random
    after = [_label_loss(run, spec, images, labels) for spec in (largest, smallest)]
    # measured: 2.29 -> 0.05 (largest), 2.30 -> 0.10 (smallest)
    assert after[0] < 0.5 * before[0] and after[1] < 0.5 * before[1], (before, after)
    assert run.step == cfg.steps and [row["step"] for row in run.history] == list(range(1, 9))


def test_the_attention_free_twin_is_distilled_at_every_step(task, tmp_path):
    cfg = dataclasses.replace(CFG, attention_free=True)
    run = SupernetRun(task, cfg, runs_dir=tmp_path)
    (twin,) = run.twins
    teacher = run.teacher
    assert twin == attention_free_twin(teacher) and twin.attn_blocks == (0, 0, 0)
    assert (twin.width_multiplier, twin.image_size, twin.ir_depths, twin.attn_types) == (
        teacher.width_multiplier,
        teacher.image_size,
        teacher.ir_depths,
        ("none",) * 3,
    )
    assert sum(teacher.attn_blocks) > 0 and count_macs(twin) < count_macs(teacher)
    # it keys the run; the default's key is the one runs had before the option existed
    assert "attention_free" not in CFG.identity() and cfg.identity()["attention_free"] is True
    assert run.run_dir != SupernetRun(task, CFG, runs_dir=tmp_path).run_dir
    images = torch.stack([run.data.train[i][0] for i in range(8)])
    labels = torch.tensor([run.data.train[i][1] for i in range(8)])
    run.supernet.train()
    with torch.no_grad():  # train mode: batch statistics, so the step's forward gives the same
        soft = F.softmax(_logits(run, teacher, images), dim=-1)
        expected = F.kl_div(
            F.log_softmax(_logits(run, twin, images), dim=-1), soft, reduction="batchmean"
        )
    losses = run.train_step(images, labels)
    assert len(losses.distill) == 2 + cfg.num_random  # smallest, random, twin
    assert losses.distill[-1] == pytest.approx(expected.item(), rel=1e-4)


def _logits(run: SupernetRun, spec, images) -> torch.Tensor:
    side = proxy_resolution(spec.image_size, run.cfg.resolution_scale)
    with run.supernet.active(spec):
        return run.supernet(resize(images, side))


def test_the_space_teacher_is_the_spaces_largest_over_the_budget(task, tmp_path):
    from mv2search.cost import count_macs

    budget = SupernetRun(task, CFG, runs_dir=tmp_path)
    space = SupernetRun(task, dataclasses.replace(CFG, teacher="space"), runs_dir=tmp_path)
    assert budget.teacher == budget.sampler.largest and task.feasible(budget.teacher)
    top = space.sampler.top
    assert space.teacher == top and not task.feasible(top)
    assert count_macs(top) / 1e9 == pytest.approx(0.60, abs=0.01)  # the tiny space's largest
    assert space.run_dir != budget.run_dir
    # the teacher leads the sandwich: the first subnet trained on the labels
    seen = []
    original = space.supernet.set_active
    space.supernet.set_active = lambda spec: (seen.append(spec), original(spec))[1]
    images = torch.stack([space.data.train[i][0] for i in range(8)])
    labels = torch.tensor([space.data.train[i][1] for i in range(8)])
    space.train_step(images, labels)
    assert seen[0] == top and all(task.feasible(spec) for spec in seen[1:] if spec != top)
    result = train_supernet(
        task, dataclasses.replace(CFG, teacher="space", steps=1), runs_dir=tmp_path
    )
    assert result.largest == top


def _crash_at(monkeypatch, step: int) -> None:
    """Make `train_step` raise when the run reaches `step` (as a killed process would stop)."""
    original = SupernetRun.train_step

    def crashing(self, images, labels):
        if self.step == step:
            raise RuntimeError("killed")
        return original(self, images, labels)

    monkeypatch.setattr(SupernetRun, "train_step", crashing)


@pytest.mark.parametrize("interruption", ["stop_at", "crash"])
def test_a_resumed_run_is_bit_identical(task, tmp_path, monkeypatch, interruption):
    reference = train_supernet(task, CFG, runs_dir=tmp_path / "straight")
    assert reference.finished and reference.trained_steps == CFG.steps
    resumed_dir = tmp_path / "resumed"
    if interruption == "stop_at":
        partial = train_supernet(task, CFG, runs_dir=resumed_dir, stop_at=3)
        assert (partial.step, partial.finished) == (3, False)
    else:
        _crash_at(monkeypatch, 3)
        with pytest.raises(RuntimeError, match="killed"):
            train_supernet(task, CFG, runs_dir=resumed_dir)
        monkeypatch.undo()  # the periodic checkpoint is the one of step 2
    checkpoint = resumed_dir / "supernet" / run_key(task, CFG) / "checkpoint.pt"
    started = load_checkpoint(checkpoint)["step"]
    assert started == {"stop_at": 3, "crash": 2}[interruption]
    resumed = train_supernet(task, CFG, runs_dir=resumed_dir)
    assert (resumed.step, resumed.trained_steps) == (CFG.steps, CFG.steps - started)
    expected, got = reference.supernet.state_dict(), resumed.supernet.state_dict()
    assert expected.keys() == got.keys()
    for name, tensor in expected.items():
        assert torch.equal(tensor, got[name]), name
    assert resumed.history == reference.history
    final = load_checkpoint(checkpoint)
    straight = load_checkpoint(reference.run_dir / "checkpoint.pt")
    assert torch.equal(final["sampler"]["generator"], straight["sampler"]["generator"])
    assert final["optimizer"] is None and final["finished"]


def test_a_second_call_is_answered_by_the_cache(task, tmp_path, monkeypatch, tiny_space_file):
    cfg = dataclasses.replace(CFG, steps=2)
    first = train_supernet(task, cfg, runs_dir=tmp_path)
    assert (first.trained_steps, first.cached, first.step) == (2, False, 2)
    assert first.run_dir.parent == tmp_path / "supernet"

    def untouchable(*args):
        raise AssertionError("the cached run trained or built data")

    monkeypatch.setattr(SupernetRun, "train_step", untouchable)
    monkeypatch.setattr(SupernetRun, "data", property(untouchable))
    second = train_supernet(task, cfg, runs_dir=tmp_path)
    assert (second.trained_steps, second.cached, second.step, second.finished) == (0, True, 2, True)
    assert second.run_dir == first.run_dir and second.history == first.history
    for name, tensor in first.supernet.state_dict().items():
        assert torch.equal(tensor, second.supernet.state_dict()[name]), name
    # what keys the run: seed, recipe, budget, data options and the space file's bytes
    other_file = tmp_path / "tiny.yaml"
    other_file.write_text(tiny_space_file.read_text() + "# edited\n")
    changed = [
        dataclasses.replace(task, seed=1),
        dataclasses.replace(task, feasible=Feasibility.budget(max_gmacs=0.3)),
        dataclasses.replace(task, options=dataclasses.replace(task.options, subset=0.5)),
        dataclasses.replace(task, space_file=other_file),
    ]
    keys = {run_key(t, cfg) for t in changed} | {run_key(task, dataclasses.replace(cfg, lr=1e-3))}
    assert run_key(task, cfg) not in keys and len(keys) == 5
    # the cache folder and the run mechanics do not key it
    cache = dataclasses.replace(task, options=dataclasses.replace(task.options, cache_dir="x"))
    mechanics = dataclasses.replace(cfg, checkpoint_every_steps=7, num_workers=1)
    assert run_key(cache, cfg) == run_key(task, mechanics) == run_key(task, cfg)


def test_a_checkpoint_of_another_run_is_refused(task, tmp_path):
    cfg = dataclasses.replace(CFG, steps=2)
    first = train_supernet(task, cfg, runs_dir=tmp_path)
    other = dataclasses.replace(task, seed=1)
    folder = tmp_path / "supernet" / run_key(other, cfg)
    folder.mkdir(parents=True)
    (folder / "checkpoint.pt").write_bytes((first.run_dir / "checkpoint.pt").read_bytes())
    with pytest.raises(ValueError, match="checkpoint.pt belongs to a different run"):
        train_supernet(other, cfg, runs_dir=tmp_path)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("steps", 0),
        ("batch_size", 0),
        ("num_random", -1),
        ("resolution_scale", 0.0),
        ("lr", -1e-3),
        ("weight_decay", -0.1),
        ("min_lr_ratio", 1.0),
        ("warmup_steps", -1),
        ("warmup_max_fraction", 1.5),
        ("label_smoothing", 1.0),
        ("beta2", 1.0),
        ("grad_clip", 0.0),
        ("lr_scaling", "cubic"),
        ("augment", "heavy"),
        ("precision", "fp8"),
        ("max_tries", 0),
        ("checkpoint_every_steps", 0),
        ("steps", 2.5),
        ("teacher", "biggest"),
        ("attention_free", "yes"),
    ],
)
def test_bad_config_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^supernet_train\.{field}="):
        SupernetTrainConfig(**{field: value})


def test_bad_tasks_name_the_field(task, tmp_path):
    with pytest.raises(ValueError, match="^feasible: expected a Feasibility"):
        run_key(dataclasses.replace(task, feasible=lambda spec: True), CFG)
    with pytest.raises(ValueError, match="^space_file:"):
        run_key(dataclasses.replace(task, space_file=tmp_path / "missing.yaml"), CFG)
    with pytest.raises(ValueError, match=r"^supernet_train\.batch_size=64 exceeds"):
        train_supernet(task, dataclasses.replace(CFG, batch_size=64), runs_dir=tmp_path)
    with pytest.raises(ValueError, match="^stop_at="):
        train_supernet(task, CFG, runs_dir=tmp_path, stop_at=-1)
