"""Optuna's samplers as baselines behind the same `propose` protocol (method.md 4).

Each call replays the history into a fresh in-memory study and asks it for `n` trials:

- distributions from the space's parameters: `int` -> `IntDistribution(low, high, step, log)`,
  `float` -> `FloatDistribution(low, high, step or None, log)`, `choice` ->
  `CategoricalDistribution(values)` (the coordinate is the index into `values`);
- every evaluated row becomes a COMPLETE trial (`create_trial` / `add_trial`) with the objectives in
  the maximisation convention (all directions `maximize`), a NaN row a FAIL trial, every pending
  row a RUNNING trial; NSGA-II's generation attribute is set to `i // population_size`;
- the sampler's seed is a hash of `(seed, len(X), len(pending))`, so the same seed and history give
  the same proposal while successive calls, and different seeds, do not share random streams;
- an asked point that is infeasible or already evaluated, pending or chosen is told as FAIL and
  asked again (at most `max_tries` times per proposal), then filled from the space's Sobol design.
  Each sampler runs its own start-up design.

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
    FeasibilityFilter,
    OptimizerConfig,
    fill_from_pool,
    row_keys,
    select_new,
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


class OptunaOptimizer:
    """An Optuna sampler driven through `propose` (see the module docstring); subclasses name
    the sampler.

    Args:
        space: The search space.
        objectives: The study's `Objectives` (only `m` is used: Y arrives maximisation-ready).
        seed: Base seed.
        is_feasible: Optional exact-constraint filter on encoded candidates.
        options: The settings (`OptunaOptions`; its defaults when None). `max_tries` defaults to
            the class's `default_max_tries`.
    """

    Config = OptunaConfig
    Options = OptunaOptions
    default_max_tries = 20

    def __init__(
        self,
        space: Any,
        objectives: Any,
        seed: int = 0,
        *,
        is_feasible: FeasibilityFilter | None = None,
        options: OptunaOptions | None = None,
    ) -> None:
        options = options if options is not None else OptunaOptions()
        self.space, self.objectives, self.seed = space, objectives, seed
        self.is_feasible = is_feasible
        self.max_tries = options.max_tries or self.default_max_tries
        self.population_size = options.population_size
        self.distributions = distributions(space)

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        """The sampler of one proposal, seeded with `seed`."""
        raise NotImplementedError

    def _study(self, X: torch.Tensor, Y: torch.Tensor, pending: torch.Tensor) -> optuna.Study:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            directions=["maximize"] * self.objectives.m,
            sampler=self.make_sampler(_derive_seed(self.seed, X.shape[0], pending.shape[0])),
        )
        key = f"{type(study.sampler).__name__}:generation"
        rows = [(x, y) for x, y in zip(X, Y, strict=True)] + [(x, None) for x in pending]
        for i, (x, y) in enumerate(rows):
            failed = y is not None and not bool(torch.isfinite(y).all())
            # TrialState.RUNNING is 0 (falsy): compare explicitly.
            complete = y is not None and not failed
            state = TrialState.RUNNING if y is None else TrialState.FAIL
            study.add_trial(
                create_trial(
                    state=TrialState.COMPLETE if complete else state,
                    params=_to_params(self.space, x),
                    distributions=self.distributions,
                    values=y.tolist() if complete else None,
                    system_attrs={key: i // self.population_size},
                )
            )
        return study

    def propose(
        self, X: torch.Tensor, Y: torch.Tensor, pending: torch.Tensor, n: int
    ) -> torch.Tensor:
        """Next `n` candidates (see `Optimizer.propose`)."""
        d = self.space.dim
        X, pending = X.reshape(-1, d).double(), pending.reshape(-1, d).double()
        Y = Y.reshape(X.shape[0], self.objectives.m).double()
        study = self._study(X, Y, pending)
        seen = row_keys(torch.cat([X, pending]))
        chosen = torch.empty(0, d, dtype=torch.float64)
        for _ in range(n):
            for _ in range(self.max_tries):
                trial = study.ask(self.distributions)
                x = _from_params(self.space, trial.params).unsqueeze(0)
                pick = select_new(x, seen, 1, self.is_feasible)
                if pick.shape[0]:
                    chosen = torch.cat([chosen, pick])
                    break  # stays RUNNING: the next ask sees it as pending
                study.tell(trial, state=TrialState.FAIL)
        return fill_from_pool(self.space, chosen, seen, n, self.seed, self.is_feasible)


class RandomOptimizer(OptunaOptimizer):
    """Optuna's `RandomSampler`."""

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

    `max_tries` defaults to 5: its re-asks refit the same GP on the same data, cost about 0.4 s
    each and came back infeasible 20 times in 20 on C2-DTLZ2, 21 % of which is feasible.
    """

    default_max_tries = 5

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:  # noqa: D102
        return optuna.samplers.GPSampler(seed=seed)
