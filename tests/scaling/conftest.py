"""Shared helpers of the scaling tests: the mv2_global grid, a synthetic accuracy with a known
factor ranking, and composing `scale.py` configs."""

from __future__ import annotations

import pytest
import torch
from omegaconf import DictConfig

from mv2search.apps.config import register_scale_configs
from mv2search.scaling.grid import FactorGrid
from mv2search.search.space import load_space
from tests.hydra_compose import compose_app

# Tiny data and training (tests/search/conftest.py's TINY), a small budget, a light analysis.
TINY_SCALE = [
    "+space=mv2_global",
    "workers=1",
    "optimizer.n_trials=5",
    "logger=none",
    "data.options.embedded_train_size=100",
    "data.options.embedded_val_size=50",
    "trainer.epochs=1",
    "trainer.batch_size=50",
    "objectives.budgets.gmacs=0.3",
    "scaling.n_bootstrap=2",
    "scaling.cv_folds=3",
    "scaling.map_points=7",
    "scaling.train_comparison=false",  # the default; TRAIN_COMPARISON turns it on
]

# The trained comparison at two budgets (the base and 4 rules each; alpha-only scaling gives the
# same config at both, which must train once), with the confirmation recipe (the reference) cut
# to 2 steps of the tiny data.
TRAIN_COMPARISON = [
    "scaling.train_comparison=true",
    "scaling.downsize.budgets=[0.25,0.5]",
    "scaling.confirm=['trainer.schedule_steps=2','trainer.batch_size=50',"
    "'trainer.eval_batch_size=50','embedded_train_size=100','embedded_val_size=50']",
]


def compose_scale(overrides: list[str]) -> DictConfig:
    """The `scale.py` config composed with `overrides`, as Hydra would build it."""
    return compose_app("scale", register_scale_configs, overrides)


def synthetic_accuracy(grid: FactorGrid, X: torch.Tensor) -> torch.Tensor:
    """A known accuracy over (r, w, d_i, d_m): resolution >> width >> d_i >> d_m.

    `0.1 + 0.45 (1 - exp(-2 u_r)) + 0.25 u_w + 0.08 u_di^2 + 0.01 u_dm` with `u` each factor
    scaled to [0, 1] over its bounds.
    """
    low, high = grid.space.bounds
    u = (X - low) / (high - low)
    return (
        0.1
        + 0.45 * (1 - torch.exp(-2 * u[:, 0]))
        + 0.25 * u[:, 1]
        + 0.08 * u[:, 2].square()
        + 0.01 * u[:, 3]
    )


@pytest.fixture(scope="session")
def grid() -> FactorGrid:
    """The factor grid of `mv2_global` (588 points, exact MACs)."""
    return FactorGrid(load_space("mv2_global"))


@pytest.fixture(scope="session")
def base(grid) -> torch.Tensor:
    """mobilevitv2_100 at 256 px in mv2_global's coordinates."""
    return torch.tensor([256.0, 1.0, 1.0, 1.0], dtype=torch.float64)
