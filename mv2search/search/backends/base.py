"""The proposer protocol shared by every optimiser backend, and shared candidate filters.

A proposer sees only tensors in the space's encoded coordinates (`SearchSpace.bounds`, `snap`):

    propose(X: n x d, Y: n x m, pending: p x d, n) -> n x d

`Y` is in BoTorch's maximisation convention (`Objectives.to_max`); a row with a NaN is a failed
evaluation (kept for de-duplication, never modelled). `pending` are running evaluations: nothing
already in `X` or `pending` is proposed again. With an `is_feasible(x) -> bool` filter (an exact
budget, checked before evaluation) only feasible candidates are proposed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["BACKENDS", "FeasibilityFilter", "Proposer", "make_proposer"]

BACKENDS = ("botorch", "random", "tpe", "nsga2", "optuna_gp")
# Encoded candidate `d` -> whether it satisfies the exact constraints (budgets).
FeasibilityFilter = Callable[[torch.Tensor], bool]


@runtime_checkable
class Proposer(Protocol):
    """Proposes the next candidates of a study from its history (encoded coordinates)."""

    def propose(
        self, X: torch.Tensor, Y: torch.Tensor, pending: torch.Tensor, n: int
    ) -> torch.Tensor:
        """Next `n` candidates.

        Args:
            X: `k x d` evaluated candidates (encoded, on the grid).
            Y: `k x m` their objectives in the maximisation convention; NaN rows are failures.
            pending: `p x d` candidates being evaluated now.
            n: Number of candidates wanted.

        Returns:
            `n x d` float64 candidates on the grid, feasible, distinct from each other, `X` and
            `pending` (fewer rows only when the space has no more such points to offer).
        """
        ...


def make_proposer(
    name: str, space: Any, objectives: Any, seed: int = 0, **options: Any
) -> Proposer:
    """Build a backend by name.

    Args:
        name: One of `BACKENDS`: `botorch` (qLogNEHVI, ours), `random`, `tpe`, `nsga2`,
            `optuna_gp` (Optuna's RandomSampler, TPESampler, NSGAIISampler, GPSampler).
        space: The search space (`SearchSpace` or any object with `dim`, `bounds`, `snap`,
            `sample_encoded` and `parameters`).
        objectives: The study's `Objectives`.
        seed: The same seed and history give the same proposals.
        **options: Backend options (e.g. `is_feasible`, `n_initial`).

    Returns:
        The proposer.

    Raises:
        ValueError: for an unknown name (listing `BACKENDS`).
    """
    if name == "botorch":
        from mv2search.search.backends.botorch import BoTorchProposer

        return BoTorchProposer(space, objectives, seed=seed, **options)
    if name in ("random", "tpe", "nsga2", "optuna_gp"):
        from mv2search.search.backends.optuna_baselines import OptunaProposer

        return OptunaProposer(space, objectives, sampler=name, seed=seed, **options)
    raise ValueError(f"unknown optimiser backend {name!r}; allowed: {list(BACKENDS)}")


def row_keys(x: torch.Tensor) -> set[tuple[float, ...]]:
    """Hashable keys of the rows of `x` (`k x d`), rounded to absorb float noise."""
    return {_key(row) for row in x.reshape(-1, x.shape[-1]).tolist()} if x.numel() else set()


def _key(row: Any) -> tuple[float, ...]:
    return tuple(round(float(v), 9) for v in row)


def select_new(
    candidates: torch.Tensor,
    seen: set[tuple[float, ...]],
    n: int,
    is_feasible: FeasibilityFilter | None,
) -> torch.Tensor:
    """The first `n` rows of snapped `candidates` that are feasible and not in `seen`.

    Args:
        candidates: `k x d` snapped candidates, in order of preference.
        seen: Keys of rows already evaluated, pending or chosen; updated with the chosen rows.
        n: Number wanted.
        is_feasible: Optional filter.

    Returns:
        `j x d` float64 rows, `j <= n`.
    """
    chosen = []
    for row in candidates:
        if len(chosen) == n:
            break
        key = _key(row.tolist())
        if key in seen or (is_feasible is not None and not is_feasible(row)):
            continue
        seen.add(key)
        chosen.append(row)
    d = candidates.shape[-1]
    return torch.stack(chosen).double() if chosen else torch.empty(0, d, dtype=torch.float64)


def fill_from_pool(
    space: Any,
    chosen: torch.Tensor,
    seen: set[tuple[float, ...]],
    n: int,
    seed: int,
    is_feasible: FeasibilityFilter | None,
) -> torch.Tensor:
    """Top `chosen` up to `n` rows with feasible, unseen scrambled-Sobol points of the space."""
    pool_size = 256
    while chosen.shape[0] < n and pool_size <= 2**14:
        pool = space.sample_encoded(pool_size, seed=seed)
        extra = select_new(pool, seen, n - chosen.shape[0], is_feasible)
        chosen = torch.cat([chosen, extra])
        pool_size *= 4
    return chosen
