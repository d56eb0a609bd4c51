"""The in-memory optimisation loop (propose, evaluate, append) used by tests and benchmarks.

Candidates that fail `problem.is_feasible` are never proposed (the optimizer filters them, and an
optimizer built by name is also given the problem's `constraint` values), so every evaluation
counts. Hypervolume is recorded after each evaluation over the feasible finite rows. The durable
study loop (Optuna storage, workers) is separate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from mv2search.search.optimizers import Optimizer, make_optimizer

__all__ = ["Trace", "optimize"]


@dataclass
class Trace:
    """What one optimisation run produced."""

    # `n x d` evaluated candidates (encoded).
    X: torch.Tensor
    # `n x m` metrics in the objectives' own units (NaN rows: failed).
    Y: torch.Tensor
    # Hypervolume after each evaluation (`n` values).
    hypervolume: list[float] = field(default_factory=list)
    # Wall time of each `propose` call, seconds.
    propose_s: list[float] = field(default_factory=list)


def optimize(
    problem: Any, optimizer: Optimizer | str, n_evals: int, batch: int = 1, seed: int = 0
) -> Trace:
    """Run `n_evals` evaluations of `problem`, `batch` proposals at a time.

    Args:
        problem: A `Problem` (space, objectives, evaluate, is_feasible, constraint).
        optimizer: An optimizer, or a name for `make_optimizer` (built with `seed` and the
            problem's `is_feasible` and `constraint`).
        n_evals: Number of evaluations.
        batch: Proposals per `propose` call (evaluated before the next call).
        seed: Seed of an optimizer built by name.

    Returns:
        The trace.

    Raises:
        RuntimeError: when the optimizer returns no candidate.
    """
    if isinstance(optimizer, str):
        optimizer = make_optimizer(
            optimizer,
            problem.space,
            problem.objectives,
            seed,
            is_feasible=problem.is_feasible,
            constraint=getattr(problem, "constraint", None),
        )
    objectives, d = problem.objectives, problem.space.dim
    X = torch.empty(0, d, dtype=torch.float64)
    Y = torch.empty(0, objectives.m, dtype=torch.float64)
    trace = Trace(X, Y)
    while X.shape[0] < n_evals:
        start = time.perf_counter()
        k = min(batch, n_evals - X.shape[0])
        new = optimizer.propose(X, objectives.to_max(Y), torch.empty(0, d), k)
        trace.propose_s.append(time.perf_counter() - start)
        if new.shape[0] == 0:
            raise RuntimeError(f"optimizer {type(optimizer).__name__} returned no candidate")
        for x in new:
            y = objectives.metrics_tensor([problem.evaluate(x)])
            X, Y = torch.cat([X, x.unsqueeze(0)]), torch.cat([Y, y])
            trace.hypervolume.append(objectives.hypervolume(Y))
    trace.X, trace.Y = X, Y
    return trace
