"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data" / "us_equities_daily"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder of real daily bars beside the repository (skips when absent)."""
    if not (SHARED_DATA / "AAPL.csv.gz").is_file():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it lives beside the repository)")
    return SHARED_DATA


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """A fresh checkpoint folder."""
    return tmp_path / "cache"
