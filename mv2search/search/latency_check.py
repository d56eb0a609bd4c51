"""The latency predictor checked where it matters: the front's networks measured whole.

With `evaluator.latency=predicted` the search ranks candidates by the block table's prediction.
When a worker finishes, it measures the front's networks on the device profile (cached in the
latency store, so a second worker reads them back) and writes `runs/<study>/latency_check.json`:
predicted vs measured per front point and, from two points on, the metrics of
`mv2search.cost.validation` (MAPE, share within +-10 %, Kendall tau). The report shows it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mv2search.arch.spec import ArchSpec
from mv2search.cost.validation import PredictionReport, prediction_report
from mv2search.files import write_json

__all__ = ["CHECK_FILE", "check_front_latency", "read_latency_check"]

CHECK_FILE = "latency_check.json"


def check_front_latency(
    evaluator: Any, front: list[dict[str, Any]], out_dir: Path
) -> PredictionReport | None:
    """Measure the front's networks and write `out_dir/latency_check.json`.

    Args:
        evaluator: The study's `Evaluator` (its device profile and latency store).
        front: The front's trial records (`Front.records`).
        out_dir: `runs/<study>/`.

    Returns:
        The report, or None when latency was not predicted or fewer than two points have it.
    """
    if evaluator.settings.latency != "predicted" or "latency_ms" not in evaluator.metrics:
        return None
    points = []
    for record in front:
        predicted = (record["metrics"] or {}).get("latency_ms")
        if predicted is None:
            continue
        spec = ArchSpec.from_dict(record["spec"])
        points.append(
            {
                "trial": record["number"],
                "signature": record["signature"],
                "predicted_ms": float(predicted),
                "measured_ms": evaluator.measured_latency_ms(spec),
            }
        )
    check: dict[str, Any] = {"device": evaluator.device.name, "points": points}
    report = _report(check)
    if report is not None:
        check.update(mape=report.mape, within_10pct=report.within_10pct)
        check["kendall_tau"] = report.kendall_tau
    write_json(out_dir / CHECK_FILE, check)
    return report


def read_latency_check(folder: Path) -> PredictionReport | None:
    """The check a finished search left in `folder`, or None (none yet, or under two points)."""
    path = Path(folder) / CHECK_FILE
    if not path.is_file():
        return None
    return _report(json.loads(path.read_text()))


def _report(check: dict[str, Any]) -> PredictionReport | None:
    points = check["points"]
    if len(points) < 2:
        return None
    title = f"latency predictor on the front, {check['device']}"
    return prediction_report(
        [p["measured_ms"] for p in points],
        [p["predicted_ms"] for p in points],
        {"title": title, "trials": [p["trial"] for p in points]},
    )
