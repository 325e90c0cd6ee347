"""What the scan panel costs: a scan with the panel against ``tn.scan``, in one kernel.

``python -m bench.browser_panel [--symbols N] [--rounds R] [--modes ...] [--out FILE]``
prints the figures and writes them to a JSON file (default
``bench/browser_panel.json``); the suite (``python -m bench``) calls :func:`run`.

Every comparison is rounds of ``A B B A`` in one process: A is ``tn.scan(config)``,
B is ``ScanRunner(config).start()`` then ``wait()`` with the panel shown, on the
same configuration (the demo market, ``n_jobs=-1``, a fresh cache folder per
scan), so drift hits both sides alike.  Throughput is the scan's own
(``symbols / result.stats["elapsed"]``).  Four modes:

* ``inprocess``: this process; the panel is built (widgets without a front end);
* ``kernel``: a Jupyter kernel driven by jupyter_client, no browser: every widget
  message goes out on iopub and is read (the "headless" figure);
* ``browser``: JupyterLab and headless Chromium render the panel;
* ``browser_busy``: the same while two other processes spin on both cores.

Per scan it also records where the time goes: CPU seconds of the kernel process
(the scan's main thread, the panel's tick, the live table), of its loky
workers, of the Jupyter server and of Chromium; the widget messages (kernel
mode: iopub ``comm_msg``; browser: websocket frames received by the page); the
tick's and the live table's own CPU (``runner.view.costs``).  One more panel
scan per mode measures how far the live "top so far" trails the counters.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

from bench.stats import summarize

BENCH_DIR = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
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
MODES = ("inprocess", "kernel", "browser", "browser_busy", "frontend")
#: Seconds of each front-end variant (``frontend`` mode), and the variants.
DRIVE_SECONDS = 10
VARIANTS = ("idle", "bars", "live")
#: Targets: the panel's scan against tn.scan (median of the rounds' ratios).
TARGETS = {"inprocess": 0.97, "kernel": 0.97, "browser": 0.95, "browser_busy": 0.95}

#: Runs in the kernel (or this process): one scan, its figures appended to ``out``.
TRIAL = textwrap.dedent(
    """
    import bisect, dataclasses, json, shutil, statistics, tempfile, time
    import psutil
    import technic_nb as tn

    def _cpu(process):
        times = process.cpu_times()
        return times.user + times.system

    def _children_cpu(process):
        total = 0.0
        for child in process.children(recursive=True):
            try:
                total += _cpu(child)
            except psutil.Error:
                pass
        return total

    def _watch_lag(runner):
        reached, updates = [], []
        runner.tracker.add_listener(
            lambda stage, current, total, message, metadata: reached.append(
                (time.monotonic(), current)) if stage == "symbol_scanning" else None)
        live = getattr(runner.view, "live", None)
        if live is None:  # a version of the package without a live table of its own
            return lambda: None
        catch_up = live.catch_up

        def wrapped(*args, **kwargs):
            changed = catch_up(*args, **kwargs)
            updates.append((time.monotonic(), live.counts.done))
            return changed

        live.catch_up = wrapped

        def summary():
            times = [t for t, _ in reached]
            dones = [d for _, d in reached]
            ages = []
            for (_, shown), (replaced, _) in zip(updates, updates[1:]):
                first = bisect.bisect_left(dones, shown)
                if shown and first < len(times):
                    ages.append(replaced - times[first])
            return {"updates": len(updates), "max_age_s": max(ages or [0.0]),
                    "median_age_s": statistics.median(ages or [0.0])}
        return summary

    _TOP = None

    def bench_drive(variant, seconds, out):
        # a panel driven as a 2,000 symbols/s scan would, with no scan: the front end's
        # share of each part (idle: no panel; bars: bars, counters and stale note;
        # live: and the live table); a variant ending in _1s ticks once a second
        global _TOP
        from IPython.display import display
        from technic_nb.notebook.live import LiveCounts, LiveTop
        from technic_nb.notebook.panel import ScanPanel
        if _TOP is None:
            rows = {}
            tn.scan(tn.ScanConfig(source="demo:300", cache_dir=tempfile.mkdtemp()),
                    row_listener=lambda s, f: rows.__setitem__(s, dict(f)))
            live = LiveTop(tn.ScanConfig())
            for symbol, features in rows.items():
                live.add(symbol, features)
            live.catch_up()
            _TOP = live.table()
        tracker = tn.MultiStageProgressTracker()
        tracker.start_stage("universe_loading", 3)
        tracker.finish_stage("universe_loading")
        for stage in ("data_fetching", "symbol_scanning"):
            tracker.start_stage(stage, 10 ** 6)
        panel = None
        if variant != "idle":
            panel = ScanPanel(tn.ScanConfig(source="demo:20000"))
            display(panel.widget)
        me = psutil.Process()
        cpu, started, done = _cpu(me), time.monotonic(), 0
        tick = 1.0 if variant.endswith("_1s") else 0.5  # the panel's tick
        variant = variant.removesuffix("_1s")
        while time.monotonic() - started < seconds:
            time.sleep(tick)
            done += int(2000 * tick)
            for stage in ("data_fetching", "symbol_scanning"):
                tracker.advance(stage, 1000)
            if variant == "counters":  # diagnostics: one kind of update alone
                panel.counters.value = f"<b>{done:,}</b> of 1,000,000 symbols done"
            elif variant == "onehtml":  # every bar and the counters as one HTML update
                width = (done % 100000) / 1000
                bar = ("<div style='display:flex;align-items:center;margin:2px 0'>"
                       "<span style='width:10em'>scanning</span><div style='flex:0 0 40%;"
                       "height:14px;background:#e5e7eb'><div style='height:100%;width:"
                       f"{width}%;background:#2196f3'></div></div><span style='margin-left:6px;"
                       f"font-size:12px'>{width:.0f}% · {done:,} of 1,000,000 symbols</span></div>")
                panel.counters.value = bar * 5 + f"<b>{done:,}</b> of 1,000,000 symbols done"
            elif variant == "progress":
                for bar in (*panel.bars.values(), panel.overall):
                    bar.progress.value = (done % 100000) / 100000
            elif panel is not None:
                panel.refresh(tracker.snapshot(), "running")
                if variant == "live":
                    top = _TOP.iloc[(done // 2000) % 3:].head(10)  # changes now and then
                    panel.show_top(top, LiveCounts(done, done, 0, 0))
        elapsed = time.monotonic() - started
        record = {"kind": "drive", "variant": variant, "elapsed": elapsed,
                  "kernel_cpu": _cpu(me) - cpu, "n": done, "rate": done / elapsed}
        with open(out, "a") as file:
            file.write(json.dumps(record) + "\\n")
        return record

    import os as _os
    if _os.environ.get("TECHNIC_NB_PANEL_REFRESH"):  # the panel's tick, for a comparison
        tn.ScanRunner.refresh_interval = float(_os.environ["TECHNIC_NB_PANEL_REFRESH"])
        tn.ScanRunner.live_interval = max(
            tn.ScanRunner.refresh_interval, getattr(tn.ScanRunner, "live_interval", 0.0))

    def bench_trial(kind, n, root, out, display=True):
        cache = tempfile.mkdtemp(dir=root)
        config = tn.ScanConfig(source=f"demo:{n}", cache_dir=cache)
        me = psutil.Process()
        cpu, children = _cpu(me), _children_cpu(me)
        record = {"kind": kind, "n": n, "started": time.time()}
        if kind == "plain":
            result = tn.scan(config)
        else:
            runner = tn.ScanRunner(config, display=display, console=False)
            runner.panel
            lag = _watch_lag(runner) if kind == "lag" else None
            runner.start()
            result = runner.wait()
            costs = getattr(runner.view, "costs", None)
            if costs is not None:
                record["costs"] = dataclasses.asdict(costs)
            if lag is not None and lag() is not None:
                record["lag"] = lag()
        elapsed = result.stats["elapsed"]
        record.update(elapsed=elapsed, rate=n / elapsed, kernel_cpu=_cpu(me) - cpu,
                      workers_cpu=_children_cpu(me) - children, ended=time.time())
        shutil.rmtree(cache, ignore_errors=True)
        with open(out, "a") as file:
            file.write(json.dumps(record) + "\\n")
        return record
    """
)


def log(message: str) -> None:
    """One progress line on stderr."""
    print(f"[browser_panel {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _cpu(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        times = process.cpu_times()
        return times.user + times.system
    return 0.0


def _tree_cpu(processes: list[psutil.Process]) -> float:
    return sum(_cpu(p) for p in processes)


@contextlib.contextmanager
def busy_cores(n: int = 2) -> Iterator[None]:
    """``n`` other processes spinning (both cores busy) while inside."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for proc in spinners:
            proc.kill()
            proc.wait(10)


# -- the three places a trial runs ---------------------------------------------------------


class InProcess:
    """Trials in this process (the panel's widgets have no front end)."""

    name = "inprocess"

    def __init__(self, root: Path) -> None:
        self.namespace: dict[str, Any] = {}
        exec(compile(TRIAL, "<trial>", "exec"), self.namespace)
        self.root = root

    def trial(self, kind: str, n: int, out: Path) -> dict[str, Any]:
        fn = self.namespace["bench_trial"]
        return dict(fn(kind, n, str(self.root), str(out), display=False))

    def close(self) -> None:
        """Nothing to stop."""


class _Iopub:
    """Counts the widget messages a kernel sends (read in a thread)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.comm_msgs = 0
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.client.get_iopub_msg(timeout=0.2)
            except Exception:  # queue.Empty, or the channel closing
                continue
            if msg["msg_type"] == "comm_msg":
                self.comm_msgs += 1
                self.bytes += len(json.dumps(msg["content"]))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


class Kernel:
    """Trials in a Jupyter kernel through jupyter_client (no browser)."""

    name = "kernel"

    def __init__(self, root: Path) -> None:
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager

        spec_dir = root / "kernels" / "bench-python"
        spec_dir.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "bench",
            "language": "python",
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        specs = KernelSpecManager(kernel_dirs=[str(root / "kernels")])
        self.manager = KernelManager(kernel_name="bench-python", kernel_spec_manager=specs)
        self.manager.start_kernel(cwd=str(root), env=_kernel_env())
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)
        self.iopub = _Iopub(self.client)
        self.root = root
        self.process = psutil.Process(self.manager.provisioner.pid)
        self.execute(TRIAL)

    def execute(self, code: str, timeout: float = 900) -> None:
        msg_id = self.client.execute(code)
        deadline = time.monotonic() + timeout
        while True:
            reply = self.client.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the kernel failed: {reply['content']}")

    def trial(self, kind: str, n: int, out: Path) -> dict[str, Any]:
        before = self.iopub.comm_msgs, self.iopub.bytes
        self.execute(f"_r = bench_trial({kind!r}, {n}, {str(self.root)!r}, {str(out)!r})")
        record = _last_record(out)
        record["messages"] = self.iopub.comm_msgs - before[0]
        record["message_bytes"] = self.iopub.bytes - before[1]
        return record

    def close(self) -> None:
        self.iopub.close()
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def _kernel_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(BENCH_DIR.parent), *filter(None, [env.get("PYTHONPATH")])]
    )
    return env


def _last_record(out: Path) -> dict[str, Any]:
    return dict(json.loads(out.read_text().strip().splitlines()[-1]))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:  # 127.0.0.1 only
        return json.loads(response.read())


def _notebook(root: Path, out: Path) -> dict[str, Any]:
    """Cells: the trial code; a plain scan; a panel scan; a panel scan measuring the lag."""
    count = f"int(open({str(root / 'n.txt')!r}).read())"  # the symbols, set by the harness
    variant = f"open({str(root / 'variant.txt')!r}).read()"
    calls = [
        TRIAL,
        *(
            f"_r = bench_trial({kind!r}, {count}, {str(root)!r}, {str(out)!r})"
            for kind in ("plain", "panel", "lag")
        ),
        f"_r = bench_drive({variant}, {DRIVE_SECONDS}, {str(out)!r})",
    ]
    cells = [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": f"c{i}",
            "metadata": {},
            "outputs": [],
            "source": text,
        }
        for i, text in enumerate(calls)
    ]
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


class Browser:
    """Trials in a notebook of a real JupyterLab, rendered by headless Chromium."""

    name = "browser"
    CELLS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"

    def __init__(self, root: Path) -> None:
        from playwright.sync_api import sync_playwright

        if not CHROMIUM.exists():
            raise RuntimeError("Debian's Chromium (/usr/bin/chromium) is not installed")
        self.root = root
        self.out = root / "trials.jsonl"
        (root / "lab").mkdir()
        (root / "lab" / "bench.ipynb").write_text(json.dumps(_notebook(root, self.out)))
        self._start_server()
        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        context = self.browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = context.new_page()
        self.frames = 0
        self.frame_bytes = 0
        self.page.on("websocket", self._watch_socket)
        self._open()

    def _start_server(self) -> None:
        port, self.token = _free_port(), secrets.token_hex(16)
        settings = self.root / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env = _kernel_env()
        env.update(
            JUPYTER_RUNTIME_DIR=str(self.root),
            JUPYTERLAB_WORKSPACES_DIR=str(self.root / "workspaces"),
            JUPYTERLAB_SETTINGS_DIR=str(self.root / "settings"),
        )
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--port-retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root / 'lab'}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        self._log = open(self.root / "server.log", "w")  # noqa: SIM115 - closed in close()
        self.server = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                _get_json(f"{self.base}/api/status?token={self.token}")
                return
            except OSError:
                if self.server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((self.root / "server.log").read_text()[-3000:]) from None
                time.sleep(0.25)

    def _watch_socket(self, socket: Any) -> None:
        def received(payload: Any) -> None:
            self.frames += 1
            self.frame_bytes += len(payload)

        socket.on("framereceived", received)

    def _open(self) -> None:
        self.page.goto(f"{self.base}/lab/workspaces/bench/tree/bench.ipynb?token={self.token}")
        self.page.wait_for_selector(self.CELLS, timeout=90_000)
        self.cells = self.page.locator(self.CELLS)
        deadline = time.monotonic() + 120
        while self.cells.count() < 5 or not self._idle():
            if time.monotonic() > deadline:
                raise RuntimeError("the notebook or its kernel never got ready")
            self.page.wait_for_timeout(250)
        self.server_process = psutil.Process(self.server.pid)
        kernels = [
            p
            for p in self.server_process.children(recursive=True)
            if "ipykernel" in " ".join(p.cmdline())
        ]
        self.kernel = kernels[0]
        self._run(0, expect_record=False)

    def _idle(self) -> bool:
        sessions = _get_json(f"{self.base}/api/sessions?token={self.token}")
        return bool(sessions) and all(
            s.get("kernel", {}).get("execution_state") == "idle" for s in sessions
        )

    def _chromium(self) -> list[psutil.Process]:
        return [
            p
            for p in psutil.Process().children(recursive=True)
            if "chrom" in p.name().lower() or "headless_shell" in p.name().lower()
        ]

    def _run(self, index: int, expect_record: bool = True) -> None:
        """Run cell ``index`` in place and wait until it is done."""
        before = len(self.out.read_text().splitlines()) if self.out.exists() else 0
        cell = self.cells.nth(index)
        cell.locator(".jp-InputPrompt").click()
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("Control+Enter")
        deadline = time.monotonic() + 900
        errors = cell.locator("[data-mime-type='application/vnd.jupyter.stderr']")
        while True:
            self.page.wait_for_timeout(100)
            lines = len(self.out.read_text().splitlines()) if self.out.exists() else 0
            if (lines > before or not expect_record) and self._idle():
                return
            if self._idle() and errors.count():
                raise RuntimeError(f"cell {index} failed: {errors.first.inner_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"cell {index} never finished")

    def trial(self, kind: str, n: int, out: Path) -> dict[str, Any]:
        (self.root / "n.txt").write_text(str(n))
        workers = self.kernel.children(recursive=True)
        chromium = self._chromium()
        cpu = {
            "server": _cpu(self.server_process),
            "chromium": _tree_cpu(chromium),
        }
        frames, frame_bytes = self.frames, self.frame_bytes
        self._run({"plain": 1, "panel": 2, "lag": 3}[kind])
        record = _last_record(self.out)
        record["server_cpu"] = _cpu(self.server_process) - cpu["server"]
        record["chromium_cpu"] = _tree_cpu(chromium) - cpu["chromium"]
        record["frames"] = self.frames - frames
        record["frame_bytes"] = self.frame_bytes - frame_bytes
        record["workers_seen"] = len(workers)
        with out.open("a") as file:
            file.write(json.dumps(record) + "\n")
        return record

    def drive(self, variant: str, out: Path) -> dict[str, Any]:
        """One front-end variant (see ``bench_drive``): CPU of Chromium, server, kernel."""
        (self.root / "variant.txt").write_text(variant)
        chromium = self._chromium()
        cpu = {"server": _cpu(self.server_process), "chromium": _tree_cpu(chromium)}
        frames = self.frames
        self._run(4)
        record = _last_record(self.out)
        record["server_cpu"] = _cpu(self.server_process) - cpu["server"]
        record["chromium_cpu"] = _tree_cpu(chromium) - cpu["chromium"]
        record["frames"] = self.frames - frames
        with out.open("a") as file:
            file.write(json.dumps(record) + "\n")
        return record

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.browser.close()
        with contextlib.suppress(Exception):
            self._playwright.stop()
        self.server.send_signal(signal.SIGTERM)
        try:
            self.server.wait(20)
        except subprocess.TimeoutExpired:
            self.server.kill()
        self._log.close()


# -- the measurement ------------------------------------------------------------------------

Place = Callable[[Path], Any]
PLACES: dict[str, tuple[Place, bool]] = {
    "inprocess": (InProcess, False),
    "kernel": (Kernel, False),
    "browser": (Browser, False),
    "browser_busy": (Browser, True),
}


def measure(mode: str, n: int, rounds: int, out: Path) -> list[dict[str, Any]]:
    """Warm up, then ``rounds`` of plain, panel, panel, plain; then one lag scan."""
    place_class, busy = PLACES[mode]
    root = Path(tempfile.mkdtemp(prefix=f"technic_nb_panel_{mode}_"))
    place = place_class(root)
    records: list[dict[str, Any]] = []
    try:
        for kind in ("plain", "panel"):  # workers started, modules imported
            place.trial(kind, max(200, n // 10), root / "warmup.jsonl")
        with busy_cores() if busy else contextlib.nullcontext():
            for r in range(rounds):
                for kind in ("plain", "panel", "panel", "plain"):
                    record = place.trial(kind, n, out)
                    record.update(mode=mode, round=r)
                    records.append(record)
                    log(f"{mode} round {r + 1}: {kind} {record['rate']:,.0f} symbols/s")
            lag = place.trial("lag", n, out)
            lag.update(mode=mode, round=rounds)
            records.append(lag)
    finally:
        place.close()
        shutil.rmtree(root, ignore_errors=True)
    return records


def measure_frontend(rounds: int, out: Path) -> list[dict[str, Any]]:
    """Rounds of every front-end variant, in a rotating order."""
    root = Path(tempfile.mkdtemp(prefix="technic_nb_panel_frontend_"))
    browser = Browser(root)
    records = []
    try:
        for r in range(rounds):
            order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
            for variant in order:
                record = browser.drive(variant, out)
                record["round"] = r
                records.append(record)
                log(f"frontend {variant}: chromium {record['chromium_cpu']:.2f} s")
    finally:
        browser.close()
        shutil.rmtree(root, ignore_errors=True)
    return records


def frontend_figures(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each part's CPU in % of a core, over ``idle`` (Chromium, server, kernel)."""
    figures = {}
    for variant in VARIANTS[1:]:
        for who in ("chromium", "server", "kernel"):
            extra = []
            for r in sorted({rec["round"] for rec in records}):
                mine = {rec["variant"]: rec for rec in records if rec["round"] == r}
                per_s = {v: rec[f"{who}_cpu"] / rec["elapsed"] for v, rec in mine.items()}
                extra.append(100 * (per_s[variant] - per_s["idle"]))
            figures[f"frontend_{variant}_{who}_pct"] = summarize(
                extra, f"% of a core over idle ({who}; parts added up to '{variant}')"
            )
    frames = [r["frames"] / r["elapsed"] for r in records if r["variant"] == "live"]
    figures["frontend_live_frames_per_s"] = summarize(frames, "websocket frames/s, all parts")
    return figures


def _rounds(records: list[dict[str, Any]]) -> list[tuple[list[dict], list[dict]]]:
    """Per round: (plain records, panel records)."""
    out = []
    for r in sorted({rec["round"] for rec in records if rec["kind"] != "lag"}):
        mine = [rec for rec in records if rec["round"] == r]
        out.append(
            ([x for x in mine if x["kind"] == "plain"], [x for x in mine if x["kind"] == "panel"])
        )
    return out


def _mean(records: list[dict[str, Any]], key: Callable[[dict[str, Any]], float]) -> float:
    return statistics.fmean(key(rec) for rec in records)


def _per_second(key: str) -> Callable[[dict[str, Any]], float]:
    return lambda rec: rec.get(key, 0.0) / rec["elapsed"]


def figures_of(mode: str, records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The figures of one mode (each a set of per-round values)."""
    rounds = _rounds(records)
    rate = lambda rec: rec["rate"]  # noqa: E731
    figures: dict[str, dict[str, Any]] = {}
    ratio = [_mean(panel, rate) / _mean(plain, rate) for plain, panel in rounds]
    figures[f"{mode}_panel_over_plain"] = _judged(
        summarize(ratio, "x (panel scan / tn.scan throughput, per round)"),
        f">= {TARGETS[mode]}",
        statistics.median(ratio) >= TARGETS[mode],
        "the scan's workers, which the panel shares both cores with",
    )
    aa = [plain[1]["rate"] / plain[0]["rate"] for plain, _ in rounds if len(plain) == 2]
    figures[f"{mode}_plain_aa"] = summarize(aa, "x (tn.scan / tn.scan in the same round)")
    figures[f"{mode}_plain_rate"] = summarize(
        [r["rate"] for r in records if r["kind"] == "plain"], "symbols/s"
    )
    figures[f"{mode}_panel_rate"] = summarize(
        [r["rate"] for r in records if r["kind"] == "panel"], "symbols/s"
    )
    extra_kernel = [
        1e6
        * (_mean(panel, lambda r: r["kernel_cpu"]) - _mean(plain, lambda r: r["kernel_cpu"]))
        / panel[0]["n"]
        for plain, panel in rounds
    ]
    figures[f"{mode}_kernel_extra_us_per_symbol"] = summarize(
        extra_kernel, "us of kernel CPU per symbol (panel scan - tn.scan)"
    )
    panels = [r for r in records if r["kind"] == "panel" and "costs" in r]
    if panels:
        figures.update(_cost_figures(mode, panels))
    for key, label in (("messages", "comm messages"), ("frames", "websocket frames")):
        if panels and key in panels[0]:
            figures[f"{mode}_{key}_per_s"] = summarize(
                [_per_second(key)(r) for r in panels], f"{label}/s during a panel scan"
            )
    for key in ("server_cpu", "chromium_cpu"):
        if panels and key in panels[0]:
            extra = [
                100 * (_mean(panel, _per_second(key)) - _mean(plain, _per_second(key)))
                for plain, panel in rounds
            ]
            figures[f"{mode}_{key}_extra_pct"] = summarize(
                extra, f"% of a core ({key.split('_')[0]}: panel scan - tn.scan)"
            )
    figures.update(_share_figure(mode, rounds))
    figures.update(_lag_figures(mode, records))
    return figures


def _share_figure(mode: str, rounds: list[tuple[list[dict], list[dict]]]) -> dict[str, Any]:
    """The CPU the panel adds (kernel, server, Chromium) against the CPU of the scan itself:
    what it takes from the scan's workers when the cores are busy (the wall-clock ratio
    says the same with far more noise on a shared machine)."""
    shares = []
    for plain, panel in rounds:
        extra = 0.0
        for key in ("kernel_cpu", "server_cpu", "chromium_cpu"):
            if key in panel[0]:
                extra += _mean(panel, _per_second(key)) - _mean(plain, _per_second(key))
        scan = _mean(plain, lambda r: (r["kernel_cpu"] + r["workers_cpu"]) / r["elapsed"])
        shares.append(100 * extra / scan)
    limit = 5.0 if mode.startswith("browser") else 3.0
    figure = summarize(shares, "% of the scan's own CPU added by the panel (all processes)")
    return {
        f"{mode}_panel_cpu_share_pct": _judged(
            figure,
            f"< {limit:g}",
            statistics.median(shares) < limit,
            "the front end's work per update (Chromium) and the update rate",
        )
    }


def _cost_figures(mode: str, panels: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The panel's own CPU: the tick, and the live table (against the scan's CPU)."""
    tick = [100 * r["costs"]["panel_seconds"] / r["elapsed"] for r in panels]
    live = [100 * r["costs"]["live_seconds"] / (r["kernel_cpu"] + r["workers_cpu"]) for r in panels]
    per_row = [1e6 * r["costs"]["live_seconds"] / max(1, r["costs"]["live_rows"]) for r in panels]
    return {
        f"{mode}_tick_cpu_pct": summarize(tick, "% of a core (the tick: bars, counters, status)"),
        f"{mode}_live_share_of_scan_cpu_pct": _judged(
            summarize(live, "% of the scan's CPU (kernel + workers) spent on the live table"),
            "< 1",
            statistics.median(live) < 1.0,
            "pandas' fixed cost per call of the scoring functions (~10 ms per update)",
        ),
        f"{mode}_live_us_per_row": summarize(per_row, "us of CPU per symbol, live table"),
        f"{mode}_ticks_per_s": summarize(
            [r["costs"]["ticks"] / r["elapsed"] for r in panels], "panel updates/s"
        ),
    }


def _lag_figures(mode: str, records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    lags = [r["lag"] for r in records if r["kind"] == "lag" and "lag" in r]
    if not lags:
        return {}
    worst = [lag["max_age_s"] for lag in lags]
    return {
        f"{mode}_live_max_behind_s": _judged(
            summarize(worst, "s the live list trails the counters at most"),
            "<= ~1 s",
            max(worst) <= 1.25,
            "the live table's update interval (1 s) plus one update",
        ),
        f"{mode}_live_median_behind_s": summarize(
            [lag["median_age_s"] for lag in lags], "s (median over the updates)"
        ),
    }


def _judged(figure: dict[str, Any], target: str, met: bool, bound: str) -> dict[str, Any]:
    figure.update(target=target, met=bool(met), bound=bound)
    return figure


def collect(modes: list[str], n: int, rounds: int, raw: Path) -> dict[str, Any]:
    """Measure every mode; the figures and notes (a section of the suite)."""
    figures: dict[str, dict[str, Any]] = {}
    notes = [
        f"{n:,} demo symbols per scan, n_jobs=-1 on {os.cpu_count()} cores, a fresh cache per "
        f"scan; {rounds} rounds of tn.scan, panel, panel, tn.scan per mode (one kernel).",
    ]
    for mode in modes:
        log(f"mode {mode}")
        try:
            if mode == "frontend":
                figures.update(frontend_figures(measure_frontend(rounds, raw)))
                continue
            records = measure(mode, n, rounds, raw)
        except Exception as exc:  # a missing browser, say: note it, measure the rest
            notes.append(f"{mode}: not measured ({type(exc).__name__}: {exc})")
            continue
        figures.update(figures_of(mode, records))
    return {
        "title": "The notebook panel: its cost in-process, in a kernel and in a browser",
        "figures": figures,
        "notes": notes,
    }


def run(bench: Any) -> dict[str, Any]:
    """The suite's entry: every mode at the full size."""
    raw = Path(tempfile.mkdtemp(prefix="technic_nb_panel_")) / "trials.jsonl"
    return collect(list(MODES), 6000, 3, raw)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.browser_panel``: print the figures, write them to ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m bench.browser_panel", description=__doc__)
    parser.add_argument("--symbols", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "browser_panel.json")
    parser.add_argument(
        "--refresh", type=float, default=None, help="the panel's tick in seconds (default: its own)"
    )
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if args.refresh is not None:
        os.environ["TECHNIC_NB_PANEL_REFRESH"] = str(args.refresh)
    raw = args.out.with_suffix(".trials.jsonl")
    raw.unlink(missing_ok=True)
    result = collect(modes, args.symbols, args.rounds, raw)
    result["command"] = "python -m bench.browser_panel " + " ".join(argv or sys.argv[1:])
    args.out.write_text(json.dumps(result, indent=1))
    for name, figure in result["figures"].items():
        judged = (
            f"  target {figure['target']}: {'met' if figure['met'] else 'MISSED'}"
            if "target" in figure
            else ""
        )
        print(
            f"{name:45s} median {figure['median']:>10.3f}  "
            f"[{figure['min']:.3f} .. {figure['max']:.3f}] {figure['unit']}{judged}"
        )
    for note in result["notes"]:
        print(note)
    print(f"written: {args.out} (every scan: {raw})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
