"""Confirmation of a search: the top-K Pareto configs and the nearest presets trained fully.

`run_confirm`, its config and the reusable confirmation stage (`load_recipe`,
`confirm_evaluator`, `train_specs`: any named specs trained with the confirmation recipe) are
imported on first use, so that the report, which shows the section (`confirmation_section`),
never imports the training code.
"""

from __future__ import annotations

import importlib
from typing import Any

from mv2search.confirm.compare import compare_pair, rank_agreement
from mv2search.confirm.section import (
    ConfirmSection,
    confirmation_figure,
    confirmation_section,
    confirmation_text,
)
from mv2search.confirm.select import Candidate, nearest_preset, nearest_presets, top_k

__all__ = [
    "Candidate",
    "ConfirmAppConfig",
    "ConfirmOutcome",
    "ConfirmRecipe",
    "ConfirmSection",
    "ConfirmedRun",
    "compare_pair",
    "confirmation_figure",
    "confirmation_section",
    "confirm_evaluator",
    "confirmation_text",
    "load_recipe",
    "nearest_preset",
    "nearest_presets",
    "rank_agreement",
    "run_confirm",
    "top_k",
    "train_specs",
]

_LAZY = {
    "ConfirmAppConfig": "run",
    "ConfirmOutcome": "run",
    "run_confirm": "run",
    "ConfirmRecipe": "recipe",
    "ConfirmedRun": "recipe",
    "confirm_evaluator": "recipe",
    "load_recipe": "recipe",
    "train_specs": "recipe",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"mv2search.confirm.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
