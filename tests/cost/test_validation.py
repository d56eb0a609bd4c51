import json

import pytest

from mv2search.arch import ArchSpec
from mv2search.cost.device import DeviceProfile
from mv2search.cost.predictor import LatencyPredictor
from mv2search.cost.store import LatencyStore
from mv2search.cost.validation import prediction_report, validate_predictor


def test_metrics_on_known_numbers(tmp_path):
    report = prediction_report([10, 20, 30, 40], [11, 20, 24, 44])
    assert report.mape == pytest.approx((0.1 + 0 + 0.2 + 0.1) / 4)
    assert report.within_10pct == pytest.approx(0.75)  # 10 % exactly counts as within
    assert report.kendall_tau == pytest.approx(1.0)
    assert prediction_report([1, 2, 3], [3, 2, 1]).kendall_tau == pytest.approx(-1.0)
    report.write(tmp_path / "r.json", tmp_path / "r.png")
    assert json.loads((tmp_path / "r.json").read_text())["within_10pct"] == 0.75
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="equal length"):
        prediction_report([1, 2], [1])


def test_validate_predictor_end_to_end(tmp_path):
    profile = DeviceProfile(name="fast", warmup=2, iters=6, max_warmup_s=1.0)
    predictor = LatencyPredictor(profile, LatencyStore(tmp_path / "latency.sqlite"))
    base = ArchSpec(width_multiplier=0.25, image_size=64, num_classes=10)
    calibration = [base.replace(image_size=s) for s in (64, 96, 128)]
    validation = [base.replace(image_size=s, width_multiplier=0.5) for s in (80, 112, 160)]
    report = validate_predictor(predictor, calibration, validation, rounds=2)
    assert len(report.measured_ms) == 3 and report.meta["n_calibration"] == 3
    assert report.kendall_tau > 0  # bigger inputs: slower, measured and predicted
