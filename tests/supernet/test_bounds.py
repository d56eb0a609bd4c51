"""`SupernetBounds`: the largest subnet of each space, the covered specs, errors naming fields."""

from __future__ import annotations

import pytest

from mv2search.arch import PRESETS, ArchSpec, resolve_widths
from mv2search.search.space import available_spaces, load_space
from mv2search.supernet import Supernet, SupernetBounds
from mv2search.supernet.bounds import ATTENTION_TYPES
from tests.supernet.helpers import small_supernet

ALL_TYPES = (ATTENTION_TYPES,) * 3


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        (
            "mv2",
            dict(
                stem_channels=64,
                stage_channels=(128, 256, 512, 768, 1024),
                attn_dims=(256, 384, 512),
                ir_depths=(2, 3, 2, 2, 2),
                attn_blocks=(4, 4, 4),
                attn_types=ALL_TYPES,
                ffn_multiplier=3.0,
                num_classes=10,
            ),
        ),
        (
            "mv2_attention",
            dict(
                stage_channels=(32, 64, 128, 192, 256),
                attn_dims=(64, 96, 128),
                ir_depths=(1, 2, 1, 1, 1),
                attn_blocks=(2, 4, 3),
                attn_types=ALL_TYPES,
                ffn_multiplier=2.0,
            ),
        ),
        (
            "mv2_global",
            dict(
                stage_channels=(128, 256, 512, 768, 1024),
                ir_depths=(3, 6, 3, 3, 3),
                attn_blocks=(4, 8, 6),
                attn_types=(("separable",),) * 3,
            ),
        ),
    ],
)
def test_from_space_gives_the_largest_subnet(space, expected):
    bounds = SupernetBounds.from_space(load_space(space))
    for field, value in expected.items():
        assert getattr(bounds, field) == value, field


@pytest.mark.parametrize("space", available_spaces())
def test_every_sampled_spec_of_a_space_is_covered(space):
    search_space = load_space(space)
    bounds = SupernetBounds.from_space(search_space)
    for spec in search_space.sample(64, seed=1):
        bounds.check(spec)
    largest = bounds.largest_spec()
    bounds.check(largest)
    widths = resolve_widths(largest)
    assert (widths.stem, widths.stages) == (bounds.stem_channels, bounds.stage_channels)


def test_covering_the_v2_presets_is_mobilevitv2_200_wide():
    presets = [spec for spec in PRESETS.values() if spec.block_style == "v2"]
    bounds = SupernetBounds.covering(presets)
    widths = resolve_widths(PRESETS["mobilevitv2_200"])
    assert bounds.stage_channels == widths.stages
    assert bounds.attn_dims == widths.attn_dims
    assert bounds.attn_types == (("separable",),) * 3
    for spec in presets:
        bounds.check(spec)


def test_covering_rejects_specs_that_disagree_on_a_fixed_field():
    with pytest.raises(ValueError, match=r"^num_classes: the specs disagree"):
        SupernetBounds.covering([PRESETS["mobilevitv2_050"], ArchSpec(num_classes=10)])
    with pytest.raises(ValueError, match=r"^block_style"):
        SupernetBounds.covering([PRESETS["mobilevitv2_050"], PRESETS["mobilevit_xs"]])
    with pytest.raises(ValueError, match=r"^covering: no specs"):
        SupernetBounds.covering([])


_BASE = ArchSpec(num_classes=10)  # mobilevitv2_100 with 10 classes: inside the mv2 space


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (dict(width_multiplier=2.25), r"width_multiplier: 2\.25 gives the stage 1 144"),
        (dict(channels=(32, 64, 128, 256, 384, 1032)), r"channels: .* stage 5 1032 channels"),
        (dict(attn_dims=(128, 192, 520)), r"attn_dims: .* stage 5 the attention dim 520"),
        (dict(ir_depths=(1, 4, 1, 1, 1)), r"ir_depths\[1\]: 4"),
        (dict(attn_blocks=(2, 5, 3)), r"attn_blocks\[1\]: 5"),
        (dict(ffn_multiplier=4.0), r"ffn_multiplier: 4\.0"),
        (dict(expand_ratio=3.0), r"expand_ratio: 3\.0"),
        (dict(num_classes=1000), r"num_classes: 1000 .* fixes it to 10"),
        (dict(patch_size=4), r"patch_size: 4"),
        (dict(num_heads=8), r"num_heads: 8"),
        (dict(head_conv_channels=128), r"head_conv_channels: 128"),
        (dict(block_style="v1"), r"block_style: 'v1'"),
    ],
)
def test_a_spec_outside_the_mv2_supernet_names_the_field(changes, field):
    bounds = SupernetBounds.from_space(load_space("mv2"))
    bounds.check(_BASE)
    with pytest.raises(ValueError, match="^" + field):
        bounds.check(_BASE.replace(**changes))


def test_an_attention_type_the_space_does_not_allow_names_the_field():
    bounds = SupernetBounds.from_space(load_space("mv2_global"))
    spec = ArchSpec(num_classes=10, attn_types=("separable", "mha", "separable"))
    with pytest.raises(ValueError, match=r"^attn_types\[1\]: stage 4 has 'mha'.*'separable'"):
        bounds.check(spec)
    bounds.check(spec.replace(attn_types=("separable", "none", "separable"), attn_blocks=(2, 0, 3)))


def test_supernet_entry_points_raise_and_keep_the_active_subnet():
    supernet = small_supernet()
    before = supernet.active_spec
    wide = _BASE.replace(width_multiplier=1.0)
    for call in (supernet.set_active, supernet.extract, supernet.subnet_state_dict):
        with pytest.raises(ValueError, match=r"^width_multiplier: 1\.0 gives the stem"):
            call(wide)
    with pytest.raises(ValueError, match=r"^width_multiplier"), supernet.active(wide):
        pass
    assert supernet.active_spec is before
    with pytest.raises(TypeError, match="expected an ArchSpec"):
        supernet.set_active("mobilevitv2_050")
    with pytest.raises(ValueError, match="^attn_types"):
        SupernetBounds(**{**vars(supernet.bounds), "attn_types": (("linear",),) * 3})
    assert isinstance(supernet, Supernet)
