"""The panel's stage bars are tqdm's notebook bars, in a real kernel and on their own.

In a kernel (this interpreter, through a temporary kernelspec), three runners
show their panels: a scan that finishes, one cancelled while it scans, and one
that fails while it fetches (a refused API key).  The test reads in the kernel
what each of the five bars shows (``panel.stage_bars.shown()``) and checks, from
the widget messages the kernel sent, that the front end got tqdm's own widgets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kernel_support import execute, report, start_kernel

import technic_nb as tn
from technic_nb.notebook.bars import StageBars

STAGES = ["universe_loading", "data_fetching", "symbol_scanning", "finalization"]


def test_bars_follow_the_snapshot_and_keep_each_stage_clock():
    tracker = tn.MultiStageProgressTracker()
    bars = StageBars()
    tracker.start_stage("universe_loading", 3)
    tracker.finish_stage("universe_loading")
    tracker.start_stage("symbol_scanning", 200)
    tracker.advance("symbol_scanning", 50)
    bars.show(tracker.snapshot())
    shown = bars.shown()
    assert shown["universe_loading"].bar_style == "success"
    assert shown["symbol_scanning"].text.startswith("scanning|  25% 50/200 [")
    assert "symbols/s" in shown["symbol_scanning"].figures
    assert shown["data_fetching"].figures == " waiting"
    tracker.set_total("symbol_scanning", 400)  # a total that changes while it runs
    tracker.advance("symbol_scanning", 50)
    bars.show(tracker.snapshot())
    scanning = bars.shown()["symbol_scanning"]
    assert (scanning.value, scanning.max) == (100, 400)
    assert scanning.text.startswith("scanning|  25% 100/400 [")


# -- in a real kernel ----------------------------------------------------------------------


@pytest.fixture
def kernel(tmp_path):
    yield from start_kernel(tmp_path)


_SHOW = """
import json
from tqdm.notebook import tqdm as notebook_tqdm
def bars_of(runner):
    sb = runner.panel.stage_bars
    every = [*sb.bars.values(), sb.overall]
    return {
        "tqdm": all(isinstance(b, notebook_tqdm) for b in every),
        "in_panel": list(sb.widget.children) == [b.container for b in every],
        "state": str(runner.state),
        "bars": {k: [v.text, v.bar_style, v.value, v.max] for k, v in sb.shown().items()},
    }
"""


def test_the_panels_bars_after_a_finished_a_cancelled_and_a_failed_scan(kernel, tmp_path: Path):
    _, client, recorder = kernel
    cache = tmp_path / "cache"
    execute(client, recorder, _SHOW + "import technic_nb as tn\n")

    # a scan that finishes
    finished = report(
        client,
        recorder,
        f"config = tn.ScanConfig(source='demo:300', cache_dir={str(cache / 'a')!r}, n_jobs=2)\n"
        "runner = tn.ScanRunner(config)\n"
        "runner.start()\n"
        "runner.wait(300)\n"
        "print(json.dumps(bars_of(runner)))",
        timeout=330,
    )
    assert finished["tqdm"] and finished["in_panel"] and finished["state"] == "finished"
    bars = finished["bars"]
    assert [bars[s][1] for s in [*STAGES, "overall"]] == ["success"] * 5
    assert all(value == top for _, _, value, top in bars.values())
    assert bars["symbol_scanning"][0].startswith("scanning| 100% 300/300 [")
    assert bars["data_fetching"][0].startswith("fetching| 100% 300/300 [")
    assert bars["overall"][0].startswith("overall| 100% [")

    # a scan cancelled while it scans
    cancelled = report(
        client,
        recorder,
        f"config = tn.ScanConfig(source='demo:6000', cache_dir={str(cache / 'b')!r}, n_jobs=2)\n"
        "runner = tn.ScanRunner(config)\n"
        "runner.start()\n"
        "import time\n"
        "while runner.progress.stage('symbol_scanning').current < 200:\n"
        "    assert not runner.done\n"
        "    time.sleep(0.05)\n"
        "runner.cancel()\n"
        "runner.wait(60)\n"
        "print(json.dumps(bars_of(runner)))",
        timeout=330,
    )
    assert cancelled["tqdm"] and cancelled["state"] == "cancelled"
    bars = cancelled["bars"]
    assert bars["universe_loading"][1] == "success"
    for stage in ("data_fetching", "symbol_scanning"):
        text, style, value, top = bars[stage]
        assert style == "danger" and 200 <= value < top == 6000
        assert "(stopped)|" in text and "<" not in text.split("|", 1)[1]  # no time left
    assert bars["finalization"][0] == "finalizing| not started"
    assert bars["overall"][1] == "danger" and bars["overall"][0].endswith(", cancelled")

    # a scan that fails while fetching: the data service refuses the key
    failed = report(
        client,
        recorder,
        "from technic_nb.testing import FakePolygonServer\n"
        "server = FakePolygonServer(tn.DemoSource(n_symbols=50), api_key='right-key')\n"
        "server.start()\n"
        "source = tn.PolygonSource(api_key='wrong-key', base_url=server.base_url)\n"
        "symbols = list(tn.DemoSource(n_symbols=50).universe()['symbol'])\n"
        "config = tn.ScanConfig(source=source, universe=symbols, as_of='2025-06-30', "
        f"cache_dir={str(cache / 'c')!r}, n_jobs=2)\n"
        "runner = tn.ScanRunner(config)\n"
        "runner.start()\n"
        "try:\n"
        "    runner.wait(120)\n"
        "except tn.ScanError:\n"
        "    pass\n"
        "server.stop()\n"
        "print(json.dumps(bars_of(runner)))",
        timeout=180,
    )
    assert failed["tqdm"] and failed["state"] == "failed"
    bars = failed["bars"]
    assert bars["universe_loading"][1] == "success"
    assert bars["data_fetching"][1] == "danger" and "(stopped)" in bars["data_fetching"][0]
    assert bars["finalization"][0] == "finalizing| not started"
    assert bars["overall"][1] == "danger" and bars["overall"][0].endswith(", failed")

    # the front end got tqdm's widgets: five progress bars for each of the three panels
    opened = [
        json.dumps(m["content"]["data"]["state"])
        for _, m in recorder.messages()
        if m["msg_type"] == "comm_open"
        and m["content"].get("data", {}).get("state", {}).get("_model_name") == "FloatProgressModel"
    ]
    assert len(opened) == 15
