"""Fitting the GP surrogates of `BoTorchOptimizer`, and warm starts from a previous fit.

`fit_gp` maximises the exact marginal likelihood of one GPyTorch model with L-BFGS-B
(`fit_gpytorch_mll`) for at most `maxiter` iterations, optionally from the hyperparameters of
an earlier fit (`hyperparameters`, `load_hyperparameters`): matched by parameter name and shape,
so a warm start never carries hyperparameters across models of a different structure.
"""

from __future__ import annotations

import warnings

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models.model import Model
from gpytorch.mlls import ExactMarginalLogLikelihood

__all__ = ["Hyperparameters", "fit_gp", "hyperparameters", "load_hyperparameters"]

# Name -> value of a fitted model's parameters.
Hyperparameters = dict[str, torch.Tensor]


def fit_gp(model: Model, maxiter: int, warm: Hyperparameters | None = None) -> Hyperparameters:
    """Fit `model` (an exact GP) in place and return its fitted hyperparameters.

    Args:
        model: A `SingleTaskGP` or subclass with its training data.
        maxiter: L-BFGS-B iterations at most.
        warm: Hyperparameters of an earlier fit to start from (None: the model's defaults).

    Returns:
        The fitted hyperparameters (`hyperparameters(model)`).
    """
    if warm:
        load_hyperparameters(model, warm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # On mv2 (d=14) the fit does not converge within 1,000 iterations (the lengthscales
        # of irrelevant inputs keep growing, 5 ms a step at 100 observations) and gains
        # little after 100 (log-likelihood -2.295 at 100, -2.257 at 1,000, 50 observations):
        # callers cap the iterations.
        fit_gpytorch_mll(
            ExactMarginalLogLikelihood(model.likelihood, model),
            optimizer_kwargs={"options": {"maxiter": maxiter}},
        )
    return hyperparameters(model)


def hyperparameters(model: Model) -> Hyperparameters:
    """The fitted kernel, mean and noise parameters (not the data-dependent transforms).

    Args:
        model: A fitted GPyTorch model.

    Returns:
        Parameter name -> detached copy.
    """
    return {name: value.detach().clone() for name, value in model.named_parameters()}


def load_hyperparameters(model: Model, hyper: Hyperparameters) -> None:
    """Start `model`'s fit from a previous fit's `hyper` where names and shapes agree.

    Args:
        model: The model to initialise (in place).
        hyper: `hyperparameters` of an earlier fit.
    """
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in hyper and hyper[name].shape == param.shape:
                param.copy_(hyper[name])
