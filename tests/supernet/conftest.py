"""Fixtures of the supernet tests (built once per session: the mv2 supernet holds 47 M weights)."""

from __future__ import annotations

import pytest
import torch

from mv2search.search.space import load_space
from mv2search.supernet import Supernet
from tests.supernet.helpers import perturb


@pytest.fixture(scope="session")
def mv2_space():
    """The `mv2` search space."""
    return load_space("mv2")


@pytest.fixture(scope="session")
def mv2_supernet(mv2_space):
    """The supernet of the `mv2` space in eval mode, with randomised norms and statistics.

    Shared: tests must not train it or change its weights.
    """
    torch.manual_seed(0)
    return perturb(Supernet(mv2_space), seed=0).eval()
