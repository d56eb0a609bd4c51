"""The latency predictor checked where it matters: the front's networks measured whole.

With `evaluator.latency=predicted` the search ranks candidates by the block table's prediction.
When a worker finishes, it measures the front's networks on the device profile (cached in the
latency store, so a second worker reads them back) and writes `runs/<study>/latency_check.json`:
predicted vs measured per front point and, from two points on, the metrics of
`mv2search.cost.validation` (MAPE, share within +-10 %, Kendall tau). The report shows it
(`mv2search.report.latency_check`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mv2search.arch.spec import ArchSpec
from mv2search.cost.validation import PredictionReport
from mv2search.files import write_json
from mv2search.report.latency_check import CHECK_FILE, latency_report
from mv2search.study.store import TrialRecord

__all__ = ["check_front_latency"]


def check_front_latency(
    evaluator: Any, front: list[TrialRecord], out_dir: Path
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
        predicted = record.metrics.get("latency_ms")
        if predicted is None:
            continue
        spec = ArchSpec.from_dict(record.spec)
        points.append(
            {
                "trial": record.number,
                "signature": record.signature,
                "predicted_ms": float(predicted),
                "measured_ms": evaluator.measured_latency_ms(spec),
            }
        )
    check: dict[str, Any] = {"device": evaluator.device.name, "points": points}
    report = latency_report(check)
    if report is not None:
        check.update(mape=report.mape, within_10pct=report.within_10pct)
        check["kendall_tau"] = report.kendall_tau
    write_json(out_dir / CHECK_FILE, check)
    return report
