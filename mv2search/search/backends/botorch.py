"""Our backend: multi-objective qLogNEHVI over the mixed space, with exact constraints and pending.

Model: one `SingleTaskGP` with `m` independent outputs (a batched GP, equivalent to a `ModelListGP`
of one GP per objective with shared inputs) on inputs normalised to the unit cube (`Normalize`
with the space's bounds) and standardised outcomes (`Standardize`), fitted with
`fit_gpytorch_mll`. Rows with a NaN outcome (failed evaluations) are not modelled.

Mixed space: every coordinate is numeric (int and float parameters are their value or log, a
choice is the index into its values), so the GP sees an ordinal relaxation of the grid. The
acquisition is maximised over the continuous box, each restart's optimum is snapped to the grid
(`space.snap`), and the pick is the best (by the acquisition value at the snapped point) among
those snapped optima and a pool of snapped, feasible Sobol points, excluding points already
evaluated, pending or chosen. For `n > 1`, picks are sequential-greedy: each chosen point joins
`X_pending` before the next, so parallel workers (and a batch) get distinct configurations.

First `n_initial` (default `2 * (d + 1)`) proposals: a space-filling design (scrambled Sobol via
`space.sample_encoded`), filtered for feasibility and duplicates.

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
from typing import Any

import torch
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms import Normalize, Standardize
from botorch.optim import optimize_acqf
from botorch.sampling import SobolQMCNormalSampler
from gpytorch.mlls import ExactMarginalLogLikelihood

from mv2search.search.backends.base import (
    FeasibilityFilter,
    fill_from_pool,
    row_keys,
    select_new,
)

__all__ = ["BoTorchProposer"]


class BoTorchProposer:
    """qLogNEHVI proposer (see the module docstring).

    Args:
        space: The search space (`dim`, `bounds`, `snap`, `sample_encoded`).
        objectives: The study's `Objectives` (its `ref_point_max` is the acquisition's reference).
        seed: Seed of the Sobol design, the MC sampler and the optimiser's restarts.
        n_initial: Proposals drawn from the Sobol design before the GP is used.
        is_feasible: Optional exact-constraint filter on encoded candidates.
        options: `num_restarts` (4), `raw_samples` (128), `mc_samples` (64), `maxiter` (50),
            `pool_size` (256, snapped Sobol points also scored at the end), `threads` (1, torch
            intra-op threads while proposing; restored afterwards), `fit_maxiter` (100).
    """

    def __init__(
        self,
        space: Any,
        objectives: Any,
        seed: int = 0,
        n_initial: int | None = None,
        is_feasible: FeasibilityFilter | None = None,
        **options: Any,
    ) -> None:
        allowed = {
            "num_restarts",
            "raw_samples",
            "mc_samples",
            "maxiter",
            "pool_size",
            "threads",
            "fit_maxiter",
        }
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ValueError(
                f"botorch backend: unknown option(s) {unknown}; allowed: {sorted(allowed)}"
            )
        self.space, self.objectives, self.seed = space, objectives, seed
        self.n_initial = 2 * (space.dim + 1) if n_initial is None else n_initial
        self.is_feasible = is_feasible
        self.options = {"num_restarts": 4, "raw_samples": 128, "mc_samples": 64, "maxiter": 50}
        self.options.update(pool_size=256, threads=1, fit_maxiter=100)
        self.options.update(options)

    def propose(
        self, X: torch.Tensor, Y: torch.Tensor, pending: torch.Tensor, n: int
    ) -> torch.Tensor:
        """Next `n` candidates (see `Proposer.propose`)."""
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
        torch.set_num_threads(self.options["threads"])
        try:
            chosen = self._propose_bo(X[ok], Y[ok], pending, seen, n)
        finally:
            torch.set_num_threads(threads)
        return fill_from_pool(self.space, chosen, seen, n, self.seed, self.is_feasible)

    def _propose_bo(
        self, X: torch.Tensor, Y: torch.Tensor, pending: torch.Tensor, seen: set, n: int
    ) -> torch.Tensor:
        empty = torch.empty(0, X.shape[-1], dtype=torch.float64)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed + X.shape[0])
            model = self._fit(X, Y)
            chosen = empty
            for _ in range(n):
                pick = self._pick(model, X, torch.cat([pending, chosen]), seen)
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # L-BFGS-B's default 2,000 iterations took 36 s at 100 observations on mv2 (d=14);
            # 100 iterations took 2.7 s.
            fit_gpytorch_mll(
                ExactMarginalLogLikelihood(model.likelihood, model),
                optimizer_kwargs={"options": {"maxiter": self.options["fit_maxiter"]}},
            )
        return model

    def _pick(
        self, model: SingleTaskGP, X: torch.Tensor, pending: torch.Tensor, seen: set
    ) -> torch.Tensor:
        """One candidate: the best snapped restart optimum or pool point (updates `seen`)."""
        opts = self.options
        acqf = qLogNoisyExpectedHypervolumeImprovement(
            model=model,
            ref_point=self.objectives.ref_point_max.tolist(),
            X_baseline=X,
            X_pending=pending if pending.shape[0] else None,
            sampler=SobolQMCNormalSampler(torch.Size([opts["mc_samples"]]), seed=self.seed),
            prune_baseline=True,
            cache_root=False,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optima, _ = optimize_acqf(
                acqf,
                bounds=self.space.bounds,
                q=1,
                num_restarts=opts["num_restarts"],
                raw_samples=opts["raw_samples"],
                options={"maxiter": opts["maxiter"], "batch_limit": opts["num_restarts"]},
                return_best_only=False,
            )
        pool = self.space.sample_encoded(opts["pool_size"], seed=self.seed + X.shape[0])
        candidates = torch.cat([self.space.snap(optima.reshape(-1, X.shape[-1])), pool])
        candidates = select_new(candidates, set(seen), candidates.shape[0], self.is_feasible)
        if candidates.shape[0] == 0:
            return candidates
        with torch.no_grad():
            values = torch.cat([acqf(c.unsqueeze(1)) for c in candidates.split(128)])
        best = candidates[values.argmax()].unsqueeze(0)
        seen.update(row_keys(best))
        return best
