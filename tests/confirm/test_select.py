"""`mv2search.confirm.select`: the top K of a front and the nearest presets by log MACs."""

import math

import pytest

from mv2search.arch import PRESETS
from mv2search.confirm.select import nearest_preset, nearest_presets, top_k
from mv2search.cost import count_macs
from mv2search.study.store import TrialRecord


def _record(number, accuracy, **changes):
    spec = PRESETS["mobilevitv2_050"].replace(num_classes=10, name="", **changes)
    fields = dict.fromkeys(TrialRecord.__dataclass_fields__)
    fields.update(number=number, state="COMPLETE", signature=spec.signature, values=(accuracy,))
    return TrialRecord(**{**fields, "metrics": {"accuracy": accuracy}, "spec": spec.to_dict()})


FRONT = [
    _record(4, 0.5, image_size=160, ffn_multiplier=1.5),
    _record(2, 0.7, image_size=224, attn_blocks=(2, 0, 0), attn_types=("mha", "none", "none")),
    _record(7, 0.6, image_size=128, ir_depths=(1, 1, 1, 1, 1)),
    _record(1, 0.6, image_size=192, ffn_multiplier=3.0),
]


def test_top_k_is_by_proxy_accuracy_then_trial_number():
    chosen = top_k(FRONT, 3)
    assert [c.name for c in chosen] == ["trial_2", "trial_1", "trial_7"]
    assert [c.proxy_accuracy for c in chosen] == [0.7, 0.6, 0.6]
    assert {c.kind for c in chosen} == {"found"}
    assert len(top_k(FRONT, 10)) == 4  # all of a smaller front
    with pytest.raises(ValueError, match="top_k: 0; allowed: an integer >= 1"):
        top_k(FRONT, 0)


def test_nearest_preset_minimises_the_log_macs_distance_at_the_same_resolution():
    for config in top_k(FRONT, 4):
        preset = nearest_preset(config.spec)
        assert preset.image_size == config.spec.image_size and preset.num_classes == 10
        target = math.log(count_macs(config.spec))
        distances = {
            name: abs(
                math.log(count_macs(p.replace(image_size=preset.image_size, num_classes=10)))
                - target
            )
            for name, p in PRESETS.items()
        }
        assert distances[preset.name] == min(distances.values())


def test_presets_are_deduplicated_and_paired():
    found = top_k(FRONT, 4)
    presets, pairs = nearest_presets(found + found[:1])
    names = [p.name for p in presets]
    assert len(names) == len(set(names)) and {p.kind for p in presets} == {"preset"}
    assert [f for f, _ in pairs] == [c.name for c in found + found[:1]]
    assert {p for _, p in pairs} == set(names)
    # a found config equal to a preset is not set against itself
    same = top_k([_record(9, 0.5, image_size=256)], 1)
    assert nearest_presets(same) == ([], [])
