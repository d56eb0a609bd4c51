"""Confirmation of a search: the top-K Pareto configs and the nearest presets trained fully.

`run_confirm(cfg)` confirms a study; the confirmation stage is reusable on its own
(`load_recipe`, `confirm_evaluator`, `train_specs`: any named specs trained with the
confirmation recipe). How the result reads (figure, table, report section) is
`mv2search.report.confirmation`.
"""

from __future__ import annotations

from mv2search.confirm.compare import compare_pair, rank_agreement
from mv2search.confirm.recipe import (
    ConfirmedRun,
    ConfirmRecipe,
    confirm_evaluator,
    load_recipe,
    train_specs,
)
from mv2search.confirm.run import ConfirmOutcome, run_confirm
from mv2search.confirm.select import Candidate, nearest_preset, nearest_presets, top_k
from mv2search.confirm.settings import ConfirmAppConfig

__all__ = [
    "Candidate",
    "ConfirmAppConfig",
    "ConfirmOutcome",
    "ConfirmRecipe",
    "ConfirmedRun",
    "compare_pair",
    "confirm_evaluator",
    "load_recipe",
    "nearest_preset",
    "nearest_presets",
    "rank_agreement",
    "run_confirm",
    "top_k",
    "train_specs",
]
