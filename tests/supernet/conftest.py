"""Fixtures of the supernet tests (built once per session: the mv2 supernet holds 47 M weights)."""

from __future__ import annotations

import pytest
import torch

from mv2search.data import DataOptions
from mv2search.search.space import load_space
from mv2search.supernet import Supernet
from tests.supernet.helpers import TINY_SPACE_YAML, perturb


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


@pytest.fixture(scope="session")
def tiny_space_file(tmp_path_factory):
    """A tiny space over mobilevitv2_050: 64 specs, 128-192 px (32-48 px at scale 0.25)."""
    path = tmp_path_factory.mktemp("spaces") / "tiny.yaml"
    path.write_text(TINY_SPACE_YAML)
    return path


@pytest.fixture(scope="session")
def tiny_space(tiny_space_file):
    """The tiny space, loaded."""
    return load_space(tiny_space_file)


@pytest.fixture(scope="session")
def tiny_options(tmp_path_factory):
    """40 train / 10 val embedded images, cached once per session."""
    cache = tmp_path_factory.mktemp("embedded")
    return DataOptions(embedded_train_size=40, embedded_val_size=10, cache_dir=str(cache))
