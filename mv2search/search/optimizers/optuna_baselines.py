"""Optuna's samplers as baselines behind the same `propose` protocol (method.md 4).

Each call replays the history into a fresh in-memory study and asks it for `n` trials:

- distributions from the space's parameters: `int` -> `IntDistribution(low, high, step, log)`,
  `float` -> `FloatDistribution(low, high, step or None, log)`, `choice` ->
  `CategoricalDistribution(values)` (the coordinate is the index into `values`);
- every evaluated row becomes a COMPLETE trial (`create_trial` / `add_trial`) with the objectives in
  the maximisation convention (all directions `maximize`), a NaN row a FAIL trial, every pending
  row a RUNNING trial; NSGA-II's generation attribute is set to `i // population_size` (`i`: the
  trial's place in the replay);
- the sampler's seed is a hash of `(seed, len(X), len(pending))`, so the same seed and history
  give the same proposal while successive calls, and different seeds, do not share random
  streams;
- an asked point already evaluated, pending or chosen is told as FAIL and asked again; so is an
  infeasible one for `RandomOptimizer`, which reads nothing back. After `max_tries` asks a
  proposal is filled from the space's Sobol design (`n_fallback` counts those candidates). Each
  sampler runs its own start-up design.

Constraints (TPE, NSGA-II, GPSampler). Optuna 5.0 reads a trial's constraint values from its
system attributes (`"constraints:<key>"`, set by `create_trial(constraints=...)` or
`Trial.set_constraint`; `constraints_func` is deprecated since 5.0) in each of these samplers,
with no argument needed: a trial is feasible iff all its values are `<= 0`. So every COMPLETE
history row carries `constraint(x)` (for a budget its slack `metric - limit`, which tells the
sampler how far inside the boundary it is), and an asked point that is infeasible is told as a
COMPLETE trial with its constraint values, then the sampler is asked again. Told FAIL, as before,
it taught them nothing: all three skip FAIL trials (GPSampler models COMPLETE ones, TPE COMPLETE
and PRUNED ones, NSGA-II's populations are COMPLETE ones), and GPSampler asked the same infeasible
optimum again until the Sobol fallback.

Infeasible asks live only in the study of the proposal that asked them: a proposal stays a
function of the seed, the history and the pending points (what a resumed or second worker has),
and remembered ones hurt. Kept and replayed in later proposals (tried, 50 evaluations, seeds 0-4
on C2-DTLZ2): TPE 0.250 +- 0.075 instead of 0.339 +- 0.020, NSGA-II 0.272 +- 0.048 instead of
0.291 +- 0.035, GPSampler 0.286 instead of 0.379 (seed 0). They count towards TPE's and
GPSampler's `n_startup_trials` and fill NSGA-II's generations, so the model starts from a few
feasible points, and TPE's "above" group fills with infeasible points next to the boundary where
the constrained front lies.

An infeasible point is never evaluated, so it has no objective values, but a COMPLETE trial needs
some. What each sampler does with them (Optuna 5.0):

- TPE: nothing. `_split_trials` puts a trial with a positive violation among the infeasible
  ones before looking at its state or values, and `_split_infeasible_trials` ranks those by the
  violation sum alone; multi-objective below-weights are all ones.
- NSGA-II: only a tie-break. `_constrained_dominates` and `_fast_non_domination_rank(penalty=)`
  rank any feasible trial above any infeasible one and infeasible ones by violation sum; values
  enter only `_crowding_distance_sort` within a rank, and an infeasible rank holds trials of
  equal violation. They must still be numbers (`_rank_population` builds an array of all).
- GPSampler: they are modelled. `_sample_relative_impl` fits the objective GPs on every
  COMPLETE trial, feasible or not; only the hypervolume baseline (`Y_feasible`) and the
  warm-start points use feasibility, and the constraint GPs (`_get_constraints_acqf_args`) fit
  the constraint values. The acquisition is log EHVI over the feasible points plus the log
  probability of feasibility.

So the values are imputed, never evaluated: those of the nearest finite history row (in the box
scaled to the unit cube; the reference point when there is none). For TPE and NSGA-II any number
would do. For the GP the constrained optima sit on the constraint's boundary; a pessimistic value
beyond it (the worst observed) can pull the objective GP down just inside it, where the sampler
should look, while the nearest row's values extend the model flat across the boundary. On
C2-DTLZ2 (GPSampler, seeds 0-2) the nearest row's values ended at 0.379 / 0.385 / 0.382, the
worst observed at 0.368 / 0.352 / 0.369. Evaluating the objectives there would give the baselines
evaluations that ours does not get and that a search cannot afford (proxy training runs).

Multi-fidelity histories (`propose(..., fidelity)`): none of these samplers models the rung, so
each spec is replayed once, as its row at the highest rung it finished (`highest_rung`); a spec
seen only at a low rung is told its low-rung values as if they were final.

One class per sampler (`RandomOptimizer`, `TPEOptimizer`, `NSGA2Optimizer`,
`OptunaGPOptimizer`), each naming its sampler in `make_sampler`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import torch
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState, create_trial

from mv2search.search.optimizers.base import (
    ConstraintFunction,
    FeasibilityFilter,
    OptimizerConfig,
    check_fidelity,
    feasibility_filter,
    fill_from_pool,
    highest_rung,
    indicator_constraint,
    row_keys,
)

__all__ = [
    "NSGA2Optimizer",
    "OptunaConfig",
    "OptunaGPOptimizer",
    "OptunaOptimizer",
    "OptunaOptions",
    "RandomOptimizer",
    "TPEOptimizer",
    "distributions",
]


@dataclass
class OptunaOptions:
    """Settings of the Optuna baselines (`optimizer.options.*` of `optimizer=tpe` and the like)."""

    # asks per proposal before falling back to the Sobol design (None: the sampler's default)
    max_tries: int | None = None
    population_size: int = 10  # NSGA-II population (50 evaluations are 5 generations)


@dataclass
class OptunaConfig(OptimizerConfig):
    """`optimizer=random`, `tpe`, `nsga2` or `optuna_gp`: the options."""

    options: OptunaOptions = field(default_factory=OptunaOptions)


def distributions(space: Any) -> dict[str, BaseDistribution]:
    """Optuna distributions of the space's parameters, in coordinate order.

    Args:
        space: Any object whose `parameters` have `name`, `type`, `bounds`, `values`, `step`, `log`.

    Returns:
        Parameter name -> distribution.
    """
    out: dict[str, BaseDistribution] = {}
    for p in space.parameters:
        if p.type == "choice":
            out[p.name] = CategoricalDistribution(list(p.values))
        elif p.type == "int":
            out[p.name] = IntDistribution(p.bounds[0], p.bounds[1], log=p.log, step=p.step or 1)
        else:
            out[p.name] = FloatDistribution(p.bounds[0], p.bounds[1], log=p.log, step=p.step)
    return out


def _derive_seed(*parts: int) -> int:
    # `seed + k` gave seed `s` at `k` observations the stream of seed `s + 1` at `k - 1`: random
    # search with seeds 0 and 1 then evaluated almost the same points.
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0] >> 1)


def _to_params(space: Any, x: torch.Tensor) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for p, v in zip(space.parameters, x.tolist(), strict=True):
        if p.type == "choice":
            params[p.name] = p.values[int(round(v))]
        else:
            value = math.exp(v) if p.log else v
            value = min(max(value, p.bounds[0]), p.bounds[1])
            params[p.name] = int(round(value)) if p.type == "int" else float(value)
    return params


def _from_params(space: Any, params: dict[str, Any]) -> torch.Tensor:
    row = []
    for p in space.parameters:
        value = params[p.name]
        if p.type == "choice":
            row.append(float(list(p.values).index(value)))
        else:
            row.append(math.log(value) if p.log else float(value))
    return space.snap(torch.tensor(row, dtype=torch.float64))


class _Imputer:
    """Objective values told for an infeasible point: the nearest finite history row's.

    Args:
        X: `k x d` history.
        Y: `k x m` its objectives (maximisation convention; NaN rows are skipped).
        bounds: `2 x d` box, scaling distances to the unit cube.
        fallback: `m` values when no row is finite (the reference point).
    """

    def __init__(
        self, X: torch.Tensor, Y: torch.Tensor, bounds: torch.Tensor, fallback: torch.Tensor
    ) -> None:
        ok = torch.isfinite(Y).all(dim=-1)
        self.low, self.width = bounds[0], (bounds[1] - bounds[0]).clamp_min(1e-12)
        self.X, self.Y = (X[ok] - self.low) / self.width, Y[ok]
        self.fallback = fallback.double().tolist()

    def __call__(self, x: torch.Tensor) -> list[float]:
        """`m` values for the point `x` (`d`)."""
        if self.X.shape[0] == 0:
            return self.fallback
        distance = (((x - self.low) / self.width - self.X) ** 2).sum(dim=-1)
        return self.Y[int(distance.argmin())].tolist()


class OptunaOptimizer:
    """An Optuna sampler driven through `propose` (see the module docstring); subclasses name
    the sampler.

    Args:
        space: The search space.
        objectives: The study's `Objectives` (`m` and the reference point: Y arrives
            maximisation-ready).
        seed: Base seed.
        is_feasible: Optional exact-constraint filter on encoded candidates.
        constraint: Optional exact constraint values (`x (d) -> c`, feasible iff all `<= 0`),
            told to a constrained sampler. Without it a filter becomes the one-value constraint
            `0` / `1` (`indicator_constraint`); without a filter it is one.
        options: The settings (`OptunaOptions`; its defaults when None). `max_tries` defaults to
            the class's `default_max_tries`.

    Attributes:
        n_fallback: Candidates filled from the Sobol design, over all proposals.
        n_infeasible: Asks told as infeasible trials, over all proposals.
        study: The in-memory study of the last proposal (None before the first).
    """

    Config = OptunaConfig
    Options = OptunaOptions
    default_max_tries = 20
    # Whether the sampler reads constraint values (RandomSampler reads nothing back).
    constrained = True

    def __init__(
        self,
        space: Any,
        objectives: Any,
        seed: int = 0,
        *,
        is_feasible: FeasibilityFilter | None = None,
        constraint: ConstraintFunction | None = None,
        options: OptunaOptions | None = None,
    ) -> None:
        options = options if options is not None else OptunaOptions()
        self.space, self.objectives, self.seed = space, objectives, seed
        self.is_feasible = feasibility_filter(is_feasible, constraint)
        if constraint is None and is_feasible is not None:
            constraint = indicator_constraint(is_feasible)
        self.constraint = constraint if self.constrained else None
        self.max_tries = options.max_tries or self.default_max_tries
        self.population_size = options.population_size
        self.distributions = distributions(space)
        self.n_fallback = self.n_infeasible = 0
        self.study: optuna.Study | None = None
        self._values: dict[tuple[float, ...], tuple[float, ...]] = {}  # constraint cache

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        """The sampler of one proposal, seeded with `seed`."""
        raise NotImplementedError

    def constraint_values(self, x: torch.Tensor) -> tuple[float, ...]:
        """`constraint(x)` as floats (cached per point).

        Args:
            x: `d` encoded point.

        Returns:
            The `c` values (empty without a constraint).

        Raises:
            ValueError: when `constraint` returns no, NaN or a varying number of values.
        """
        if self.constraint is None:
            return ()
        (key,) = row_keys(x)
        if key not in self._values:
            values = tuple(float(v) for v in torch.as_tensor(self.constraint(x)).reshape(-1))
            first = next(iter(self._values.values()), values)
            if not values or any(math.isnan(v) for v in values) or len(values) != len(first):
                raise ValueError(
                    f"constraint: expected {len(first) or 'one or more'} non-NaN values at "
                    f"{x.tolist()}, got {list(values)}"
                )
            self._values[key] = values
        return self._values[key]

    def _study(self, X: torch.Tensor, Y: torch.Tensor, pending: torch.Tensor) -> optuna.Study:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            directions=["maximize"] * self.objectives.m,
            sampler=self.make_sampler(_derive_seed(self.seed, X.shape[0], pending.shape[0])),
        )
        key = f"{type(study.sampler).__name__}:generation"
        rows = []
        for x, y in zip(X, Y, strict=True):
            if bool(torch.isfinite(y).all()):
                rows.append((x, TrialState.COMPLETE, y.tolist(), self.constraint_values(x)))
            else:
                rows.append((x, TrialState.FAIL, None, ()))
        rows += [(x, TrialState.RUNNING, None, ()) for x in pending]
        for i, (x, state, values, constraints) in enumerate(rows):
            study.add_trial(
                create_trial(
                    state=state,
                    params=_to_params(self.space, x),
                    distributions=self.distributions,
                    values=values,
                    system_attrs={key: i // self.population_size},
                    constraints={str(k): v for k, v in enumerate(constraints)} or None,
                )
            )
        return study

    def propose(
        self,
        X: torch.Tensor,
        Y: torch.Tensor,
        pending: torch.Tensor,
        n: int,
        fidelity: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Next `n` candidates (see `Optimizer.propose`).

        The samplers do not model fidelity: a multi-fidelity history is replayed as
        `highest_rung(X, Y, fidelity)`, each spec once, with its highest rung's values.

        Raises:
            ValueError: when `constraint` says feasible where `is_feasible` does not, or returns
                malformed values; for a malformed `fidelity`.
        """
        d = self.space.dim
        X, pending = X.reshape(-1, d).double(), pending.reshape(-1, d).double()
        Y = Y.reshape(X.shape[0], self.objectives.m).double()
        fidelity = check_fidelity(fidelity, X.shape[0])
        if fidelity is not None:
            X, Y, _ = highest_rung(X, Y, fidelity)
        self.study = study = self._study(X, Y, pending)
        impute = _Imputer(X, Y, self.space.bounds, self.objectives.ref_point_max)
        seen = row_keys(torch.cat([X, pending]))
        chosen = []
        for _ in range(n):
            for _ in range(self.max_tries):
                trial = study.ask(self.distributions)
                x = _from_params(self.space, trial.params)
                (key,) = row_keys(x)
                if key not in seen and (self.is_feasible is None or self.is_feasible(x)):
                    seen.add(key)
                    chosen.append(x)
                    break  # stays RUNNING: the next ask sees it as pending
                if key in seen or self.constraint is None:
                    study.tell(trial, state=TrialState.FAIL)
                    continue
                self._tell_infeasible(study, trial, x, impute(x))
        chosen = torch.stack(chosen) if chosen else torch.empty(0, d, dtype=torch.float64)
        filled = fill_from_pool(self.space, chosen, seen, n, self.seed, self.is_feasible)
        self.n_fallback += filled.shape[0] - chosen.shape[0]
        return filled

    def _tell_infeasible(
        self, study: optuna.Study, trial: optuna.Trial, x: torch.Tensor, values: list[float]
    ) -> None:
        """Tell `trial` (at `x`, infeasible) as COMPLETE with `values` and its constraints."""
        constraints = self.constraint_values(x)
        if all(v <= 0 for v in constraints):
            raise ValueError(
                f"constraint: {list(constraints)} (all <= 0, feasible) at {x.tolist()}, "
                "where is_feasible says infeasible"
            )
        for k, v in enumerate(constraints):
            trial.set_constraint(str(k), v)
        study.tell(trial, values)
        self.n_infeasible += 1


class RandomOptimizer(OptunaOptimizer):
    """Optuna's `RandomSampler` (reads nothing back: infeasible asks are told as FAIL)."""

    constrained = False

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:  # noqa: D102
        return optuna.samplers.RandomSampler(seed=seed)


class TPEOptimizer(OptunaOptimizer):
    """Optuna's multivariate `TPESampler`."""

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:  # noqa: D102
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)


class NSGA2Optimizer(OptunaOptimizer):
    """Optuna's `NSGAIISampler` (population `options.population_size`)."""

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:  # noqa: D102
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=self.population_size)


class OptunaGPOptimizer(OptunaOptimizer):
    """Optuna's `GPSampler`.

    `max_tries` defaults to 5: each re-ask refits the GPs (about 0.4 s on C2-DTLZ2, more with
    OSY's six constraint GPs). Told only FAIL, it came back infeasible 20 times in 20 on
    C2-DTLZ2 (the same optimum again); told the constraint values, the constraint GPs move it.
    """

    default_max_tries = 5

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:  # noqa: D102
        return optuna.samplers.GPSampler(seed=seed)
