"""Presets against the reference numbers of architecture.md 2.1 and 2.4 (timm 1.0.31 + fvcore)."""

import pytest

from mv2search.arch import PRESETS, build_model, get_preset
from mv2search.cost import count_macs, count_params, fvcore_macs

# name: (exact params, fvcore total MACs at 256 of the reference model, with attention matmuls)
REFERENCE = {
    "mobilevitv2_050": (1_370_593, 480_471_040),
    "mobilevitv2_075": (2_866_009, 1_051_794_432),
    "mobilevitv2_100": (4_901_841, 1_843_843_072),
    "mobilevitv2_125": (7_478_089, 2_856_616_960),
    "mobilevitv2_150": (10_594_753, 4_090_116_096),
    "mobilevitv2_175": (14_251_833, 5_544_340_480),
    "mobilevitv2_200": (18_449_329, 7_219_290_112),
    # v1: timm's published GMACs count the QK^T and AV matmuls (architecture.md 2.4)
    "mobilevit_xxs": (1_272_024, 418_204_160),
    "mobilevit_xs": (2_317_848, 1_052_192_768),
    "mobilevit_s": (5_578_632, 2_033_424_384),
}
# plain fvcore skips fused attention: these are its totals for timm's v1 models
PLAIN_FVCORE_V1 = {
    "mobilevit_xxs": 340_019_712,
    "mobilevit_xs": 934_916_096,
    "mobilevit_s": 1_855_789_056,
}


def test_all_presets_present():
    assert set(PRESETS) == set(REFERENCE)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_params_exact(name):
    model = build_model(PRESETS[name])
    assert sum(p.numel() for p in model.parameters()) == REFERENCE[name][0]
    assert count_params(PRESETS[name]) == REFERENCE[name][0]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_fvcore_macs_match_reference(name):
    model = build_model(PRESETS[name])
    measured = fvcore_macs(model, 256)
    assert abs(measured - REFERENCE[name][1]) <= 0.005 * REFERENCE[name][1]
    assert count_macs(PRESETS[name]) == pytest.approx(REFERENCE[name][1], rel=0.005)
    if name in PLAIN_FVCORE_V1:
        plain = fvcore_macs(model, 256, with_attention_matmuls=False)
        assert plain == pytest.approx(PLAIN_FVCORE_V1[name], rel=0.005)


def test_unknown_preset_lists_available():
    with pytest.raises(
        ValueError,
        match=r"unknown preset 'mobilevitv2_300'; available: \[.*"
        r"mobilevitv2_100",
    ):
        get_preset("mobilevitv2_300")
