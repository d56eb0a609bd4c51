"""The surrogate of a multi-fidelity history for `BoTorchOptimizer` (issue 15).

Successive halving trains every spec to rung 0 and continues the best to later rungs, so the
history has one row per (spec, rung): `x` (`d`), the rung's fidelity `s` in `(0, 1]` (its
steps as a fraction of the top rung's) and the objectives `y`. Only some objectives change with
the rung: accuracy does, the exact costs and the latency of a spec do not (`RUNG_FREE_METRICS`).

The surrogate is one batched GP over `d + 1` inputs (the fidelity last), one output per
objective, with the kernel `k_x(x, x') k_s(s, s')`: `k_x` is the single-fidelity model's (RBF
with ARD and the dimension-scaled prior), and `k_s` is 1 for the rung-free objectives (their
model ignores the fidelity) and, for the rung-dependent ones (`BoTorchOptions.fidelity_model`):

- `"multi_fidelity"`: BoTorch's `SingleTaskMultiFidelityGP` with `iteration_fidelity = d`:
  `k_s` its exponential-decay kernel over the training iteration ([Swersky2014]_, [Wu2019]_,
  `k(s, s') = w + b^a / (s + s' + b)^a`), fitted on every row, every rung: what a spec scored
  early tells the model about it;
- `"highest_rung"`: `k_s` an RBF kernel, fitted on each spec's highest rung only: the fidelity
  is one more input, and the earlier rungs of a promoted spec are dropped.

One batched model rather than a `ModelListGP` of a fidelity GP and a cost GP: the list's joint
posterior (block-diagonal and interpolated operators) made each acquisition evaluation about 4x
slower (mv2, three objectives, 100 observations: 8.3 s of L-BFGS-B instead of 1.8 s).
`BoTorchOptimizer` evaluates the acquisition at the top fidelity (`s = 1`,
`FixedFeatureAcquisitionFunction`), with the observed specs at `s = 1` as the baseline of
qLogNEHVI: a spec seen only at a low rung is an incumbent whose final value is uncertain.

References:
    .. [Swersky2014] K. Swersky, J. Snoek, R. P. Adams. Freeze-Thaw Bayesian Optimization.
       arXiv:1406.3896.
    .. [Wu2019] J. Wu, S. Toscano-Palmerin, P. I. Frazier, A. G. Wilson. Practical Multi-fidelity
       Bayesian Optimization for Hyperparameter Tuning. UAI 2019. arXiv:1903.04703.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from botorch.models import SingleTaskGP, SingleTaskMultiFidelityGP
from botorch.models.transforms import Normalize, Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.kernels import Kernel, ProductKernel

from mv2search.search.optimizers.base import highest_rung
from mv2search.search.optimizers.gp import Hyperparameters, fit_gp

__all__ = [
    "FIDELITY_MODELS",
    "RUNG_FREE_METRICS",
    "FidelityModel",
    "FitSettings",
    "RungKernel",
    "at_fidelity",
    "fit_fidelity_model",
    "rung_dependent",
]

FIDELITY_MODELS = ("multi_fidelity", "highest_rung")  # `BoTorchOptions.fidelity_model`
# Metrics a spec has the same value of at every rung: counted from the spec or measured once.
RUNG_FREE_METRICS = ("gmacs", "mparams", "latency_ms")


@dataclass
class FidelityModel:
    """A surrogate over `d + 1` inputs (the encoded spec, then its fidelity)."""

    # A batched `SingleTaskGP` (or subclass), one output per objective, in column order.
    model: SingleTaskGP
    # Its fitted hyperparameters, for the next fit's warm start.
    hyper: Hyperparameters = field(default_factory=dict)


@dataclass
class FitSettings:
    """How `fit_fidelity_model` fits."""

    # Columns of `Y` that change with the rung (`rung_dependent`).
    dependent: list[int]
    # L-BFGS-B iterations of the fit.
    maxiter: int
    # Hyperparameters of the previous fit of the same kind: a warm start (None: cold).
    warm: Hyperparameters | None = None


class RungKernel(Kernel):
    """`base(s, s')` for the rung-dependent outputs of a batched model, 1 for the others.

    Args:
        base: A kernel over the fidelity column, batch shape `m` (its own `active_dims` are
            not used: this kernel's are).
        dependent: `m` booleans, the outputs that change with the rung.
        active_dims: The fidelity column.
    """

    def __init__(self, base: Kernel, dependent: torch.Tensor, active_dims: list[int]) -> None:
        super().__init__(batch_shape=base.batch_shape, active_dims=torch.tensor(active_dims))
        self.base = base
        self.register_buffer("dependent", dependent.to(torch.float64))

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params: Any
    ) -> torch.Tensor:
        """`base` where `dependent`, else ones (`... x m x n1 x n2`, or `... x m x n`)."""
        k = self.base.forward(x1, x2, diag=diag, **params)
        mask = self.dependent.to(k).view(-1, 1) if diag else self.dependent.to(k).view(-1, 1, 1)
        return mask * k + (1 - mask)


def rung_dependent(names: Sequence[str]) -> list[int]:
    """Indices of the objectives that change with the rung (all but `RUNG_FREE_METRICS`).

    Args:
        names: Objective names in column order.

    Returns:
        Their column indices, in order.
    """
    return [i for i, name in enumerate(names) if name not in RUNG_FREE_METRICS]


def at_fidelity(X: torch.Tensor, s: torch.Tensor | float) -> torch.Tensor:
    """`X` (`... x d`) with the fidelity `s` (a scalar or `...`) appended: `... x (d + 1)`."""
    s = torch.as_tensor(s, dtype=X.dtype).expand(X.shape[:-1])
    return torch.cat([X, s.unsqueeze(-1)], dim=-1)


def fit_fidelity_model(
    X: torch.Tensor,
    Y: torch.Tensor,
    fidelity: torch.Tensor,
    bounds: torch.Tensor,
    kind: str,
    fit: FitSettings,
) -> FidelityModel:
    """Fit the surrogate of a multi-fidelity history (module docstring).

    Args:
        X: `k x d` finite rows (a spec once per rung).
        Y: `k x m` their objectives (maximisation convention, all finite).
        fidelity: `k` their rungs in `(0, 1]`.
        bounds: `2 x d` box of the encoded space (input normalisation).
        kind: One of `FIDELITY_MODELS`.
        fit: Which objectives depend on the rung, iterations and the warm start.

    Returns:
        The fitted model.
    """
    d, m = X.shape[-1], Y.shape[-1]
    bounds = torch.cat([bounds.double(), torch.tensor([[0.0], [1.0]], dtype=torch.float64)], -1)
    dependent = torch.zeros(m, dtype=torch.bool)
    dependent[fit.dependent] = True
    transforms = {
        "input_transform": Normalize(d=d + 1, bounds=bounds),
        "outcome_transform": Standardize(m=m),
    }
    if kind == "multi_fidelity":
        model: SingleTaskGP = SingleTaskMultiFidelityGP(
            at_fidelity(X, fidelity), Y, iteration_fidelity=d, linear_truncated=False, **transforms
        )
        decay = model.covar_module.kernels[1]  # its `ExponentialDecayKernel` on column d
        model.covar_module.kernels[1] = RungKernel(decay, dependent, [d])
        model._subset_batch_dict = {
            key.replace("kernels.1.", "kernels.1.base."): dim
            for key, dim in model._subset_batch_dict.items()
        }
    else:
        X_top, Y_top, s_top = highest_rung(X, Y, fidelity)
        batch = torch.Size([m])
        kernel = ProductKernel(
            get_covar_module_with_dim_scaled_prior(d, batch, active_dims=list(range(d))),
            RungKernel(get_covar_module_with_dim_scaled_prior(1, batch), dependent, [d]),
        )
        model = SingleTaskGP(at_fidelity(X_top, s_top), Y_top, covar_module=kernel, **transforms)
    return FidelityModel(model, fit_gp(model, fit.maxiter, fit.warm))
