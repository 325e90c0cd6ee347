"""Scans over HTTP against a real fault-injecting server on 127.0.0.1."""

from __future__ import annotations

import logging
import threading

import pandas as pd
import pytest

import technic_nb as tn
from technic_nb import DemoSource, PolygonSource, RetryPolicy, ScanCancellation, ScanConfig
from technic_nb.sources.polygon.guard import ENTITLEMENT_PROBE
from technic_nb.testing import (
    NOT_ENTITLED,
    TRANSIENT_FAULT_KINDS,
    UNKNOWN_KEY,
    FakePolygonServer,
    Fault,
)

KEY = "sk-test-9f8e7d6c5b4a"
FAST_RETRY = RetryPolicy(max_tries=10, base_delay=0.005, max_delay=0.05, max_time=30)
FAST = FAST_RETRY
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


def fatal_error_of(config: ScanConfig) -> tn.ScanError:
    """The fatal error a scan raises (a scan that returns instead fails the test)."""
    try:
        result = tn.scan(config)
    except tn.ScanError as exc:
        return exc
    pytest.fail(
        f"the fatal error was not raised; the scan returned {result.status!r} (if cancelled: "
        "FetchExecutor cancels the token before it queues the error, and the scanning "
        "thread can see the cancel first)"
    )


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


SMALL = 40  # symbols of the fault acceptance scans
PAGE = 100  # bars per page: every answer takes several pages


@pytest.fixture(scope="module")
def clean_small(market, tmp_path_factory):
    """A fault-free scan of the first SMALL symbols, paged, and its server's counts."""
    with FakePolygonServer(market, api_key=KEY, page_size=PAGE) as server:
        config = config_for(polygon(server), tmp_path_factory.mktemp("small"))
        result = tn.scan(config.replace(universe=config.universe[:SMALL]))
        pages = server.successes_by_symbol
    assert result.errors.empty and min(pages.values()) >= 3
    return result, pages


@pytest.mark.parametrize("seed", [3, 5, 8])
def test_every_transient_fault_at_30_percent_changes_no_cell(market, clean_small, tmp_path, seed):
    """At a 30% rate of every transient kind the server knows (5xx, 429 with Retry-After
    in seconds and as an HTTP date, resets, stalls past the timeout, trickled and cut
    bodies, HTML and error JSON with status 200, counts without results), on every page
    of paged answers, the table equals the fault-free one cell for cell."""
    clean, clean_pages = clean_small
    options = {"page_size": PAGE, "fault_rate": 0.3, "fault_kinds": TRANSIENT_FAULT_KINDS}
    options |= {"seed": seed, "retry_after": 0.1, "timeout_delay": 0.8}
    with FakePolygonServer(market, api_key=KEY, **options) as server:
        retry = RetryPolicy(max_tries=12, base_delay=0.005, max_delay=0.05, max_time=60)
        source = polygon(server, retry=retry, timeout=0.3, answer_timeout=0.5)
        config = config_for(source, tmp_path)
        result = tn.scan(config.replace(universe=config.universe[:SMALL]))
        kinds, later = server.faults_by_kind, server.faults_on_later_pages
        pages = server.successes_by_symbol
    assert set(kinds) == set(TRANSIENT_FAULT_KINDS)  # every kind happened
    assert later > 0 and sum(kinds.values()) > 50
    assert result.errors.empty and result.stats["fetch_give_ups"] == 0
    assert set(result.table.index) | set(result.filtered.index) == set(config.universe[:SMALL])
    pd.testing.assert_frame_equal(result.table, clean.table, check_exact=True)
    pd.testing.assert_frame_equal(result.filtered, clean.filtered, check_exact=True)
    # Each page was taken intact, and taken again only rarely: a clean page is fetched a
    # second time only when the client gave up on it as too slow (timeout 0.3 s, the
    # whole answer 0.5 s), which a loaded machine can make happen to a page or two.
    assert all(pages[symbol] >= count for symbol, count in clean_pages.items()), pages
    surplus = sum(pages.values()) - sum(clean_pages.values())
    assert surplus <= 0.05 * sum(clean_pages.values()), (surplus, pages)


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


@pytest.mark.parametrize("auth_status", [401, 403])
def test_bad_key_stops_the_scan_after_the_requests_in_flight(market, tmp_path, auth_status):
    with FakePolygonServer(market, api_key=KEY, auth_status=auth_status) as server:
        source = PolygonSource(api_key="wrong-key", base_url=server.base_url, retry=FAST_RETRY)
        config = config_for(source, tmp_path)
        error = fatal_error_of(config)
        requests = server.total_requests
    assert requests <= config.fetch_concurrency  # not tens more from threads going on
    assert error.error_type is tn.ErrorType.API_ERROR and error.fatal
    assert f"HTTP {auth_status}: {UNKNOWN_KEY!r}" in error.message
    assert "POLYGON_API_KEY" in error.suggestion
    assert "wrong-key" not in str(error) + repr(error.to_dict())


def test_symbols_outside_the_plan_are_their_own_errors(market, clean_run, tmp_path):
    denied = {"EVVB": "403", "LAE": "403"}
    with FakePolygonServer(market, api_key=KEY, faults=denied) as server:
        config = config_for(polygon(server), tmp_path)
        result = tn.scan(config)
        server.reset_counters()
        tn.scan(config)
        asked_again = server.requests_by_symbol
    errors = result.errors.set_index("symbol")
    assert set(errors.index) == set(denied)
    for symbol in denied:
        assert errors.loc[symbol, "error_type"] == "api_error"
        assert NOT_ENTITLED in errors.loc[symbol, "message"]
        assert errors.loc[symbol, "details"]["status"] == 403
    assert len(result.table) + len(result.filtered) == 300 - len(denied)
    assert set(asked_again) == set(denied)  # not remembered: asked again next run


def test_a_plan_covering_nothing_is_one_fatal_error(market, tmp_path):
    with FakePolygonServer(market, api_key=KEY, forbidden=True) as server:
        config = config_for(polygon(server), tmp_path)
        error = fatal_error_of(config)
        requests = server.total_requests
    assert error.fatal and NOT_ENTITLED in error.message
    assert "plan covers none" in error.message and error.details["status"] == 403
    assert requests <= ENTITLEMENT_PROBE + config.fetch_concurrency - 1


def test_a_429_pauses_every_fetch_thread_for_its_retry_after(market, tmp_path):
    wait = 1.2
    symbols = list(market.universe()["symbol"])[:80]
    faults = {symbols[30]: [Fault("429", retry_after=wait)]}
    with FakePolygonServer(market, api_key=KEY, latency=0.005, faults=faults) as server:
        config = config_for(polygon(server), tmp_path, universe=symbols)
        result = tn.scan(config)
        log = server.request_log
    assert result.errors.empty and len(result.table) + len(result.filtered) == 80
    (limited,) = [record for record in log if record.fault == "429"]
    after = [r.at - limited.answered for r in log if r.at > limited.answered]
    in_flight = [gap for gap in after if gap < wait - 0.05]  # (requests already under way)
    assert len(in_flight) <= config.fetch_concurrency - 1  # sent before the gate closed
    assert not [gap for gap in in_flight if gap > 0.3]  # then silence for ~Retry-After
    assert len(after) > 30  # the scan went on afterwards


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


def test_only_a_cache_with_features_entries_is_read_back_first(market, monkeypatch, tmp_path):
    from technic_nb.engine.executors import FetchExecutor

    passes: list[int] = []
    read_back = FetchExecutor._resume

    def counted(self, symbols, keys, emit):
        passes.append(len(symbols))
        return read_back(self, symbols, keys, emit)

    monkeypatch.setattr(FetchExecutor, "_resume", counted)
    with FakePolygonServer(market, api_key=KEY) as server:
        config = config_for(polygon(server), tmp_path, universe=["EVVB", "LAE", "VANP"])
        cold = tn.scan(config)  # an empty cache: nothing to read back, fetching starts at once
        assert passes == [] and cold.stats["computed"] == 3
        warm = tn.scan(config)
        assert passes == [3] and warm.stats["from_cache"] == 3
        assert sum(server.requests_by_symbol.values()) == 3


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

    from technic_nb.engine.cache.checkpoints import CheckpointCache
    from technic_nb.engine.plan import resolve_window
    from technic_nb.engine.work import SymbolJob
    from technic_nb.sources.base import BarsPayload

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
            if stored.bars.peek(job.bars_key(s), BarsPayload, print) is not None
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
def test_cancel_during_long_retry_after_is_prompt(market, tmp_path, backend, cancel_midway):
    slow = {s: Fault("429", retry_after=30) for s in ["LAE", "VANP", "CZE"]}
    with FakePolygonServer(market, api_key=KEY, faults=slow) as server:
        source = polygon(server, retry=RetryPolicy(max_tries=5, retry_after_cap=60, max_time=120))
        config = config_for(source, tmp_path, backend=backend)
        token = ScanCancellation()
        gate_closed = threading.Event()
        threading.Thread(
            target=lambda: source._key_state.gate.wait_closed(60) and gate_closed.set(),
            daemon=True,
        ).start()
        result, latency = cancel_midway(lambda: tn.scan(config, None, token), gate_closed, token)
        closings = source._key_state.gate.closings
    assert latency < 2.0  # the gate and the retry waits end at the cancel, not in 30 s
    assert result.cancelled and closings >= 1
    assert not {"LAE", "VANP", "CZE"} & set(result.table.index)


def key_forms(base_url: str) -> dict[str, tuple[object, dict[str, str]]]:
    """Each way a key can be given: the config's source and the environment to set."""
    return {
        "argument": (PolygonSource(api_key=KEY, base_url=base_url, retry=FAST_RETRY), {}),
        "environment": ("env", {"POLYGON_API_KEY": KEY}),
        "apiKey-in-url": (PolygonSource(base_url=f"{base_url}/?apiKey={KEY}", retry=FAST), {}),
        "api_key-in-url": (PolygonSource(base_url=f"{base_url}?api_key={KEY}", retry=FAST), {}),
        "spec-string": (f"polygon:{base_url}/?apiKey={KEY}", {}),
    }


def cache_bytes(folder) -> bytes:
    """Every byte of every file under ``folder``, file names included."""
    chunks = []
    for path in sorted(folder.rglob("*")):
        chunks.append(str(path).encode())
        if path.is_file():
            chunks.append(path.read_bytes())
    return b"".join(chunks)


@pytest.mark.parametrize(
    "form", ["argument", "environment", "apiKey-in-url", "api_key-in-url", "spec-string"]
)
def test_api_key_never_leaks(market, tmp_path, caplog, monkeypatch, form):
    caplog.set_level(logging.DEBUG)
    faults = {
        "EVVB": ["reset", "badjson"],
        "LAE": "404",
        "VANP": ["500", "cut"],
        "CZE": "403",
        "UONL": ["truncated", "html"],
        "UOU": ["error200", "429"],
    }
    universe = ["EVVB", "LAE", "VANP", "CZE", "UONL", " uonl ", "UOU", "", "../x"]
    with FakePolygonServer(
        market, api_key=KEY, faults=faults, page_size=100, next_url_with_key=True
    ) as server:
        spec, env = key_forms(server.base_url)[form]
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        if spec == "env":
            spec = PolygonSource(base_url=server.base_url, retry=FAST_RETRY)
        config = config_for(spec, tmp_path / "cache", universe=universe, max_tries=8)
        result = tn.scan(config)
        texts = [
            result.status,
            repr(result),
            result.table.to_csv(),
            result.errors.to_csv(),
            repr(result.errors.to_dict("records")),
            repr(result.stats),
            repr(result.warnings),
            caplog.text,
        ]
        if not isinstance(spec, str):
            texts += [repr(spec), spec.identity, repr(vars(spec))]
        assert server.auth_failures == 0  # the key was used, whichever way it came
    assert {"LAE", "CZE", "../x"} <= set(result.errors["symbol"])
    assert len(result.warnings) >= 2 and caplog.records
    for text in texts:
        assert KEY not in text
    assert KEY.encode() not in cache_bytes(tmp_path / "cache")  # keys and files alike


def test_api_key_never_leaks_from_a_closed_port(market, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    closed = PolygonSource(api_key=KEY, base_url="http://127.0.0.1:9", retry=FAST_RETRY)
    broken = tn.scan(config_for(closed, tmp_path / "c", universe=["EVVB"], max_tries=2))
    assert len(broken.errors) == 1
    assert KEY not in broken.errors.to_csv() and KEY not in caplog.text


@pytest.mark.parametrize(
    "url", [f"https://user:{KEY}@api.example.test", f"https://api.example.test/#{KEY}"]
)
def test_keys_in_refused_places_are_not_echoed_by_the_scan(tmp_path, url):
    with pytest.raises(tn.ScanError) as info:
        tn.scan(config_for(f"polygon:{url}", tmp_path))
    assert info.value.error_type is tn.ErrorType.CONFIG_ERROR
    assert KEY not in str(info.value) + repr(info.value.to_dict())


def test_the_cli_prints_the_redacted_url(market, tmp_path, capsys):
    from technic_nb.cli import main

    with FakePolygonServer(market, api_key=KEY) as server:
        base = server.base_url
        args = ["--as-of", AS_OF, "--cache-dir", str(tmp_path / "c"), "--jobs", "1"]
        args += ["--no-progress", "--backend", "threading"]
        source = f"polygon:{base}/?apiKey={KEY}"
        code = main(["scan", "--source", source, "--universe", "EVVB,LAE,ZZZZ9", *args])
        refused = main(["scan", "--source", f"polygon:https://u:{KEY}@h.test", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0 and refused == 2
    assert f"source polygon:{base}/?apiKey=***" in err
    assert "Scanned 3 symbols" in out and "failed; first: ZZZZ9" in err
    assert KEY not in out + err
    assert KEY.encode() not in cache_bytes(tmp_path / "c")


@pytest.mark.parametrize("factors", [False, True], ids=["features", "with a factor"])
def test_damaged_entries_of_a_network_scan_reach_result_warnings(market, tmp_path, factors):
    """Every source path reports a damaged checkpoint entry in ``result.warnings`` (a
    network scan reads its entries back in the workers before it fetches)."""
    changes = {"factors": [tn.factors.adx(10)]} if factors else {}
    with FakePolygonServer(market, api_key=KEY) as server:
        config = config_for(polygon(server), tmp_path, **changes)
        config = config.replace(universe=config.universe[:12])
        first = tn.scan(config)
        assert first.warnings == [] or all("unreadable" not in w for w in first.warnings)
        function = "factor_entry" if factors else "features_entry"
        entries = sorted(
            tmp_path.glob(f"**/technic_nb/engine/cache/cached/{function}/*/output.pkl")
        )
        assert len(entries) == 12
        for path in entries[:2]:
            data = bytearray(path.read_bytes())
            data[-10] ^= 0x40  # a flipped bit
            path.write_bytes(bytes(data))
        again = tn.scan(config)
    damaged = [w for w in again.warnings if "unreadable" in w]
    assert len(damaged) == 2, again.warnings
    assert all("removed and recomputed" in w for w in damaged)
    pd.testing.assert_frame_equal(again.table, first.table)


def test_damaged_entries_of_a_network_replay_reach_result_warnings(market, tmp_path):
    with FakePolygonServer(market, api_key=KEY) as server:
        config = config_for(polygon(server), tmp_path, as_of=None)
        config = config.replace(universe=config.universe[:6])
        dates = ["2025-10-31", "2025-11-28"]
        first = tn.replay(config, dates=dates)
        entries = sorted(
            tmp_path.glob("**/technic_nb/engine/cache/cached/replay_entry/*/output.pkl")
        )
        assert len(entries) == 6
        for path in entries[:2]:
            data = bytearray(path.read_bytes())
            data[-10] ^= 0x40
            path.write_bytes(bytes(data))
        again = tn.replay(config, dates=dates)
    damaged = [w for w in again.warnings if "unreadable" in w]
    assert len(damaged) == 2, again.warnings
    pd.testing.assert_frame_equal(again.table(dates[-1]), first.table(dates[-1]))


def test_a_new_scan_waits_for_the_fetches_a_cancelled_one_left_in_flight(market, tmp_path):
    """Fetches still running when a scan is cancelled (slower than its grace period) are
    joined by the next scan on the same cache, so their bars are fetched only once."""
    symbols = list(market.universe()["symbol"][:24])
    with FakePolygonServer(market, api_key=KEY, latency=0.8) as server:
        config = config_for(polygon(server), tmp_path, universe=symbols, fetch_concurrency=8)
        token = ScanCancellation()

        def on_progress(stage, current, total, message, metadata):
            if stage == "data_fetching" and current >= 1:
                token.cancel()

        # cancel once the first answers are in: the next eight requests are under way
        first = tn.scan(config, on_progress, token)
        assert first.cancelled
        assert server.wait_for(lambda log: len(log) > 1, timeout=5)
        second = tn.scan(config)
    assert not second.cancelled and len(second.errors) == 0
    requested = server.requests_by_symbol
    assert set(requested) == set(symbols)
    assert max(requested.values()) == 1, {s: n for s, n in requested.items() if n > 1}
