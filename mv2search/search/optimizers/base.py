"""The protocol every optimizer follows, its config schema, and shared candidate filters.

An optimizer sees only tensors in the space's encoded coordinates (`SearchSpace.bounds`, `snap`):

    propose(X: n x d, Y: n x m, pending: p x d, n) -> n x d

`Y` is in BoTorch's maximisation convention (`Objectives.to_max`); a row with a NaN is a failed
evaluation (kept for de-duplication, never modelled). `pending` are running evaluations: nothing
already in `X` or `pending` is proposed again. With an `is_feasible(x) -> bool` filter (an exact
budget, checked before evaluation) only feasible candidates are proposed.

The optimizers themselves are named in `mv2search.search.optimizers.OPTIMIZERS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from omegaconf import MISSING

__all__ = ["FeasibilityFilter", "Optimizer", "OptimizerConfig"]

# Encoded candidate `d` -> whether it satisfies the exact constraints (budgets).
FeasibilityFilter = Callable[[torch.Tensor], bool]


@runtime_checkable
class Optimizer(Protocol):
    """Proposes the next candidates of a study from its history (encoded coordinates).

    An implementation is built as `cls(space, objectives, seed, *, is_feasible, **settings)`,
    where `settings` are the fields of its `Config` (an `OptimizerConfig`) beyond the shared
    ones: `options`, an instance of its `Options` dataclass, and any other (`n_initial`).
    """

    Config: type[OptimizerConfig]
    Options: type

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


@dataclass
class OptimizerConfig:
    """Group `optimizer`: which optimizer proposes, and how long the study runs.

    Each optimizer's `Config` extends this with its own settings (at least `options`, typed by
    its `Options` dataclass), so a misspelled or inapplicable key fails when the config is
    composed. Those extra fields are the optimizer's keyword arguments.
    """

    name: str = MISSING  # a key of `mv2search.search.optimizers.OPTIMIZERS`
    n_trials: int = 20  # finished trials (complete or failed) the study stops at

    def settings(self) -> dict[str, Any]:
        """The optimizer's own settings: every field but `name` and `n_trials`."""
        shared = {f.name for f in dataclasses.fields(OptimizerConfig)}
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in shared
        }


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
