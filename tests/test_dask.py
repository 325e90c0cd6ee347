"""backend="dask": the same scan on a real Dask cluster (worker processes on 127.0.0.1)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import technic_nb as tn
from technic_nb import ErrorType, ScanCancellation, ScanConfig, ScanError

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(120)

UNIVERSE = "demo:200"
WORKER_OPTIONS = ("--no-nanny", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
    ) as local:
        yield local


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster, set_as_default=False) as opened:
        yield opened


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same scan on the local (loky) backend."""
    cache = tmp_path_factory.mktemp("loky")
    return tn.scan(ScanConfig(source=UNIVERSE, cache_dir=cache, n_jobs=2, backend="loky"))


def dask_config(cache_dir: Path, client, **changes) -> ScanConfig:
    options = {"source": UNIVERSE, "cache_dir": cache_dir, "backend": "dask", "dask_client": client}
    options.update(changes)
    return ScanConfig(**options)


def _scan_tasks_left(dask_scheduler) -> list[tuple[str, str]]:
    """Run on the scheduler: the scan's tasks that are still waiting or running."""
    active = ("released", "waiting", "queued", "no-worker", "processing")
    return [
        (str(key), ts.state)
        for key, ts in dask_scheduler.tasks.items()
        if str(key).startswith("batch_of_run_symbol") and ts.state in active
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- configuration -------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", ["localhost:8786", "http://127.0.0.1:8786", "tcp://127.0.0.1", "tcp://h:70000", 42]
)
def test_dask_client_must_be_an_address_or_a_client(value):
    with pytest.raises(ScanError) as info:
        ScanConfig(backend="dask", dask_client=value)
    error = info.value
    assert error.error_type is ErrorType.CONFIG_ERROR
    assert error.message.startswith(f"ScanConfig.dask_client={value!r} is invalid")
    assert "tcp://127.0.0.1:8786" in error.message and "distributed.Client" in error.message


def test_dask_client_accepted_values(client):
    for value in ("tcp://127.0.0.1:8786", "tls://scheduler.example.com:8786", "tcp://[::1]:1"):
        assert ScanConfig(backend="dask", dask_client=value).dask_client == value
    assert ScanConfig(backend="dask", dask_client="inproc://10.0.0.1/1/2").dask_client
    assert ScanConfig(backend="dask", dask_client=client).dask_client is client
    assert ScanConfig(backend="dask").dask_client is None
    with pytest.raises(ScanError, match="None unless backend='dask'"):
        ScanConfig(backend="loky", dask_client=client)


# -- results -------------------------------------------------------------------------
def test_same_table_as_loky_through_a_scheduler_address(cluster, reference, tmp_path):
    config = dask_config(tmp_path, cluster.scheduler_address)
    result = tn.scan(config)
    assert not result.cancelled and not result.warnings
    pd.testing.assert_frame_equal(result.table, reference.table)
    pd.testing.assert_frame_equal(result.errors, reference.errors)
    assert result.status.split(" in ")[0] == reference.status.split(" in ")[0]
    stats = result.stats
    assert stats["computed"] == 200 and stats["dask_workers"] == 2
    assert stats["dask_shared_cache"] is True
    assert stats["dask_dashboard"].startswith("http://127.0.0.1:")
    again = tn.scan(config)  # every symbol from the cache the workers wrote
    assert again.stats["from_cache"] == 200
    pd.testing.assert_frame_equal(again.table, reference.table)


def test_default_client_is_used_when_dask_client_is_none(cluster, tmp_path):
    config = ScanConfig(source="demo:30", cache_dir=tmp_path, backend="dask")
    with pytest.raises(ScanError) as info:
        tn.scan(config)  # no default client yet
    assert info.value.error_type is ErrorType.CONFIG_ERROR
    assert "dask_client" in info.value.message and "distributed.Client" in info.value.message
    with distributed.Client(cluster):  # becomes the default client
        result = tn.scan(config)
    local = tn.scan(
        config.replace(backend="threading", dask_client=None, n_jobs=2, cache_dir=tmp_path / "t")
    )
    assert result.stats["dask_workers"] == 2
    pd.testing.assert_frame_equal(result.table, local.table)


def test_bars_fetched_here_are_shipped_to_the_workers(client, tmp_path):
    demo = tn.DemoSource(n_symbols=40)
    window = tn.DateWindow()
    frames = {s: demo.fetch(s, window) for s in demo.universe()["symbol"]}
    source = tn.InMemorySource(frames, universe=demo.universe())
    result = tn.scan(dask_config(tmp_path, client, source=source, universe="source"))
    local = tn.scan(
        dask_config(tmp_path / "t", None, source=source, universe="source", backend="threading")
    )
    assert result.stats["computed"] == 40
    pd.testing.assert_frame_equal(result.table, local.table)


# -- cancel and resume ---------------------------------------------------------------
def test_cancel_returns_promptly_and_stops_the_cluster_tasks(client, tmp_path, cancel_midway):
    token = ScanCancellation()
    started = threading.Event()

    def on_progress(stage, current, total, message, metadata):
        if stage == "symbol_scanning" and current >= 60:
            started.set()

    config = dask_config(tmp_path, client, source="demo:1000")
    result, latency = cancel_midway(lambda: tn.scan(config, on_progress, token), started, token)
    assert latency < 2.0, f"cancel took {latency:.2f}s"
    assert result.cancelled and 60 <= result.stats["done"] < 1000
    assert result.status.startswith(f"Cancelled after {result.stats['done']} of 1000 symbols")
    assert list(result.table["rank"]) == list(range(1, len(result.table) + 1))
    deadline = time.monotonic() + 1.0
    while True:  # nothing of the scan stays queued or running on the cluster
        left = client.run_on_scheduler(_scan_tasks_left)
        busy = {w: keys for w, keys in client.processing().items() if keys}
        if (not left and not busy) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == [] and busy == {}


def test_resume_after_cancel_from_the_shared_cache(client, reference, tmp_path):
    config = dask_config(tmp_path, client)
    token = ScanCancellation()

    def cancel_at_50(stage, current, total, message, metadata):
        if stage == "symbol_scanning" and current >= 50:
            token.cancel()

    partial = tn.scan(config, cancel_at_50, token)
    assert partial.cancelled and partial.stats["done"] >= 50
    final = tn.scan(config)
    assert not final.cancelled
    assert final.stats["from_cache"] >= partial.stats["done"]
    assert final.stats["computed"] == 200 - final.stats["from_cache"]
    pd.testing.assert_frame_equal(final.table, reference.table)


# -- failures --------------------------------------------------------------------------
def test_worker_killed_mid_scan_is_recomputed_elsewhere(client, reference, tmp_path):
    reached = threading.Event()

    def on_progress(stage, current, total, message, metadata):
        if stage == "symbol_scanning" and current >= 40:
            reached.set()

    box = {}
    thread = threading.Thread(
        target=lambda: box.setdefault("result", tn.scan(dask_config(tmp_path, client), on_progress))
    )
    victim_address, victim_pid = sorted(client.run(os.getpid).items())[0]
    thread.start()
    try:
        assert reached.wait(60), "the scan never got going"
        os.kill(victim_pid, signal.SIGKILL)
    finally:
        thread.join(90)
    assert not thread.is_alive()
    result = box["result"]
    assert not result.cancelled and result.stats["done"] == 200
    pd.testing.assert_frame_equal(result.table, reference.table)
    removed = [
        msg
        for _, msg in client.get_events("all")
        if isinstance(msg, dict)
        and msg.get("action") == "remove-worker"
        and msg.get("worker") == victim_address
    ]
    assert removed, "the scheduler never saw the worker die"
    lost = set(removed[-1].get("processing-tasks", ())) | set(
        removed[-1].get("lost-computed-tasks", ())
    )
    assert any(str(key).startswith("batch_of_run_local") for key in lost)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the next tests


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(ScanError) as info:
        tn.scan(dask_config(tmp_path, address, source="demo:20"))
    assert time.monotonic() - started < 5.0
    error = info.value
    assert error.error_type is ErrorType.SYSTEM_ERROR
    assert f"cannot reach the Dask scheduler at {address}" in error.message
    assert "dask scheduler" in error.suggestion and "LocalCluster" in error.suggestion


def test_cache_the_workers_cannot_reach_warns_and_keeps_results(client, tmp_path, monkeypatch):
    from technic_nb.engine import dask as _dask

    monkeypatch.setattr(_dask, "_read_probe", lambda folder, name: False)
    config = dask_config(tmp_path, client, source="demo:30")
    result = tn.scan(config)
    local = tn.scan(
        config.replace(backend="threading", dask_client=None, n_jobs=2, cache_dir=tmp_path / "t")
    )
    pd.testing.assert_frame_equal(result.table, local.table)
    assert result.stats["dask_shared_cache"] is False and result.stats["computed"] == 30
    assert len(result.warnings) == 1
    assert "not reachable from every Dask worker" in result.warnings[0]
    assert "not checkpointed" in result.warnings[0]
    assert not list(tmp_path.glob("checkpoints/**/output.pkl"))
    assert not list(tmp_path.glob(".dask-probe-*"))
    assert tn.scan(config).stats["from_cache"] == 0


def test_workers_without_the_package_are_a_clear_error(tmp_path):
    # a worker process in which `import technic_nb` fails
    code = (
        "import sys; sys.modules['technic_nb'] = None; "
        "from distributed.cli.dask_worker import main; main()"
    )
    with distributed.LocalCluster(
        n_workers=0, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=":0"
    ) as bare:
        worker = subprocess.Popen(
            [sys.executable, "-c", code, bare.scheduler_address, *WORKER_OPTIONS],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with distributed.Client(bare, set_as_default=False) as bare_client:
                bare_client.wait_for_workers(1, timeout=60)
                with pytest.raises(ScanError) as info:
                    tn.scan(dask_config(tmp_path, bare_client, source="demo:20"))
        finally:
            worker.kill()
            worker.wait(10)
    error = info.value
    assert error.error_type is ErrorType.SYSTEM_ERROR
    assert "the workers lack the package" in error.message
    assert "pip install technic_nb" in error.suggestion


def test_runner_panel_links_the_dask_dashboard(client, tmp_path):
    runner = tn.ScanRunner(
        dask_config(tmp_path, client, source="demo:40"), display=False, console=False
    )
    panel = runner.panel  # built without a front end: widgets need no kernel
    result = runner.run()
    assert result.stats["dask_dashboard"]
    assert "Dask dashboard" in panel.header.value
    assert result.stats["dask_dashboard"] in panel.header.value
    assert any("Dask dashboard" in m for m in runner.messages)


def test_cli_scan_on_the_cluster(cluster, tmp_path, capsys):
    from technic_nb.cli import main

    code = main(
        [
            "scan",
            "--source",
            "demo:60",
            "--cache-dir",
            str(tmp_path),
            "--no-progress",
            "--dask-client",
            cluster.scheduler_address,
            "--top-n",
            "5",
        ]
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert out[-1].startswith("Scanned 60 symbols")
