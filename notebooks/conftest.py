"""nbval over the notebooks: the evaluation notebook needs the real data beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "us_equities_daily"
#: Notebooks whose stored outputs come from the real data (on the demo market they differ).
NEEDS_REAL_DATA = {"07_does_it_work.ipynb"}


def _why_not_the_real_data() -> str | None:
    """Why the evaluation notebook would not run on :data:`REAL_DATA` (None: it would)."""
    chosen = os.environ.get("TECHNIC_NB_DATA")
    if chosen and Path(chosen).expanduser().resolve() != REAL_DATA.resolve():
        return f"TECHNIC_NB_DATA names {chosen}, not the folder {REAL_DATA} they come from"
    if not (REAL_DATA / "universe.csv").is_file():
        return (
            f"they come from the real data folder {REAL_DATA}, which is absent (it lives "
            "beside the repository)"
        )
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    why = _why_not_the_real_data()
    if why is None:
        return
    skip = pytest.mark.skip(reason=f"its stored outputs would differ: {why}")
    for item in items:
        if Path(str(item.fspath)).name in NEEDS_REAL_DATA:
            item.add_marker(skip)
