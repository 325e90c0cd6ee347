"""The Cancel button works while a cell waits: ``wait()``, ``run()`` and Run All.

While a cell runs, the kernel queues every message of the front end until the
cell ends; a runner that waits processes them (jupyter-ui-poll), so a click on
Cancel stops the scan at once.  Each test runs a real kernel, starts the waiting
cell, clicks the panel's Cancel button the way JupyterLab does (a ``comm_msg``
on the shell channel) while symbols are being scanned, and checks that the scan
stopped within 0.5 s of the click reaching the kernel.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from kernel_support import (
    cancel_buttons,
    click,
    execute,
    printed,
    progressed,
    reply_of,
    report,
    start_kernel,
    widget_models,
)

from technic_nb.compat.ui_poll import SUPPORTED_IPYKERNEL

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = 4000
#: The longest a click may take to stop the scan, in the kernel (from the cancel request).
STOPS_WITHIN = 0.5


def _require_a_kernel_that_polls() -> None:
    import ipykernel
    from packaging.specifiers import SpecifierSet

    assert ipykernel.__version__ in SpecifierSet(SUPPORTED_IPYKERNEL), (
        f"ipykernel {ipykernel.__version__} is installed; the Cancel button works during "
        f"a wait with ipykernel{SUPPORTED_IPYKERNEL} (as pyproject.toml declares)"
    )


@pytest.fixture
def kernel(tmp_path):
    _require_a_kernel_that_polls()
    yield from start_kernel(tmp_path)


def _setup(cache: Path, symbols: int = SYMBOLS) -> str:
    return (
        "import json\n"
        "from technic_nb import ScanConfig, ScanRunner\n"
        f"config = ScanConfig(source='demo:{symbols}', cache_dir={str(cache)!r}, n_jobs=2)\n"
    )


_REPORT = (
    "print(json.dumps({'cancelled': r.cancelled, 'state': str(runner.state), "
    "'latency': runner.cancel_latency, 'done': r.stats['done'], "
    "'from_cache': r.stats['from_cache'], 'symbols': r.stats['symbols'], "
    "'status': r.status}))\n"
)


def _click_while_scanning(client, recorder, mark: int) -> float:
    """Wait for the new panel's Cancel button and 150 symbols done; click it."""
    recorder.wait_for(progressed(150), timeout=240, start=mark)
    buttons = cancel_buttons(recorder)
    assert buttons, "no Cancel button was shown"
    return click(client, buttons[-1])


def _check_cancelled(result: dict[str, Any], symbols: int = SYMBOLS) -> None:
    print(f"click -> stopped in {result['latency']:.3f} s; {result['done']} of {symbols} done")
    assert result["cancelled"] is True and result["state"] == "cancelled", result
    assert result["latency"] is not None and result["latency"] < STOPS_WITHIN, result
    assert 150 <= result["done"] < result["symbols"] == symbols, result
    assert result["status"].startswith(f"Cancelled after {result['done']} of {symbols} symbols")


def test_a_click_during_wait_in_the_same_cell_cancels_and_a_rerun_resumes(kernel, tmp_path):
    _, client, recorder = kernel
    cell = (
        _setup(tmp_path / "cache")
        + "runner = ScanRunner(config)\nrunner.start()\nr = runner.wait()\n"
        + _REPORT
    )
    mark = len(recorder.messages())
    msg_id = client.execute(cell)
    clicked = _click_while_scanning(client, recorder, mark)
    reply = reply_of(client, msg_id, timeout=120)
    answered = time.monotonic() - clicked
    assert reply["content"]["status"] == "ok", reply["content"]
    first = json.loads(printed(recorder, msg_id).strip().splitlines()[-1])
    _check_cancelled(first)
    print(f"click sent -> the cell's reply: {answered:.3f} s")
    assert answered < 5.0  # the cell ended right after the scan stopped, not at its end

    # the same cell again: it resumes from the cache and finishes
    again = report(client, recorder, cell, timeout=600)
    assert again["state"] == "finished" and again["cancelled"] is False, again
    assert again["from_cache"] >= first["done"] and again["symbols"] == SYMBOLS


def test_a_click_during_run_cancels(kernel, tmp_path):
    _, client, recorder = kernel
    cell = _setup(tmp_path / "cache") + "runner = ScanRunner(config)\nr = runner.run()\n" + _REPORT
    mark = len(recorder.messages())
    msg_id = client.execute(cell)
    _click_while_scanning(client, recorder, mark)
    reply = reply_of(client, msg_id, timeout=120)
    assert reply["content"]["status"] == "ok", reply["content"]
    _check_cancelled(json.loads(printed(recorder, msg_id).strip().splitlines()[-1]))
    # the button of the blocking form is live: shown enabled from the start
    opened = widget_models(recorder)[cancel_buttons(recorder)[-1]]
    assert opened["disabled"] is False
    shown = execute(client, recorder, "print(runner.panel.widget.summary)")["stdout"]
    assert "Cancel or Kernel > Interrupt stops it" in shown


def _cells(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def test_run_all_of_the_quickstart_with_a_click_during_its_wait(kernel, tmp_path):
    """Every cell of notebook 01 sent at once, as Run All does; Cancel clicked during
    the cell that waits.  The scan is cancelled, and each later cell starts only
    after the waiting cell has ended, in order."""
    _, client, recorder = kernel
    cells = _cells(ROOT / "notebooks" / "01_quickstart.ipynb")
    assert "demo:1000" in cells[0]
    # a larger market, so that the click lands while symbols are being scanned
    cells[0] = cells[0].replace("demo:1000", f"demo:{SYMBOLS}")
    waiting = next(i for i, code in enumerate(cells) if "runner.wait()" in code)
    mark = len(recorder.messages())
    ids = [client.execute(code) for code in cells]
    _click_while_scanning(client, recorder, mark)
    for index, msg_id in enumerate(ids):
        reply = reply_of(client, msg_id, timeout=300)["content"]
        assert reply["status"] == "ok", (index, cells[index], reply)
    recorder.wait_for(
        lambda m: (
            m["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle"
            and m["parent_header"].get("msg_id") == ids[-1]
        ),
        timeout=30,
        start=mark,
    )
    messages = recorder.messages()[mark:]

    def first(kind: str, msg_id: str) -> float:
        stamps = [
            stamp
            for stamp, m in messages
            if m["msg_type"] == kind and m["parent_header"].get("msg_id") == msg_id
        ]
        assert stamps, f"no {kind} for cell {ids.index(msg_id)}"
        return stamps[0]

    def idle(msg_id: str) -> float:
        return next(
            stamp
            for stamp, m in messages
            if m["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle"
            and m["parent_header"].get("msg_id") == msg_id
        )

    starts = [first("execute_input", msg_id) for msg_id in ids]
    ends = [idle(msg_id) for msg_id in ids]
    for index in range(1, len(ids)):
        assert starts[index] >= ends[index - 1], f"cell {index} began before cell {index - 1} ended"
    state = printed(recorder, ids[waiting + 1])
    assert "cancelled: True" in state and "cancelled" in state.split("runner state:")[1], state
