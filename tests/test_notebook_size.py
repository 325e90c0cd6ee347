"""Committed notebooks hold outputs, not widget state.

Executing a notebook with nbconvert/nbclient stores the state of every widget
it created in ``metadata.widgets`` (for a scan panel: every bar, the live
table, the log; 120-600 KB per notebook).  The notebooks are executed with
``--ExecutePreprocessor.store_widget_state=False`` instead; a panel then
leaves only its one-line text form in the cell, which nbval compares.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
EXECUTE = (
    "jupyter nbconvert --to notebook --execute --inplace "
    "--ExecutePreprocessor.store_widget_state=False notebooks/NAME.ipynb"
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_holds_no_widget_state(path: Path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert "widgets" not in notebook["metadata"], (
        f"{path.name} stores widget state; execute it with: {EXECUTE.replace('NAME', path.stem)}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_a_panel_leaves_one_short_line(path: Path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "application/vnd.jupyter.widget-view+json" not in data:
                continue
            text = "".join(data.get("text/plain", ""))
            if text.startswith(("VBox(", "HBox(")):  # an old panel, or another widget
                pytest.fail(f"{path.name}: a widget's text form is a dump: {text[:80]}")
            assert len(text) < 300 and "\n" not in text.strip(), text


def test_the_quickstart_stays_small():
    """The first notebook a user opens loads at once: under 150 KB with its outputs."""
    quickstart = next(p for p in NOTEBOOKS if p.name == "01_quickstart.ipynb")
    assert quickstart.stat().st_size < 150_000, (
        f"{quickstart.name}: {quickstart.stat().st_size:,} B"
    )
