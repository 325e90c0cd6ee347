"""Scans over HTTP against a real fault-injecting server on 127.0.0.1."""

from __future__ import annotations

import logging
import threading
import time

import pandas as pd
import pytest

import technic_nb as tn
from technic_nb import DemoSource, PolygonSource, RetryPolicy, ScanCancellation, ScanConfig
from technic_nb.testing import FakePolygonServer, Fault

KEY = "sk-test-9f8e7d6c5b4a"
FAST_RETRY = RetryPolicy(max_tries=10, base_delay=0.005, max_delay=0.05, max_time=30)
AS_OF = "2025-12-31"


@pytest.fixture(scope="module")
def market():
    return DemoSource(n_symbols=300)


def polygon(server: FakePolygonServer, **kwargs) -> PolygonSource:
    options = {"api_key": KEY, "base_url": server.base_url, "retry": FAST_RETRY, "timeout": 2.0}
    options.update(kwargs)
    return PolygonSource(**options)


def config_for(source, cache_dir, **changes) -> ScanConfig:
    options = {
        "source": source,
        "universe": list(DemoSource(n_symbols=300).universe()["symbol"]),
        "as_of": AS_OF,
        "cache_dir": cache_dir,
        "n_jobs": 2,
        "fetch_concurrency": 8,
    }
    options.update(changes)
    return ScanConfig(**options)


@pytest.fixture(scope="module")
def clean_run(market, tmp_path_factory):
    with FakePolygonServer(market, api_key=KEY) as server:
        result = tn.scan(config_for(polygon(server), tmp_path_factory.mktemp("clean")))
        assert sum(server.requests_by_symbol.values()) == 300
    return result


def test_http_scan_matches_the_direct_source(market, clean_run, tmp_path):
    direct = tn.scan(ScanConfig(source=market, as_of=AS_OF, cache_dir=tmp_path, n_jobs=2))
    # the HTTP source lists no names or sectors; everything else is identical
    pd.testing.assert_frame_equal(
        clean_run.table.drop(columns=["name", "sector"]),
        direct.table.drop(columns=["name", "sector"]),
    )
    assert (clean_run.table["sector"] == "Unknown").all()
    assert clean_run.stats["fetch_retries"] == 0


def test_thirty_percent_transient_faults_give_an_identical_table(market, clean_run, tmp_path):
    with FakePolygonServer(market, api_key=KEY, fault_rate=0.3, seed=11) as server:
        result = tn.scan(config_for(polygon(server), tmp_path))
        faults = sum(server.faults_by_symbol.values())
        assert max(server.successes_by_symbol.values()) == 1
    assert faults > 80
    assert result.stats["fetch_retries"] == faults
    assert result.stats["fetch_give_ups"] == 0
    assert result.errors.empty
    pd.testing.assert_frame_equal(result.table, clean_run.table)


def test_error_table_lists_exactly_the_permanent_failures(market, clean_run, tmp_path):
    permanent = {"EVVB": "404", "LAE": "empty", "VANP": "503"}
    with FakePolygonServer(market, api_key=KEY, fault_rate=0.3, seed=3, faults=permanent) as server:
        result = tn.scan(config_for(polygon(server), tmp_path))
        faults = sum(server.faults_by_symbol.values())
    assert faults > 80  # the faults really happened
    assert result.stats["fetch_retries"] >= faults - 12  # 404/empty are not retried
    assert result.stats["fetch_give_ups"] == 1
    errors = result.errors.set_index("symbol")
    assert set(errors.index) == set(permanent)
    assert errors.loc["EVVB", "error_type"] == "data_error"
    assert errors.loc["LAE", "error_type"] == "data_error"
    assert errors.loc["VANP", "error_type"] == "api_error"
    assert errors.loc["VANP", "recoverable"]
    assert errors.loc["VANP", "details"]["status"] == 503
    assert errors.loc["VANP", "details"]["attempts"] == 10
    assert errors.loc["VANP", "suggestion"]
    expected = clean_run.table.drop(index=list(permanent), errors="ignore")
    expected = expected.assign(rank=pd.array(range(1, len(expected) + 1), dtype="Int64"))
    got = result.table.drop(columns=["percentile"])
    pd.testing.assert_frame_equal(got, expected.drop(columns=["percentile"]))


def test_bad_key_stops_the_scan_at_once(market, tmp_path):
    with FakePolygonServer(market, api_key=KEY) as server:
        source = PolygonSource(api_key="wrong-key", base_url=server.base_url, retry=FAST_RETRY)
        started = time.monotonic()
        with pytest.raises(tn.ScanError) as info:
            tn.scan(config_for(source, tmp_path))
        elapsed = time.monotonic() - started
        requests = server.total_requests
    assert elapsed < 2.0
    assert requests <= 40  # not every symbol, not retried
    error = info.value
    assert error.error_type is tn.ErrorType.API_ERROR and error.fatal
    assert "POLYGON_API_KEY" in error.suggestion
    assert "wrong-key" not in str(error) + repr(error.to_dict())


def test_resume_never_refetches_finished_symbols(market, clean_run, tmp_path):
    with FakePolygonServer(market, api_key=KEY, latency=0.005) as server:
        config = config_for(polygon(server), tmp_path)
        finished: set[str] = set()
        for stop in (40, 150, 230):
            token = ScanCancellation()

            def on_progress(stage, current, total, message, metadata, token=token, stop=stop):
                if stage == "symbol_scanning" and current >= stop:
                    token.cancel()

            server.reset_counters()
            result = tn.scan(config, on_progress, token)
            assert result.cancelled
            refetched = {s for s in finished if server.requests_by_symbol.get(s)}
            assert not refetched
            assert result.stats["from_cache"] >= len(finished)
            finished |= set(result.table.index) | set(result.filtered.index)
        server.reset_counters()
        final = tn.scan(config)
        assert not {s for s in finished if server.requests_by_symbol.get(s)}
        # bars fetched by work in flight at a cancel are cached too: never more than the rest
        assert sum(server.requests_by_symbol.values()) <= 300 - final.stats["from_cache"]
        assert max(server.requests_by_symbol.values(), default=0) <= 1
    pd.testing.assert_frame_equal(final.table, clean_run.table)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cancel_at_random_points_loses_nothing_fetched_or_finished(
    market, clean_run, tmp_path, seed
):
    """Every symbol a cancelled run counted as done is in the cache, and across the
    cancelled runs and the resume no symbol is ever fetched twice."""
    import random

    rng = random.Random(seed)
    with FakePolygonServer(market, api_key=KEY, latency=0.004) as server:
        config = config_for(polygon(server), tmp_path)
        for stop in sorted(rng.sample(range(5, 295), 3)):
            token = ScanCancellation()

            def on_progress(stage, current, total, message, metadata, token=token, stop=stop):
                if stage == "symbol_scanning" and current >= stop:
                    token.cancel()

            result = tn.scan(config, on_progress, token)
            assert result.cancelled and result.stats["done"] >= stop
            done = set(result.table.index) | set(result.filtered.index)
            before = dict(server.requests_by_symbol)
            again = tn.scan(config.replace(universe=sorted(done)))  # every one of them cached
            assert again.stats["from_cache"] == len(done) and again.stats["computed"] == 0
            assert dict(server.requests_by_symbol) == before
        final = tn.scan(config)
        assert max(server.successes_by_symbol.values()) == 1  # fetched once, ever
        assert set(server.successes_by_symbol) == set(config.universe)
    pd.testing.assert_frame_equal(final.table, clean_run.table)


SCAN_SCRIPT = """
import sys
import technic_nb as tn

base_url, cache, stage, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
source = tn.PolygonSource(api_key=KEY, base_url=base_url, timeout=5.0)
universe = list(tn.DemoSource(n_symbols=300).universe()["symbol"])

def progress(name, current, total, message, metadata):
    if name == stage and current >= kill_at:
        print("kill", flush=True)

config = tn.ScanConfig(source=source, universe=universe, as_of=AS_OF, cache_dir=cache, n_jobs=2)
tn.scan(config, progress)
print("finished", flush=True)
"""


@pytest.mark.parametrize(
    ("stage", "kill_at", "latency"),
    [("data_fetching", 60, 0.02), ("symbol_scanning", 200, 0.002)],
    ids=["fetch-phase", "compute-phase"],
)
def test_sigkill_of_an_http_scan_then_rerun_refetches_nothing(
    market, clean_run, tmp_path, stage, kill_at, latency
):
    import os
    import signal
    import subprocess
    import sys

    from technic_nb._cache import CheckpointCache
    from technic_nb._plan import resolve_window
    from technic_nb._work import SymbolJob
    from technic_nb.sources._base import BarsPayload

    script = tmp_path / "scan.py"
    script.write_text(f"KEY, AS_OF = {KEY!r}, {AS_OF!r}\n" + SCAN_SCRIPT)
    cache = tmp_path / "cache"
    with FakePolygonServer(market, api_key=KEY, latency=latency) as server:
        proc = subprocess.Popen(
            [sys.executable, str(script), server.base_url, str(cache), stage, str(kill_at)],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            line = proc.stdout.readline().strip()
            os.killpg(proc.pid, signal.SIGKILL)  # the scan and its workers, no clean-up
            proc.wait(30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert line == "kill" and proc.returncode == -signal.SIGKILL
        source = polygon(server)
        config = config_for(source, cache)
        window = resolve_window(source, config.as_of, config.lookback_days)
        job = SymbolJob(window, config.lookback_days, config.indicators, None, source.identity)
        stored = CheckpointCache.at(cache / "checkpoints")
        fetched = [
            s
            for s in config.universe
            if stored.peek_bars(job.bars_key(s), BarsPayload, print) is not None
        ]
        assert len(fetched) >= kill_at if stage == "data_fetching" else len(fetched) >= 200
        server.reset_counters()
        rerun = tn.scan(config)
        assert not {s for s in fetched if server.requests_by_symbol.get(s)}
        assert sum(server.requests_by_symbol.values()) == 300 - len(fetched)
        assert not rerun.warnings
    pd.testing.assert_frame_equal(rerun.table, clean_run.table)


def test_rerun_after_complete_scan_makes_no_request(market, tmp_path):
    with FakePolygonServer(market, api_key=KEY) as server:
        config = config_for(polygon(server), tmp_path, universe=["EVVB", "LAE", "VANP"])
        tn.scan(config)
        server.reset_counters()
        again = tn.scan(config)
        assert server.total_requests == 0
        assert again.stats["from_cache"] == 3
        # a new scoring weight re-ranks from the cache: no fetch either
        tn.scan(config.replace(scoring=tn.ScoringWeights(volume=0)))
        assert server.total_requests == 0
        # new indicator parameters recompute from the cached bars (stored by the workers)
        other = tn.scan(config.replace(indicators=tn.IndicatorParams(rsi_period=10)))
        assert server.total_requests == 0
        assert other.stats["computed"] == 3


def test_permanent_404_is_remembered_but_give_ups_are_retried_next_run(market, tmp_path):
    with FakePolygonServer(market, api_key=KEY, faults={"EVVB": "404", "LAE": "503"}) as server:
        config = config_for(
            polygon(server), tmp_path, universe=["EVVB", "LAE", "VANP"], max_tries=2
        )
        first = tn.scan(config)
        assert set(first.errors["symbol"]) == {"EVVB", "LAE"}
        server.reset_counters()
        second = tn.scan(config)
        assert server.requests_by_symbol.get("EVVB", 0) == 0  # not found stays not found
        assert server.requests_by_symbol["LAE"] == 2  # a give-up is tried again
        assert set(second.errors["symbol"]) == {"EVVB", "LAE"}


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_cancel_during_long_retry_after_is_prompt(market, tmp_path, backend):
    slow = {s: Fault("429", retry_after=30) for s in ["LAE", "VANP", "CZE"]}
    with FakePolygonServer(market, api_key=KEY, faults=slow) as server:
        source = polygon(server, retry=RetryPolicy(max_tries=5, retry_after_cap=60, max_time=120))
        config = config_for(source, tmp_path, backend=backend)
        token = ScanCancellation()
        waiting = threading.Event()

        def on_progress(stage, current, total, message, metadata):
            if stage == "data_fetching" and current >= 250:
                waiting.set()

        box = {}
        thread = threading.Thread(target=lambda: box.update(r=tn.scan(config, on_progress, token)))
        thread.start()
        assert waiting.wait(60)
        cancelled = time.monotonic()
        token.cancel()
        thread.join(10)
        assert time.monotonic() - cancelled < 0.5
    result = box["r"]
    assert result.cancelled
    assert not {"LAE", "VANP", "CZE"} & set(result.table.index)


def test_api_key_never_leaks(market, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    faults = {"EVVB": "reset", "LAE": "404", "VANP": ["500", "badjson", "truncated"]}
    with FakePolygonServer(market, api_key=KEY, faults=faults, page_size=100) as server:
        source = polygon(server, retry=RetryPolicy(max_tries=2, base_delay=0.001, max_time=5))
        result = tn.scan(config_for(source, tmp_path, universe=["EVVB", "LAE", "VANP", "CZE"]))
        texts = [
            result.status,
            repr(result),
            result.table.to_csv(),
            result.errors.to_csv(),
            repr(result.errors.to_dict("records")),
            repr(result.stats),
            repr(source),
            repr(config_for(source, tmp_path)),
            caplog.text,
        ]
    assert len(result.errors) >= 2
    assert caplog.records  # something was logged at debug level
    for text in texts:
        assert KEY not in text
    # closed port: connection errors mention the URL but never the key
    closed = PolygonSource(api_key=KEY, base_url="http://127.0.0.1:9", retry=FAST_RETRY)
    broken = tn.scan(config_for(closed, tmp_path / "c", universe=["EVVB"], max_tries=2))
    assert KEY not in broken.errors.to_csv() and KEY not in caplog.text
