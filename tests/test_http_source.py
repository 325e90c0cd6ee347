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

from technic_nb.core.cancel import ScanCancellation, ScanCancelled
from technic_nb.core.errors import ErrorType, ScanError
from technic_nb.sources.base import DateWindow
from technic_nb.sources.demo import DemoSource
from technic_nb.sources.polygon.guard import ENTITLEMENT_PROBE
from technic_nb.sources.polygon.source import (
    PolygonRows,
    PolygonSource,
    _parse_page,
    _Secret,
    parse_retry_after,
    redact,
)
from technic_nb.sources.retry.policy import RetryPolicy, TransientFetchError
from technic_nb.testing import NOT_ENTITLED, FakePolygonServer, Fault, fault_plan

KEY = "sk-live-7Hq2-PLEASE-DO-NOT-LEAK"
WINDOW = DateWindow(dt.date(2023, 3, 1), dt.date(2024, 1, 31))
FAST = RetryPolicy(max_tries=4, max_time=10.0, base_delay=0.01, max_delay=0.05)


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


def library_frames(exc: BaseException | None) -> str:
    """The frames of ``exc`` (and of its causes) inside technic_nb, with their locals
    (the test's own frame holds the key in its source line and arguments)."""
    texts = []
    while exc is not None:
        frames = [
            (frame, line)
            for frame, line in traceback.walk_tb(exc.__traceback__)
            if "/technic_nb/" in frame.f_code.co_filename
        ]
        texts.extend(traceback.StackSummary.extract(iter(frames), capture_locals=True).format())
        exc = exc.__cause__ or exc.__context__
    return "".join(texts)


def error_texts(exc: BaseException) -> list[str]:
    texts = [str(exc), repr(exc), library_frames(exc)]
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
    asked: list[float] = []
    granted: list[float] = []
    acquire = source._limiter.acquire

    def timed(cancellation):  # when each request asked for a slot, and when it got one
        asked.append(time.monotonic())
        acquire(cancellation)
        granted.append(time.monotonic())

    source._limiter.acquire = timed
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda s: source.fetch(s, WINDOW), symbols))
    finally:
        source.close()
    assert server.total_requests == len(granted) == 12
    # the four threads share one clock of slots 1/20 s apart, so twelve requests take at
    # least eleven intervals from the first ask to the last grant (a burst would not)
    assert max(granted) - min(asked) >= 11 * 0.05


def test_source_pickles_without_its_client(make, market, symbols) -> None:
    _, source = make()
    source.fetch(symbols[0], WINDOW)
    copy = pickle.loads(pickle.dumps(source))
    assert copy._http.is_open is False and source._http.is_open
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


def gap_after_first_answer(server: FakePolygonServer) -> float:
    """Seconds from the first answer (a fault) to the next request's arrival (the server
    notes "answered" just before the answer's last bytes go out)."""
    first, second = server.request_log[:2]
    return second.at - first.answered


def test_retry_after_seconds_is_honoured(make, symbols) -> None:
    policy = RetryPolicy(max_tries=3, base_delay=0.01, jitter=False)
    server, source = make(faults={symbols[0]: [Fault("429", retry_after=0.4)]}, retry=policy)
    source.fetch(symbols[0], WINDOW)
    assert gap_after_first_answer(server) >= 0.4
    assert source.retry_stats.snapshot()["wait_seconds"] >= 0.4
    assert server.requests_by_symbol[symbols[0]] == 2


def test_retry_after_http_date_is_honoured(make, symbols) -> None:
    when = email.utils.formatdate(time.time() + 1.6, usegmt=True)  # whole seconds: 0.6-1.6 s
    server, source = make(faults={symbols[0]: [Fault("429", retry_after=when)]})
    source.fetch(symbols[0], WINDOW)
    assert gap_after_first_answer(server) >= 0.5
    assert server.requests_by_symbol[symbols[0]] == 2


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``call`` in a thread; the box gets ``result`` or ``error``, and ``ended``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:
            box["error"] = exc
        box["ended"] = time.monotonic()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def test_retry_after_is_capped(make, symbols) -> None:
    policy = RetryPolicy(max_tries=3, base_delay=0.01, retry_after_cap=0.2, max_time=100.0)
    server, source = make(faults={symbols[0]: [Fault("429", retry_after=90)]}, retry=policy)
    thread, box = in_thread(lambda: source.fetch(symbols[0], WINDOW))
    thread.join(30)  # far less than the 90 s asked for
    assert not thread.is_alive() and "result" in box
    assert gap_after_first_answer(server) >= 0.2


def test_retry_after_beyond_max_time_gives_up_now(make, symbols) -> None:
    policy = RetryPolicy(max_tries=5, max_time=5.0, retry_after_cap=60.0)
    server, source = make(faults={symbols[0]: Fault("429", retry_after=30)}, retry=policy)
    with pytest.raises(ScanError) as info:
        source.fetch(symbols[0], WINDOW)
    exc = info.value
    assert exc.error_type is ErrorType.API_ERROR and exc.recoverable
    assert exc.details["gave_up"] == "max_time"
    assert exc.retry_after == 30.0
    assert server.requests_by_symbol[symbols[0]] == 1
    assert source.retry_stats.snapshot()["wait_seconds"] == 0  # no wait was started


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


@pytest.mark.parametrize("auth_status", [401, 403])
def test_a_refused_key_is_fatal_and_quotes_the_server(make, symbols, caplog, auth_status) -> None:
    caplog.set_level(logging.DEBUG)
    server, source = make(key="wrong-" + KEY, auth_status=auth_status)
    with pytest.raises(ScanError) as info:
        source.fetch(symbols[0], WINDOW)
    exc = info.value
    assert exc.error_type is ErrorType.API_ERROR
    assert exc.fatal is True and exc.recoverable is False
    assert exc.details["status"] == auth_status
    assert f"HTTP {auth_status}: 'Unknown API Key'" in exc.message  # the server's words
    assert "POLYGON_API_KEY" in str(exc) and "api_key=" in str(exc)
    assert server.total_requests == 1
    assert source.retry_stats.snapshot()["retries"] == 0
    assert_no_key(*error_texts(exc), caplog.text)


def test_a_symbol_outside_the_plan_is_that_symbols_error(make, market, symbols) -> None:
    server, source = make(faults={symbols[0]: "403"})
    token = ScanCancellation()  # one scan: what is learnt about the key is shared
    with pytest.raises(ScanError) as info:
        source.fetch(symbols[0], WINDOW, cancellation=token)
    exc = info.value
    assert exc.error_type is ErrorType.API_ERROR and not exc.fatal
    assert exc.recoverable  # the plan may change: not remembered in the cache
    assert NOT_ENTITLED in exc.message and exc.message.startswith(symbols[0])
    assert exc.details["status"] == 403 and exc.affected_symbols == (symbols[0],)
    assert server.requests_by_symbol[symbols[0]] == 1  # not retried
    for symbol in symbols[1:4]:  # the key and the other symbols are fine
        got = source.fetch(symbol, WINDOW, cancellation=token)
        pd.testing.assert_frame_equal(got, market.fetch(symbol, WINDOW), check_freq=False)


def test_a_plan_covering_nothing_stops_after_a_few_answers(make, symbols) -> None:
    server, source = make(forbidden=True)
    token = ScanCancellation()
    raised: list[ScanError] = []
    for symbol in symbols:
        with pytest.raises(ScanError) as info:
            source.fetch(symbol, WINDOW, cancellation=token)
        raised.append(info.value)
    assert [exc.fatal for exc in raised] == [False] * (ENTITLEMENT_PROBE - 1) + [True] * (
        len(symbols) - ENTITLEMENT_PROBE + 1
    )
    fatal = raised[-1]
    assert NOT_ENTITLED in fatal.message and "plan covers none" in fatal.message
    assert fatal.details["refused"] == ENTITLEMENT_PROBE
    assert server.total_requests == ENTITLEMENT_PROBE  # the fatal one is latched: no request


def test_a_success_first_means_the_plan_covers_something(make, symbols) -> None:
    server, source = make(faults={s: "403" for s in symbols[1:]})
    token = ScanCancellation()
    source.fetch(symbols[0], WINDOW, cancellation=token)
    for symbol in symbols[1:]:
        with pytest.raises(ScanError) as info:
            source.fetch(symbol, WINDOW, cancellation=token)
        assert not info.value.fatal
    assert server.total_requests == len(symbols)


def test_a_refused_key_is_latched_so_threads_stop_at_once(make, symbols) -> None:
    """Eight threads fetching 40 symbols with a wrong key: once the first 401 is back,
    no thread sends another request (the requests already in flight are the only ones)."""
    server, _ = make(latency=0.02)
    source = PolygonSource(api_key="wrong-" + KEY, base_url=server.base_url, retry=FAST)
    token = ScanCancellation()  # never cancelled: the latch alone stops the threads

    def fetch(symbol: str) -> ScanError:
        with pytest.raises(ScanError) as info:
            source.fetch(symbol, WINDOW, cancellation=token)
        return info.value

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            errors = list(pool.map(fetch, (symbols * 4)[:40]))
    finally:
        source.close()
    assert all(exc.fatal for exc in errors)
    assert len({exc.message for exc in errors}) == 1  # one error, raised by every fetch
    assert server.total_requests <= 8
    assert not token.is_cancelled()


# -- the Retry-After gate --------------------------------------------------------


def test_a_429_holds_back_every_thread_for_its_retry_after(make, symbols) -> None:
    """The key is rate limited, not the symbol: after the 429 no thread sends a request
    until Retry-After has passed (timestamps from the server's request log)."""
    wait = 1.0
    server, _ = make(latency=0.01, faults={symbols[0]: ["ok", Fault("429", retry_after=wait)]})
    source = PolygonSource(api_key=KEY, base_url=server.base_url, retry=FAST, timeout=2.0)
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            frames = list(pool.map(lambda s: source.fetch(s, WINDOW), symbols * 3))
    finally:
        source.close()
    assert all(len(frame) > 200 for frame in frames)
    log = server.request_log
    (limited,) = [record for record in log if record.fault == "429"]
    after = [r.at - limited.answered for r in log if r.at > limited.answered]
    in_flight = [gap for gap in after if gap < wait - 0.05]  # (requests already under way)
    assert len(in_flight) <= 5  # sent before the gate closed: at most one per other thread
    assert not [gap for gap in in_flight if gap > 0.25]  # then nothing for ~Retry-After
    assert len(after) > 10 and source._key_state.gate.waits >= 1


def test_cancel_while_the_gate_is_closed_returns_at_once(make, symbols) -> None:
    policy = RetryPolicy(max_tries=5, max_time=300.0, retry_after_cap=120.0)
    server, source = make(faults={symbols[0]: Fault("429", retry_after=60)}, retry=policy)
    token = ScanCancellation()
    first, box_first = in_thread(lambda: source.fetch(symbols[0], WINDOW, cancellation=token))
    assert source._key_state.gate.wait_closed(10)
    other, box_other = in_thread(lambda: source.fetch(symbols[1], WINDOW, cancellation=token))
    assert source._key_state.gate.remaining() > 30
    cancelled = time.monotonic()
    token.cancel()
    for thread in (first, other):
        thread.join(10)
        assert not thread.is_alive()
    for box in (box_first, box_other):
        assert isinstance(box["error"], ScanCancelled)
        assert box["ended"] - cancelled < 2.0  # not the 60 s asked for
    assert server.requests_by_symbol[symbols[1]] == 0  # it waited at the gate


def test_a_gate_closed_past_max_time_gives_up_now(make, symbols) -> None:
    policy = RetryPolicy(max_tries=5, max_time=5.0, retry_after_cap=60.0)
    server, source = make(faults={symbols[0]: Fault("429", retry_after=30)}, retry=policy)
    with pytest.raises(ScanError):
        source.fetch(symbols[0], WINDOW)
    with pytest.raises(ScanError) as info:  # another symbol: the key is still limited
        source.fetch(symbols[1], WINDOW)
    exc = info.value
    assert exc.recoverable and exc.details["status"] == 429
    assert exc.details["gave_up"] == "max_time" and "past max_time" in exc.message
    assert server.requests_by_symbol[symbols[1]] == 0


# -- where the key may be given ----------------------------------------------------


@pytest.mark.parametrize("param", ["apiKey", "api_key", "APIKEY"])
def test_a_key_in_the_base_url_moves_into_the_header(make, market, symbols, param) -> None:
    server, _ = make()
    source = PolygonSource(base_url=f"{server.base_url}/?{param}={KEY}", retry=FAST)
    try:
        got = source.fetch(symbols[0], WINDOW)
    finally:
        source.close()
    pd.testing.assert_frame_equal(got, market.fetch(symbols[0], WINDOW), check_freq=False)
    assert source.base_url == server.base_url
    assert server.auth_failures == 0
    assert_no_key(repr(source), source.identity, vars(source), source.fingerprint("A", WINDOW))
    same = PolygonSource(api_key=KEY, base_url=f"{server.base_url}?apiKey={KEY}")
    assert same.identity == source.identity


@pytest.mark.parametrize(
    ("base_url", "text"),
    [
        (f"https://user:{KEY}@api.example.test", "user:password@"),
        (f"https://{KEY}@api.example.test", "user:password@"),
        (f"https://api.example.test/#{KEY}", "#fragment"),
        (f"https://api.example.test/#apiKey={KEY}", "#fragment"),
        (f"https://api.example.test/?apiKey={KEY}&apiKey=other-key", "two different"),
        (f"https://api.example.test/?apiKey={KEY}&x=1", "without query parameters"),
        (f"ftp://api.example.test/?apiKey={KEY}", "http:// or https://"),
    ],
)
def test_keys_where_they_are_refused_are_never_echoed(base_url, text, monkeypatch) -> None:
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    with pytest.raises(ScanError) as info:
        PolygonSource(base_url=base_url)
    exc = info.value
    assert exc.error_type is ErrorType.CONFIG_ERROR and exc.fatal
    assert text in exc.message and "base_url" in exc.message
    assert_no_key(*error_texts(exc))


def test_two_different_keys_are_refused_without_showing_either(monkeypatch) -> None:
    with pytest.raises(ScanError) as info:
        PolygonSource(api_key="another-key-123", base_url=f"https://h.test/?apiKey={KEY}")
    assert "differs" in info.value.message
    assert_no_key(*error_texts(info.value))
    assert "another-key-123" not in "".join(error_texts(info.value))


def test_the_argument_wins_over_the_environment(make, symbols, monkeypatch) -> None:
    server, _ = make()
    monkeypatch.setenv("POLYGON_API_KEY", "stale-key-from-env")
    for source in (
        PolygonSource(api_key=KEY, base_url=server.base_url, retry=FAST),
        PolygonSource(base_url=f"{server.base_url}?apiKey={KEY}", retry=FAST),
    ):
        assert len(source.fetch(symbols[0], WINDOW)) > 200
        source.close()
    assert server.auth_failures == 0


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


def test_cancel_while_waiting_for_a_rate_limit_slot(make, symbols) -> None:
    server, _ = make()
    source = PolygonSource(
        api_key=KEY, base_url=server.base_url, requests_per_second=0.1, retry=FAST
    )
    token = ScanCancellation()
    try:
        source.fetch(symbols[0], WINDOW, cancellation=token)  # takes the first slot
        thread, box = in_thread(lambda: source.fetch(symbols[1], WINDOW, cancellation=token))
        cancelled = time.monotonic()  # the next slot is 10 s away
        token.cancel()
        thread.join(10)
        assert not thread.is_alive()
    finally:
        source.close()
    assert isinstance(box["error"], ScanCancelled)
    assert box["ended"] - cancelled < 2.0
    assert server.total_requests == 1
