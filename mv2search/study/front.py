"""The feasible Pareto front of a study and its hypervolume after every trial, from its records.

Everything here is derived from `StudyStore.records()`, so it can be recomputed at any time, by
any worker or reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from mv2search.study.objectives import Objectives
from mv2search.study.store import TrialRecord

__all__ = ["Front", "front_of", "hypervolume_trace"]


@dataclass(frozen=True)
class Front:
    """The feasible Pareto front of a study: its trial records, best first by the 1st objective."""

    records: list[TrialRecord]
    hypervolume: float
    # hypervolume after every finished trial (`hypervolume_trace`; filled by `write_outputs`)
    trace: list[float] = field(default_factory=list)


def front_of(records: list[TrialRecord], objectives: Objectives) -> Front:
    """The non-dominated COMPLETE trials and their hypervolume.

    Args:
        records: `StudyStore.records()`.
        objectives: The study's objectives (values are in their order and units).

    Returns:
        The front, sorted by the first objective, best first.
    """
    done = [r for r in records if r.complete]
    if not done:
        return Front([], 0.0)
    Y = torch.tensor([r.values for r in done], dtype=torch.float64)
    mask = objectives.pareto_mask(Y).tolist()
    front = [r for r, keep in zip(done, mask, strict=True) if keep]
    first = objectives.objectives[0]
    front.sort(key=lambda r: -first.sign * r.values[0])
    return Front(front, objectives.hypervolume(Y))


def hypervolume_trace(records: list[TrialRecord], objectives: Objectives) -> list[float]:
    """Hypervolume of the COMPLETE trials among the first k trials, for every k (number order)."""
    trace, rows = [], []
    for record in sorted(records, key=lambda r: r.number):
        if record.state == "RUNNING":
            continue
        if record.complete:
            rows.append(record.values)
            Y = torch.tensor(rows, dtype=torch.float64)
            trace.append(objectives.hypervolume(Y))
        else:
            trace.append(trace[-1] if trace else 0.0)
    return trace
