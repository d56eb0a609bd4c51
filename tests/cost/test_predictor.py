import pytest
import torch

from mv2search.arch import ArchSpec
from mv2search.cost.device import DeviceProfile
from mv2search.cost.layout import layout
from mv2search.cost.predictor import OVERHEAD_KEY, LatencyPredictor, _module_for_key, block_counts
from mv2search.cost.store import LatencyStore

FAST = DeviceProfile(name="fast", warmup=2, iters=5, max_warmup_s=1.0)
SPECS = [
    ArchSpec(
        width_multiplier=0.25,
        image_size=64,
        num_classes=10,
        attn_types=("separable", "mha", "additive"),
        attn_blocks=(1, 2, 1),
    ),
    ArchSpec(
        width_multiplier=0.25,
        image_size=66,
        num_classes=10,
        block_style="v1",
        attn_types=("mha", "none", "separable"),
        attn_blocks=(2, 0, 1),
        head_conv_channels=64,
    ),
]


@pytest.fixture()
def predictor(tmp_path):
    return LatencyPredictor(FAST, LatencyStore(tmp_path / "latency.sqlite"))


def test_block_counts_follow_the_layout():
    spec = SPECS[0]
    counts = block_counts(spec)
    layers = [k for k in counts if k.startswith("layer|")]
    assert sorted(counts[k] for k in layers) == [1, 1, 2]  # one entry per layer, times depth
    assert sum(counts.values()) == len(layout(spec)) + sum(spec.attn_blocks)


def test_every_key_rebuilds_a_module_that_runs():
    keys = set().union(*(block_counts(s) for s in SPECS)) | {OVERHEAD_KEY}
    for key in keys:
        module, example = _module_for_key(key, batch=1)
        with torch.inference_mode():
            module.eval()(example)


def test_lazy_lut_prediction_and_calibration(predictor):
    with pytest.raises(ValueError, match="lookup table lacks .* run `mv2search build-lut"):
        predictor.raw_us(SPECS[0])
    measured = predictor.measure_blocks(SPECS, progress=False)
    assert measured == len(predictor.missing([])) + len(set().union(*map(block_counts, SPECS))) + 1
    assert predictor.measure_blocks(SPECS, progress=False) == 0  # nothing measured twice
    lut, overhead = predictor.lut, predictor.lut[OVERHEAD_KEY]
    expected = sum(n * max(lut[k] - overhead, 0) for k, n in block_counts(SPECS[0]).items())
    assert predictor.raw_us(SPECS[0]) == pytest.approx(expected)
    # uncalibrated: the identity; a synthetic linear truth is recovered exactly
    assert predictor.predict_us(SPECS[0]) == pytest.approx(expected)
    raw = [predictor.raw_us(s) for s in SPECS]
    params = predictor.calibrate(SPECS, [(2 * r + 500) / 1e3 for r in raw])
    assert params["slope"] == pytest.approx(2) and params["intercept"] == pytest.approx(500)
    reloaded = LatencyPredictor(FAST, predictor.store)  # persisted: a new process sees it
    assert reloaded.predict_us(SPECS[1]) == pytest.approx(2 * raw[1] + 500)


def test_prediction_tracks_measured_latency(predictor):
    # a much bigger network must be predicted slower
    small, big = SPECS[0], SPECS[0].replace(width_multiplier=1.0, image_size=128)
    predictor.measure_blocks([small, big], progress=False)
    assert predictor.raw_us(big) > 3 * predictor.raw_us(small)
