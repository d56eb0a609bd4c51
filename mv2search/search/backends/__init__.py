"""Optimiser backends behind one `propose` protocol: BoTorch qLogNEHVI and Optuna baselines."""

from __future__ import annotations

from mv2search.search.backends.base import BACKENDS, FeasibilityFilter, Proposer, make_proposer

__all__ = ["BACKENDS", "FeasibilityFilter", "Proposer", "make_proposer"]
