"""`Supernet`: an extracted subnet is `build_model(spec)` with the supernet's parameter count and
logits, and training touches only the active slice."""

from __future__ import annotations

import pytest
import torch

from mv2search.arch import PRESETS, ArchSpec, build_model, mobilevitv2, resolve_widths
from mv2search.arch.spec import ffn_hidden
from mv2search.cost.params import count_params
from mv2search.search.space import load_space
from mv2search.supernet import Supernet, SupernetBounds
from tests.supernet.helpers import perturb, small_supernet

SAMPLED = load_space("mv2").sample(20, seed=0)
V2_PRESETS = [spec.replace(num_classes=10) for spec in PRESETS.values() if spec.block_style == "v2"]
# Inside the mv2 space: all three attention types in every stage position, depth/width/ffn extremes.
EXTREMES = {
    "smallest": ArchSpec(
        width_multiplier=0.5,
        ir_depths=(1, 1, 1, 1, 1),
        attn_blocks=(1, 1, 1),
        attn_types=("separable", "mha", "additive"),
        ffn_multiplier=1.5,
        num_classes=10,
    ),
    "largest": ArchSpec(
        width_multiplier=2.0,
        ir_depths=(2, 3, 2, 2, 2),
        attn_blocks=(4, 4, 4),
        attn_types=("additive", "separable", "mha"),
        ffn_multiplier=3.0,
        num_classes=10,
    ),
    "mixed": ArchSpec(
        width_multiplier=1.25,
        ir_depths=(2, 1, 2, 1, 2),
        attn_blocks=(0, 2, 3),
        attn_types=("none", "additive", "mha"),
        ffn_multiplier=2.0,
        num_classes=10,
    ),
    "mha_everywhere": ArchSpec(
        width_multiplier=0.75,
        ir_depths=(1, 3, 1, 2, 1),
        attn_blocks=(4, 1, 2),
        attn_types=("mha", "mha", "mha"),
        ffn_multiplier=3.0,
        num_classes=10,
    ),
    "no_attention": ArchSpec(
        width_multiplier=1.0,
        attn_blocks=(0, 0, 0),
        attn_types=("none", "none", "none"),
        ffn_multiplier=1.5,  # canonical: the space's lowest when no stage has attention
        num_classes=10,
    ),
}


def _num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _assert_same_logits(supernet: Supernet, spec: ArchSpec, side: int) -> None:
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(side))
    model = supernet.extract(spec).eval()
    with torch.no_grad(), supernet.active(spec):
        got, expected = supernet(x), model(x)
    scale = expected.abs().max().item()
    assert scale > 0.1  # logits far from zero, so the tolerance below is tight
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5 * scale)


@pytest.fixture(scope="module")
def preset_supernets():
    """One supernet covering the v2 presets (1000 classes), one covering the v1 presets."""
    out = {}
    for style in ("v2", "v1"):
        torch.manual_seed(1)
        specs = [spec for spec in PRESETS.values() if spec.block_style == style]
        out[style] = perturb(Supernet(SupernetBounds.covering(specs)), seed=1).eval()
    return out


@pytest.mark.parametrize("index", range(len(SAMPLED)))
def test_a_sampled_spec_extracts_with_the_parameter_count_of_build_model(mv2_supernet, index):
    spec = SAMPLED[index]
    model = mv2_supernet.extract(spec)
    assert model.spec == spec
    expected = count_params(spec)
    assert _num_params(model) == expected == _num_params(build_model(spec))
    assert mv2_supernet.num_active_params(spec) == expected


@pytest.mark.parametrize("spec", V2_PRESETS, ids=lambda spec: spec.name)
def test_the_mv2_supernet_covers_every_v2_preset_with_10_classes(mv2_supernet, spec):
    assert _num_params(mv2_supernet.extract(spec)) == count_params(spec)
    assert mv2_supernet.num_active_params(spec) == count_params(spec)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_extracts_with_its_parameter_count_and_logits(preset_supernets, name):
    spec = PRESETS[name]
    supernet = preset_supernets[spec.block_style]
    model = supernet.extract(spec)
    assert _num_params(model) == count_params(spec) == supernet.num_active_params(spec)
    _assert_same_logits(supernet, spec, side=50)  # odd sides: the resize paths of v1 and v2


@pytest.mark.parametrize("side", [64, 50])
@pytest.mark.parametrize("name", sorted(EXTREMES))
def test_extracted_logits_equal_the_supernet_forward(mv2_space, mv2_supernet, name, side):
    spec = EXTREMES[name]
    assert mv2_space.contains(spec)
    _assert_same_logits(mv2_supernet, spec, side)


def test_the_largest_subnet_is_active_by_default_and_extract_copies():
    supernet = small_supernet()
    assert supernet.active_spec == supernet.bounds.largest_spec()
    model = supernet.extract()
    assert model.spec == supernet.active_spec
    with torch.no_grad():
        model.stem.conv.weight.zero_()
    assert supernet.stem.conv.weight.abs().sum() > 0  # no storage shared


def test_a_single_type_supernet_holds_exactly_its_largest_subnet():
    specs = [mobilevitv2(alpha, num_classes=10) for alpha in (0.5, 0.75)]
    supernet = Supernet(SupernetBounds.covering(specs))
    assert _num_params(supernet) == count_params(supernet.bounds.largest_spec())
    assert _num_params(supernet) == count_params(specs[1])


def test_training_touches_only_the_active_slice():
    supernet = small_supernet().train()
    spec = ArchSpec(
        width_multiplier=0.5,
        ir_depths=(1, 1, 1, 1, 1),
        attn_blocks=(1, 1, 1),
        attn_types=("mha", "separable", "additive"),
        ffn_multiplier=1.5,
        num_classes=10,
    )
    widths, bounds = resolve_widths(spec), supernet.bounds
    stem, dim, full_dim = widths.stem, widths.attn_dims[0], bounds.attn_dims[0]
    mean_before = supernet.stem.bn.running_mean.clone()
    with supernet.active(spec):
        supernet(torch.randn(2, 3, 64, 64)).square().mean().backward()
    grad = supernet.stem.conv.weight.grad
    assert grad[:stem].abs().sum() > 0 and not grad[stem:].any()
    moved = supernet.stem.bn.running_mean != mean_before
    assert moved[:stem].all() and not moved[stem:].any()

    stage3 = supernet.stages[2]
    assert stage3.blocks[1].conv1_1x1.conv.weight.grad is None  # depth 1 of 2
    first, second = stage3.attention.transformer
    assert second.mlp.fc1.weight.grad is None  # attention depth 1 of 2
    assert first.attn["separable"].qkv_proj.weight.grad is None  # the types not chosen
    assert first.attn["additive"].to_query.weight.grad is None
    assert first.norm1["group_norm"].weight.grad is None
    qkv = first.attn["mha"].qkv.weight.grad  # [Q; K; V], each full_dim rows
    rows = torch.zeros(3 * full_dim, dtype=torch.bool)
    for part in range(3):
        rows[part * full_dim : part * full_dim + dim] = True
    assert qkv[rows, :dim].abs().sum() > 0 and not qkv[~rows].any() and not qkv[:, dim:].any()
    hidden = ffn_hidden(dim, spec.ffn_multiplier)
    fc1 = first.mlp.fc1.weight.grad  # the FFN shared by the three types
    assert fc1[:hidden, :dim].abs().sum() > 0 and not fc1[hidden:].any()
    assert not fc1[:, dim:].any()
