"""Shared fixtures."""

from __future__ import annotations

import os

# One torch thread per process, here and in every process a test starts: many tests run workers
# beside this process, and on two cores a two-thread process slows 4-5x once another one holds a
# core. Set before torch is first imported, so OpenMP reads it too.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from mv2search.testing import import_timm  # noqa: E402
from tests.postgres import postgres_url  # noqa: E402, F401  (a fixture: PostgreSQL on loopback)

torch.set_num_threads(1)

# timm 1.0.31 state-dict keys and shapes of three presets (the weight converter's reference)
REFERENCE_DIR = Path(__file__).resolve().parent / "arch" / "reference"


@pytest.fixture(scope="session")
def timm():
    """The real timm package (the golden reference), or skip."""
    module = import_timm()
    if module is None:
        pytest.skip("timm is not installed (pip install --no-deps timm==1.0.31)")
    return module


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """tests/arch/reference/ with timm's state-dict key/shape lists."""
    return REFERENCE_DIR
