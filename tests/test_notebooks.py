"""The notebooks are committed executed, and their nbval setup stays honest.

nbval itself (``python -m pytest`` collects ``notebooks/``) re-runs every notebook
and compares the outputs; these fast checks read the files only.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO_ROOT / "notebooks"
NAMES = (
    "01_quickstart.ipynb",
    "02_cancel_and_resume.ipynb",
    "03_custom_scoring.ipynb",
    "04_your_own_data.ipynb",
    "05_point_in_time.ipynb",
    "07_does_it_work.ipynb",
)
IGNORE_TAG = "nbval-ignore-output"
# Cells whose output is volatile by nature: a live panel, the size of the cache on disk.
VOLATILE = re.compile(r"(Scan|Replay)Runner\(.*\)\s*\n?.*\.(start|run)\(\)|cache_size\(", re.DOTALL)
TEMP_FOLDER = re.compile(r"technic_nb-[a-z]+-[a-z0-9_]+")


def _cells(name: str) -> list[dict]:
    return json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else source


def _output_text(cell: dict) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append("".join(output["text"]))
        for mime, value in output.get("data", {}).items():
            if mime.startswith("text/"):
                parts.append("".join(value) if isinstance(value, list) else value)
    return "\n".join(parts)


def _ignored(cell: dict) -> bool:
    return IGNORE_TAG in cell.get("metadata", {}).get("tags", []) or (
        "NBVAL_IGNORE_OUTPUT" in _source(cell)
    )


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_executed_top_to_bottom(name):
    code = [c for c in _cells(name) if c["cell_type"] == "code"]
    assert code, name
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1)), (
        f"{name}: execute it top to bottom in a fresh kernel before committing"
    )
    for cell in code:
        assert all(o["output_type"] != "error" for o in cell["outputs"]), _source(cell)


@pytest.mark.parametrize("name", NAMES)
def test_only_volatile_cells_skip_the_output_comparison(name):
    for cell in _cells(name):
        if cell["cell_type"] == "code" and _ignored(cell):
            assert VOLATILE.search(_source(cell)), (
                f"{name}: only a live panel or the cache size may skip nbval's comparison, "
                f"not:\n{_source(cell)}"
            )


@pytest.mark.parametrize("name", NAMES)
def test_compared_outputs_hold_no_temporary_folder(name):
    for cell in _cells(name):
        if cell["cell_type"] == "code" and not _ignored(cell):
            assert not TEMP_FOLDER.search(_output_text(cell)), _source(cell)


def test_quickstart_starts_the_scan_in_exactly_one_cell():
    cells = _cells("01_quickstart.ipynb")
    starts = [i for i, c in enumerate(cells) if "runner.start()" in _source(c)]
    assert len(starts) == 1, starts  # the browser test finds the cell by this text
    start = starts[0]
    assert cells[start]["cell_type"] == "code"
    following = next(c for c in cells[start + 1 :] if c["cell_type"] == "code")
    assert "runner.wait()" in _source(following)
    assert "demo:1000" in "".join(_source(c) for c in cells[:start])


@pytest.mark.parametrize(
    ("name", "figures"),
    [
        ("01_quickstart.ipynb", 1),
        ("03_custom_scoring.ipynb", 1),
        ("05_point_in_time.ipynb", 1),
        ("07_does_it_work.ipynb", 7),  # IC, rolling IC, decay, spread, book, trades, sweep
    ],
)
def test_figures_are_stored_as_images(name, figures):
    images = [
        o
        for c in _cells(name)
        if c["cell_type"] == "code"
        for o in c["outputs"]
        if "image/png" in o.get("data", {})
    ]
    assert len(images) == figures


def test_the_api_key_never_reaches_an_output():
    for cell in _cells("04_your_own_data.ipynb"):
        if cell["cell_type"] == "code":
            assert "demo-key" not in _output_text(cell)


def test_pytest_runs_nbval_strictly_over_the_notebooks():
    options = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"
    ]
    addopts = options["addopts"].split()
    assert "notebooks" in options["testpaths"]
    assert "--nbval" in addopts and "--nbval-lax" not in addopts
    sanitizers = addopts[addopts.index("--nbval-sanitize-with") + 1]
    assert (REPO_ROOT / sanitizers).is_file()


def test_the_evaluation_notebook_says_which_data_it_used_and_its_limits():
    text = "\n".join(_source(c) + _output_text(c) for c in _cells("07_does_it_work.ipynb"))
    assert "Data: the real daily bars" in text  # committed executed on the real data
    assert "Survivorship bias" in text and "delisted" in text
    assert "Newey" in text and "What to try next" in text
