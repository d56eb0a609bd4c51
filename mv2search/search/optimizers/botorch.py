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

Proposal time at 100 observations on mv2 (one thread, `bench_optimizer.py --time-only`):
1.55 s with two objectives and 1.85 s with three, from 2.07 s and 6.83 s (same machine and
latency table). What went, measured on the pick's value under the full acquisition (log scale,
the default before as judge; picks vary by +-0.05 between equally good settings):

- L-BFGS-B runs `maxiter` = 20 iterations per restart instead of 50: the same picks on
  C2-DTLZ2 and BraninCurrin (14 histories each, 30 observations), higher or equal on mv2 with
  two objectives (14 histories, mean +0.02: a less converged continuous optimum can snap to a
  better grid point), mean -0.003 with three (5 histories); the ascent is 30-40 % cheaper.
- With three or more objectives the acquisition costs samples x cells (about 80 cells per
  sample at 100 observations) per point, so: the box decompositions run in NumPy
  (`partitioning`: the same cells, 12x faster than BoTorch's per-point torch loop); the
  baseline keeps the `max_baseline` = 24 most probably Pareto-optimal observations (of about
  60 that can be, 51 cells instead of 79); steps 1-2 use a coarser estimate of the same
  acquisition (`search_mc_samples` = 16 QMC samples) and step 3 chooses among the starts,
  optima and boundary points with the full one (`mc_samples` = 64). On 8 histories the three
  together took the acquisition and pick from 2.80 s to 1.32 s, mean +0.015 (worst -0.043)
  against the default before; each alone, over 8-16 histories, lowered the mean by at most
  0.015.
- With two objectives the decompositions are one cell per front point: nothing changes there.

For `n > 1`, picks are sequential-greedy: each chosen point joins `X_pending` before the next,
so parallel workers (and a batch) get distinct configurations.

Multi-fidelity histories (`propose(..., fidelity)`, successive halving): with a `fidelity` that
is not all ones the model is `options.fidelity_model` over the spec and its rung
(`mv2search.search.optimizers.fidelity`), the acquisition is evaluated at the top rung (the
fidelity input fixed to 1) and its baseline is every observed spec at the top rung. Everything
else (pool, ascent, bisection, pending, seeds) is the same. `fidelity=None`, or all ones, is
the single-fidelity path above.

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
from botorch.acquisition import AcquisitionFunction, FixedFeatureAcquisitionFunction
from botorch.acquisition.multi_objective.utils import prune_inferior_points_multi_objective
from botorch.models import SingleTaskGP
from botorch.models.transforms import Normalize, Standardize
from botorch.optim import optimize_acqf
from botorch.sampling import SobolQMCNormalSampler

from mv2search.search.optimizers.base import (
    ConstraintFunction,
    FeasibilityFilter,
    OptimizerConfig,
    check_fidelity,
    feasibility_filter,
    fill_from_pool,
    highest_rung,
    row_keys,
    select_new,
)
from mv2search.search.optimizers.fidelity import (
    FIDELITY_MODELS,
    FidelityModel,
    FitSettings,
    at_fidelity,
    fit_fidelity_model,
    rung_dependent,
)
from mv2search.search.optimizers.gp import Hyperparameters, fit_gp
from mv2search.search.optimizers.partitioning import qLogNEHVI
from mv2search.search.optimizers.subset import LARGE_DATA, subset_rows

__all__ = ["BoTorchConfig", "BoTorchOptimizer", "BoTorchOptions"]


@dataclass
class BoTorchOptions:
    """Settings of `BoTorchOptimizer` (`optimizer.options.*` of `optimizer=botorch`)."""

    num_restarts: int = 10  # L-BFGS-B starts of the acquisition ascent
    raw_samples: int = 512  # the scored Sobol pool
    mc_samples: int = 64  # QMC posterior samples
    # with three or more objectives, QMC samples of the acquisition that ranks the pool and is
    # ascended; `mc_samples` chooses among its starts and optima (0: `mc_samples` throughout)
    search_mc_samples: int = 16
    maxiter: int = 20  # L-BFGS-B iterations per restart (module docstring)
    bisect_steps: int = 8  # bisection steps towards the feasible boundary
    threads: int = 1  # torch intra-op threads while proposing (restored afterwards)
    fit_maxiter: int = 150  # L-BFGS-B iterations of a cold GP fit
    # the baseline's posterior Cholesky factor computed once per acquisition function
    cache_root: bool = True
    prune_samples: int = 256  # posterior samples deciding which observations can be optimal
    # with three or more objectives, at most this many of them, the most probably
    # Pareto-optimal, form qLogNEHVI's baseline (0: all that can be optimal)
    max_baseline: int = 24
    # from `warm_start_after` observations on, a fit starts from the previous proposal's
    # hyperparameters and runs `warm_fit_maxiter` iterations
    warm_start: bool = True
    warm_fit_maxiter: int = 50
    warm_start_after: int = 40
    # the surrogate of a multi-fidelity history (`propose(..., fidelity)`), one of
    # `FIDELITY_MODELS` (see `mv2search.search.optimizers.fidelity`). highest_rung: in
    # bench_fidelity_search.py (asynchronous halving, 4 rungs, 5 seeds) its top-rung HV was at
    # or above multi_fidelity's on both curve families (crossing: 0.964 vs 0.934 at the budget)
    # and its proposals are cheaper (1.24 vs 1.65 s at 100 rows, 2 objectives; README)
    fidelity_model: str = "highest_rung"
    # with more than `large_data_after` modelled observations (specs; rows for
    # multi_fidelity), one of `LARGE_DATA`: "exact" fits the GP on all of them, "subset" on
    # `large_data_after` of them (`mv2search.search.optimizers.subset`: the front, its
    # neighbours, the recent ones and a spread of the rest)
    large_data: str = "subset"
    large_data_after: int = 300

    def __post_init__(self) -> None:
        if self.fidelity_model not in FIDELITY_MODELS:
            raise ValueError(
                f"optimizer.options.fidelity_model: {self.fidelity_model!r}; "
                f"allowed: {list(FIDELITY_MODELS)}"
            )
        if self.large_data not in LARGE_DATA:
            raise ValueError(
                f"optimizer.options.large_data: {self.large_data!r}; allowed: {list(LARGE_DATA)}"
            )
        if isinstance(self.large_data_after, bool) or not (
            isinstance(self.large_data_after, int) and self.large_data_after >= 2
        ):
            raise ValueError(
                f"optimizer.options.large_data_after: {self.large_data_after!r}; allowed: an "
                "integer >= 2 (the most observations the GP is fitted on in the subset mode)"
            )


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
        constraint: Optional exact constraint values (`c`, feasible iff all `<= 0`); only its
            feasibility is used, as the filter when `is_feasible` is None.
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
        constraint: ConstraintFunction | None = None,
        n_initial: int | None = None,
        options: BoTorchOptions | None = None,
    ) -> None:
        self.space, self.objectives, self.seed = space, objectives, seed
        self.n_initial = max(space.dim + 1, 5) if n_initial is None else n_initial
        # The acquisition is maximised inside the feasible set, so the filter is all it needs.
        self.is_feasible = feasibility_filter(is_feasible, constraint)
        self.options = options if options is not None else BoTorchOptions()
        # the last fit's GP hyperparameters, per model ("single", or a `fidelity_model`)
        self._hyper: dict[str, Hyperparameters] = {}

    def propose(
        self,
        X: torch.Tensor,
        Y: torch.Tensor,
        pending: torch.Tensor,
        n: int,
        fidelity: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Next `n` candidates (see `Optimizer.propose`).

        With a `fidelity` that is not all ones (and a rung-dependent objective), the surrogate
        is `options.fidelity_model` over the spec and its fidelity, and the acquisition is
        evaluated at the top fidelity (`mv2search.search.optimizers.fidelity`); otherwise the
        single-fidelity model of the module docstring, on each spec's row.

        Raises:
            ValueError: for a malformed `fidelity`.
        """
        d = self.space.dim
        X = X.reshape(-1, d).double()
        Y = Y.reshape(X.shape[0], self.objectives.m).double()
        pending = pending.reshape(-1, d).double()
        fidelity = check_fidelity(fidelity, X.shape[0])
        seen = row_keys(torch.cat([X, pending]))
        if fidelity is not None and (bool((fidelity == 1).all()) or not self._dependent):
            # all at the top rung, or nothing that changes with it: the single-fidelity model
            X, Y, _ = highest_rung(X, Y, fidelity)
            fidelity = None
        ok = torch.isfinite(Y).all(dim=-1)
        empty = torch.empty(0, d, dtype=torch.float64)
        specs, modelled = X.shape[0], int(ok.sum())
        if fidelity is not None:
            specs, modelled = len(row_keys(X)), len(row_keys(X[ok]))
        if specs + pending.shape[0] < self.n_initial or modelled < 2:
            return fill_from_pool(self.space, empty, seen, n, self.seed, self.is_feasible)
        threads = torch.get_num_threads()
        # Small GPs gain nothing from intra-op threads, and on a loaded 2-core machine they made
        # a proposal 10x slower (16 s vs 1.6 s at 30 observations).
        torch.set_num_threads(self.options.threads)
        try:
            s = None if fidelity is None else fidelity[ok]
            chosen = self._propose_bo(X[ok], Y[ok], pending, seen, n, s)
        finally:
            torch.set_num_threads(threads)
        return fill_from_pool(self.space, chosen, seen, n, self.seed, self.is_feasible)

    @property
    def _dependent(self) -> list[int]:
        """The objectives that change with the rung (`rung_dependent`)."""
        return rung_dependent(self.objectives.names)

    def _propose_bo(
        self,
        X: torch.Tensor,
        Y: torch.Tensor,
        pending: torch.Tensor,
        seen: set,
        n: int,
        fidelity: torch.Tensor | None,
    ) -> torch.Tensor:
        chosen = torch.empty(0, X.shape[-1], dtype=torch.float64)
        step_seed = _derive_seed(self.seed, X.shape[0], pending.shape[0])
        with torch.random.fork_rng():
            torch.manual_seed(step_seed)
            X, Y, fidelity = self._fitting_set(X, Y, fidelity)
            if fidelity is None:
                model, baseline = self._fit(X, Y), X
            else:  # the baseline: every observed spec once (at the top fidelity)
                model = self._fit_fidelity(X, Y, fidelity)
                baseline = highest_rung(X, Y, fidelity)[0]
            for _ in range(n):
                acqf, search = self._acquisition(model, baseline, torch.cat([pending, chosen]))
                pick = self._pick(acqf, seen, step_seed, search)
                if pick.shape[0] == 0:
                    break
                chosen = torch.cat([chosen, pick])
        return chosen

    def _fitting_set(
        self, X: torch.Tensor, Y: torch.Tensor, fidelity: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The rows the GP is fitted on: all, or `subset_rows` of a large history (`large_data`).

        The baseline is then the subset's specs: every Pareto-optimal one is in it.
        """
        if self.options.large_data == "exact":
            return X, Y, fidelity
        all_rungs = fidelity is not None and self.options.fidelity_model == "multi_fidelity"
        size = self.options.large_data_after
        rows = subset_rows(X, Y, self.space.bounds, size, fidelity, all_rungs)
        if rows.shape[0] == X.shape[0]:
            return X, Y, fidelity
        return X[rows], Y[rows], None if fidelity is None else fidelity[rows]

    def _maxiter_and_warm(self, k: int, part: str) -> tuple[int, Hyperparameters | None]:
        """The fit's iterations and warm start for `k` observations of model `part`."""
        warm = self.options.warm_start and k >= self.options.warm_start_after
        if warm and self._hyper.get(part):
            # Starting from the last fit (one observation fewer), 50 iterations reach a higher
            # marginal likelihood than 150 from the defaults (mv2, 100 observations: -0.726 vs
            # -0.738) in a third of the time (0.35 s vs 0.95 s). Only from 40 observations on:
            # with few, a warm start could stay in a basin that a fresh fit left (BraninCurrin,
            # 16 evaluations, 6 seeds: 5 ended lower warm), and fits are cheap there anyway.
            return self.options.warm_fit_maxiter, self._hyper[part]
        # DTLZ2 (d=6) converges in about 105 iterations: capped at 100, 4 seeds of 50
        # evaluations (n_initial 14) ended at HV 0.283 +- 0.081, at 300 at 0.340 +- 0.010. 150
        # covers that and costs about 1 s at 100 observations on mv2.
        return self.options.fit_maxiter, None

    def _fit(self, X: torch.Tensor, Y: torch.Tensor) -> SingleTaskGP:
        model = SingleTaskGP(
            X,
            Y,
            input_transform=Normalize(d=X.shape[-1], bounds=self.space.bounds),
            outcome_transform=Standardize(m=Y.shape[-1]),
        )
        maxiter, warm = self._maxiter_and_warm(X.shape[0], "single")
        self._hyper["single"] = fit_gp(model, maxiter, warm)
        return model

    def _fit_fidelity(
        self, X: torch.Tensor, Y: torch.Tensor, fidelity: torch.Tensor
    ) -> FidelityModel:
        kind = self.options.fidelity_model
        maxiter, warm = self._maxiter_and_warm(X.shape[0], kind)
        settings = FitSettings(self._dependent, maxiter, warm)
        model = fit_fidelity_model(X, Y, fidelity, self.space.bounds, kind, settings)
        self._hyper[kind] = model.hyper
        return model

    def _acquisition(
        self, model: SingleTaskGP | FidelityModel, X: torch.Tensor, pending: torch.Tensor
    ) -> tuple[AcquisitionFunction, AcquisitionFunction]:
        """qLogNEHVI over the baseline `X` (`k x d`, pruned) with `pending` (`p x d`).

        A `FidelityModel` is evaluated at the top fidelity: the baseline and pending points at
        `s = 1`, and the returned acquisitions take `d` columns and append `s = 1`.

        Returns:
            The acquisition (`mc_samples`), and the one that searches (the same, or with
            `search_mc_samples` for three or more objectives).
        """
        ref_point = self.objectives.ref_point_max
        gp = model
        if isinstance(model, FidelityModel):
            gp, X, pending = model.model, at_fidelity(X, 1.0), at_fidelity(pending, 1.0)
        # BoTorch's own pruning draws 2,048 joint samples and took 0.39 s of a 0.42 s build at
        # 100 observations (its non-dominated loop); 256 samples keep every point with a
        # posterior probability of being Pareto-optimal above about 1/256.
        cap = self.options.max_baseline if self.objectives.m >= 3 else 0
        X = prune_inferior_points_multi_objective(
            gp,
            X,
            ref_point=ref_point,
            num_samples=self.options.prune_samples,
            max_frac=min(1.0, (cap - 0.5) / X.shape[0]) if cap else 1.0,  # ceil(.. n) = cap
        )
        samples = [self.options.mc_samples]
        coarse = self.options.search_mc_samples
        if self.objectives.m >= 3 and 0 < coarse < samples[0]:
            samples.append(coarse)
        acqfs = [
            qLogNEHVI(
                model=gp,
                ref_point=ref_point.tolist(),
                X_baseline=X,
                X_pending=pending if pending.shape[0] else None,
                sampler=SobolQMCNormalSampler(torch.Size([k]), seed=self.seed),
                prune_baseline=False,
                cache_root=self.options.cache_root,
            )
            for k in samples
        ]
        if isinstance(model, FidelityModel):
            top = [torch.tensor(1.0, dtype=torch.float64)]
            acqfs = [
                FixedFeatureAcquisitionFunction(a, X.shape[-1], [X.shape[-1] - 1], top)
                for a in acqfs
            ]
        return acqfs[0], acqfs[-1]

    def _pick(
        self, acqf: AcquisitionFunction, seen: set, seed: int, search: AcquisitionFunction
    ) -> torch.Tensor:
        """One feasible unseen candidate, the best found by the acquisition (updates `seen`).

        `search` ranks the pool and is ascended; when it is not `acqf` (a coarser estimate),
        `acqf` chooses among the starts, the snapped optima and the boundary points.
        """
        pool = self.space.sample_encoded(self.options.raw_samples, seed=seed)
        pool = select_new(pool, set(seen), pool.shape[0], self.is_feasible)
        if pool.shape[0] == 0:
            return pool
        values = _values(search, pool)
        starts = pool[values.argsort(descending=True)[: self.options.num_restarts]]
        optima = self._ascend(search, starts)
        boundary = [self._last_feasible(a, b) for a, b in zip(starts, optima, strict=True)]
        candidates = select_new(torch.stack(boundary), set(seen), len(boundary), None)
        if search is not acqf:
            candidates = torch.cat([starts, candidates])
            best = candidates[_values(acqf, candidates).argmax()].unsqueeze(0)
        elif candidates.shape[0] and (better := _values(acqf, candidates)).max() > values.max():
            best = candidates[better.argmax()].unsqueeze(0)
        else:
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
