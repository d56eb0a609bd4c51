"""The fitting set of a large history: an exact GP on at most `size` of its observations.

An exact GP's fit costs `O(n^3)` per L-BFGS-B step and qLogNEHVI's value at a candidate
`O(b n^2)` (the joint posterior of the candidate and the `b` baseline points, against `n`
training points), so `BoTorchOptimizer`'s proposal grows from about 1 s at 100 observations to
15-33 s at 1,000 (mv2, two objectives, one thread; 40-47 s with three). Above
`BoTorchOptions.large_data_after` observations, `large_data="subset"` fits the same exact GP on
`size` of them: a local model where the acquisition's optima lie, in the spirit of TuRBO's and
MORBO's local models ([Eriksson2019]_, [Daulton2022]_), without their trust regions. In order:

1. every Pareto-optimal observation: qLogNEHVI's baseline, the incumbents it improves on (when
   there are more than `size`, a spread of them: greedy farthest points in the objectives
   scaled to `[0, 1]`);
2. the `size // 8` most recent other observations: the region the search works in now;
3. the rest nearest the front in the input space scaled to the unit cube (Euclidean distance
   to the nearest Pareto-optimal observation), up to `size`.

Why local only (`benchmarks/bench_large_gp.py`, mv2, two objectives, 50 proposals from 400
Sobol observations, `size` 300, 3 seeds; final HV minus the exact GP's, which ends at 1.167):
the front's neighbours -0.0034; a quarter of the subset a farthest-point spread of the rest
(meant to keep the regions seen to be poor) -0.0040; the next non-dominated layers instead of
the neighbours -0.0045; the front, the recent ones and a spread of the rest -0.0075.

No randomness: ties go to the earlier row, so the same history gives the same subset.

Multi-fidelity histories choose among specs (each at its highest rung) and keep every row of a
chosen spec; `size` counts what the model fits: specs (`highest_rung`) or rows
(`multi_fidelity`, every rung of a spec).

References:
    .. [Eriksson2019] D. Eriksson, M. Pearce, J. Gardner, R. Turner, M. Poloczek. Scalable
       Global Optimization via Local Bayesian Optimization. NeurIPS 2019. arXiv:1910.01739.
    .. [Daulton2022] S. Daulton, D. Eriksson, M. Balandat, E. Bakshy. Multi-Objective Bayesian
       Optimization over High-Dimensional Search Spaces. UAI 2022. arXiv:2109.10964.
"""

from __future__ import annotations

import torch
from botorch.utils.multi_objective.pareto import is_non_dominated

__all__ = ["LARGE_DATA", "subset_rows"]

LARGE_DATA = ("exact", "subset")  # `BoTorchOptions.large_data`
RECENT_SHARE = 1 / 8  # of `size`: the most recent observations


def subset_rows(
    X: torch.Tensor,
    Y: torch.Tensor,
    bounds: torch.Tensor,
    size: int,
    fidelity: torch.Tensor | None = None,
    all_rungs: bool = False,
) -> torch.Tensor:
    """The rows of a history that the GP is fitted on (module docstring).

    Args:
        X: `k x d` modelled rows (finite outcomes), in the order they were observed.
        Y: `k x m` their outcomes (maximisation convention).
        bounds: `2 x d` box of the encoded space (distances are taken in it scaled to `[0, 1]`).
        size: The most that the model fits: rows, or specs when `fidelity` is given and not
            `all_rungs`.
        fidelity: `k` rungs in `(0, 1]` (None: single fidelity, one row per spec).
        all_rungs: The model fits every rung's row of a spec (`multi_fidelity`).

    Returns:
        `j` row indices (long, ascending); `arange(k)` when the history fits in `size`.
    """
    k = X.shape[0]
    if fidelity is None:
        if k <= size:
            return torch.arange(k)
        return _ranked(_unit(X, bounds), Y, size).sort().values
    group, top = _specs(X, fidelity)
    weight = torch.bincount(group, minlength=top.shape[0]) if all_rungs else torch.ones_like(top)
    if int(weight.sum()) <= size:
        return torch.arange(k)
    unit, specs = _unit(X[top], bounds), size
    while True:  # fewer specs until their rows fit (at most a few rounds: weights are small)
        chosen = _ranked(unit, Y[top], specs)
        used = int(weight[chosen].sum())
        if used <= size or specs == 1:
            break
        specs = max(1, min(specs - 1, specs * size // used))
    return torch.isin(group, chosen).nonzero().flatten()


def _unit(X: torch.Tensor, bounds: torch.Tensor) -> torch.Tensor:
    """`X` (`k x d`) scaled to the unit cube of `bounds` (`2 x d`)."""
    bounds = bounds.to(X)
    return (X - bounds[0]) / (bounds[1] - bounds[0]).clamp_min(1e-12)


def _specs(X: torch.Tensor, fidelity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's spec and each spec's row at its highest rung (the latest among equals).

    Returns:
        `k` spec positions (into the second), and the specs' rows (`j`, ascending).
    """
    _, inverse = torch.unique(X, dim=0, return_inverse=True)
    best: dict[int, int] = {}
    s = fidelity.tolist()
    for i, g in enumerate(inverse.tolist()):
        if g not in best or s[i] >= s[best[g]]:
            best[g] = i
    top = sorted(best.values())
    rank = {i: p for p, i in enumerate(top)}
    position = {g: rank[i] for g, i in best.items()}
    group = torch.tensor([position[g] for g in inverse.tolist()], dtype=torch.long)
    return group, torch.tensor(top, dtype=torch.long)


def _ranked(unit: torch.Tensor, Y: torch.Tensor, size: int) -> torch.Tensor:
    """The first `size` rows of `unit` (`n x d`, outcomes `Y`) by the module's priority."""
    n = unit.shape[0]
    if n <= size:
        return torch.arange(n)
    front = is_non_dominated(Y, deduplicate=False).nonzero().flatten()
    if front.shape[0] >= size:
        low, high = Y[front].min(dim=0).values, Y[front].max(dim=0).values
        scaled = (Y[front] - low) / (high - low).clamp_min(1e-12)
        return front[_farthest(scaled, size)]
    taken = torch.zeros(n, dtype=torch.bool)
    taken[front] = True
    recent = min(int(size * RECENT_SHARE), size - front.shape[0])
    taken[(~taken).nonzero().flatten().flip(0)[:recent]] = True
    # the front's neighbours, nearest first (a stable sort: ties to the earlier row)
    distance = torch.cdist(unit, unit[front]).min(dim=-1).values.masked_fill(taken, torch.inf)
    neighbours = distance.argsort(stable=True)[: size - int(taken.sum())]
    return torch.cat([taken.nonzero().flatten(), neighbours])


def _farthest(points: torch.Tensor, count: int) -> torch.Tensor:
    """`count` indices of `points` (`n x d`): row 0, then each the farthest from those before.

    Greedy farthest-point (max-min distance) selection.
    """
    picks = [0]
    nearest = torch.cdist(points, points[:1]).flatten()
    nearest[0] = -1.0
    while len(picks) < min(count, points.shape[0]):
        i = int(nearest.argmax())
        picks.append(i)
        nearest = torch.minimum(nearest, torch.cdist(points, points[i : i + 1]).flatten())
        nearest[i] = -1.0
    return torch.tensor(picks, dtype=torch.long)
