"""Per-factor sensitivity of accuracy: variance-based indices on the GP and ARD lengthscales.

Domain: the uniform distribution over a set of grid points `G` (`g` points; the study's feasible
grid, i.e. every grid point within its MACs budget). For a function `f` on `G` and a factor `j`:

    first order   S_j  = Var( E[f | x_j] ) / Var(f)
    total         ST_j = E[ Var(f | x_~j) ] / Var(f)

computed exactly on `G` by grouping its points (no Monte Carlo over inputs). On a full grid box
the factors are independent and these are the Sobol indices [Sobol2001]_ (`S_j <= ST_j`). Under
a MACs budget the factors are dependent (a large resolution allows only small widths): `S_j` then
also carries the effect of factors correlated with `j`, and `ST_j` is what varying `j` alone,
within budget, changes.

Point estimates are the indices of the posterior mean. Their uncertainty, and the lengthscales',
is the 5-95 % range over GP refits on bootstrap resamples of the trials (`gp.bootstrap_fits`):
the same statistic (the index of a fitted posterior mean) under resampled data. (The indices of
joint posterior samples of `f` were tried first: sampled functions carry extra roughness along
every factor, so for a weak factor their whole range lay above the posterior mean's index.)

References:
    .. [Sobol2001] I. M. Sobol. Global sensitivity indices for nonlinear mathematical models and
       their Monte Carlo estimates. Mathematics and Computers in Simulation 55, 2001.
    .. [Saltelli2010] A. Saltelli et al. Variance based sensitivity analysis of model output.
       Computer Physics Communications 181, 2010.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mv2search.scaling.gp import FactorGP

__all__ = ["Sensitivity", "factor_sensitivity", "variance_indices"]


def _group_variance(F: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Between-group and mean within-group variance of `F` (`s x g`) for group ids (`g`)."""
    groups = int(ids.max()) + 1
    counts = torch.zeros(groups, dtype=F.dtype).index_add_(
        0, ids, torch.ones_like(ids, dtype=F.dtype)
    )
    sums = torch.zeros(F.shape[0], groups, dtype=F.dtype).index_add_(1, ids, F)
    means = sums / counts
    overall = F.mean(dim=-1, keepdim=True)
    between = ((means - overall).square() * counts).sum(dim=-1) / F.shape[-1]
    within = (F - means[:, ids]).square().mean(dim=-1)
    return between, within


def variance_indices(F: torch.Tensor, levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First-order and total indices (module docstring) of functions given on grid points.

    Args:
        F: `s x g` values of `s` functions at `g` grid points (or `g` for one function).
        levels: `g x d` integer grid indices of the points.

    Returns:
        `(first, total)`, each `s x d` (or `d` for one function); 0 where `Var(f) = 0`.
    """
    single = F.dim() == 1
    F = F.reshape(-1, levels.shape[0]).double()
    variance = F.var(dim=-1, unbiased=False).clamp_min(1e-300)
    first, total = [], []
    for j in range(levels.shape[1]):
        between, _ = _group_variance(F, levels[:, j])
        others = torch.cat([levels[:, :j], levels[:, j + 1 :]], dim=1)
        ids = torch.unique(others, dim=0, return_inverse=True)[1]
        _, within = _group_variance(F, ids)
        first.append(between / variance)
        total.append(within / variance)
    first_t, total_t = torch.stack(first, dim=-1), torch.stack(total, dim=-1)
    return (first_t[0], total_t[0]) if single else (first_t, total_t)


@dataclass(frozen=True)
class Sensitivity:
    """Per-factor sensitivity (lists in factor order; intervals are 5-95 % over refits)."""

    names: list[str]
    first_order: list[float]  # S_j of the posterior mean
    first_order_interval: list[list[float]]
    total: list[float]  # ST_j of the posterior mean
    total_interval: list[list[float]]
    lengthscale: list[float]  # ARD lengthscale of the fit (fraction of the factor's range)
    lengthscale_interval: list[list[float]]
    n_points: int  # grid points of the domain
    n_refits: int  # bootstrap refits behind the intervals (NaN intervals without any)

    @property
    def ranking(self) -> list[str]:
        """Factor names, most influential first (by the total index of the posterior mean)."""
        order = sorted(range(len(self.names)), key=lambda j: -self.total[j])
        return [self.names[j] for j in order]


def _interval(values: torch.Tensor) -> list[list[float]]:
    if values.shape[0] == 0:
        return [[float("nan")] * 2 for _ in range(values.shape[-1])]
    q = torch.quantile(values, torch.tensor([0.05, 0.95], dtype=values.dtype), dim=0)
    return q.T.tolist()


def factor_sensitivity(
    gp: FactorGP,
    grid: tuple[torch.Tensor, torch.Tensor],
    names: list[str],
    refits: list[FactorGP] | None = None,
) -> Sensitivity:
    """Indices of the posterior mean and lengthscales, with intervals over bootstrap refits.

    Args:
        gp: The GP fitted to all trials.
        grid: `(X, levels)`: the domain's `g x d` coordinates and `g x d` grid indices.
        names: The `d` factor names.
        refits: GPs fitted to bootstrap resamples (`gp.bootstrap_fits`); None: no intervals.

    Returns:
        The sensitivity.
    """
    X, levels = grid
    first, total = variance_indices(gp.predict(X)[0], levels)
    refits = refits or []
    d = len(names)
    means = [fit.predict(X)[0] for fit in refits]
    if means:
        first_b, total_b = variance_indices(torch.stack(means), levels)
        scales = torch.stack([fit.lengthscales for fit in refits]).double()
    else:
        first_b = total_b = scales = torch.empty(0, d, dtype=torch.float64)
    return Sensitivity(
        names=list(names),
        first_order=first.tolist(),
        first_order_interval=_interval(first_b),
        total=total.tolist(),
        total_interval=_interval(total_b),
        lengthscale=gp.lengthscales.tolist(),
        lengthscale_interval=_interval(scales),
        n_points=int(X.shape[0]),
        n_refits=len(refits),
    )
