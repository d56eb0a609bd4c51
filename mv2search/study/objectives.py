"""Objectives (metric names, directions, reference point), hypervolume, and exact-metric budgets.

Conventions (method.md 2): metrics are kept in their own units and directions (`accuracy` max,
`latency_ms` min, ...). BoTorch maximises, so `Objectives.to_max` multiplies each column by
`+1` (max) or `-1` (min); the reference point follows the same conversion. Hypervolume is the
Lebesgue measure of the region that the feasible points dominate and that dominates the reference
point, computed in the maximisation convention:

    HV(Y) = vol( union_i [r, y_i] ),   y_i = sign * Y_i,  r = sign * reference_point

Metric names (method.md 2), defined here once: `accuracy` (top-1 on the validation split,
max), `latency_ms` (median on the device profile, min), `gmacs` (giga multiply-accumulates at
the spec's own resolution, exact) and `mparams` (millions of parameters, exact). Exact metrics
may be objectives or budgets.

A `Budget` is a constraint on an exact metric, owned by the `Objectives`: `is_feasible(spec)`
checks it from the analytic counters before anything is trained or measured, so a candidate over
budget is never proposed and never counts as an evaluation.

References:
    .. [Daulton2021] S. Daulton, M. Balandat, E. Bakshy. Parallel Bayesian Optimization of Multiple
       Noisy Objectives with Expected Hypervolume Improvement. NeurIPS 2021. arXiv:2105.08195.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning
from botorch.utils.multi_objective.pareto import is_non_dominated

from mv2search.arch.spec import ArchSpec
from mv2search.cost import count_macs, count_params

__all__ = [
    "DIRECTIONS",
    "EXACT_METRICS",
    "METRICS",
    "Budget",
    "Objective",
    "Objectives",
    "exact_metrics",
]

DIRECTIONS = ("max", "min")
METRICS = ("accuracy", "latency_ms", "gmacs", "mparams")  # every metric, in table order
EXACT_METRICS = ("gmacs", "mparams")  # counted from the spec: objectives or budgets

_COUNTERS = {
    "gmacs": lambda spec: count_macs(spec) / 1e9,
    "mparams": lambda spec: count_params(spec) / 1e6,
}


def exact_metrics(spec: ArchSpec, names: Sequence[str] = EXACT_METRICS) -> dict[str, float]:
    """`gmacs` (at the spec's resolution) and `mparams` of a spec, from the analytic counters.

    Args:
        spec: The architecture.
        names: Which of them to count (the budget check counts only its own).
    """
    return {name: _COUNTERS[name](spec) for name in names}


@dataclass(frozen=True)
class Objective:
    """One optimised metric."""

    # Metric name, with its unit where it has one (`accuracy`, `latency_ms`, `gmacs`).
    name: str
    # "max" or "min".
    direction: str = "max"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"objective name must be a non-empty string, got {self.name!r}")
        if self.direction not in DIRECTIONS:
            raise ValueError(
                f"objective {self.name!r}: direction {self.direction!r}; "
                f"allowed: {list(DIRECTIONS)}"
            )

    @property
    def sign(self) -> float:
        """+1 for a maximised metric, -1 for a minimised one (BoTorch maximises)."""
        return 1.0 if self.direction == "max" else -1.0


class Objectives:
    """The `m` objectives of a study, their hypervolume reference point (own units) and the
    budgets a candidate must meet.

    Args:
        objectives: The objectives, in column order of every `n x m` metrics tensor.
        reference_point: `m` values in the objectives' own units; a point counts towards the
            hypervolume only if it is better than this in every objective.
        budgets: Upper bounds on exact metrics (`EXACT_METRICS`).

    Raises:
        ValueError: for no objectives, repeated names, a reference point of the wrong length or
            with a non-finite value, or a budget on a metric that is not exact.
    """

    def __init__(
        self,
        objectives: Sequence[Objective],
        reference_point: Sequence[float],
        budgets: Sequence[Budget] = (),
    ) -> None:
        self.objectives = tuple(objectives)
        names = [o.name for o in self.objectives]
        if not names:
            raise ValueError("objectives: at least one objective is required")
        if len(set(names)) != len(names):
            raise ValueError(f"objectives: names must be unique, got {names}")
        ref = [float(v) for v in reference_point]
        if len(ref) != len(names) or not all(math.isfinite(v) for v in ref):
            raise ValueError(
                f"reference_point: expected {len(names)} finite values (one per objective "
                f"{names}), got {list(reference_point)}"
            )
        self.reference_point = tuple(ref)
        self.budgets = tuple(budgets)
        for budget in self.budgets:
            if budget.metric not in EXACT_METRICS:
                raise ValueError(
                    f"budgets.{budget.metric}: only exact metrics can be budgets; "
                    f"allowed: {list(EXACT_METRICS)}"
                )
        self._budget_metrics = tuple(dict.fromkeys(b.metric for b in self.budgets))

    def is_feasible(self, spec: ArchSpec) -> bool:
        """Whether `spec` is within every budget (exact, microseconds: it runs for every pool
        point and bisection step of a proposal, so only the budgeted metrics are counted)."""
        if not self.budgets:
            return True
        exact = exact_metrics(spec, self._budget_metrics)
        return all(budget.feasible(exact) for budget in self.budgets)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Objectives):
            return NotImplemented
        mine = (self.objectives, self.reference_point, self.budgets)
        return mine == (other.objectives, other.reference_point, other.budgets)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = ", ".join(f"{o.name} ({o.direction})" for o in self.objectives)
        budgets = "".join(f", {b.metric} <= {b.max_value:g}" for b in self.budgets)
        return f"Objectives({body}; reference_point={self.reference_point}{budgets})"

    @property
    def names(self) -> tuple[str, ...]:
        """Objective names in column order."""
        return tuple(o.name for o in self.objectives)

    @property
    def m(self) -> int:
        """Number of objectives."""
        return len(self.objectives)

    @property
    def signs(self) -> torch.Tensor:
        """`m` float64 tensor of +1 (max) / -1 (min)."""
        return torch.tensor([o.sign for o in self.objectives], dtype=torch.float64)

    @property
    def ref_point_max(self) -> torch.Tensor:
        """`m` reference point in BoTorch's maximisation convention (`ref_point` of qLogNEHVI)."""
        return self.signs * torch.tensor(self.reference_point, dtype=torch.float64)

    def metrics_tensor(self, metrics: Sequence[Mapping[str, float]]) -> torch.Tensor:
        """`n x m` tensor (own units) of metric dicts; a missing metric gives NaN (a failed row).

        Args:
            metrics: One dict per evaluation, keyed by metric name.

        Returns:
            `n x m` float64 tensor.
        """
        rows = [[float(d.get(name, math.nan)) for name in self.names] for d in metrics]
        return torch.tensor(rows, dtype=torch.float64).reshape(len(rows), self.m)

    def to_max(self, Y: torch.Tensor) -> torch.Tensor:
        """Convert `n x m` metrics in own units to BoTorch's maximisation convention (NaN kept).

        Args:
            Y: `n x m` metrics, columns in the order of `names`.

        Returns:
            `n x m` float64 tensor with minimised columns negated.
        """
        return self._check(Y) * self.signs

    def from_max(self, Y: torch.Tensor) -> torch.Tensor:
        """Inverse of `to_max`: `n x m` maximisation-convention values back to own units."""
        return self._check(Y) * self.signs

    def pareto_mask(self, Y: torch.Tensor) -> torch.Tensor:
        """Which rows of `Y` (own units) are non-dominated among the finite rows.

        Args:
            Y: `n x m` metrics; rows with a NaN (failed evaluations) are never on the front.

        Returns:
            `n` bool tensor.
        """
        Y_max = self.to_max(Y)
        finite = torch.isfinite(Y_max).all(dim=-1)
        mask = torch.zeros(Y_max.shape[0], dtype=torch.bool)
        if finite.any():
            mask[finite] = is_non_dominated(Y_max[finite], deduplicate=False)
        return mask

    def hypervolume(self, Y: torch.Tensor) -> float:
        """Hypervolume dominated by the finite rows of `Y` (own units) w.r.t. the reference point.

        Args:
            Y: `n x m` metrics of feasible evaluations; NaN rows and rows not better than the
                reference point in every objective add nothing.

        Returns:
            The hypervolume, in the product of the objectives' units (0.0 for no useful row).
        """
        Y_max = self.to_max(Y)
        ref = self.ref_point_max
        useful = torch.isfinite(Y_max).all(dim=-1) & (Y_max > ref).all(dim=-1)
        if not useful.any():
            return 0.0
        if self.m == 1:  # a segment: the box decomposition wants two or more objectives
            return float((Y_max[useful, 0] - ref[0]).max())
        partitioning = DominatedPartitioning(ref_point=ref, Y=Y_max[useful])
        return float(partitioning.compute_hypervolume())

    def _check(self, Y: torch.Tensor) -> torch.Tensor:
        Y = torch.as_tensor(Y, dtype=torch.float64)
        if Y.dim() != 2 or Y.shape[-1] != self.m:
            raise ValueError(
                f"Y: expected an n x {self.m} tensor (columns {list(self.names)}), "
                f"got shape {tuple(Y.shape)}"
            )
        return Y


@dataclass(frozen=True)
class Budget:
    """An upper bound on an exact metric (`macs`, `params`), checked before evaluation."""

    # Name of the exact metric (`macs`, `params`).
    metric: str
    # Largest allowed value, in the metric's own units (inclusive).
    max_value: float

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError(f"budget metric must be a non-empty string, got {self.metric!r}")
        if not isinstance(self.max_value, int | float) or not math.isfinite(self.max_value):
            raise ValueError(
                f"budget {self.metric!r}: max_value must be finite, got {self.max_value!r}"
            )

    def feasible(self, metrics: Mapping[str, float]) -> bool:
        """Whether `metrics[metric] <= max_value`.

        Args:
            metrics: Exact metrics of one candidate, keyed by name.

        Returns:
            True when within budget.

        Raises:
            KeyError: when `metrics` lacks this budget's metric (naming it and what is there).
        """
        if self.metric not in metrics:
            raise KeyError(f"budget {self.metric!r}: metric missing; available: {sorted(metrics)}")
        return float(metrics[self.metric]) <= self.max_value
