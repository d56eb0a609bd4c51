"""A Gaussian process of proxy accuracy over the global architecture factors, and its checks.

Model (method.md 7): `SingleTaskGP` on inputs normalised to the unit cube by the space's bounds
(`Normalize`) and standardised outcomes (`Standardize`), with an explicit Matern-5/2 kernel with
one lengthscale per factor (ARD) and a learned Gaussian noise:

    y = f(x) + eps,   f ~ GP(c, s^2 k_5/2(x, x')),   eps ~ N(0, sigma^2)
    k_5/2(x, x') = (1 + sqrt(5) r + 5 r^2 / 3) exp(-sqrt(5) r),  r^2 = sum_j (x_j - x'_j)^2 / l_j^2

BoTorch 0.18's `SingleTaskGP` default is an RBF kernel with a dimension-scaled LogNormal prior,
so the kernel is given explicitly: BoTorch's former default Matern-5/2 with Gamma(3, 6)
lengthscale and Gamma(2, 0.15) outputscale priors, and Gamma(1.1, 0.05) on the noise. The
hyperparameters are the MAP estimate (`fit_gpytorch_mll`).

Lengthscales are in normalised units (a fraction of each factor's range), so they compare across
factors: a short lengthscale means accuracy changes quickly along that factor. Their uncertainty
comes from refits on bootstrap resamples of the trials (`bootstrap_fits`).

Fit quality: k-fold cross-validation (`cross_validate`): held-out RMSE (against the RMSE of
predicting the training mean), Spearman and Kendall rank correlation of held-out predictions
and the share of held-out trials inside their 90 % predictive interval.

References:
    .. [Meng2024] Meng & Chen. Navigating Efficiency in MobileViT through Gaussian Process on
       Global Architecture Factors. arXiv:2406.04820.
    .. [Rasmussen2006] C. E. Rasmussen, C. K. I. Williams. Gaussian Processes for Machine
       Learning, ch. 4.2 (Matern class) and 5.4 (ARD). MIT Press 2006.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms import Normalize, Standardize
from botorch.models.utils.gpytorch_modules import (
    get_gaussian_likelihood_with_gamma_prior,
    get_matern_kernel_with_gamma_prior,
)
from gpytorch.mlls import ExactMarginalLogLikelihood
from scipy.stats import kendalltau, spearmanr

from mv2search.report.scaling_text import Z90

__all__ = ["CrossValidation", "FactorGP", "bootstrap_fits", "cross_validate", "fit_gp"]


@contextmanager
def _one_thread() -> Any:
    # small GPs gain nothing from intra-op threads and lose much on a loaded machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass
class FactorGP:
    """A fitted GP over `d` factors; predictions are of the latent `f`, in accuracy units."""

    model: SingleTaskGP

    def predict(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and standard deviation of `f` at `X` (`k x d`, raw coordinates).

        Returns:
            Two `k` float64 tensors.
        """
        with torch.no_grad(), _one_thread():
            posterior = self.model.posterior(X.double())
            mean = posterior.mean.squeeze(-1)
            sd = posterior.variance.clamp_min(0).sqrt().squeeze(-1)
        return mean, sd

    def joint(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean (`k`) and covariance (`k x k`) of `f` at `X` (`k x d`)."""
        with torch.no_grad(), _one_thread():
            mvn = self.model.posterior(X.double()).mvn
            return mvn.mean.reshape(-1), mvn.covariance_matrix.reshape(X.shape[0], X.shape[0])

    @property
    def lengthscales(self) -> torch.Tensor:
        """`d` ARD lengthscales in normalised units (a fraction of each factor's range)."""
        return self.model.covar_module.base_kernel.lengthscale.detach().reshape(-1).clone()

    @property
    def noise_sd(self) -> float:
        """Standard deviation of the learned observation noise, in accuracy units."""
        scale = float(self.model.outcome_transform.stdvs.detach().reshape(-1)[0])
        return math.sqrt(float(self.model.likelihood.noise.detach().reshape(-1)[0])) * scale

    @property
    def signal_sd(self) -> float:
        """Prior standard deviation of `f` (`s`), in accuracy units."""
        scale = float(self.model.outcome_transform.stdvs.detach().reshape(-1)[0])
        return math.sqrt(float(self.model.covar_module.outputscale.detach())) * scale


def fit_gp(X: torch.Tensor, y: torch.Tensor, bounds: torch.Tensor) -> FactorGP:
    """Fit the GP of the module docstring (MAP hyperparameters).

    Args:
        X: `n x d` trial coordinates (raw, e.g. image size in pixels), `n >= 2`.
        y: `n` accuracies.
        bounds: `2 x d` box that `Normalize` maps to the unit cube (`SearchSpace.bounds`).

    Returns:
        The fitted GP, in eval mode.

    Raises:
        ValueError: for mismatched shapes or fewer than 2 trials.
    """
    X, y = X.double(), y.double().reshape(-1)
    if X.dim() != 2 or X.shape[0] != y.shape[0] or bounds.shape != (2, X.shape[-1]):
        raise ValueError(
            f"fit_gp: expected X n x d, y n and bounds 2 x d, got {tuple(X.shape)}, "
            f"{tuple(y.shape)}, {tuple(bounds.shape)}"
        )
    if X.shape[0] < 2:
        raise ValueError(f"fit_gp: need at least 2 trials, got {X.shape[0]}")
    d = X.shape[-1]
    model = SingleTaskGP(
        X,
        y.unsqueeze(-1),
        likelihood=get_gaussian_likelihood_with_gamma_prior(),
        covar_module=get_matern_kernel_with_gamma_prior(ard_num_dims=d),
        input_transform=Normalize(d=d, bounds=bounds.double()),
        outcome_transform=Standardize(m=1),
    )
    with warnings.catch_warnings(), _one_thread():
        warnings.simplefilter("ignore")
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    model.eval()
    return FactorGP(model)


def bootstrap_fits(
    X: torch.Tensor, y: torch.Tensor, bounds: torch.Tensor, n: int, seed: int = 0
) -> list[FactorGP]:
    """`fit_gp` on `n` bootstrap resamples of the trials (resamples with < 2 distinct skipped).

    Args:
        X: `k x d` trial coordinates.
        y: `k` accuracies.
        bounds: `2 x d` normalisation box.
        n: Number of resamples.
        seed: Seed of the resampling.

    Returns:
        The refitted GPs (empty for `n = 0`).
    """
    rng = np.random.default_rng(seed)
    fits = []
    for _ in range(n):
        pick = torch.as_tensor(rng.integers(0, X.shape[0], X.shape[0]))
        if torch.unique(pick).numel() >= 2:
            fits.append(fit_gp(X[pick], y[pick], bounds))
    return fits


@dataclass(frozen=True)
class CrossValidation:
    """Held-out predictions of k-fold cross-validation and their summary."""

    y: list[float]  # the trials' accuracies
    mean: list[float]  # held-out posterior mean of each trial
    sd: list[float]  # held-out predictive sd (latent and noise) of each trial
    folds: int
    rmse: float  # root mean squared held-out error
    rmse_mean_predictor: float  # the same when predicting the training folds' mean
    spearman: float  # rank correlation of held-out predictions with the accuracies
    kendall: float
    coverage_90: float  # share of trials inside their held-out 90 % predictive interval


def cross_validate(
    X: torch.Tensor, y: torch.Tensor, bounds: torch.Tensor, folds: int = 10, seed: int = 0
) -> CrossValidation:
    """k-fold cross-validation of `fit_gp` (k = min(`folds`, n); leave-one-out when n <= folds).

    Args:
        X: `n x d` trial coordinates, `n >= 3`.
        y: `n` accuracies.
        bounds: `2 x d` normalisation box.
        folds: Number of folds.
        seed: Seed of the fold assignment.

    Returns:
        The held-out predictions and their RMSE, rank correlations and interval coverage.

    Raises:
        ValueError: for fewer than 3 trials.
    """
    n = X.shape[0]
    if n < 3:
        raise ValueError(f"cross_validate: need at least 3 trials, got {n}")
    k = min(folds, n)
    fold = np.random.default_rng(seed).permutation(n) % k
    mean, sd, base = torch.empty(n), torch.empty(n), torch.empty(n)
    for j in range(k):
        test = torch.as_tensor(fold == j)
        gp = fit_gp(X[~test], y[~test], bounds)
        m, s = gp.predict(X[test])
        mean[test], sd[test] = m.float(), (s.square() + gp.noise_sd**2).sqrt().float()
        base[test] = float(y[~test].mean())
    y32 = y.float()
    inside = ((y32 - mean).abs() <= Z90 * sd).float().mean()
    return CrossValidation(
        y=y32.tolist(),
        mean=mean.tolist(),
        sd=sd.tolist(),
        folds=k,
        rmse=float((mean - y32).square().mean().sqrt()),
        rmse_mean_predictor=float((base - y32).square().mean().sqrt()),
        spearman=float(spearmanr(mean.numpy(), y32.numpy()).statistic),
        kendall=float(kendalltau(mean.numpy(), y32.numpy()).statistic),
        coverage_90=float(inside),
    )
