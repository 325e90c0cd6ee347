"""The Cancel button in a real kernel: a click sent the way the front end sends it.

A kernel (this interpreter, through a temporary kernelspec, so no installed
kernelspec is needed) runs ``ScanRunner(...).start()``.  The test finds the
Cancel button's widget model among the ``comm_open`` messages, waits until
symbols are being scanned, sends the click as JupyterLab does (a ``comm_msg``
on the shell channel), and checks that the scan stopped within 2 seconds with
a partial result; then it runs the same scan again and checks that it resumes
from the cache and finishes.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

from kernel_support import (  # noqa: E402
    execute,
    progressed,
    report,
    start_kernel,
    widget_models,
)

pytestmark = pytest.mark.slow

SYMBOLS = 2000


@pytest.fixture
def kernel(tmp_path):
    """A kernel of this interpreter through a temporary kernelspec; shut down afterwards."""
    yield from start_kernel(tmp_path)


_widget_models = widget_models
_progressed = progressed


def _widget_update(msg: dict[str, Any], comm_id: str, key: str) -> Any:
    if msg["msg_type"] != "comm_msg" or msg["content"].get("comm_id") != comm_id:
        return None
    data = msg["content"].get("data", {})
    if data.get("method") != "update":
        return None
    return data.get("state", {}).get(key)


def test_cancel_click_in_kernel_stops_and_rerun_resumes(kernel, tmp_path: Path):
    _, client, recorder = kernel
    cache = tmp_path / "cache"
    setup = (
        "import json, time\n"
        "from technic_nb import ScanConfig, ScanRunner\n"
        f"config = ScanConfig(source='demo:{SYMBOLS}', cache_dir={str(cache)!r}, n_jobs=2)\n"
        "runner = ScanRunner(config)\n"
        "runner.start()\n"
    )
    started = time.monotonic()
    out = execute(client, recorder, setup)
    assert time.monotonic() - started < 30, "start() must return at once"
    assert any("application/vnd.jupyter.widget-view+json" in r for r in out["results"])

    # the widget models of the panel
    models = _widget_models(recorder)
    buttons = [
        cid
        for cid, state in models.items()
        if state.get("_model_name") == "ButtonModel" and "Cancel" in state.get("description", "")
    ]
    assert len(buttons) == 1, models
    button = buttons[0]
    html_models = [cid for cid, s in models.items() if s.get("_model_name") == "HTMLModel"]

    # wait until the scan runs and symbols are done (the kernel is free meanwhile)
    code = (
        "print(json.dumps({'state': str(runner.state), "
        "'done': runner.progress.stage('symbol_scanning').current}))"
    )
    deadline = time.monotonic() + 180
    while True:
        status = report(client, recorder, code)
        assert status["state"] == "running", status
        if status["done"] >= 150:
            break
        assert time.monotonic() < deadline, f"no progress: {status}"
        # the next widget update (the panel refreshes while symbols finish)
        recorder.wait_for(
            lambda m: m["msg_type"] == "comm_msg", timeout=10, start=len(recorder.messages())
        )

    # the click, as the front end sends it
    mark = len(recorder.messages())
    click = client.session.msg(
        "comm_msg",
        {"comm_id": button, "data": {"method": "custom", "content": {"event": "click"}}},
    )
    client.shell_channel.send(click)
    clicked = time.monotonic()
    recorder.wait_for(lambda m: _widget_update(m, button, "disabled") is True, 10, start=mark)
    seen, _ = recorder.wait_for(
        lambda m: any(
            "Cancelled after" in str(_widget_update(m, cid, "value") or "") for cid in html_models
        ),
        timeout=30,
        start=mark,
    )
    observed = seen - clicked

    result = report(
        client,
        recorder,
        "r = runner.wait(10)\n"
        "print(json.dumps({'cancelled': r.cancelled, 'state': str(runner.state), "
        "'latency': runner.cancel_latency, 'done': r.stats['done'], "
        "'symbols': r.stats['symbols'], 'status': r.status}))",
    )
    print(
        f"click -> cancelled: {result['latency']:.3f} s in the kernel, "
        f"{observed:.3f} s seen by the client ({result['done']} of {result['symbols']} done)"
    )
    assert result["cancelled"] is True and result["state"] == "cancelled"
    assert result["latency"] < 2.0
    assert observed < 2.0
    assert 150 <= result["done"] < result["symbols"] == SYMBOLS
    assert result["status"].startswith(f"Cancelled after {result['done']} of {SYMBOLS} symbols")

    # the same cell again: a new runner on the same cache resumes and finishes
    resumed = report(
        client,
        recorder,
        "runner = ScanRunner(config)\n"
        "runner.start()\n"
        "r = runner.wait(300)\n"
        "print(json.dumps({'cancelled': r.cancelled, 'state': str(runner.state), "
        "'from_cache': r.stats['from_cache'], 'symbols': r.stats['symbols']}))",
        timeout=330,
    )
    assert resumed["state"] == "finished" and resumed["cancelled"] is False
    assert resumed["symbols"] == SYMBOLS
    assert resumed["from_cache"] >= result["done"]

    # nothing went to a stray stream (background threads write to widgets only)
    stray = [
        m["content"]["text"]
        for _, m in recorder.messages()
        if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"
    ]
    assert stray == []

    # results display as HTML, figures as images
    shown = execute(client, recorder, "runner.result")
    assert any("Scanned" in r.get("text/html", "") for r in shown["results"])
    figure = execute(client, recorder, "runner.result.plot_sectors()")
    assert any("image/png" in r for r in figure["results"])


def _idle(msg_id: str):
    return lambda m: (
        m["parent_header"].get("msg_id") == msg_id
        and m["msg_type"] == "status"
        and m["content"]["execution_state"] == "idle"
    )


def test_interrupting_wait_raises_and_the_scan_goes_on(kernel, tmp_path: Path):
    """Kernel > Interrupt during ``runner.wait()``: KeyboardInterrupt, the scan keeps running.

    The interrupt reaches the whole process group; the workers ignore it (their
    first task), so only the waiting cell sees it.
    """
    manager, client, recorder = kernel
    cache = tmp_path / "cache"
    execute(
        client,
        recorder,
        "import json\n"
        "from technic_nb import ScanConfig, ScanRunner\n"
        f"config = ScanConfig(source='demo:{SYMBOLS * 5}', cache_dir={str(cache)!r}, n_jobs=2)\n"
        "runner = ScanRunner(config)\n"
        "runner.start()\n",
    )
    mark = len(recorder.messages())
    msg_id = client.execute("r = runner.wait()")
    recorder.wait_for(_progressed(100), timeout=180, start=mark)
    manager.interrupt_kernel()
    recorder.wait_for(_idle(msg_id), timeout=60, start=mark)
    errors = [
        m["content"]
        for _, m in recorder.messages()[mark:]
        if m["msg_type"] == "error" and m["parent_header"].get("msg_id") == msg_id
    ]
    assert [e["ename"] for e in errors] == ["KeyboardInterrupt"]
    assert "still running in the background" in errors[0]["evalue"]
    state = report(
        client,
        recorder,
        "print(json.dumps({'state': str(runner.state), 'done': runner.progress.stage("
        "'symbol_scanning').current}))",
    )
    assert state["state"] == "running", state
    ended = report(
        client,
        recorder,
        "runner.cancel()\nr = runner.wait(30)\n"
        "print(json.dumps({'cancelled': r.cancelled, 'done': r.stats['done']}))",
    )
    assert ended["cancelled"] is True and ended["done"] >= state["done"]


def test_killed_kernel_leaves_no_worker_behind(kernel, tmp_path: Path):
    """SIGKILL the kernel mid-scan: its loky workers and resource trackers exit within 10 s."""
    psutil = pytest.importorskip("psutil")
    manager, client, recorder = kernel
    cache = tmp_path / "cache"
    mark = len(recorder.messages())
    execute(
        client,
        recorder,
        "from technic_nb import ScanConfig, ScanRunner\n"
        f"config = ScanConfig(source='demo:{SYMBOLS * 5}', cache_dir={str(cache)!r}, n_jobs=2)\n"
        "runner = ScanRunner(config)\n"
        "runner.start()\n",
    )
    recorder.wait_for(_progressed(100), timeout=180, start=mark)
    kernel_process = psutil.Process(manager.provisioner.pid)
    descendants = kernel_process.children(recursive=True)
    workers = [p for p in descendants if "loky" in " ".join(p.cmdline())]
    assert len(workers) >= 2, [p.cmdline() for p in descendants]
    os.kill(kernel_process.pid, signal.SIGKILL)
    _, alive = psutil.wait_procs(descendants, timeout=10.0)
    for process in alive:
        process.kill()
    assert not alive, [p.pid for p in alive]


def test_kernel_interrupt_stops_blocking_run(kernel, tmp_path: Path):
    """Kernel > Interrupt during ``run()``: the cell ends normally with a partial result."""
    manager, client, recorder = kernel
    cache = tmp_path / "cache"
    mark = len(recorder.messages())
    msg_id = client.execute(
        "import json\n"
        "from technic_nb import ScanConfig, ScanRunner\n"
        f"config = ScanConfig(source='demo:{SYMBOLS}', cache_dir={str(cache)!r}, n_jobs=2)\n"
        "runner = ScanRunner(config)\n"
        "r = runner.run()\n"
        "print(json.dumps({'cancelled': r.cancelled, 'state': str(runner.state), "
        "'latency': runner.cancel_latency, 'done': r.stats['done']}))\n"
    )

    recorder.wait_for(_progressed(100), timeout=180, start=mark)
    manager.interrupt_kernel()
    recorder.wait_for(
        lambda m: (
            m["parent_header"].get("msg_id") == msg_id
            and m["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle"
        ),
        timeout=60,
        start=mark,
    )
    errors = [
        m["content"]["ename"]
        for _, m in recorder.messages()[mark:]
        if m["msg_type"] == "error" and m["parent_header"].get("msg_id") == msg_id
    ]
    assert errors == []
    text = "".join(
        m["content"]["text"]
        for _, m in recorder.messages()[mark:]
        if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id
    )
    result = json.loads(text.strip().splitlines()[-1])
    assert result["cancelled"] is True and result["state"] == "cancelled"
    assert result["latency"] < 2.0 and 100 <= result["done"] < SYMBOLS
    # the blocking form's wait handles clicks (tests/test_kernel_wait.py): the button
    # is shown enabled, and the log says the run was interrupted
    buttons = [
        s for s in _widget_models(recorder).values() if s.get("_model_name") == "ButtonModel"
    ]
    assert buttons and not any(b["disabled"] for b in buttons)
    log = report(client, recorder, "print(json.dumps(runner.messages))")
    assert any(line.startswith("Interrupted") for line in log), log
