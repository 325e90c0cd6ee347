"""The fake server's fault kinds as a raw HTTP client sees them, and PolygonSource
retrying every transient kind (first page and later pages) without losing a bar."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
import urllib3

from technic_nb.sources.base import DateWindow
from technic_nb.sources.demo import DemoSource
from technic_nb.sources.polygon.source import PolygonSource
from technic_nb.sources.retry.policy import RetryPolicy
from technic_nb.testing import (
    FAULT_KINDS,
    NOT_ENTITLED,
    RATE_FAULT_KINDS,
    TRANSIENT_FAULT_KINDS,
    UNKNOWN_KEY,
    FakePolygonServer,
    Fault,
    fault_plan,
)
from technic_nb.testing._faults import cut_at_brace

KEY = "fault-test-key"
WINDOW = DateWindow(dt.date(2023, 3, 1), dt.date(2024, 1, 31))
FAST = RetryPolicy(max_tries=6, max_time=20.0, base_delay=0.005, max_delay=0.02)
SLOW_KINDS = ("timeout", "trickle")


@pytest.fixture(scope="module")
def market() -> DemoSource:
    return DemoSource(n_symbols=6, seed=5)


@pytest.fixture(scope="module")
def symbol(market: DemoSource) -> str:
    return str(market.universe()["symbol"].iloc[0])


@pytest.fixture
def serve(market: DemoSource) -> Iterator[Callable[..., FakePolygonServer]]:
    servers: list[FakePolygonServer] = []

    def start(**options: Any) -> FakePolygonServer:
        options.setdefault("timeout_delay", 1.0)
        servers.append(FakePolygonServer(market, api_key=KEY, **options).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def raw_get(server: FakePolygonServer, symbol: str, **query: str) -> urllib3.BaseHTTPResponse:
    """One request with a plain urllib3 client (no retries, no checks)."""
    path = f"/v2/aggs/ticker/{symbol}/range/1/day/{WINDOW.start}/{WINDOW.end}"
    return urllib3.request(
        "GET",
        server.base_url + path,
        fields=query or None,
        headers={"Authorization": f"Bearer {KEY}"},
        retries=False,
        timeout=5.0,
    )


def source_for(server: FakePolygonServer) -> PolygonSource:
    return PolygonSource(
        api_key=KEY, base_url=server.base_url, retry=FAST, timeout=0.5, answer_timeout=0.6
    )


# -- what each fault looks like on the wire -----------------------------------------


def test_the_kind_lists_are_consistent() -> None:
    assert set(RATE_FAULT_KINDS) < set(TRANSIENT_FAULT_KINDS) < set(FAULT_KINDS)
    assert set(SLOW_KINDS) < set(TRANSIENT_FAULT_KINDS) - set(RATE_FAULT_KINDS)
    with pytest.raises(ValueError, match=r"Fault\.kind='nope' is invalid"):
        Fault("nope")


def test_a_cut_body_ends_in_a_brace_and_looks_complete(serve, symbol) -> None:
    server = serve(faults={symbol: ["cut"]})
    cut = raw_get(server, symbol)
    whole = raw_get(server, symbol)
    assert cut.status == 200 and cut.data.endswith(b"}")
    assert int(cut.headers["Content-Length"]) == len(cut.data)  # nothing says it is short
    tail = cut.data.index(b'"results"')  # the request ids before it differ
    assert cut.data[tail:] in whole.data and len(cut.data) < len(whole.data)
    with pytest.raises(ValueError):
        json.loads(cut.data)
    assert cut_at_brace(b'{"a": 1}') == b'{"a"'  # no inner brace: cut in the middle


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("html", lambda r: r.headers["Content-Type"] == "text/html" and b"<html>" in r.data),
        ("error200", lambda r: json.loads(r.data)["status"] == "ERROR"),
        (
            "noresults",
            lambda r: (
                json.loads(r.data)["resultsCount"] > 0 and "results" not in json.loads(r.data)
            ),
        ),
        ("badjson", lambda r: not r.data.endswith(b"}")),
    ],
)
def test_200_answers_that_say_or_hide_a_failure(serve, symbol, kind, check) -> None:
    server = serve(faults={symbol: [kind]})
    answer = raw_get(server, symbol)
    assert answer.status == 200 and check(answer)
    assert server.faults_by_kind[kind] == 1 and server.successes_by_symbol[symbol] == 0


def test_429_retry_after_in_seconds_and_as_an_http_date(serve, symbol) -> None:
    server = serve(faults={symbol: ["429", "429-date", Fault("429-date", retry_after=120)]})
    seconds = raw_get(server, symbol)
    date = raw_get(server, symbol)
    later = raw_get(server, symbol)
    assert seconds.status == date.status == later.status == 429
    assert float(seconds.headers["Retry-After"]) == server.retry_after
    email.utils.parsedate_to_datetime(date.headers["Retry-After"])  # an HTTP date
    when = email.utils.parsedate_to_datetime(later.headers["Retry-After"]).timestamp()
    assert 100 < when - dt.datetime.now(dt.UTC).timestamp() <= 120


@pytest.mark.parametrize(
    ("kind", "status", "words"),
    [("401", 401, UNKNOWN_KEY), ("403-key", 403, UNKNOWN_KEY), ("403", 403, NOT_ENTITLED)],
)
def test_refusals_speak_like_polygon(serve, symbol, kind, status, words) -> None:
    server = serve(faults={symbol: [kind]})
    answer = raw_get(server, symbol)
    body = json.loads(answer.data)
    assert answer.status == status and words in (body.get("error") or body.get("message"))


def test_faults_reach_later_pages_and_the_log_records_them(serve, symbol) -> None:
    server = serve(page_size=50, faults={symbol: fault_plan("ok", "503")})
    first = raw_get(server, symbol)
    next_query = dict(
        kv.split("=") for kv in json.loads(first.data)["next_url"].split("?")[1].split("&")
    )
    assert raw_get(server, symbol, **next_query).status == 503
    assert server.faults_on_later_pages == 1
    log = server.request_log
    assert [(r.later_page, r.fault) for r in log] == [(False, None), (True, "503")]
    assert all(r.answered is not None and r.answered >= r.at for r in log)


def test_random_faults_are_deterministic(serve, market) -> None:
    symbols = list(market.universe()["symbol"])
    runs = []
    for _ in range(2):
        server = serve(fault_rate=0.5, seed=11, fault_kinds=RATE_FAULT_KINDS)
        source = source_for(server)
        for symbol in symbols:
            source.fetch(symbol, WINDOW)
        source.close()
        runs.append((server.faults_by_kind, server.requests_by_symbol))
    assert runs[0] == runs[1] and sum(runs[0][0].values()) > 0


# -- the client retries every transient kind ------------------------------------------


def assert_same_bars(got: pd.DataFrame, market: DemoSource, symbol: str) -> None:
    expected = market.fetch(symbol, WINDOW)
    pd.testing.assert_frame_equal(got, expected, check_index_type=False, check_freq=False)


@pytest.mark.parametrize("kind", TRANSIENT_FAULT_KINDS)
def test_every_transient_fault_is_retried(serve, market, symbol, kind: str) -> None:
    repeats = 1 if kind in SLOW_KINDS else 2
    server = serve(faults={symbol: [kind] * repeats})
    source = source_for(server)
    assert_same_bars(source.fetch(symbol, WINDOW), market, symbol)
    assert server.requests_by_symbol[symbol] == repeats + 1
    assert server.faults_by_kind[kind] == repeats
    assert server.successes_by_symbol[symbol] == 1
    snap = source.retry_stats.snapshot()
    assert (snap["attempts"], snap["retries"], snap["give_ups"]) == (repeats + 1, repeats, 0)
    source.close()


@pytest.mark.parametrize("kind", TRANSIENT_FAULT_KINDS)
def test_every_transient_fault_on_a_later_page_is_retried(serve, market, symbol, kind) -> None:
    server = serve(page_size=60, faults={symbol: fault_plan("ok", "ok", kind)})
    source = source_for(server)
    assert_same_bars(source.fetch(symbol, WINDOW), market, symbol)
    assert server.faults_on_later_pages == 1 and server.faults_by_kind[kind] == 1
    assert source.retry_stats.snapshot()["retries"] == 1
    source.close()


def test_a_trickled_answer_is_abandoned_at_answer_timeout(serve, market, symbol) -> None:
    """Each piece comes well within the read timeout, so only a deadline on the whole
    answer stops the client from waiting the full trickle (here 3 s) for every page."""
    server = serve(faults={symbol: [Fault("trickle", delay=3.0)]})
    source = PolygonSource(
        api_key=KEY, base_url=server.base_url, retry=FAST, timeout=1.0, answer_timeout=0.3
    )
    assert_same_bars(source.fetch(symbol, WINDOW), market, symbol)
    log = server.request_log
    assert [r.fault for r in log] == ["trickle", None]
    assert source.retry_stats.snapshot()["retries"] == 1
    assert log[1].at < log[0].at + 3.0  # retried mid-trickle, not after it
    source.close()
