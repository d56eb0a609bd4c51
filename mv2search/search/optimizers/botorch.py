"""Ours: multi-objective qLogNEHVI over the mixed space, with exact constraints and pending.

Model: one `SingleTaskGP` with `m` independent outputs (a batched GP, equivalent to a `ModelListGP`
of one GP per objective with shared inputs) on inputs normalised to the unit cube (`Normalize`
with the space's bounds) and standardised outcomes (`Standardize`), fitted with
`fit_gpytorch_mll`. Rows with a NaN outcome (failed evaluations) are not modelled. From 40
observations on, a fit starts from the previous proposal's hyperparameters (50 L-BFGS-B
iterations instead of 150): at 100 observations on mv2 a proposal takes 1.5 s instead of 2.2 s.
A resumed worker's first fit is cold, so its later proposals can differ from an uninterrupted
run's.

Mixed space: every coordinate is numeric (int and float parameters are their value or log, a
choice is the index into its values), so the GP sees an ordinal relaxation of the grid.

Acquisition maximisation inside the feasible set (the exact filter `is_feasible` is a black box,
so it cannot enter the gradient optimizer as a constraint):

1. score a scrambled-Sobol pool of `raw_samples` snapped points that are feasible and unseen
   (not evaluated, pending or chosen), and start L-BFGS-B from the best `num_restarts` of them;
2. snap each restart's optimum to the grid; when it is infeasible, bisect on the segment from
   its (feasible) start to it for the last feasible snapped point: optima of a constrained
   hypervolume problem sit on the constraint's boundary, which the unconstrained ascent crosses;
3. pick the best of starts, snapped optima and boundary points by the acquisition value.

For `n > 1`, picks are sequential-greedy: each chosen point joins `X_pending` before the next,
so parallel workers (and a batch) get distinct configurations.

First `n_initial` proposals (default `max(d + 1, 5)`): a space-filling design (scrambled Sobol
via `space.sample_encoded`), filtered for feasibility and duplicates.

Acquisition (qLogNEHVI, [Daulton2021]_, [Ament2023]_):

    alpha(x) = log E[ HV(P_n U {f(x)}) - HV(P_n) ],  integrated over the posterior of f at the
    baseline X (noisy incumbents) by quasi-Monte Carlo, smoothed in log space.

References:
    .. [Daulton2021] S. Daulton, M. Balandat, E. Bakshy. Parallel Bayesian Optimization of Multiple
       Noisy Objectives with Expected Hypervolume Improvement. NeurIPS 2021. arXiv:2105.08195.
    .. [Ament2023] S. Ament et al. Unexpected Improvements to Expected Improvement for Bayesian
       Optimization. NeurIPS 2023. arXiv:2310.20708.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.acquisition.multi_objective.utils import prune_inferior_points_multi_objective
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms import Normalize, Standardize
from botorch.optim import optimize_acqf
from botorch.sampling import SobolQMCNormalSampler
from gpytorch.mlls import ExactMarginalLogLikelihood

from mv2search.search.optimizers.base import (
    FeasibilityFilter,
    OptimizerConfig,
    fill_from_pool,
    row_keys,
    select_new,
)

__all__ = ["BoTorchConfig", "BoTorchOptimizer", "BoTorchOptions"]


@dataclass
class BoTorchOptions:
    """Settings of `BoTorchOptimizer` (`optimizer.options.*` of `optimizer=botorch`)."""

    num_restarts: int = 10  # L-BFGS-B starts of the acquisition ascent
    raw_samples: int = 512  # the scored Sobol pool
    mc_samples: int = 64  # QMC posterior samples
    maxiter: int = 50  # L-BFGS-B iterations per restart
    bisect_steps: int = 8  # bisection steps towards the feasible boundary
    threads: int = 1  # torch intra-op threads while proposing (restored afterwards)
    fit_maxiter: int = 150  # L-BFGS-B iterations of a cold GP fit
    # the baseline's posterior Cholesky factor computed once per acquisition function
    cache_root: bool = True
    prune_samples: int = 256  # posterior samples deciding which observations can be optimal
    # from `warm_start_after` observations on, a fit starts from the previous proposal's
    # hyperparameters and runs `warm_fit_maxiter` iterations
    warm_start: bool = True
    warm_fit_maxiter: int = 50
    warm_start_after: int = 40


@dataclass
class BoTorchConfig(OptimizerConfig):
    """`optimizer=botorch`: the Sobol start and the options."""

    # proposals from the space's scrambled-Sobol design before the GP is used (None:
    # max(d + 1, 5))
    n_initial: int | None = None
    options: BoTorchOptions = field(default_factory=BoTorchOptions)


def _derive_seed(*parts: int) -> int:
    # `seed + k` would give seed `s` at `k` observations the stream of seed `s + 1` at `k - 1`.
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0] >> 1)


class BoTorchOptimizer:
    """qLogNEHVI optimizer (see the module docstring).

    Args:
        space: The search space (`dim`, `bounds`, `snap`, `sample_encoded`).
        objectives: The study's `Objectives` (its `ref_point_max` is the acquisition's reference).
        seed: Seed of the Sobol design, the MC sampler and the optimizer's restarts.
        is_feasible: Optional exact-constraint filter on encoded candidates.
        n_initial: Proposals drawn from the Sobol design before the GP is used (None:
            `max(d + 1, 5)`).
        options: The settings (`BoTorchOptions`; its defaults when None).
    """

    Config = BoTorchConfig
    Options = BoTorchOptions

    def __init__(
        self,
        space: Any,
        objectives: Any,
        seed: int = 0,
        *,
        is_feasible: FeasibilityFilter | None = None,
        n_initial: int | None = None,
        options: BoTorchOptions | None = None,
    ) -> None:
        self.space, self.objectives, self.seed = space, objectives, seed
        self.n_initial = max(space.dim + 1, 5) if n_initial is None else n_initial
        self.is_feasible = is_feasible
        self.options = options if options is not None else BoTorchOptions()
        self._hyper: dict[str, torch.Tensor] = {}  # the last fit's GP hyperparameters

    def propose(
        self, X: torch.Tensor, Y: torch.Tensor, pending: torch.Tensor, n: int
    ) -> torch.Tensor:
        """Next `n` candidates (see `Optimizer.propose`)."""
        d = self.space.dim
        X = X.reshape(-1, d).double()
        Y = Y.reshape(X.shape[0], self.objectives.m).double()
        pending = pending.reshape(-1, d).double()
        seen = row_keys(torch.cat([X, pending]))
        ok = torch.isfinite(Y).all(dim=-1)
        empty = torch.empty(0, d, dtype=torch.float64)
        if X.shape[0] + pending.shape[0] < self.n_initial or int(ok.sum()) < 2:
            return fill_from_pool(self.space, empty, seen, n, self.seed, self.is_feasible)
        threads = torch.get_num_threads()
        # Small GPs gain nothing from intra-op threads, and on a loaded 2-core machine they made
        # a proposal 10x slower (16 s vs 1.6 s at 30 observations).
        torch.set_num_threads(self.options.threads)
        try:
            chosen = self._propose_bo(X[ok], Y[ok], pending, seen, n)
        finally:
            torch.set_num_threads(threads)
        return fill_from_pool(self.space, chosen, seen, n, self.seed, self.is_feasible)

    def _propose_bo(
        self, X: torch.Tensor, Y: torch.Tensor, pending: torch.Tensor, seen: set, n: int
    ) -> torch.Tensor:
        chosen = torch.empty(0, X.shape[-1], dtype=torch.float64)
        step_seed = _derive_seed(self.seed, X.shape[0], pending.shape[0])
        with torch.random.fork_rng():
            torch.manual_seed(step_seed)
            model = self._fit(X, Y)
            for _ in range(n):
                pick = self._pick(model, X, torch.cat([pending, chosen]), seen, step_seed)
                if pick.shape[0] == 0:
                    break
                chosen = torch.cat([chosen, pick])
        return chosen

    def _fit(self, X: torch.Tensor, Y: torch.Tensor) -> SingleTaskGP:
        bounds = self.space.bounds
        model = SingleTaskGP(
            X,
            Y,
            input_transform=Normalize(d=X.shape[-1], bounds=bounds),
            outcome_transform=Standardize(m=Y.shape[-1]),
        )
        maxiter = self.options.fit_maxiter
        warm = self.options.warm_start and X.shape[0] >= self.options.warm_start_after
        if warm and self._hyper:
            # Starting from the last fit (one observation fewer), 50 iterations reach a higher
            # marginal likelihood than 150 from the defaults (mv2, 100 observations: -0.726 vs
            # -0.738) in a third of the time (0.35 s vs 0.95 s). Only from 40 observations on:
            # with few, a warm start could stay in a basin that a fresh fit left (BraninCurrin,
            # 16 evaluations, 6 seeds: 5 ended lower warm), and fits are cheap there anyway.
            _load_hyperparameters(model, self._hyper)
            maxiter = self.options.warm_fit_maxiter
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # On mv2 (d=14) the fit does not converge within 1,000 iterations (the lengthscales
            # of irrelevant inputs keep growing, 5 ms a step at 100 observations) and gains
            # little after 100 (log-likelihood -2.295 at 100, -2.257 at 1,000, 50 observations).
            # DTLZ2 (d=6) converges in about 105: capped at 100, 4 seeds of 50 evaluations
            # (n_initial 14) ended at HV 0.283 +- 0.081, at 300 at 0.340 +- 0.010. 150 covers
            # that and costs about 1 s at 100 observations on mv2.
            fit_gpytorch_mll(
                ExactMarginalLogLikelihood(model.likelihood, model),
                optimizer_kwargs={"options": {"maxiter": maxiter}},
            )
        self._hyper = _hyperparameters(model)
        return model

    def _acquisition(
        self, model: SingleTaskGP, X: torch.Tensor, pending: torch.Tensor
    ) -> qLogNoisyExpectedHypervolumeImprovement:
        ref_point = self.objectives.ref_point_max
        # BoTorch's own pruning draws 2,048 joint samples and took 0.39 s of a 0.42 s build at
        # 100 observations (its non-dominated loop); 256 samples keep every point with a
        # posterior probability of being Pareto-optimal above about 1/256.
        X = prune_inferior_points_multi_objective(
            model, X, ref_point=ref_point, num_samples=self.options.prune_samples
        )
        return qLogNoisyExpectedHypervolumeImprovement(
            model=model,
            ref_point=ref_point.tolist(),
            X_baseline=X,
            X_pending=pending if pending.shape[0] else None,
            sampler=SobolQMCNormalSampler(torch.Size([self.options.mc_samples]), seed=self.seed),
            prune_baseline=False,
            cache_root=self.options.cache_root,
        )

    def _pick(
        self, model: SingleTaskGP, X: torch.Tensor, pending: torch.Tensor, seen: set, seed: int
    ) -> torch.Tensor:
        """One feasible unseen candidate, the best found by the acquisition (updates `seen`)."""
        acqf = self._acquisition(model, X, pending)
        pool = self.space.sample_encoded(self.options.raw_samples, seed=seed)
        pool = select_new(pool, set(seen), pool.shape[0], self.is_feasible)
        if pool.shape[0] == 0:
            return pool
        values = _values(acqf, pool)
        starts = pool[values.argsort(descending=True)[: self.options.num_restarts]]
        optima = self._ascend(acqf, starts)
        boundary = [self._last_feasible(a, b) for a, b in zip(starts, optima, strict=True)]
        candidates = select_new(torch.stack(boundary), set(seen), len(boundary), None)
        if candidates.shape[0]:
            better = _values(acqf, candidates)
            if better.max() > values.max():
                best = candidates[better.argmax()].unsqueeze(0)
                seen.update(row_keys(best))
                return best
        best = pool[values.argmax()].unsqueeze(0)
        seen.update(row_keys(best))
        return best

    def _ascend(self, acqf: Any, starts: torch.Tensor) -> torch.Tensor:
        """`k x d` continuous optima of L-BFGS-B started at `starts` (`k x d`), one per start."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optima, _ = optimize_acqf(
                acqf,
                bounds=self.space.bounds,
                q=1,
                num_restarts=starts.shape[0],
                batch_initial_conditions=starts.unsqueeze(1),
                options={"maxiter": self.options.maxiter, "batch_limit": starts.shape[0]},
                return_best_only=False,
                retry_on_optimization_warning=False,
            )
        return optima.reshape(starts.shape)

    def _last_feasible(self, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
        """The snapped point nearest `end` on the segment from feasible `start` found feasible.

        Bisection on `t` in `start + t (end - start)`: the feasible set need not be convex, so
        this is the last feasible point the search saw, not necessarily the segment's last.
        """
        snapped = self.space.snap(end)
        if self.is_feasible is None or self.is_feasible(snapped):
            return snapped
        low, high, best = 0.0, 1.0, self.space.snap(start)
        for _ in range(self.options.bisect_steps):
            mid = (low + high) / 2
            point = self.space.snap(start + mid * (end - start))
            if self.is_feasible(point):
                low, best = mid, point
            else:
                high = mid
        return best


def _values(acqf: Any, candidates: torch.Tensor) -> torch.Tensor:
    """Acquisition values (`k`) of `k x d` candidates, each as a `q = 1` batch."""
    with torch.no_grad():
        return torch.cat([acqf(c.unsqueeze(1)) for c in candidates.split(128)])


def _hyperparameters(model: SingleTaskGP) -> dict[str, torch.Tensor]:
    """The fitted kernel, mean and noise parameters (not the data-dependent transforms)."""
    return {name: value.detach().clone() for name, value in model.named_parameters()}


def _load_hyperparameters(model: SingleTaskGP, hyper: dict[str, torch.Tensor]) -> None:
    """Start `model`'s fit from a previous fit's `hyper` where the shapes agree."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in hyper and hyper[name].shape == param.shape:
                param.copy_(hyper[name])
