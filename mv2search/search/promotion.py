"""Asynchronous multi-objective successive halving: which finished rungs earn the next one.

A multi-fidelity study trains every new candidate to rung 0; rung `k + 1` continues the run of
rung `k` (its checkpoint) to more steps. A spec that finished rung `k` below the top is
promotable when it is in the top `floor(n_k / eta)` of the `n_k` specs that finished rung `k`,
in this order (the same in every worker):

1. non-dominated rank (the Pareto layer, 0 first) over its objectives at rung `k`: accuracy at
   the rung and the cost objectives (exact, or measured once), in the maximisation convention;
2. within a layer, exclusive hypervolume contribution to the layer, larger first (the points
   that the front would miss most);
3. then the trial number, earlier first.

Asynchronous, as in ASHA (Li et al., 2020): a decision uses the rung's finished trials at the
moment and never waits for a rung to fill, so a worker is never idle while anything is
promotable or the study still takes new candidates. Early in a study `floor(n_k / eta)` is 0
and nothing is promoted; as the rung fills, the quota grows and specs that were not in the top
can become so. A promotion is never undone. Promotions of a higher rung come first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.pareto import is_non_dominated

__all__ = ["Promotion", "RungEntry", "promotable", "rank_rung"]


@dataclass(frozen=True)
class RungEntry:
    """A spec that finished a rung: its objectives there (maximisation convention)."""

    signature: str
    rung: int
    values: tuple[float, ...]
    number: int  # the trial number (the last tie-break)


@dataclass(frozen=True)
class Promotion:
    """A spec to train on to `rung` (from the trial `number` of the rung below)."""

    signature: str
    rung: int
    number: int


def rank_rung(entries: list[RungEntry], reference_point: list[float]) -> list[RungEntry]:
    """The entries of one rung in promotion order (module docstring).

    Args:
        entries: The specs that finished the rung.
        reference_point: The hypervolume reference point (maximisation convention, `m`).

    Returns:
        The same entries, best first.
    """
    if not entries:
        return []
    Y = torch.tensor([e.values for e in entries], dtype=torch.float64)
    ref = torch.tensor(reference_point, dtype=torch.float64)
    layer = torch.full((len(entries),), -1, dtype=torch.long)
    contribution = torch.zeros(len(entries), dtype=torch.float64)
    left = torch.arange(len(entries))
    k = 0
    while left.numel():
        front = is_non_dominated(Y[left], deduplicate=False)
        members = left[front]
        layer[members] = k
        contribution[members] = _exclusive_hv(Y[members], ref)
        left = left[~front]
        k += 1
    order = sorted(
        range(len(entries)),
        key=lambda i: (int(layer[i]), -float(contribution[i]), entries[i].number),
    )
    return [entries[i] for i in order]


def promotable(
    entries: list[RungEntry],
    eta: int,
    top_rung: int,
    taken: frozenset[tuple[str, int]] | set[tuple[str, int]],
    reference_point: list[float],
) -> list[Promotion]:
    """Every promotion due now, the highest rung first.

    Args:
        entries: Every spec's finished (COMPLETE) rungs.
        eta: The halving rate: the top `floor(n_k / eta)` of rung `k` go on.
        top_rung: The index of the last rung (nothing is promoted from it).
        taken: `(signature, rung)` that already have a trial (running, finished or failed with
            a reason): not promoted again.
        reference_point: The hypervolume reference point (maximisation convention).

    Returns:
        The promotions, highest target rung first, then in rank order.
    """
    if eta < 2:
        raise ValueError(f"fidelity.eta: expected an integer >= 2, got {eta}")
    due: list[Promotion] = []
    for rung in range(top_rung - 1, -1, -1):
        at_rung = [e for e in entries if e.rung == rung]
        quota = len(at_rung) // eta
        for entry in rank_rung(at_rung, reference_point)[:quota]:
            if (entry.signature, rung + 1) not in taken:
                due.append(Promotion(entry.signature, rung + 1, entry.number))
    return due


def _exclusive_hv(Y: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Each point's exclusive hypervolume contribution to the mutually non-dominated `Y`."""
    inside = (Y > ref).all(dim=-1)
    out = torch.zeros(Y.shape[0], dtype=torch.float64)
    if Y.shape[-1] == 1:
        # one objective: a layer holds equal values, nothing to break the tie by
        return out
    points = Y[inside]
    if points.shape[0] == 0:
        return out
    hv = Hypervolume(ref)
    total = hv.compute(points)
    idx = torch.nonzero(inside).flatten()
    for j, i in enumerate(idx.tolist()):
        rest = torch.cat([points[:j], points[j + 1 :]])
        out[i] = total - (hv.compute(rest) if rest.shape[0] else 0.0)
    return out
