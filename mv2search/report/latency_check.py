"""The latency predictor's check on the front (`runs/<study>/latency_check.json`, written by
`mv2search.search.latency_check` when a predicted-latency search finishes), as the report reads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mv2search.cost.validation import PredictionReport, prediction_report

__all__ = ["CHECK_FILE", "latency_report", "read_latency_check"]

CHECK_FILE = "latency_check.json"


def read_latency_check(folder: Path) -> PredictionReport | None:
    """The check a finished search left in `folder`, or None (none yet, or under two points)."""
    path = Path(folder) / CHECK_FILE
    if not path.is_file():
        return None
    return latency_report(json.loads(path.read_text()))


def latency_report(check: dict[str, Any]) -> PredictionReport | None:
    """The metrics of a `latency_check.json` content (None under two points)."""
    points = check["points"]
    if len(points) < 2:
        return None
    title = f"latency predictor on the front, {check['device']}"
    return prediction_report(
        [p["measured_ms"] for p in points],
        [p["predicted_ms"] for p in points],
        {"title": title, "trials": [p["trial"] for p in points]},
    )
