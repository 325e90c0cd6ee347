"""The panel's tables fit a notebook in a 1,000 px wide window, without scrolling sideways.

The live "top so far" and the final table of a real demo scan, with a row of the
widest values a scan writes added, are laid out by headless Chromium (Debian's,
as in ``test_browser.py``) at the width a notebook's output area has in such a
window, in the panel's font.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

import technic_nb as tn
from technic_nb.core.scoring import SUBSCORES
from technic_nb.notebook.text import live_caption, live_table_html, result_html

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
#: What is left for a cell's output in a 1,000 px JupyterLab window (side bars,
#: the cell's prompt, paddings and the scroll bar take the rest).
OUTPUT_WIDTH = 820
#: JupyterLab's widget font.
FONT = "font-family:system-ui,-apple-system,'Segoe UI',helvetica,arial,sans-serif;font-size:13px"


@pytest.fixture(scope="module")
def widest(tmp_path_factory):
    """A demo scan whose first row holds the widest values of every shown column."""
    config = tn.ScanConfig(
        source="demo:200",
        cache_dir=tmp_path_factory.mktemp("width"),
        n_jobs=1,
        backend="sequential",
    )
    result = tn.scan(config)
    table = result.table.copy()
    wide = {
        "rank": 20000,
        "signal": "Strong Short",
        "tech_rating": -100.0,
        "close": 12345.67,
        "entry": 12345.67,
        "stop": 12345.67,
        "target": 12345.67,
        "reward_risk": 12.3,
        "rsi": 100.0,
        "ret_21d_pct": -100.0,
        **dict.fromkeys(SUBSCORES, -3.0),
    }
    for column, value in wide.items():
        table.iloc[0, table.columns.get_loc(column)] = value
    table = table.rename(index={table.index[0]: "GOOGL"})
    return dataclasses.replace(result, table=table)


def _overflow(pages: dict[str, str]) -> dict[str, tuple[float, float]]:
    """``name -> (table width, box width)`` of each page's first scrolling box."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium (/usr/bin/chromium) is not installed; .ci/run installs it")
    widths = {}
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            for name, body in pages.items():
                page.set_content(
                    f'<html><body style="margin:0;{FONT}">'
                    f"<div style='width:{OUTPUT_WIDTH}px'>{body}</div></body></html>"
                )
                widths[name] = page.evaluate(
                    """() => {
                        const box = document.querySelector("div[style*='overflow-x']");
                        return [box.querySelector('table').getBoundingClientRect().width,
                                box.clientWidth];
                    }"""
                )
        finally:
            browser.close()
    return widths


def test_the_live_and_the_final_table_fit_without_scrolling(widest):
    top = widest.table.head(10)
    caption = live_caption(10, 200, 199, 1, 0, exact=True)
    widths = _overflow(
        {"live": live_table_html(top, caption), "final": result_html(widest, rows=25)}
    )
    for name, (table, box) in widths.items():
        assert table <= box, f"the {name} table is {table:.0f} px wide in {box:.0f} px"


def test_a_table_wider_than_the_box_would_be_seen(widest):
    """The measure itself: a table of every column does not fit (and would scroll)."""
    wide = pd.DataFrame(widest.table.head(3))
    page = live_table_html(wide, "", columns=list(wide.columns[:40]))
    (table, box) = _overflow({"all": page})["all"]
    assert table > box
