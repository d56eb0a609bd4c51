"""The optimizers behind one `propose` protocol, by the name the `optimizer` group gives them:
ours (BoTorch qLogNEHVI) and Optuna's samplers as baselines."""

from __future__ import annotations

import dataclasses
from typing import Any

from mv2search.search.optimizers.base import (
    ConstraintFunction,
    FeasibilityFilter,
    Optimizer,
    OptimizerConfig,
    budget_slack,
    highest_rung,
)
from mv2search.search.optimizers.botorch import BoTorchConfig, BoTorchOptimizer, BoTorchOptions
from mv2search.search.optimizers.fidelity import FIDELITY_MODELS
from mv2search.search.optimizers.optuna_baselines import (
    NSGA2Optimizer,
    OptunaConfig,
    OptunaGPOptimizer,
    OptunaOptions,
    RandomOptimizer,
    TPEOptimizer,
)
from mv2search.search.registry import lookup

__all__ = [
    "FIDELITY_MODELS",
    "OPTIMIZERS",
    "BoTorchConfig",
    "BoTorchOptions",
    "ConstraintFunction",
    "FeasibilityFilter",
    "Optimizer",
    "OptimizerConfig",
    "OptunaConfig",
    "OptunaOptions",
    "budget_slack",
    "build_optimizer",
    "highest_rung",
    "make_optimizer",
]

OPTIMIZERS: dict[str, type] = {
    "botorch": BoTorchOptimizer,  # ours
    "random": RandomOptimizer,
    "tpe": TPEOptimizer,
    "nsga2": NSGA2Optimizer,
    "optuna_gp": OptunaGPOptimizer,
}


def build_optimizer(
    cfg: OptimizerConfig,
    space: Any,
    objectives: Any,
    seed: int,
    is_feasible: FeasibilityFilter | None = None,
    constraint: ConstraintFunction | None = None,
) -> Optimizer:
    """The optimizer of a composed `optimizer` group (its `Config`, as Hydra built it).

    Args:
        cfg: The group's `Config`.
        space: The search space.
        objectives: The study's `Objectives`.
        seed: The same seed and history give the same proposals.
        is_feasible: Optional exact-constraint filter on encoded candidates.
        constraint: Optional exact constraint values (`c`, feasible iff all `<= 0`) of encoded
            candidates, e.g. `budget_slack(space, objectives)`.

    Returns:
        The optimizer.

    Raises:
        ValueError: for an unknown `optimizer.name`, listing the allowed ones.
    """
    cls = lookup(OPTIMIZERS, cfg.name, "optimizer.name")
    return cls(
        space, objectives, seed, is_feasible=is_feasible, constraint=constraint, **cfg.settings()
    )


def make_optimizer(
    name: str,
    space: Any,
    objectives: Any,
    seed: int = 0,
    *,
    is_feasible: FeasibilityFilter | None = None,
    constraint: ConstraintFunction | None = None,
    **settings: Any,
) -> Optimizer:
    """Build an optimizer by name, from flat settings (tests, benchmarks, notebooks).

    Args:
        name: A key of `OPTIMIZERS`.
        space: The search space (`SearchSpace` or any object with `dim`, `bounds`, `snap`,
            `sample_encoded` and `parameters`).
        objectives: The study's `Objectives`.
        seed: The same seed and history give the same proposals.
        is_feasible: Optional exact-constraint filter on encoded candidates.
        constraint: Optional exact constraint values (`c`, feasible iff all `<= 0`); Optuna's
            constrained samplers are told them.
        **settings: Fields of its `Config` (`n_initial` for botorch) and of its `Options`
            (`mc_samples=32`).

    Returns:
        The optimizer.

    Raises:
        ValueError: for an unknown name or setting, listing the allowed ones.
    """
    cls = lookup(OPTIMIZERS, name, "optimizer.name")
    config_keys = set(cls.Config(name=name).settings()) - {"options"}
    own = {k: v for k, v in settings.items() if k in config_keys}
    options = _options(cls.Options, {k: v for k, v in settings.items() if k not in own})
    return cls(
        space,
        objectives,
        seed,
        is_feasible=is_feasible,
        constraint=constraint,
        options=options,
        **own,
    )


def _options(schema: type, values: dict[str, Any]) -> Any:
    """`schema(**values)`, an unknown key named with the allowed ones."""
    allowed = [f.name for f in dataclasses.fields(schema)]
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"optimizer.options.{unknown[0]}: unknown option; allowed: {allowed}")
    return schema(**values)
