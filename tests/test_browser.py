"""The scan panel in a real JupyterLab, driven by headless Chromium.

JupyterLab serves a temporary copy of ``notebooks/`` on 127.0.0.1; Playwright
drives Debian's Chromium (no downloaded browser).  The tests check behaviour,
not speed (``python -m bench.browser_panel`` measures that):

* the quickstart notebook's cells run down to the one that starts the scan; the
  stage bars and the Cancel button render as widgets (not as text); Cancel stops
  the scan;
* a panel notebook: the live "top so far" agrees with the counters at two
  points of a scan, a double click on Cancel cancels once, a cancelled panel
  shows no ETA, a finished panel has a green Done button and wide tables that
  scroll, and a panel whose kernel stops answering (stopped, then restarted)
  hides its Cancel button and says it is stale.

Screenshots of the running, cancelled, finished and stale panels are kept in
``test-artifacts/`` (gitignored).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
NOTEBOOK = "01_quickstart.ipynb"
START_MARKER = "runner.start()"
#: The cells of the notebook on show (other notebooks' tabs may be open, hidden).
CELLS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:  # 127.0.0.1 only
        return json.loads(response.read())


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium (/usr/bin/chromium) is not installed; .ci/run installs it")
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(REPO_ROOT / "notebooks", root / "notebooks")
    (root / "notebooks" / PANEL_NOTEBOOK).write_text(json.dumps(_panel_notebook(root / "cache")))
    notification = root / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})  # no news prompt
    )
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        TECHNIC_NB_CACHE_DIR=str(root / "cache"),
        JUPYTER_RUNTIME_DIR=str(root),
        # no workspace or setting of another run (an open tab would start its kernel)
        JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"),
        JUPYTERLAB_SETTINGS_DIR=str(root / "settings"),
    )
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root / 'notebooks'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(root / "server.log", "w")  # noqa: SIM115 - closed in the finalizer
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _get_json(f"{base}/api/status?token={token}")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "server.log").read_text()[-3000:]) from None
                time.sleep(0.25)  # polling a server that is starting: no event to wait on
        yield base, token, server.pid
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _kernel_idle(base: str, token: str) -> bool:
    """Every running kernel is idle (and there is one)."""
    sessions = _get_json(f"{base}/api/sessions?token={token}")
    return bool(sessions) and all(
        s.get("kernel", {}).get("execution_state") == "idle" for s in sessions
    )


def _shut_down_kernels(base: str, token: str) -> None:
    """End every session, so the next test starts with its own kernel only."""
    for session in _get_json(f"{base}/api/sessions?token={token}"):
        request = urllib.request.Request(
            f"{base}/api/sessions/{session['id']}",
            method="DELETE",
            headers={"Authorization": f"token {token}"},
        )
        with urllib.request.urlopen(request, timeout=60):  # 127.0.0.1 only
            pass


def _launch(p):
    return p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def _page(browser, foreign_hosts: list[str], width: int = 1400):
    """A page that records every request to a host other than 127.0.0.1."""
    context = browser.new_context(viewport={"width": width, "height": 1000})

    def watch(request):
        host = urlsplit(request.url).hostname
        if host not in (None, "127.0.0.1", "localhost"):
            foreign_hosts.append(request.url)

    context.on("request", watch)
    return context.new_page()


def _open_notebook(page, base: str, token: str, name: str, n_cells: int):
    """Open ``name`` and wait until its cells are in the DOM and its kernel is idle."""
    workspace = f"test-{secrets.token_hex(4)}"  # its own: no tab of another test reopens
    page.goto(f"{base}/lab/workspaces/{workspace}/tree/{name}?token={token}")
    page.wait_for_selector(CELLS, timeout=90_000)
    cells = page.locator(CELLS)
    deadline = time.monotonic() + 90
    while cells.count() < n_cells or not _kernel_idle(base, token):
        assert time.monotonic() < deadline, "the notebook or its kernel never got ready"
        page.wait_for_timeout(250)
    return cells


def _run_cell(page, base: str, token: str, *, wait: bool = True, cell=None) -> None:
    """Shift+Enter on ``cell`` (default: the selected one); with ``wait``, until the kernel
    is idle again."""
    if cell is not None:  # select it in command mode (a click on a button may hold the focus)
        cell.locator(".jp-InputPrompt").click()
        page.keyboard.press("Escape")
    page.keyboard.press("Shift+Enter")
    if not wait:
        return
    deadline = time.monotonic() + 120
    page.wait_for_timeout(200)
    while not _kernel_idle(base, token):
        assert time.monotonic() < deadline, "a cell never finished"
        page.wait_for_timeout(200)


def test_quickstart_scan_renders_widgets_and_cancels(lab):
    base, token, _ = lab
    ARTIFACTS.mkdir(exist_ok=True)
    source = json.loads((REPO_ROOT / "notebooks" / NOTEBOOK).read_text())
    notebook_cells = source["cells"]
    start_index = next(
        i for i, c in enumerate(notebook_cells) if START_MARKER in "".join(c["source"])
    )
    foreign_hosts: list[str] = []
    with playwright_sync.sync_playwright() as p:
        browser = _launch(p)
        try:
            page = _page(browser, foreign_hosts)
            cells = _open_notebook(page, base, token, NOTEBOOK, len(notebook_cells))
            # run every cell down to the one that starts the scan
            cells.nth(0).click()
            for index in range(start_index + 1):
                _run_cell(page, base, token, wait=index < start_index)
            scan_cell = cells.nth(start_index)
            bars = scan_cell.locator(PROGRESS_BARS)
            bars.first.wait_for(timeout=60_000)
            cancel = scan_cell.get_by_role("button", name="Cancel")
            cancel.wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "quickstart-running.png"), full_page=True)
            output_text = scan_cell.locator(".jp-Cell-outputArea").inner_text()
            assert "HBox(" not in output_text and "VBox(" not in output_text, output_text
            assert bars.count() == 5  # four stages and the overall bar: tqdm's widgets
            assert cancel.is_enabled()

            cancel.click()
            page.wait_for_function(
                "el => el.innerText.includes('Cancelled after')",
                arg=scan_cell.element_handle(),
                timeout=30_000,
            )
            assert scan_cell.locator("button", has_text="Cancelled").is_disabled()
            status = scan_cell.locator(".jp-Cell-outputArea").inner_text()
            assert "run again to resume" in status
            page.screenshot(path=str(ARTIFACTS / "quickstart-cancelled.png"), full_page=True)
        finally:
            browser.close()
            _shut_down_kernels(base, token)
    assert not foreign_hosts, f"the page contacted other hosts: {foreign_hosts[:5]}"


# -- the panel notebook ------------------------------------------------------------------

PANEL_NOTEBOOK = "panel_check.ipynb"
#: ipywidgets' horizontal progress bar: what tqdm's notebook bars render as.
PROGRESS_BARS = ".widget-hprogress"


def _read_bars(cell) -> list[dict]:
    """Each tqdm bar of a panel as the page shows it: its label, its figures, how full its
    ipywidgets progress bar is drawn (percent) and its colour class."""
    return cell.evaluate(
        """el => Array.from(el.querySelectorAll('.widget-hprogress')).map(p => {
            const row = p.parentElement;
            const texts = Array.from(row.querySelectorAll('.widget-html-content'));
            const bar = p.querySelector('.progress-bar');
            const style = ['success', 'info', 'warning', 'danger'].find(
                s => bar.classList.contains('progress-bar-' + s)) || '';
            return {
                label: texts[0].innerText.replace(/\u2007/g, ' ').trim(),
                figures: texts[texts.length - 1].innerText.replace(/\u2007/g, ' ').trim(),
                width: parseFloat(bar.style.width),
                style: style,
            };
        })"""
    )


BIG = 8000  # symbols of the scans that are cancelled or stalled (several seconds)


def _panel_notebook(cache: Path) -> dict:
    """Cells: the configs; a big scan (cancelled); a small one (finishes); a big one (stalled)."""
    sources = [
        "import tempfile\n"
        "import technic_nb as tn\n"
        f"big = tn.ScanConfig(source='demo:{BIG}', cache_dir={str(cache / 'a')!r}, n_jobs=2)\n"
        f"small = tn.ScanConfig(source='demo:300', cache_dir={str(cache / 'b')!r}, n_jobs=2)\n"
        f"stalled = tn.ScanConfig(source='demo:{BIG}', cache_dir={str(cache / 'c')!r}, "
        "n_jobs=2)",
        "runner = tn.ScanRunner(big)\nrunner.start()",
        "finished = tn.ScanRunner(small)\nfinished.start()",
        "last = tn.ScanRunner(stalled)\nlast.start()",
    ]
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{i}",
                "metadata": {},
                "outputs": [],
                "source": text,
            }
            for i, text in enumerate(sources)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


_COUNTERS = re.compile(r"([\d,]+) of ([\d,]+) symbols done")
_CAPTION = re.compile(r"Top (\d+) so far of the ([\d,]+) symbols? done")
_RATE = re.compile(r"([\d,.]+) symbols/s")


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _live_view(cell) -> dict:
    """One reading of the panel's text, its live table and the order of its ratings."""
    reading = cell.evaluate(
        """el => ({
            text: el.innerText,
            ratings: Array.from(el.querySelectorAll('table.tn-live tbody tr')).map(
                tr => tr.children[3].innerText),
        })"""
    )
    text = reading["text"]
    done = _number(_COUNTERS.search(text).group(1))
    caption = _CAPTION.search(text)
    rate = _RATE.search(text)
    return {
        "done": done,
        "live": _number(caption.group(2)) if caption else None,
        "rows": int(caption.group(1)) if caption else 0,
        "rate": float(rate.group(1).replace(",", "")) if rate else 0.0,
        "ratings": [float(r) for r in reading["ratings"]],
        "text": text,
    }


def _wait_done(page, cell, at_least: int, live: bool = False, timeout: float = 120_000) -> None:
    """Wait until the counters (or, with ``live``, the live list) show ``at_least`` done."""
    pattern = (
        "Top \\d+ so far of the ([\\d,]+) symbols? done"
        if live
        else "([\\d,]+) of [\\d,]+ symbols done"
    )
    page.wait_for_function(
        """([el, n, pattern]) => {
            const m = el.innerText.match(new RegExp(pattern));
            return m && parseInt(m[1].replace(/,/g, '')) >= n;
        }""",
        arg=[cell.element_handle(), at_least, pattern],
        timeout=timeout,
    )


def _check_live_list(page, cell) -> list[dict]:
    """At two points of the scan the live list covers (almost) every symbol done."""
    readings = []
    for at_least in (BIG // 8, BIG // 4):
        _wait_done(page, cell, at_least, live=True)
        view = _live_view(cell)
        assert view["live"] is not None, view["text"]
        assert view["rows"] == len(view["ratings"]) == 10
        assert view["ratings"] == sorted(view["ratings"], reverse=True)
        # the list may trail the counters by about one second of symbols, not more
        assert view["live"] <= view["done"]
        assert view["done"] - view["live"] <= max(200.0, 2.0 * view["rate"]), view
        readings.append(view)
    assert readings[1]["live"] > readings[0]["live"]
    return readings


def _check_finished_panel(cell) -> None:
    done = cell.locator("button", has_text="Done")
    assert done.is_disabled()
    assert "mod-success" in done.get_attribute("class")  # green, not the orange of Cancel
    fits = cell.evaluate(
        """el => Array.from(el.querySelectorAll("div[style*='overflow-x']")).map(box => {
            const style = getComputedStyle(box);
            box.scrollLeft = box.scrollWidth;  // scrolled to the right end
            const cells = box.querySelectorAll('th, td');
            const last = cells[cells.length - 1];
            const reading = {
                overflow: style.overflowX,
                scrolls: box.scrollWidth > box.clientWidth,
                reachable: !last
                    || last.getBoundingClientRect().right
                        <= box.getBoundingClientRect().right + 1,
            };
            box.scrollLeft = 0;
            return reading;
        })"""
    )
    assert fits, "no scrolling box around the result tables"
    assert all(f["overflow"] == "auto" and f["reachable"] for f in fits), fits


def _kernel_process(base: str, token: str, server_pid: int, name: str):
    """The process of the kernel of notebook ``name`` (its connection file names it)."""
    psutil = pytest.importorskip("psutil")
    sessions = _get_json(f"{base}/api/sessions?token={token}")
    (kernel_id,) = [s["kernel"]["id"] for s in sessions if s["path"].endswith(name)]
    kernels = [
        p
        for p in psutil.Process(server_pid).children(recursive=True)
        if f"kernel-{kernel_id}" in " ".join(p.cmdline())
    ]
    assert len(kernels) == 1, kernels
    return kernels[0]


def _restart_kernel(base: str, token: str, name: str) -> None:
    sessions = _get_json(f"{base}/api/sessions?token={token}")
    (session,) = [s for s in sessions if s["path"].endswith(name)]
    request = urllib.request.Request(
        f"{base}/api/kernels/{session['kernel']['id']}/restart",
        method="POST",
        headers={"Authorization": f"token {token}"},
        data=b"",
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # 127.0.0.1 only
        assert response.status == 200


_COVERED = """el => {
    // the topmost of the note and the button at the button's centre; JupyterLab's own
    // overlays (toolbars, the active cell's tools) may lie above both and do not count
    const cancel = el.querySelector("[class*='tn-cancel-']");
    cancel.scrollIntoView({block: "center"});
    const box = cancel.getBoundingClientRect();
    const stack = document.elementsFromPoint(box.x + box.width / 2, box.y + box.height / 2);
    const first = stack.find(e => cancel.contains(e) || !!e.closest("[class*='tn-note-']"));
    return first !== undefined && !cancel.contains(first);
}"""


def _check_stale(page, cell, base: str, token: str, server_pid: int) -> None:
    """A kernel that stops answering turns the panel stale: its note covers the Cancel
    button; answering again revives it; a restart leaves no live Cancel button."""
    note = cell.locator("[class*='tn-note-']")
    _wait_done(page, cell, 100)
    cell.locator("[class*='tn-cancel-']").scroll_into_view_if_needed()
    assert note.is_hidden() and not cell.evaluate(_COVERED)
    kernel = _kernel_process(base, token, server_pid, PANEL_NOTEBOOK)
    kernel.suspend()  # SIGSTOP: no update, and JupyterLab sees no restart
    try:
        note.wait_for(state="visible", timeout=30_000)
        assert cell.evaluate(_COVERED), "the stale note does not cover the Cancel button"
        cell.screenshot(path=str(ARTIFACTS / "panel-stale.png"))
    finally:
        kernel.resume()
    note.wait_for(state="hidden", timeout=30_000)  # updates again: live again
    assert not cell.evaluate(_COVERED)
    _restart_kernel(base, token, PANEL_NOTEBOOK)  # the scan is gone with the kernel
    # not live any more: stale (no word from the kernel), or stopped by the kernel's
    # shutdown; either way there is no Cancel button to click
    page.wait_for_function(
        f"""el => ({_COVERED})(el) || (
            el.innerText.includes('the kernel shut down or restarted')
            && el.querySelector("[class*='tn-cancel-']").disabled)""",
        arg=cell.element_handle(),
        timeout=30_000,
    )
    cell.screenshot(path=str(ARTIFACTS / "panel-restarted.png"))


def test_panel_live_list_cancel_finish_and_stale(lab):
    base, token, server_pid = lab
    ARTIFACTS.mkdir(exist_ok=True)
    foreign_hosts: list[str] = []
    with playwright_sync.sync_playwright() as p:
        browser = _launch(p)
        try:
            page = _page(browser, foreign_hosts, width=1100)
            cells = _open_notebook(page, base, token, PANEL_NOTEBOOK, 4)
            _run_cell(page, base, token, cell=cells.nth(0))
            # a running scan: the live list against the counters, then a double click
            running = cells.nth(1)
            _run_cell(page, base, token, cell=running)
            running.locator(PROGRESS_BARS).first.wait_for(timeout=60_000)
            assert "VBox(" not in running.inner_text()
            _check_live_list(page, running)
            running.screenshot(path=str(ARTIFACTS / "panel-running.png"))
            running.get_by_role("button", name="Cancel").dblclick()
            page.wait_for_function(
                "el => el.innerText.includes('Cancelled after')",
                arg=running.element_handle(),
                timeout=30_000,
            )
            text = running.inner_text()
            assert len([line for line in text.splitlines() if line.endswith("Cancel clicked")]) == 1
            assert "ETA" not in text and "(stopped)" in text and "::" not in text
            bars = _read_bars(running)
            assert [b["style"] for b in bars] == ["success", "danger", "danger", "danger", "danger"]
            scanning = bars[2]
            assert scanning["label"] == "scanning (stopped)"
            assert 0 < scanning["width"] < 100
            running.screenshot(path=str(ARTIFACTS / "panel-cancelled.png"))
            # a scan that finishes
            finished = cells.nth(2)
            _run_cell(page, base, token, cell=finished)
            page.wait_for_function(
                "el => el.innerText.includes('Scanned 300 symbols') && /Top 25 of 300 ranked/"
                ".test(el.innerText)",
                arg=finished.element_handle(),
                timeout=120_000,
            )
            _check_finished_panel(finished)
            bars = _read_bars(finished)
            assert [b["style"] for b in bars] == ["success"] * 5
            assert [b["width"] for b in bars] == [100.0] * 5
            assert bars[2]["label"] == "scanning" and "100% 300/300" in bars[2]["figures"]
            finished.screenshot(path=str(ARTIFACTS / "panel-finished.png"))
            # a scan whose kernel stops answering, then is restarted
            last = cells.nth(3)
            _run_cell(page, base, token, wait=False, cell=last)
            _check_stale(page, last, base, token, server_pid)
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / "panel-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
            _shut_down_kernels(base, token)
    assert not foreign_hosts, f"the page contacted other hosts: {foreign_hosts[:5]}"
