"""The protocol every optimizer follows, its config schema, and shared candidate filters.

An optimizer sees only tensors in the space's encoded coordinates (`SearchSpace.bounds`, `snap`):

    propose(X: k x d, Y: k x m, pending: p x d, n, fidelity: k | None = None) -> n x d

`Y` is in BoTorch's maximisation convention (`Objectives.to_max`); a row with a NaN is a failed
evaluation (kept for de-duplication, never modelled). `pending` are running evaluations: nothing
already in `X` or `pending` is proposed again. With an `is_feasible(x) -> bool` filter (an exact
budget, checked before evaluation) only feasible candidates are proposed.

Multi-fidelity histories (successive halving, fidelity.md 2): `fidelity` gives the rung of each
row as a fraction of the top rung's training steps, in `(0, 1]` (1 = the top rung); None means
every row is at the top rung. A spec then appears once per rung it finished, and only its
rung-dependent objectives (accuracy) differ between those rows; its exact costs do not. Nothing
in `X`, at any rung, is proposed again: promotion is the runner's business. An optimizer that
does not model fidelity (the Optuna baselines) sees `highest_rung(X, Y, fidelity)`: one row per
spec, at the highest rung it finished.

Exact constraints come in two forms, next to each other in every optimizer's constructor:

- `is_feasible(x: d) -> bool`, the filter;
- `constraint(x: d) -> c` values, Optuna's convention: feasible iff every value is `<= 0`
  (for a budget, its slack `metric(spec) - max_value`, in the metric's units: `budget_slack`).

Either derives the other where the other is missing (`feasibility_filter`,
`indicator_constraint`): the filter is `all(constraint(x) <= 0)`, and a filter alone becomes the
one-value constraint `0` (feasible) or `1` (infeasible), which says where the feasible set is
but not how far a point is from it. With both, the filter decides and the values must agree
with it.

The optimizers themselves are named in `mv2search.search.optimizers.OPTIMIZERS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from omegaconf import MISSING

from mv2search.study.objectives import exact_metrics

__all__ = [
    "ConstraintFunction",
    "FeasibilityFilter",
    "Optimizer",
    "OptimizerConfig",
    "budget_slack",
    "check_fidelity",
    "feasibility_filter",
    "highest_rung",
    "indicator_constraint",
]

# Encoded candidate `d` -> whether it satisfies the exact constraints (budgets).
FeasibilityFilter = Callable[[torch.Tensor], bool]
# Encoded candidate `d` -> `c` float64 constraint values, feasible iff all are <= 0.
ConstraintFunction = Callable[[torch.Tensor], torch.Tensor]


@runtime_checkable
class Optimizer(Protocol):
    """Proposes the next candidates of a study from its history (encoded coordinates).

    An implementation is built as
    `cls(space, objectives, seed, *, is_feasible, constraint, **settings)`, where `is_feasible`
    and `constraint` (both optional) are the exact constraints (module docstring) and
    `settings` are the fields of its `Config` (an `OptimizerConfig`) beyond the shared ones:
    `options`, an instance of its `Options` dataclass, and any other (`n_initial`).
    """

    Config: type[OptimizerConfig]
    Options: type

    def propose(
        self,
        X: torch.Tensor,
        Y: torch.Tensor,
        pending: torch.Tensor,
        n: int,
        fidelity: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Next `n` candidates.

        Args:
            X: `k x d` evaluated candidates (encoded, on the grid); a spec evaluated at several
                rungs appears once per rung.
            Y: `k x m` their objectives in the maximisation convention; NaN rows are failures.
            pending: `p x d` candidates being evaluated now.
            n: Number of candidates wanted.
            fidelity: `k` rung of each row as a fraction of the top rung's steps, in `(0, 1]`
                (None: every row at the top rung).

        Returns:
            `n x d` float64 candidates on the grid, feasible, distinct from each other, `X` (at
            any rung) and `pending` (fewer rows only when the space has no more such points to
            offer).

        Raises:
            ValueError: for a `fidelity` of the wrong shape or outside `(0, 1]`.
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


def feasibility_filter(
    is_feasible: FeasibilityFilter | None, constraint: ConstraintFunction | None
) -> FeasibilityFilter | None:
    """The filter of an optimizer given either form of the exact constraints.

    Args:
        is_feasible: The filter, when given (it decides).
        constraint: Constraint values (`c`, feasible iff all `<= 0`), used when there is no
            filter.

    Returns:
        `is_feasible`, else `x -> all(constraint(x) <= 0)`, else None (unconstrained).
    """
    if is_feasible is not None or constraint is None:
        return is_feasible

    def from_values(x: torch.Tensor) -> bool:
        return bool((constraint(x) <= 0).all())

    return from_values


def indicator_constraint(is_feasible: FeasibilityFilter) -> ConstraintFunction:
    """The one-value constraint of a filter: `[0.0]` where feasible, `[1.0]` where not.

    Args:
        is_feasible: The filter.

    Returns:
        `x (d) -> 1`-value float64 tensor.
    """

    def indicator(x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([0.0 if is_feasible(x) else 1.0], dtype=torch.float64)

    return indicator


def budget_slack(space: Any, objectives: Any) -> ConstraintFunction | None:
    """The exact budgets' slack as constraint values, one per budget of `objectives`.

    For a budget on metric `g` with limit `b` the value is `g(decode(x)) - b`, in the metric's own
    units (`gmacs`, `mparams`): `<= 0` exactly when `Objectives.is_feasible` holds.

    Args:
        space: The search space (`decode(x: d) -> ArchSpec`).
        objectives: The study's `Objectives` (its `budgets`).

    Returns:
        `x (d) -> c` float64 tensor (`c = len(objectives.budgets)`), or None without budgets.
    """
    budgets = tuple(objectives.budgets)
    if not budgets:
        return None
    metrics = tuple(dict.fromkeys(b.metric for b in budgets))

    def slack(x: torch.Tensor) -> torch.Tensor:
        exact = exact_metrics(space.decode(x), metrics)
        return torch.tensor([exact[b.metric] - b.max_value for b in budgets], dtype=torch.float64)

    return slack


def check_fidelity(fidelity: torch.Tensor | None, k: int) -> torch.Tensor | None:
    """`fidelity` as a `k` float64 tensor, checked (None stays None).

    Args:
        fidelity: The rung of each of `k` history rows as a fraction of the top rung's steps.
        k: Number of history rows.

    Returns:
        `k` float64 tensor in `(0, 1]`, or None.

    Raises:
        ValueError: naming `fidelity` when it has not `k` values or one is outside `(0, 1]`.
    """
    if fidelity is None:
        return None
    s = torch.as_tensor(fidelity, dtype=torch.float64).reshape(-1)
    if s.shape[0] != k:
        raise ValueError(f"fidelity: expected {k} values (one per row of X), got {s.shape[0]}")
    bad = ~((s > 0) & (s <= 1))  # also catches NaN
    if bad.any():
        raise ValueError(
            f"fidelity: every value must be in (0, 1] (1 = the top rung), got "
            f"{s[bad][:3].tolist()} at rows {bad.nonzero().flatten()[:3].tolist()}"
        )
    return s


def highest_rung(
    X: torch.Tensor, Y: torch.Tensor, fidelity: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One row per distinct spec of a multi-fidelity history: the one at its highest rung.

    A spec's highest rung among its finite rows is kept (a promotion that failed leaves the
    lower rung's result); a spec whose every row failed keeps one NaN row, so that it is still
    never proposed again. Specs keep the order of their first row in `X`.

    Args:
        X: `k x d` history (a spec once per rung it finished).
        Y: `k x m` its objectives (NaN rows: failures).
        fidelity: `k` rungs in `(0, 1]` (None: all at the top rung, every row kept as it is).

    Returns:
        `(X', Y', s')`: `j x d`, `j x m` and `j` (the kept rows' fidelity), `j <= k`.
    """
    if fidelity is None:
        return X, Y, torch.ones(X.shape[0], dtype=torch.float64)
    best: dict[tuple[float, ...], int] = {}
    finite = torch.isfinite(Y).all(dim=-1).tolist()
    for i, row in enumerate(X.tolist()):
        key = _key(row)
        j = best.setdefault(key, i)
        if (finite[i], float(fidelity[i])) > (finite[j], float(fidelity[j])):
            best[key] = i
    rows = torch.tensor(list(best.values()), dtype=torch.long)
    return X[rows], Y[rows], fidelity[rows]
