"""Published scaling rules as baselines, run downwards to a MACs target and snapped to the grid.

Each rule moves the factors along a line in log space from the base `(r_0, w_0, d_0)`:

    log r = log r_0 + c_r t,   log w = log w_0 + c_w t,   log d = log d_0 + c_d t   (t <= 0)

(`d` is both depth multipliers, `ir_depths` and `attn_blocks`; each factor is clamped to its
bounds in the space):

- `alpha_only`: width only (`c_w = 1`), the published MobileViTv2 family (alpha 0.5 ... 2.0).
- `efficientnet`: compound scaling, `t = phi`, `c_d = ln 1.2`, `c_w = ln 1.1`, `c_r = ln 1.15`
  (alpha beta^2 gamma^2 ~ 2: MACs about double per unit of phi) [Tan2019]_.
- `dollar`: fast compound scaling, `t = ln s` for a MACs factor `s`, exponents of the MACs
  contribution `e_d = e_r = (1 - a) / 2`, `e_w = a`, `a = 0.8`; as MACs ~ d w^2 r^2,
  `c_d = e_d`, `c_w = e_w / 2`, `c_r = e_r / 2` [Dollar2021]_.

The continuous `t` is solved for the target by bisection on the exact MACs of the continuous
spec (resolution rounded to a pixel, depths by the space's rounding), then each factor is
snapped to its floor or ceiling grid value: of the `2^d` corners, the one with the most MACs
within the target (ties: the nearest in normalised coordinates). When even the rule's smallest
point is over the target (e.g. alpha-only below alpha 0.5), the result says so
(`within_budget` false) and keeps that smallest point.

References:
    .. [Tan2019] M. Tan, Q. V. Le. EfficientNet: Rethinking Model Scaling for Convolutional
       Neural Networks. ICML 2019. arXiv:1905.11946.
    .. [Dollar2021] P. Dollar, M. Singh, R. Girshick. Fast and Accurate Model Scaling.
       CVPR 2021. arXiv:2103.06877.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from mv2search.arch.spec import ArchSpec
from mv2search.cost import count_macs
from mv2search.scaling._experimental import experimental
from mv2search.scaling.grid import FactorGrid

__all__ = ["RULES", "RulePoint", "rule_direction", "scale_by_rule"]

_DEPTHS = ("ir_depths", "attn_blocks")
_A = 0.8  # Dollar et al.'s width share of the MACs
RULES: dict[str, dict[str, float]] = {
    "alpha_only": {"width_multiplier": 1.0},
    "efficientnet": {
        "image_size": math.log(1.15),
        "width_multiplier": math.log(1.1),
        **{name: math.log(1.2) for name in _DEPTHS},
    },
    "dollar": {
        "image_size": (1 - _A) / 4,
        "width_multiplier": _A / 2,
        **{name: (1 - _A) / 2 for name in _DEPTHS},
    },
}


@dataclass(frozen=True)
class RulePoint:
    """Where a rule lands for one MACs target."""

    rule: str
    budget_gmacs: float
    t: float  # the rule's continuous step (phi for efficientnet, ln s for dollar)
    continuous: list[float]  # the continuous factors before snapping
    x: list[float]  # the snapped grid point
    gmacs: float  # its exact giga-MACs
    within_budget: bool


def rule_direction(rule: str, names: tuple[str, ...]) -> torch.Tensor:
    """The rule's `c` (`d`, log-rate per unit `t`) in the order of `names`.

    Raises:
        ValueError: for an unknown rule, or a space without one of the rule's factors.
    """
    if rule not in RULES:
        raise ValueError(f"unknown scaling rule {rule!r}; allowed: {list(RULES)}")
    missing = sorted(set(RULES[rule]) - set(names))
    if missing:
        raise ValueError(f"rule {rule!r}: the space has no factor(s) {missing}")
    return torch.tensor([RULES[rule].get(name, 0.0) for name in names], dtype=torch.float64)


def _continuous_gmacs(grid: FactorGrid, x: torch.Tensor) -> float:
    space = grid.space
    data = space.base.to_dict()
    data["name"] = ""
    for p, value in zip(space.parameters, x.tolist(), strict=True):
        p.apply(data, space.base, round(value) if p.type == "int" and not p.scale else value)
    return count_macs(ArchSpec.from_dict(data)) / 1e9


def _along(grid: FactorGrid, base: torch.Tensor, c: torch.Tensor, t: float) -> torch.Tensor:
    low, high = grid.space.bounds
    return torch.minimum(torch.maximum(base * torch.exp(c * t), low), high)


def _snap(grid: FactorGrid, x: torch.Tensor, budget: float) -> tuple[torch.Tensor, bool]:
    low, high = grid.space.bounds
    options = []
    for j, values in enumerate(grid.values):
        below = [v for v in values if v <= x[j] + 1e-9]
        above = [v for v in values if v >= x[j] - 1e-9]
        options.append(
            sorted({below[-1] if below else values[0], above[0] if above else values[-1]})
        )
    corners = torch.tensor(list(itertools.product(*options)), dtype=torch.float64)
    gmacs = torch.tensor([grid.gmacs_of(c) for c in corners], dtype=torch.float64)
    distance = ((corners - x) / (high - low)).norm(dim=-1)
    ok = gmacs <= budget
    if not ok.any():
        return corners[int(gmacs.argmin())], False
    key = torch.where(ok, gmacs - 1e-6 * distance, torch.full_like(gmacs, -math.inf))
    return corners[int(key.argmax())], True


@experimental(since="0.1.0")
def scale_by_rule(
    grid: FactorGrid, rule: str, base_x: torch.Tensor, budget_gmacs: float
) -> RulePoint:
    """Scale the base down by `rule` to `budget_gmacs` (module docstring).

    Args:
        grid: The factor grid of the space.
        rule: A name of `RULES`.
        base_x: `d` coordinates of the base.
        budget_gmacs: The MACs target, giga-MACs.

    Returns:
        The snapped point and its exact MACs.
    """
    c = rule_direction(rule, grid.names)
    base = base_x.double()
    low, high = grid.space.bounds
    moving = c > 0
    t_low = float(torch.log(low[moving] / base[moving]).div(c[moving]).min())
    lo, hi = t_low, 0.0
    if _continuous_gmacs(grid, _along(grid, base, c, 0.0)) <= budget_gmacs:
        lo = 0.0
    elif _continuous_gmacs(grid, _along(grid, base, c, t_low)) <= budget_gmacs:
        for _ in range(40):  # the largest t whose continuous MACs are within the target
            mid = (lo + hi) / 2
            if _continuous_gmacs(grid, _along(grid, base, c, mid)) <= budget_gmacs:
                lo = mid
            else:
                hi = mid
    continuous = _along(grid, base, c, lo)
    x, ok = _snap(grid, continuous, budget_gmacs)
    return RulePoint(rule, budget_gmacs, lo, continuous.tolist(), x.tolist(), grid.gmacs_of(x), ok)
