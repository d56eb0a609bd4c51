"""Confirmation of a search: the top-K Pareto configs and the nearest presets trained fully.

`run_confirm` and its config are imported on first use, so that the report, which shows the
section (`confirmation_section`), never imports the training code.
"""

from __future__ import annotations

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
    "ConfirmSection",
    "compare_pair",
    "confirmation_figure",
    "confirmation_section",
    "confirmation_text",
    "nearest_preset",
    "nearest_presets",
    "rank_agreement",
    "run_confirm",
    "top_k",
]


def __getattr__(name: str) -> Any:
    if name in ("ConfirmAppConfig", "ConfirmOutcome", "run_confirm"):
        from mv2search.confirm import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
