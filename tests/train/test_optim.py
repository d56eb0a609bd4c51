import math

import pytest
import torch
from torch import nn

from mv2search.train.optim import ModelEma, build_optimizer, lr_at, warmup_steps_for


def test_schedule_warms_up_linearly_then_follows_the_cosine():
    total, warmup, peak, floor, init = 1000, 100, 0.01, 0.001, 1e-6
    assert lr_at(0, total, warmup, peak, floor, init) == init
    assert lr_at(50, total, warmup, peak, floor, init) == pytest.approx(init + (peak - init) / 2)
    assert lr_at(100, total, warmup, peak, floor, init) == pytest.approx(peak)
    middle = lr_at(550, total, warmup, peak, floor, init)
    assert middle == pytest.approx(floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi / 2)))
    assert lr_at(1000, total, warmup, peak, floor, init) == pytest.approx(floor)
    assert lr_at(5000, total, warmup, peak, floor, init) == pytest.approx(floor)


def test_schedule_without_warmup_starts_at_the_peak():
    assert lr_at(0, 10, 0, 0.5, 0.05, 1e-6) == pytest.approx(0.5)


def test_warmup_keeps_the_papers_proportion_in_short_runs():
    assert warmup_steps_for(375_000, 20_000, 0.0533) == 19_987
    assert warmup_steps_for(1_000, 20_000, 0.05) == 50
    assert warmup_steps_for(1_000_000, 20_000, 0.05) == 20_000


def test_optimizer_skips_decay_on_biases_and_norms():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 2))
    optimizer = build_optimizer(model, 1e-3, 0.05, (0.9, 0.999))
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert {tuple(p.shape) for p in decay["params"]} == {(8, 3, 3, 3), (2, 8)}
    assert len(no_decay["params"]) == 4  # conv bias, BN weight + bias, linear bias


def test_ema_moves_by_the_momentum_and_copies_buffers():
    model = nn.BatchNorm1d(3)
    ema = ModelEma(model, momentum=0.25)
    with torch.no_grad():
        model.weight.fill_(5.0)
        model.running_mean.fill_(2.0)
    ema.update(model)
    assert torch.allclose(ema.module.weight, torch.full((3,), 1 + 0.25 * 4))
    assert torch.equal(ema.module.running_mean, torch.full((3,), 2.0))
    assert not any(p.requires_grad for p in ema.module.parameters())
