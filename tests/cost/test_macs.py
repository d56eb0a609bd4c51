import pytest

from mv2search.arch import PRESETS, build_model
from mv2search.cost import count_macs, fvcore_macs
from mv2search.testing import random_spec


@pytest.mark.parametrize("seed", range(100))
def test_count_macs_matches_fvcore(seed):
    spec = random_spec(seed, max_image_size=192)
    assert count_macs(spec) == pytest.approx(
        fvcore_macs(build_model(spec), spec.image_size), rel=0.005
    )


def test_convention_and_scaling_facts():
    spec = PRESETS["mobilevitv2_100"]
    # conv+linear MACs of the reference (architecture.md 2.1) lie below our fvcore-convention total
    assert 1_812_090_880 < count_macs(spec) < 1.02 * 1_812_090_880
    # method.md 7: without resizing, MACs scale exactly with r^2, all but the classifier's 512 x
    # 1000
    head = 512 * 1000
    assert count_macs(spec.replace(image_size=512)) - head == 4 * (count_macs(spec) - head)
    # mha is quadratic in tokens: its extra MACs grow faster than r^2
    mha = spec.replace(attn_types=("mha",) * 3)
    assert count_macs(mha.replace(image_size=512)) > 4 * count_macs(mha)


def test_attention_layer_cost_of_method_md():
    # method.md 7: one attention layer costs about 118 M (stage 3), 66 M (stage 4), 29 M (stage 5)
    base = PRESETS["mobilevitv2_100"]
    for stage, expected in enumerate((118e6, 66e6, 29e6)):
        blocks = list(base.attn_blocks)
        blocks[stage] += 1
        extra = count_macs(base.replace(attn_blocks=tuple(blocks))) - count_macs(base)
        assert extra == pytest.approx(expected, rel=0.03)
