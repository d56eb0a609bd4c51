"""`runs/<study>/latency_check.json`: the predictor's error on the front, for the report."""

import json

import pytest

from mv2search.report.latency_check import CHECK_FILE, read_latency_check


def _write(folder, measured, predicted):
    points = [
        {"trial": i, "signature": f"s{i}", "measured_ms": m, "predicted_ms": p}
        for i, (m, p) in enumerate(zip(measured, predicted, strict=True))
    ]
    (folder / CHECK_FILE).write_text(json.dumps({"device": "cpu_eager_1t", "points": points}))


def test_metrics_of_a_known_check(tmp_path):
    # relative errors 0.1, 0.25, 0 -> MAPE 0.1167; 2 of 3 within +-10 %; predicted order swaps
    # the first two networks: 2 of 3 pairs concordant -> tau = (2 - 1) / 3
    _write(tmp_path, [10.0, 12.0, 40.0], [11.0, 9.0, 40.0])
    report = read_latency_check(tmp_path)
    assert report.mape == pytest.approx((0.1 + 0.25 + 0.0) / 3)
    assert report.within_10pct == pytest.approx(2 / 3)
    assert report.kendall_tau == pytest.approx(1 / 3)
    assert report.meta["trials"] == [0, 1, 2]


def test_no_check_or_a_single_point_gives_none(tmp_path):
    assert read_latency_check(tmp_path) is None
    _write(tmp_path, [10.0], [11.0])
    assert read_latency_check(tmp_path) is None
