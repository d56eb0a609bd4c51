"""Search: the search space as data, the optimizers, the evaluator and the durable search loop.

`run_search(cfg)` runs one worker on a study (`SearchWorker`); `optimize` is the in-memory loop
of the optimizer benchmark.
"""

from __future__ import annotations

from mv2search.search._parameter import Parameter
from mv2search.search.evaluator import EvaluationFailed, Evaluator
from mv2search.search.loop import optimize
from mv2search.search.optimizers import OPTIMIZERS, Optimizer, make_optimizer
from mv2search.search.runner import SearchOutcome, SearchWorker
from mv2search.search.settings import SearchAppConfig, TrainingSetup, rebuild_study
from mv2search.search.space import SearchSpace, available_spaces, load_space, spaces_dir
from mv2search.search.workers import resolve_workers, run_search

__all__ = [
    "OPTIMIZERS",
    "EvaluationFailed",
    "Evaluator",
    "Optimizer",
    "Parameter",
    "SearchAppConfig",
    "SearchOutcome",
    "SearchSpace",
    "SearchWorker",
    "TrainingSetup",
    "available_spaces",
    "load_space",
    "make_optimizer",
    "optimize",
    "rebuild_study",
    "resolve_workers",
    "run_search",
    "spaces_dir",
]
