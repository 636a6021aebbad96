"""Shared test helpers: where the repository, its specs and the shared datasets are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "specs"
TEST_SPECS = REPO / "tests" / "specs"


def shared_data_dir() -> Path:
    """The real datasets: ``SNNC_DATA_DIR`` or the repository's ``../shared/data``."""
    env = os.environ.get("SNNC_DATA_DIR")
    return Path(env) if env else (REPO.parent / "shared" / "data")


@pytest.fixture
def repo() -> Path:
    return REPO
