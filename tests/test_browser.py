"""The quickstart notebook in a real JupyterLab, driven by headless Chromium.

JupyterLab serves a temporary copy of ``notebooks/`` on 127.0.0.1; Playwright
drives Debian's Chromium (no downloaded browser).  The test runs the notebook's
cells down to the one that starts the scan, checks that the stage bars and the
Cancel button render as widgets (not as text), clicks Cancel, and checks the
cancelled status.  Screenshots are kept in ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
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
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, TECHNIC_NB_CACHE_DIR=str(root / "cache"), JUPYTER_RUNTIME_DIR=str(root))
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
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _kernel_idle(base: str, token: str) -> bool:
    sessions = _get_json(f"{base}/api/sessions?token={token}")
    return bool(sessions) and all(
        s.get("kernel", {}).get("execution_state") == "idle" for s in sessions
    )


def test_quickstart_scan_renders_widgets_and_cancels(lab):
    base, token = lab
    ARTIFACTS.mkdir(exist_ok=True)
    source = json.loads((REPO_ROOT / "notebooks" / NOTEBOOK).read_text())
    notebook_cells = source["cells"]
    start_index = next(
        i for i, c in enumerate(notebook_cells) if START_MARKER in "".join(c["source"])
    )
    foreign_hosts: list[str] = []
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})

            def watch(request):
                host = urlsplit(request.url).hostname
                if host not in (None, "127.0.0.1", "localhost"):
                    foreign_hosts.append(request.url)

            context.on("request", watch)
            page = context.new_page()
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            cells = page.locator(".jp-Notebook .jp-Cell")
            deadline = time.monotonic() + 90
            while cells.count() < len(notebook_cells) or not _kernel_idle(base, token):
                assert time.monotonic() < deadline, "the notebook or its kernel never got ready"
                page.wait_for_timeout(250)

            # run every cell down to the one that starts the scan
            cells.nth(0).click()
            for index in range(start_index + 1):
                page.keyboard.press("Shift+Enter")
                if index < start_index:
                    deadline = time.monotonic() + 120
                    page.wait_for_timeout(200)
                    while not _kernel_idle(base, token):
                        assert time.monotonic() < deadline, f"cell {index} never finished"
                        page.wait_for_timeout(200)
            scan_cell = cells.nth(start_index)
            bars = scan_cell.locator(".widget-hprogress")
            bars.first.wait_for(timeout=60_000)
            cancel = scan_cell.get_by_role("button", name="Cancel")
            cancel.wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "quickstart-running.png"), full_page=True)
            output_text = scan_cell.locator(".jp-Cell-outputArea").inner_text()
            assert "HBox(" not in output_text and "VBox(" not in output_text, output_text
            assert bars.count() >= 5  # four stages and the overall bar
            assert cancel.is_enabled()

            cancel.click()
            page.wait_for_function(
                "el => el.innerText.includes('Cancelled after')",
                arg=scan_cell.element_handle(),
                timeout=30_000,
            )
            assert cancel.is_disabled()
            status = scan_cell.locator(".jp-Cell-outputArea").inner_text()
            assert "run again to resume" in status
            page.screenshot(path=str(ARTIFACTS / "quickstart-cancelled.png"), full_page=True)
        finally:
            browser.close()
    assert not foreign_hosts, f"the page contacted other hosts: {foreign_hosts[:5]}"
