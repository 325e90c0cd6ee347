"""PolygonSource against the fault-injecting FakePolygonServer on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import math
import pickle
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pytest

from technic_nb._cancel import ScanCancellation, ScanCancelled
from technic_nb._errors import ErrorType, ScanError
from technic_nb._retry import RetryPolicy, TransientFetchError
from technic_nb.sources._base import DateWindow
from technic_nb.sources._demo import DemoSource
from technic_nb.sources._http import (
    PolygonRows,
    PolygonSource,
    _parse_page,
    _Secret,
    parse_retry_after,
    redact,
)
from technic_nb.testing import FakePolygonServer, Fault, fault_plan

KEY = "sk-live-7Hq2-PLEASE-DO-NOT-LEAK"
WINDOW = DateWindow(dt.date(2023, 3, 1), dt.date(2024, 1, 31))
FAST = RetryPolicy(max_tries=4, max_time=10.0, base_delay=0.01, max_delay=0.05)
TRANSIENT_KINDS = ["429", "500", "502", "503", "504", "reset", "truncated", "badjson", "timeout"]


@pytest.fixture(scope="module")
def market() -> DemoSource:
    return DemoSource(n_symbols=12, seed=3)


@pytest.fixture(scope="module")
def symbols(market: DemoSource) -> list[str]:
    return list(market.universe()["symbol"])


@pytest.fixture
def make(market: DemoSource) -> Iterator[Callable[..., tuple[FakePolygonServer, PolygonSource]]]:
    """Start a server and a source pointed at it; both are shut down after the test."""
    opened: list[Any] = []

    def build(
        *, key: str = KEY, retry: RetryPolicy = FAST, timeout: float = 2.0, **server_options: Any
    ) -> tuple[FakePolygonServer, PolygonSource]:
        server = FakePolygonServer(market, api_key=KEY, **server_options).start()
        opened.append(server)
        source = PolygonSource(api_key=key, base_url=server.base_url, timeout=timeout, retry=retry)
        opened.append(source)
        return server, source

    yield build
    for item in reversed(opened):
        if isinstance(item, PolygonSource):
            item.close()
        else:
            item.stop()


def assert_no_key(*texts: object) -> None:
    for text in texts:
        assert KEY not in str(text)


def error_texts(exc: BaseException) -> list[str]:
    with_locals = traceback.TracebackException.from_exception(exc, capture_locals=True)
    texts = [str(exc), repr(exc), "".join(with_locals.format())]
    if isinstance(exc, ScanError):
        texts.append(json.dumps(exc.to_dict(), default=str))
    return texts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- normal operation ----------------------------------------------------------


def test_fetch_equals_the_source_bars(make, market, symbols) -> None:
    server, source = make()
    for symbol in symbols[:3]:
        got = source.fetch(symbol, WINDOW)
        expected = market.fetch(symbol, WINDOW)
        assert len(got) > 200
        assert list(got.index.date) == list(expected.index.date)
        assert got.index[0].date() >= WINDOW.start and got.index[-1].date() <= WINDOW.end
        pd.testing.assert_frame_equal(got, expected, check_index_type=False, check_freq=False)
    assert server.total_requests == 3
    assert server.successes_by_symbol[symbols[0]] == 1
    assert source.retry_stats.snapshot()["attempts"] == 3


def test_pagination_follows_next_url(make, market, symbols) -> None:
    server, source = make(page_size=40)
    got = source.fetch(symbols[0], WINDOW)
    expected = market.fetch(symbols[0], WINDOW)
    pd.testing.assert_frame_equal(got, expected, check_index_type=False, check_freq=False)
    assert server.requests_by_symbol[symbols[0]] == math.ceil(len(expected) / 40)
    assert server.auth_failures == 0  # the key was sent again on every page


def test_new_york_midnight_timestamps_become_new_york_dates() -> None:
    # 2024-01-02 00:00 EST and 2024-07-01 00:00 EDT, in UTC milliseconds
    rows = [
        {"t": 1704171600000, "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 10},
        {"t": 1719806400000, "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 10},
    ]
    body = json.dumps({"status": "OK", "results": rows}).encode()
    page = _parse_page(body, "AAA", "/v2/aggs", _Secret(KEY))
    frame = PolygonRows.join("AAA", WINDOW.key(), [page]).raw_frame()
    assert [d.date() for d in frame["date"]] == [dt.date(2024, 1, 2), dt.date(2024, 7, 1)]


@pytest.mark.parametrize("page_size", [None, 40])
def test_fetched_rows_give_what_fetch_returns(make, symbols, page_size) -> None:
    server, source = make(page_size=page_size)
    payload = source.fetch_payload(symbols[0], WINDOW)
    assert isinstance(payload, PolygonRows)
    assert (server.requests_by_symbol[symbols[0]] > 1) == (page_size is not None)
    shipped = pickle.loads(pickle.dumps(payload))  # what a worker process receives
    assert KEY.encode() not in pickle.dumps(payload)
    pd.testing.assert_frame_equal(
        shipped.bars(symbols[0], WINDOW), source.fetch(symbols[0], WINDOW), check_freq=False
    )
    assert "bars" in repr(payload) and symbols[0] in repr(payload)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b'{"status": "OK", "results": [{"t": 1,}]}', "not valid JSON"),
        (b'{"status": "OK", "results": [{"t": 1, "o": 2', "not valid JSON"),
        (b"<html><body>Bad gateway</body></html>", "not valid JSON"),
        (b'["status", "OK"]', "not an object"),
        (b'{"status": "ERROR", "error": "busy"}', "status ERROR: busy"),
        (b'{"status": "OK", "resultsCount": 5}', "without the 5 results"),
        (b'{"status": "OK", "results": {"t": 1}}', "not a list"),
        (b'{"status": "OK", "results": [{"t": 1}]}', "malformed bar rows"),
        (
            b'{"status": "OK", "results": [{"t": 1, "o": "x", "h": 1, "l": 1, "c": 1, "v": 1}]}',
            "malformed bar rows",
        ),
        (b'{"status": "OK", "results": [], "next_url": 7}', "malformed next_url"),
    ],
)
def test_a_page_that_does_not_check_out_is_transient(body, text) -> None:
    with pytest.raises(TransientFetchError) as info:
        _parse_page(body, "AAA", "/v2/aggs/ticker/AAA", _Secret(KEY))
    assert text in str(info.value)
    assert info.value.status == 200


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b'{"status": "NOT_FOUND"}', "unknown symbol"),
        (b'{"status": "OK", "results": []}', "no daily bars"),
        (b'{"status": "OK", "resultsCount": 0}', "no daily bars"),
    ],
)
def test_an_unknown_symbol_or_no_bars_is_a_permanent_data_error(body, text) -> None:
    with pytest.raises(ScanError) as info:
        page = _parse_page(body, "AAA", "/v2/aggs/ticker/AAA", _Secret(KEY))
        PolygonRows.join("AAA", WINDOW.key(), [page]).bars("AAA", WINDOW)
    assert info.value.error_type is ErrorType.DATA_ERROR
    assert info.value.recoverable is False
    assert text in info.value.message and "AAA" in info.value.message


def test_the_attempt_is_a_backoff_decorated_function() -> None:
    attempt = PolygonSource._attempt
    assert attempt.__wrapped__.__name__ == "_attempt"  # functools.wraps by backoff
    assert "backoff" in attempt.__code__.co_filename


def test_connections_are_reused(make, symbols) -> None:
    server, source = make()
    for _ in range(3):
        for symbol in symbols[:4]:
            source.fetch(symbol, WINDOW)
    assert server.total_requests == 12
    assert len(server.client_addresses) == 1
    assert server.connections_opened == 1


def test_threads_share_a_bounded_pool(make, market, symbols) -> None:
    server, _ = make(latency=0.01)
    source = PolygonSource(api_key=KEY, base_url=server.base_url, max_connections=2, retry=FAST)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            frames = list(pool.map(lambda s: source.fetch(s, WINDOW), symbols * 2))
    finally:
        source.close()
    assert all(len(frame) > 200 for frame in frames)
    assert server.total_requests == 2 * len(symbols)
    assert len(server.client_addresses) <= 2


def test_requests_per_second_is_respected(make, symbols) -> None:
    server, _ = make()
    source = PolygonSource(
        api_key=KEY, base_url=server.base_url, requests_per_second=20, retry=FAST
    )
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda s: source.fetch(s, WINDOW), symbols))
        elapsed = time.monotonic() - started
    finally:
        source.close()
    # 12 requests at 20/s: the last one may start 11/20 s after the first.
    assert server.total_requests == 12
    assert 0.5 <= elapsed < 5.0


def test_source_pickles_without_its_client(make, market, symbols) -> None:
    _, source = make()
    source.fetch(symbols[0], WINDOW)
    copy = pickle.loads(pickle.dumps(source))
    assert copy._client is None
    assert copy.retry_stats.snapshot()["attempts"] == 1
    pd.testing.assert_frame_equal(copy.fetch(symbols[0], WINDOW), source.fetch(symbols[0], WINDOW))
    copy.close()
    source.close()
    assert len(source.fetch(symbols[1], WINDOW)) > 200  # a closed source opens a new pool


def test_identity_resolve_end_and_attributes(monkeypatch) -> None:
    source = PolygonSource(api_key=KEY, base_url="https://example.test/")
    assert source.identity == "polygon:https://example.test"
    assert source.fetch_in_worker is False and source.cache_bars is True
    assert source.resolve_end(dt.date(2024, 5, 1)) == dt.date(2024, 5, 1)
    today = source.resolve_end(None)
    assert abs((today - dt.date.today()).days) <= 1
    assert_no_key(repr(source), source.identity, vars(source), source.fingerprint("AAA", WINDOW))
    monkeypatch.setenv("POLYGON_API_KEY", KEY)
    assert_no_key(repr(PolygonSource()))


def test_key_from_the_environment(make, market, symbols, monkeypatch) -> None:
    server, _ = make()
    monkeypatch.setenv("POLYGON_API_KEY", KEY)
    source = PolygonSource(base_url=server.base_url, retry=FAST)
    try:
        assert len(source.fetch(symbols[0], WINDOW)) > 200
    finally:
        source.close()


def test_missing_key_is_a_fatal_config_error(monkeypatch) -> None:
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    with pytest.raises(ScanError) as info:
        PolygonSource()
    assert info.value.error_type is ErrorType.CONFIG_ERROR
    assert info.value.fatal is True
    assert "POLYGON_API_KEY" in str(info.value) and "api_key" in str(info.value)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("base_url", "ftp://example.test"),
        ("base_url", "https://api.example.test/?apiKey=x"),
        ("base_url", "https://user:hunter2@api.example.test"),
        ("max_connections", 0),
        ("requests_per_second", 0),
        ("timeout", -1),
        ("retry", {"max_tries": 3}),
    ],
)
def test_invalid_arguments_are_config_errors(option: str, value: object) -> None:
    with pytest.raises(ScanError) as info:
        PolygonSource(api_key=KEY, **{option: value})
    assert info.value.error_type is ErrorType.CONFIG_ERROR
    assert option in info.value.message
    assert_no_key(*error_texts(info.value))
    assert "hunter2" not in str(info.value.to_dict())


def test_an_open_window_is_refused(make, symbols) -> None:
    server, source = make()
    with pytest.raises(ScanError) as info:
        source.fetch(symbols[0], DateWindow(None, WINDOW.end))
    assert info.value.error_type is ErrorType.CONFIG_ERROR and info.value.fatal
    assert server.total_requests == 0


# -- transient faults ----------------------------------------------------------


@pytest.mark.parametrize("kind", TRANSIENT_KINDS)
def test_every_transient_fault_is_retried(make, market, symbols, kind: str) -> None:
    repeats = 1 if kind == "timeout" else 2
    server, source = make(faults={symbols[0]: [kind] * repeats}, timeout=0.5, timeout_delay=1.0)
    got = source.fetch(symbols[0], WINDOW)
    pd.testing.assert_frame_equal(
        got, market.fetch(symbols[0], WINDOW), check_index_type=False, check_freq=False
    )
    assert server.requests_by_symbol[symbols[0]] == repeats + 1
    assert server.faults_by_kind[kind] == repeats
    assert server.successes_by_symbol[symbols[0]] == 1
    snap = source.retry_stats.snapshot()
    assert (snap["attempts"], snap["retries"], snap["give_ups"]) == (repeats + 1, repeats, 0)


def test_faults_on_later_pages_are_retried(make, market, symbols) -> None:
    server, source = make(page_size=60, faults={symbols[1]: fault_plan("ok", "503", "reset")})
    got = source.fetch(symbols[1], WINDOW)
    pd.testing.assert_frame_equal(
        got, market.fetch(symbols[1], WINDOW), check_index_type=False, check_freq=False
    )
    assert server.faults_by_symbol[symbols[1]] == 2


def test_random_faults_are_deterministic_and_survived(make, symbols) -> None:
    policy = RetryPolicy(max_tries=12, base_delay=0.001, max_delay=0.005)
    counts = []
    for _ in range(2):
        server, source = make(fault_rate=0.4, seed=11, retry=policy)
        for symbol in symbols:
            assert len(source.fetch(symbol, WINDOW)) > 200
        counts.append((server.faults_by_kind, server.requests_by_symbol))
    assert counts[0] == counts[1]
    assert sum(counts[0][0].values()) > 0


def test_retry_after_seconds_is_honoured(make, symbols) -> None:
    policy = RetryPolicy(max_tries=3, base_delay=0.01, jitter=False)
    server, source = make(faults={symbols[0]: [Fault("429", retry_after=0.4)]}, retry=policy)
    started = time.monotonic()
    source.fetch(symbols[0], WINDOW)
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 3.0
    assert source.retry_stats.snapshot()["wait_seconds"] >= 0.4
    assert server.requests_by_symbol[symbols[0]] == 2


def test_retry_after_http_date_is_honoured(make, symbols) -> None:
    when = email.utils.formatdate(time.time() + 1.6, usegmt=True)  # whole seconds: 0.6-1.6 s
    server, source = make(faults={symbols[0]: [Fault("429", retry_after=when)]})
    started = time.monotonic()
    source.fetch(symbols[0], WINDOW)
    assert 0.5 <= time.monotonic() - started < 4.0
    assert server.requests_by_symbol[symbols[0]] == 2


def test_retry_after_is_capped(make, symbols) -> None:
    policy = RetryPolicy(max_tries=3, base_delay=0.01, retry_after_cap=0.2, max_time=100.0)
    _, source = make(faults={symbols[0]: [Fault("429", retry_after=90)]}, retry=policy)
    started = time.monotonic()
    source.fetch(symbols[0], WINDOW)
    assert 0.2 <= time.monotonic() - started < 3.0


def test_retry_after_beyond_max_time_gives_up_now(make, symbols) -> None:
    policy = RetryPolicy(max_tries=5, max_time=5.0, retry_after_cap=60.0)
    server, source = make(faults={symbols[0]: Fault("429", retry_after=30)}, retry=policy)
    started = time.monotonic()
    with pytest.raises(ScanError) as info:
        source.fetch(symbols[0], WINDOW)
    assert time.monotonic() - started < 1.0
    exc = info.value
    assert exc.error_type is ErrorType.API_ERROR and exc.recoverable
    assert exc.details["gave_up"] == "max_time"
    assert exc.retry_after == 30.0
    assert server.requests_by_symbol[symbols[0]] == 1


def test_give_up_after_max_tries(make, symbols) -> None:
    server, source = make(faults={symbols[2]: "503"})
    with pytest.raises(ScanError) as info:
        source.fetch(symbols[2], WINDOW)
    exc = info.value
    assert exc.error_type is ErrorType.API_ERROR
    assert exc.recoverable is True and exc.fatal is False
    assert exc.details["status"] == 503
    assert exc.details["attempts"] == FAST.max_tries
    assert "503" in exc.details["last_error"]
    assert exc.details["elapsed"] >= 0
    assert exc.suggestion
    assert exc.affected_symbols == (symbols[2],)
    assert server.requests_by_symbol[symbols[2]] == FAST.max_tries
    assert source.retry_stats.snapshot()["give_ups"] == 1
    assert_no_key(*error_texts(exc))


def test_repeated_timeouts_give_a_timeout_error(make, symbols) -> None:
    policy = RetryPolicy(max_tries=2, base_delay=0.01)
    server, source = make(
        faults={symbols[0]: "timeout"}, timeout=0.3, timeout_delay=0.6, retry=policy
    )
    with pytest.raises(ScanError) as info:
        source.fetch(symbols[0], WINDOW)
    assert info.value.error_type is ErrorType.TIMEOUT_ERROR
    assert info.value.details["attempts"] == 2
    assert server.requests_by_symbol[symbols[0]] == 2


def test_closed_port_gives_a_recoverable_api_error(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    source = PolygonSource(
        api_key=KEY,
        base_url=f"http://127.0.0.1:{free_port()}",
        retry=RetryPolicy(max_tries=2, base_delay=0.01),
    )
    try:
        with pytest.raises(ScanError) as info:
            source.fetch("AAA", WINDOW)
    finally:
        source.close()
    exc = info.value
    assert exc.error_type is ErrorType.API_ERROR and exc.recoverable
    assert exc.details["status"] is None and exc.details["attempts"] == 2
    assert "Connection refused" in exc.details["last_error"]
    assert_no_key(*error_texts(exc), caplog.text)


# -- errors that are not retried -----------------------------------------------


@pytest.mark.parametrize("case", ["unknown", "404", "empty"])
def test_missing_data_is_a_data_error_without_retry(make, symbols, case: str) -> None:
    symbol = "ZZZZ9" if case == "unknown" else symbols[0]
    server, source = make(faults={} if case == "unknown" else {symbol: case})
    with pytest.raises(ScanError) as info:
        source.fetch(symbol, WINDOW)
    exc = info.value
    assert exc.error_type is ErrorType.DATA_ERROR
    assert exc.details["symbol"] == symbol and exc.affected_symbols == (symbol,)
    assert not exc.fatal
    assert server.requests_by_symbol[symbol] == 1
    assert source.retry_stats.snapshot()["retries"] == 0


def test_window_without_bars_is_a_data_error(make, symbols) -> None:
    server, source = make()
    with pytest.raises(ScanError) as info:
        source.fetch(symbols[0], DateWindow(dt.date(1990, 1, 1), dt.date(1990, 2, 1)))
    assert info.value.error_type is ErrorType.DATA_ERROR
    assert server.total_requests == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_fatal_and_not_retried(make, symbols, caplog, status: int) -> None:
    caplog.set_level(logging.DEBUG)
    if status == 401:
        server, source = make(key="wrong-" + KEY)
    else:
        server, source = make(forbidden=True)
    with pytest.raises(ScanError) as info:
        source.fetch(symbols[0], WINDOW)
    exc = info.value
    assert exc.error_type is ErrorType.API_ERROR
    assert exc.fatal is True and exc.recoverable is False
    assert exc.details["status"] == status
    assert "POLYGON_API_KEY" in str(exc) and "api_key=" in str(exc)
    assert server.total_requests == 1
    assert source.retry_stats.snapshot()["retries"] == 0
    assert_no_key(*error_texts(exc), caplog.text)


# -- secrets -------------------------------------------------------------------


def test_the_key_never_appears_in_errors_reprs_or_logs(make, symbols, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    policy = RetryPolicy(max_tries=2, base_delay=0.01)
    server, source = make(
        page_size=50,
        next_url_with_key=True,
        retry=policy,
        timeout=0.5,
        timeout_delay=0.8,
        faults={
            symbols[0]: fault_plan("429", "reset", "truncated", "badjson", "500"),
            symbols[1]: fault_plan("ok", "503", "503"),  # give up on the second page
            symbols[2]: fault_plan("timeout", "timeout"),
        },
    )
    errors: list[BaseException] = []
    for symbol in [symbols[0], symbols[1], symbols[2], "ZZZZ9", symbols[3]]:
        for _ in range(3):
            try:
                source.fetch(symbol, WINDOW)
                break
            except ScanError as exc:
                errors.append(exc)
    assert {exc.error_type for exc in errors} >= {
        ErrorType.API_ERROR,
        ErrorType.TIMEOUT_ERROR,
        ErrorType.DATA_ERROR,
    }
    page_error = next(exc for exc in errors if exc.details.get("symbol") == symbols[1])
    assert page_error.details["status"] == 503 and page_error.details["attempts"] == 2
    for exc in errors:
        assert_no_key(*error_texts(exc))
    assert_no_key(repr(source), vars(source))
    assert caplog.records, "the source logs its requests at debug level"
    assert_no_key(caplog.text)
    assert server.auth_failures == 0


def test_redact_and_retry_after_parsing() -> None:
    text = f"GET http://h/x?a=1&apiKey={KEY}&b=2 Authorization: Bearer {KEY}"
    assert KEY not in redact(text)
    assert KEY not in redact(f"key {KEY} in text", KEY)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    now = time.time()
    later = email.utils.formatdate(now + 100, usegmt=True)
    assert 98.0 <= parse_retry_after(later, now=now) <= 100.0


# -- cancellation --------------------------------------------------------------


def test_cancel_during_a_long_retry_after_wait(make, symbols) -> None:
    policy = RetryPolicy(max_tries=5, max_time=300.0, retry_after_cap=120.0)
    server, source = make(faults={symbols[0]: Fault("429", retry_after=60)}, retry=policy)
    token = ScanCancellation()
    timer = threading.Timer(0.2, token.cancel)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(ScanCancelled):
            source.fetch(symbols[0], WINDOW, cancellation=token)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 1.0
    assert server.requests_by_symbol[symbols[0]] == 1


def test_cancel_while_waiting_for_a_rate_limit_slot(make, symbols) -> None:
    server, _ = make()
    source = PolygonSource(
        api_key=KEY, base_url=server.base_url, requests_per_second=0.2, retry=FAST
    )
    token = ScanCancellation()
    try:
        source.fetch(symbols[0], WINDOW, cancellation=token)  # takes the first slot
        timer = threading.Timer(0.2, token.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(ScanCancelled):
            source.fetch(symbols[1], WINDOW, cancellation=token)  # next slot is 5 s away
        assert time.monotonic() - started < 1.0
        timer.cancel()
    finally:
        source.close()
    assert server.total_requests == 1
