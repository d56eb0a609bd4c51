"""What a search leaves in `runs/<study>/`, rebuilt from the study store after every trial.

- `trials.csv`: one row per trial (`trial_rows`: number, state, signature, metrics, the spec's
  factors, whether it is on the front, wall time, reason). The W&B table and the report's tables
  have the same columns.
- `hypervolume.json`: the reference point and the hypervolume after every trial, in trial-number
  order (a failed trial repeats the previous value).
- `pareto.json` and `pareto/<rank>-<signature>.yaml`: the feasible Pareto front (COMPLETE trials
  not dominated by another), one spec file per point that `python train.py arch=<file>` trains.
  Files of points that have left the front are removed.

Everything here is derived from the store, so it can be rewritten at any time, by any worker.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from mv2search.arch.spec import ArchSpec
from mv2search.files import atomic_writer, write_json
from mv2search.search.objectives import Objectives

__all__ = [
    "Front",
    "front_of",
    "hypervolume_trace",
    "spec_cells",
    "summary_table",
    "trial_rows",
    "write_outputs",
]

_METRICS = ("accuracy", "latency_ms", "gmacs", "mparams")


@dataclass(frozen=True)
class Front:
    """The feasible Pareto front of a study: its trial records, best first by the 1st objective."""

    records: list[dict[str, Any]]
    hypervolume: float
    # hypervolume after every finished trial (`hypervolume_trace`; filled by `write_outputs`)
    trace: list[float] = field(default_factory=list)


def _complete(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["state"] == "COMPLETE" and r["values"] is not None]


def front_of(records: list[dict[str, Any]], objectives: Objectives) -> Front:
    """The non-dominated COMPLETE trials and their hypervolume.

    Args:
        records: `StudyStore.records()`.
        objectives: The study's objectives (values are in their order and units).

    Returns:
        The front, sorted by the first objective, best first.
    """
    done = _complete(records)
    if not done:
        return Front([], 0.0)
    Y = torch.tensor([r["values"] for r in done], dtype=torch.float64)
    mask = objectives.pareto_mask(Y).tolist()
    front = [r for r, keep in zip(done, mask, strict=True) if keep]
    first = objectives.objectives[0]
    front.sort(key=lambda r: -first.sign * r["values"][0])
    return Front(front, objectives.hypervolume(Y))


def hypervolume_trace(records: list[dict[str, Any]], objectives: Objectives) -> list[float]:
    """Hypervolume of the COMPLETE trials among the first k trials, for every k (number order)."""
    trace, rows = [], []
    for record in sorted(records, key=lambda r: r["number"]):
        if record["state"] == "RUNNING":
            continue
        if record["state"] == "COMPLETE" and record["values"] is not None:
            rows.append(record["values"])
            Y = torch.tensor(rows, dtype=torch.float64)
            trace.append(objectives.hypervolume(Y))
        else:
            trace.append(trace[-1] if trace else 0.0)
    return trace


def summary_table(front: Front, objectives: Objectives) -> str:
    """A plain-text table of the front: trial, factors, exact cost and the objectives."""
    factors = ["width", "res", "ir_depths", "attn", "types"]
    header = ["trial", *factors, *_METRICS]
    rows = [header]
    for record in front.records:
        cells = spec_cells(record["spec"])
        metrics = record["metrics"] or {}
        rows.append(
            [str(record["number"]), f"{cells['width']:g}", str(cells["res"])]
            + [cells[k] or "-" for k in factors[2:]]
            + [_fmt(metrics.get(name)) for name in _METRICS]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    goals = ", ".join(f"{o.name} {o.direction}" for o in objectives.objectives)
    title = f"Pareto front: {len(front.records)} points ({goals}), hypervolume "
    return f"{title}{front.hypervolume:.4g}\n" + "\n".join(lines)


def spec_cells(spec: dict[str, Any] | None) -> dict[str, Any]:
    """A spec's factors as table cells: `width`, `res`, `ffn`, `ir_depths` ("13111": blocks per
    stage), `attn` ("240": attention layers in stages 3-5) and `types` (the attention type of
    each stage that has any, "sep/add/mha"); all None for a trial without a spec."""
    if not spec:
        return dict.fromkeys(("width", "res", "ffn", "ir_depths", "attn", "types"))
    pairs = zip(spec["attn_types"], spec["attn_blocks"], strict=True)
    return {
        "width": spec["width_multiplier"],
        "res": spec["image_size"],
        "ffn": spec.get("ffn_multiplier"),
        "ir_depths": "".join(str(v) for v in spec["ir_depths"]),
        "attn": "".join(str(v) for v in spec["attn_blocks"]),
        "types": "/".join(t[:3] for t, n in pairs if n),
    }


def trial_rows(
    records: list[dict[str, Any]], on_front: set[int] = frozenset()
) -> tuple[list[str], list[list[Any]]]:
    """Columns and one row per trial, shared by `trials.csv`, the W&B table and the report.

    Columns: trial, state, signature, the four metrics of `_METRICS` then any other metric
    (e.g. `train_s`), the `spec_cells` factors, on_front (trial number in `on_front`),
    wall_time_s, reason. Missing values are None.
    """
    extra = sorted({k for r in records for k in (r["metrics"] or {})} - set(_METRICS))
    metrics = [*_METRICS, *extra]
    factors = list(spec_cells(None))
    columns = ["trial", "state", "signature", *metrics, *factors]
    columns += ["on_front", "wall_time_s", "reason"]
    rows = []
    for r in records:
        values, cells = r["metrics"] or {}, spec_cells(r["spec"])
        rows.append(
            [r["number"], r["state"], r["signature"]]
            + [values.get(m) for m in metrics]
            + [cells[k] for k in factors]
            + [r["number"] in on_front, r["wall_time_s"], r["reason"] or ""]
        )
    return columns, rows


def write_outputs(out_dir: Path, records: list[dict[str, Any]], objectives: Objectives) -> Front:
    """Write `trials.csv`, `hypervolume.json`, `pareto.json` and `pareto/*.yaml` under `out_dir`.

    Args:
        out_dir: `runs/<study>/`.
        records: `StudyStore.records()`.
        objectives: The study's objectives.

    Returns:
        The front, with its hypervolume trace.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    front = replace(front_of(records, objectives), trace=hypervolume_trace(records, objectives))
    with atomic_writer(out_dir / "trials.csv") as handle:
        handle.write(_trials_csv(records, {r["number"] for r in front.records}).encode())
    write_json(
        out_dir / "hypervolume.json",
        {
            "objectives": [o.name for o in objectives.objectives],
            "directions": [o.direction for o in objectives.objectives],
            "reference_point": list(objectives.reference_point),
            "hypervolume": front.trace,
        },
    )
    _export_front(out_dir / "pareto", front)
    pareto = [{k: r[k] for k in ("number", "signature", "metrics", "spec")} for r in front.records]
    write_json(out_dir / "pareto.json", {"hypervolume": front.hypervolume, "points": pareto})
    return front


def _export_front(folder: Path, front: Front) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    keep = set()
    for rank, record in enumerate(front.records):
        spec = ArchSpec.from_dict(record["spec"])
        name = f"{rank:02d}-{record['signature'][:12]}.yaml"
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted((record["metrics"] or {}).items()))
        header = f"# Pareto point {rank} of the study, trial {record['number']}: {metrics}\n"
        header += f"# train it: python train.py arch={folder / name}\n"
        with atomic_writer(folder / name) as handle:
            handle.write((header + spec.to_yaml()).encode())
        keep.add(name)
    for stale in folder.glob("*.yaml"):
        if stale.name not in keep:
            stale.unlink()


def _trials_csv(records: list[dict[str, Any]], on_front: set[int]) -> str:
    columns, rows = trial_rows(records, on_front)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buffer.getvalue()


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4g}"
