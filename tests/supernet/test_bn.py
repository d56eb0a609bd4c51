"""BatchNorm recalibration of subnets (`mv2search.train.bn.recalibrate_bn`)."""

from __future__ import annotations

import torch
from torch import nn

from mv2search.arch import ArchSpec
from mv2search.train.bn import recalibrate_bn
from tests.supernet.helpers import small_supernet

CPU = torch.device("cpu")
SPEC = ArchSpec(
    width_multiplier=0.5,
    ir_depths=(2, 1, 2, 1, 1),
    attn_blocks=(1, 2, 1),
    attn_types=("additive", "separable", "mha"),
    ffn_multiplier=2.0,
    num_classes=10,
)
BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _batches() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    return [torch.randn(4, 3, 48, 48, generator=generator) for _ in range(3)]


def test_recalibrating_an_extracted_subnet_changes_only_batchnorm_buffers():
    model = small_supernet().extract(SPEC)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    assert recalibrate_bn(model, _batches(), CPU) == 12
    after = model.state_dict()
    changed = {key for key, value in before.items() if not torch.equal(value, after[key])}
    bn_layers = [name for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    buffers = {f"{name}.{buffer}" for name in bn_layers for buffer in BN_BUFFERS}
    assert changed <= buffers
    assert {f"{name}.running_mean" for name in bn_layers} <= changed  # every layer re-estimated


def test_recalibrating_the_supernet_matches_recalibrating_the_extracted_subnet():
    supernet = small_supernet()
    model = supernet.extract(SPEC)
    recalibrate_bn(model, _batches(), CPU)
    with supernet.active(SPEC):
        recalibrate_bn(supernet, _batches(), CPU)
    inherited = supernet.extract(SPEC).state_dict()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(inherited[key], value, rtol=1e-5, atol=1e-6, msg=key)
