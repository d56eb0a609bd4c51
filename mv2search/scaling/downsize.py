"""The downsizing rule: derive a smaller model from a base under a MACs budget, one grid step at
a time, by the GP's predicted accuracy loss per MAC saved (method.md 7.3).

From the base point `x_0` (e.g. mobilevitv2_100 at 256 px), while `MACs(x_t) > B`:

1. the moves are every point one grid step down in one factor (r, w, d_i or d_m) whose exact MACs
   are below `MACs(x_t)`, so MACs decrease strictly along the path;
2. each move `x'` costs `loss = mu(x_t) - mu(x')` (posterior mean of accuracy) and saves
   `saved = MACs(x_t) - MACs(x')`;
3. take the move with the smallest `loss / saved` (a predicted gain, negative, first). When that
   move reaches the budget, the path ends, and it ends with the reaching move of the smallest
   `loss` instead (per-MAC efficiency no longer matters for the last step; a big cut that
   saves many MACs cheaply per MAC would otherwise overshoot the budget for no benefit).

MACs come from the analytic counter (`count_macs`), so the final model meets the budget exactly:
`MACs(x_T) <= B`. A budget below every model reachable from the base is an error.

References:
    .. [Meng2024] Meng & Chen. Navigating Efficiency in MobileViT through Gaussian Process on
       Global Architecture Factors. arXiv:2406.04820 (a formula that derives smaller models
       iteratively under a MACs constraint; its exact form is not public).
    .. [Li2022] Y. Li et al. Rethinking Vision Transformers for MobileNet Size and Speed
       (EfficientFormerV2): a greedy shrink by accuracy drop per cost saved. arXiv:2212.08059.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from mv2search.scaling._experimental import experimental
from mv2search.scaling.grid import FactorGrid

__all__ = ["DownsizePath", "Predictor", "Step", "downsize"]

# `k x d` points -> (`k` posterior means, `k` posterior sds) of accuracy
Predictor = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Step:
    """One point of a downsizing path."""

    factor: str | None  # the factor stepped down to reach this point (None: the base)
    x: list[float]  # raw coordinates
    gmacs: float  # exact giga-MACs
    mean: float  # predicted accuracy (posterior mean)
    sd: float  # posterior sd of the predicted accuracy


@dataclass(frozen=True)
class DownsizePath:
    """The steps from the base to the derived model of one budget."""

    budget_gmacs: float
    steps: list[Step] = field(default_factory=list)

    @property
    def final(self) -> Step:
        """The derived model (the last step)."""
        return self.steps[-1]

    def factor_counts(self) -> dict[str, int]:
        """How many steps each factor took."""
        counts: dict[str, int] = {}
        for step in self.steps[1:]:
            counts[step.factor or ""] = counts.get(step.factor or "", 0) + 1
        return counts


def _choose(loss: torch.Tensor, saved: torch.Tensor, reach: torch.Tensor) -> int:
    ratio = loss / saved
    best = int(ratio.argmin())
    if reach[best]:  # the path ends here: of the moves that end it, the least loss
        return int(torch.where(reach, loss, torch.full_like(loss, math.inf)).argmin())
    return best


@experimental(since="0.1.0")
def downsize(
    grid: FactorGrid, predict: Predictor, base_x: torch.Tensor, budget_gmacs: float
) -> DownsizePath:
    """Apply the rule of the module docstring.

    Args:
        grid: The factor grid (exact MACs, one-step moves).
        predict: Posterior mean and sd of accuracy at `k x d` points.
        base_x: `d` coordinates of the base (a grid point).
        budget_gmacs: The budget `B`, giga-MACs.

    Returns:
        The path; `path.final.gmacs <= budget_gmacs`, and GMACs decrease strictly along it.

    Raises:
        ValueError: when no path from the base reaches the budget (naming both MACs).
    """
    x = grid.space.snap(base_x)
    mean, sd = predict(x.unsqueeze(0))
    steps = [Step(None, x.tolist(), grid.gmacs_of(x), float(mean[0]), float(sd[0]))]
    while steps[-1].gmacs > budget_gmacs:
        here = steps[-1]
        moves = [(j, p) for j, p in grid.steps_down(x) if grid.gmacs_of(p) < here.gmacs]
        if not moves:
            raise ValueError(
                f"budget {budget_gmacs:.4g} GMACs is below the smallest model reachable from the "
                f"base by stepping down ({here.gmacs:.4g} GMACs at {here.x})"
            )
        points = torch.stack([p for _, p in moves])
        gmacs = torch.tensor([grid.gmacs_of(p) for p in points], dtype=torch.float64)
        mean, sd = predict(points)
        pick = _choose(here.mean - mean.double(), here.gmacs - gmacs, gmacs <= budget_gmacs)
        x = points[pick]
        factor = grid.names[moves[pick][0]]
        steps.append(
            Step(factor, x.tolist(), float(gmacs[pick]), float(mean[pick]), float(sd[pick]))
        )
    return DownsizePath(budget_gmacs, steps)
