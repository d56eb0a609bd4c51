"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from mv2search.testing import import_timm
from tests.postgres import postgres_url  # noqa: F401  (a fixture: PostgreSQL on loopback)

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
