"""What a search leaves in `runs/<study>/`, rebuilt from the study store after every trial.

- `trials.csv`: one row per trial (`mv2search.report.tables.trial_rows`: number, state,
  signature, metrics, the spec's factors, whether it is on the front, wall time, reason). The W&B
  table and the report's tables have the same columns.
- `hypervolume.json`: the reference point and the hypervolume after every trial, in trial-number
  order (a failed trial repeats the previous value).
- `pareto.json` and `pareto/<rank>-<signature>.yaml`: the feasible Pareto front (COMPLETE trials
  not dominated by another), one spec file per point that `python train.py arch=<file>` trains.
  Files of points that have left the front are removed.
- `rungs.json` (multi-fidelity studies): the front of every rung, for comparison. The front,
  the hypervolume trace and the Pareto files above are of the top rung only: one fidelity.

Everything here is derived from the store, so it can be rewritten at any time, by any worker.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

from mv2search.arch.spec import ArchSpec
from mv2search.files import atomic_writer, write_json
from mv2search.report.tables import trial_rows
from mv2search.study.front import Front, front_of, hypervolume_trace
from mv2search.study.objectives import Objectives
from mv2search.study.store import TrialRecord

__all__ = ["write_outputs"]


def write_outputs(
    out_dir: Path,
    records: list[TrialRecord],
    objectives: Objectives,
    rungs: tuple[int, ...] = (),
) -> Front:
    """Write `trials.csv`, `hypervolume.json`, `pareto.json` and `pareto/*.yaml` under `out_dir`
    (and `rungs.json` for a multi-fidelity study).

    Args:
        out_dir: `runs/<study>/`.
        records: `StudyStore.records()`.
        objectives: The study's objectives.
        rungs: The training steps of each rung of a multi-fidelity study (empty: one
            fidelity). The front and its trace are then of the top rung's trials.

    Returns:
        The front, with its hypervolume trace.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    top = [r for r in records if not rungs or r.rung == len(rungs) - 1]
    front = replace(front_of(top, objectives), trace=hypervolume_trace(top, objectives))
    with atomic_writer(out_dir / "trials.csv") as handle:
        handle.write(_trials_csv(records, {r.number for r in front.records}).encode())
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
    pareto = [
        {"number": r.number, "signature": r.signature, "metrics": dict(r.metrics), "spec": r.spec}
        for r in front.records
    ]
    write_json(out_dir / "pareto.json", {"hypervolume": front.hypervolume, "points": pareto})
    if rungs:
        write_json(out_dir / "rungs.json", rung_fronts(records, objectives, rungs))
    return front


def rung_fronts(
    records: list[TrialRecord], objectives: Objectives, rungs: tuple[int, ...]
) -> dict[str, object]:
    """Per rung: its steps, finished trials, front (trial numbers) and hypervolume."""
    out = []
    for k, steps in enumerate(rungs):
        at = [r for r in records if r.rung == k]
        front = front_of(at, objectives)
        out.append(
            {
                "rung": k,
                "steps": steps,
                "complete": sum(r.complete for r in at),
                "failed": sum(r.state == "FAIL" for r in at),
                "front": [r.number for r in front.records],
                "hypervolume": front.hypervolume,
            }
        )
    return {"top_rung": len(rungs) - 1, "rungs": out}


def _export_front(folder: Path, front: Front) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    keep = set()
    for rank, record in enumerate(front.records):
        spec = ArchSpec.from_dict(record.spec)
        name = f"{rank:02d}-{record.signature[:12]}.yaml"
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(record.metrics.items()))
        header = f"# Pareto point {rank} of the study, trial {record.number}: {metrics}\n"
        header += f"# train it: python train.py arch={folder / name}\n"
        with atomic_writer(folder / name) as handle:
            handle.write((header + spec.to_yaml()).encode())
        keep.add(name)
    for stale in folder.glob("*.yaml"):
        if stale.name not in keep:
            stale.unlink(missing_ok=True)  # another writer may have removed it


def _trials_csv(records: list[TrialRecord], on_front: set[int]) -> str:
    columns, rows = trial_rows(records, on_front)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buffer.getvalue()
