"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from mv2search.testing import import_timm
from tests.postgres import postgres_url  # noqa: F401  (a fixture: PostgreSQL on loopback)

REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


@pytest.fixture(scope="session")
def timm():
    """The real timm package (the golden reference), or skip."""
    module = import_timm()
    if module is None:
        pytest.skip("timm is not installed (pip install --no-deps timm==1.0.31)")
    return module


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """shared/reference/ with timm's state-dict key/shape lists."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"{REFERENCE_DIR} not found")
    return REFERENCE_DIR
