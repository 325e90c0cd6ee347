"""nbval over the notebooks: the evaluation notebook needs the real data beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "us_equities_daily"
#: Notebooks whose stored outputs come from the real data (on the demo market they differ).
NEEDS_REAL_DATA = {"07_does_it_work.ipynb"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if (REAL_DATA / "universe.csv").is_file():
        return
    skip = pytest.mark.skip(
        reason=f"its stored outputs come from the real data folder {REAL_DATA}, which is "
        "absent (it lives beside the repository)"
    )
    for item in items:
        if Path(str(item.fspath)).name in NEEDS_REAL_DATA:
            item.add_marker(skip)
