"""The store of trials: a search's durable Optuna study, its two named records (`TrialRecord`,
`StudySettings`), the objectives with their budgets, and the Pareto front derived from it.

Below everything that trains: reports and dashboards read a study without importing training
code.
"""

from mv2search.study.front import Front, front_of, hypervolume_trace
from mv2search.study.objectives import (
    EXACT_METRICS,
    METRICS,
    Budget,
    Objective,
    Objectives,
    exact_metrics,
)
from mv2search.study.store import (
    WORKER_DIED,
    Records,
    StudySettings,
    StudyStore,
    TrialHandle,
    TrialRecord,
)

__all__ = [
    "EXACT_METRICS",
    "METRICS",
    "WORKER_DIED",
    "Budget",
    "Front",
    "Objective",
    "Objectives",
    "Records",
    "StudySettings",
    "StudyStore",
    "TrialHandle",
    "TrialRecord",
    "exact_metrics",
    "front_of",
    "hypervolume_trace",
]
