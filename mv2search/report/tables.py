"""A study's trials as table rows: one format for `trials.csv`, the W&B table, the report's
tables and the terminal summary.

Columns carry the spec's field names (`width_multiplier`, `image_size`, `ffn_multiplier`,
`ir_depths`, `attn_blocks`, `attn_types`) and the metric names of `METRICS`.
"""

from __future__ import annotations

import math
from typing import Any

from mv2search.study.front import Front
from mv2search.study.objectives import METRICS, Objectives
from mv2search.study.store import TrialRecord

__all__ = ["FACTOR_COLUMNS", "spec_cells", "summary_table", "trial_rows"]

FACTOR_COLUMNS = (
    "width_multiplier",
    "image_size",
    "ffn_multiplier",
    "ir_depths",
    "attn_blocks",
    "attn_types",
)


def spec_cells(spec: dict[str, Any] | None) -> dict[str, Any]:
    """A spec's factors as table cells, keyed by its field names: `width_multiplier`,
    `image_size`, `ffn_multiplier`, `ir_depths` ("13111": blocks per stage), `attn_blocks`
    ("240": attention layers in stages 3-5) and `attn_types` (the type of each stage that has
    attention, "sep/add/mha"); all None for a trial without a spec."""
    if not spec:
        return dict.fromkeys(FACTOR_COLUMNS)
    pairs = zip(spec["attn_types"], spec["attn_blocks"], strict=True)
    return {
        "width_multiplier": spec["width_multiplier"],
        "image_size": spec["image_size"],
        "ffn_multiplier": spec.get("ffn_multiplier"),
        "ir_depths": "".join(str(v) for v in spec["ir_depths"]),
        "attn_blocks": "".join(str(v) for v in spec["attn_blocks"]),
        "attn_types": "/".join(t[:3] for t, n in pairs if n),
    }


def trial_rows(
    records: list[TrialRecord], on_front: set[int] = frozenset()
) -> tuple[list[str], list[list[Any]]]:
    """Columns and one row per trial, shared by `trials.csv`, the W&B table and the report.

    Columns: trial, state, signature, the metrics of `METRICS` then any other metric (e.g.
    `train_s`), the `spec_cells` factors, on_front (trial number in `on_front`), wall_time_s,
    reason; in a multi-fidelity study (any trial with `steps`) also rung, steps and the learning
    curve (`"<step>:<top-1> ..."`, every evaluation of the run up to the rung). Missing values
    are None.
    """
    extra = sorted({k for r in records for k in r.metrics} - set(METRICS))
    metrics = [*METRICS, *extra]
    rungs = any(r.steps is not None for r in records)
    columns = ["trial", "state", "signature", *(["rung", "steps"] if rungs else [])]
    columns += [*metrics, *FACTOR_COLUMNS, "on_front", "wall_time_s", "reason"]
    columns += ["curve"] if rungs else []
    rows = []
    for r in records:
        cells = spec_cells(r.spec)
        rows.append(
            [r.number, r.state, r.signature]
            + ([r.rung, r.steps] if rungs else [])
            + [r.metrics.get(m) for m in metrics]
            + [cells[k] for k in FACTOR_COLUMNS]
            + [r.number in on_front, r.wall_time_s, r.reason or ""]
            + ([" ".join(f"{s:g}:{a:.4f}" for s, a in r.curve)] if rungs else [])
        )
    return columns, rows


def summary_table(front: Front, objectives: Objectives) -> str:
    """A plain-text table of the front: trial, factors, exact cost and the objectives."""
    factors = ["width_multiplier", "image_size", "ir_depths", "attn_blocks", "attn_types"]
    header = ["trial", *factors, *METRICS]
    rows = [header]
    for record in front.records:
        cells = spec_cells(record.spec)
        rows.append(
            [str(record.number), f"{cells['width_multiplier']:g}", str(cells["image_size"])]
            + [cells[k] or "-" for k in factors[2:]]
            + [_fmt(record.metrics.get(name)) for name in METRICS]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    goals = ", ".join(f"{o.name} {o.direction}" for o in objectives.objectives)
    title = f"Pareto front: {len(front.records)} points ({goals}), hypervolume "
    return f"{title}{front.hypervolume:.4g}\n" + "\n".join(lines)


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4g}"
