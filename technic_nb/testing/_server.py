"""A local HTTP server that speaks the Polygon aggregates API and injects faults.

:class:`FakePolygonServer` serves the bars of any
:class:`~technic_nb.sources.base.DataSource` (the demo market, in-memory
frames, files) in the format of ``GET /v2/aggs/ticker/{symbol}/range/1/day/{from}/{to}``,
on ``127.0.0.1`` with an ephemeral port.  It is a real socket server (HTTP/1.1
with keep-alive), so the client's connection pool, timeouts and error handling
are exercised for real.

Faults (:mod:`technic_nb.testing._faults` lists every kind) can be scheduled
per symbol (a list applied to the symbol's successive requests, then success;
or one fault applied to every request) or drawn at a rate, deterministically
from a seed; they hit every request of a paged answer alike, later pages
included::

    with FakePolygonServer(source, api_key="test-key",
                           faults={"AAA": ["503", Fault("429", retry_after=1)]}) as server:
        polygon = PolygonSource(api_key="test-key", base_url=server.base_url)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from technic_nb.sources.base import DataSource
from technic_nb.testing._counters import RequestRecord, ServerCounters
from technic_nb.testing._encoding import BarsBook
from technic_nb.testing._faults import (
    BODY_FAULT_KINDS,
    NOT_ENTITLED,
    RATE_FAULT_KINDS,
    UNKNOWN_KEY,
    Fault,
    FaultPlan,
    FaultSchedule,
    apply_fault,
    error_body,
)
from technic_nb.testing._handler import _Handler, _Server

__all__ = ["FakePolygonServer"]


def _reading(name: str, doc: str) -> Any:
    """A read-only property returning a copy of one of the server's counters."""

    def get(self: FakePolygonServer) -> Any:
        return getattr(self._counters, name)()

    return property(get, doc=doc)


class FakePolygonServer:
    """A fault-injecting Polygon-style server for tests, benchmarks and notebooks.

    Args:
        source: where the bars come from (``source.fetch(symbol, DateWindow(start, end))``);
            a data error from the source (an unknown symbol) is answered with 404.
        api_key: the key clients must send (``Authorization: Bearer`` or the
            ``apiKey`` query parameter); a missing or wrong key gets
            ``auth_status`` with Polygon's "Unknown API Key".  None accepts
            every request.
        latency: seconds added to every request.
        page_size: at most this many bars per response; the rest is reached
            through ``next_url`` (None: only the request's ``limit`` applies).
        faults: symbol -> a list of faults applied to the symbol's successive
            requests (then success), or one fault applied to every request.
            A fault is a kind string (see :data:`FAULT_KINDS`) or a :class:`Fault`.
            ``{"AAA": "403"}`` says the key's plan does not cover AAA.
        fault_rate: the probability that a request without a scheduled fault
            gets a fault drawn from ``fault_kinds``; deterministic for a given
            ``seed`` (drawn from the seed, the symbol and its request number).
        fault_kinds: the kinds drawn by ``fault_rate``.
        seed: the seed of the fault draws.
        retry_after: the default ``Retry-After`` of ``"429"``/``"429-date"``, in seconds.
        timeout_delay: how long a ``"timeout"`` fault stalls before closing the
            connection, and a ``"trickle"`` fault spreads its body over
            (choose more than the client's timeout).
        forbidden: answer every request with 403 "not entitled" (a plan without the data).
        next_url_with_key: put ``apiKey=...`` into ``next_url`` (as some proxies do).
        idle_timeout: seconds an idle keep-alive connection is kept open.
        auth_status: the status of an answer to a wrong or missing key (401 as
            Polygon does; 403 as some gateways do).

    Counters (thread-safe copies; :meth:`reset_counters` clears them, scheduled
    faults already consumed stay consumed): the ``*_requests``, ``*_by_*``,
    ``faults_on_later_pages``, ``auth_failures``, ``client_addresses`` (one key
    per TCP connection), ``connections_opened``, ``trickles_abandoned`` and
    ``request_log`` properties (one :class:`RequestRecord` per request, with its
    arrival and answer times); :meth:`wait_for` blocks until the log says so.
    """

    def __init__(
        self,
        source: DataSource,
        api_key: str | None = "test-key",
        *,
        latency: float = 0.0,
        page_size: int | None = None,
        faults: Mapping[str, str | Fault | Sequence[str | Fault]] | None = None,
        fault_rate: float = 0.0,
        fault_kinds: Iterable[str] = RATE_FAULT_KINDS,
        seed: int = 0,
        retry_after: float = 0.0,
        timeout_delay: float = 2.0,
        forbidden: bool = False,
        next_url_with_key: bool = False,
        idle_timeout: float = 30.0,
        auth_status: int = 401,
    ) -> None:
        if not isinstance(source, DataSource):
            raise TypeError(f"source must be a DataSource, got {type(source).__name__}")
        if page_size is not None and (not isinstance(page_size, int) or page_size < 1):
            raise ValueError(f"page_size={page_size!r} is invalid: page_size must be None or >= 1")
        if auth_status not in (401, 403):
            raise ValueError(f"auth_status={auth_status!r} is invalid: auth_status must be 401/403")
        self._schedule = FaultSchedule(fault_rate, tuple(fault_kinds), seed)
        self.source = source
        self.api_key = api_key
        self.latency = float(latency)
        self.page_size = page_size
        self.fault_rate = self._schedule.rate
        self.fault_kinds = self._schedule.kinds
        self.seed = seed
        self.retry_after = retry_after
        self.timeout_delay = float(timeout_delay)
        self.forbidden = forbidden
        self.next_url_with_key = next_url_with_key
        self.idle_timeout = idle_timeout
        self.auth_status = auth_status
        self._book = BarsBook(source, page_size, api_key if next_url_with_key else None)
        self._counters = ServerCounters()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.set_faults(faults or {})

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> FakePolygonServer:
        """Start serving in a daemon thread (idempotent); returns ``self``."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"FakePolygonServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop every open connection (idempotent)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakePolygonServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not running: call start() or use it in a with block")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:{port}`` (the server must be running)."""
        return f"http://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        where = self.base_url if self._server is not None else "stopped"
        return f"FakePolygonServer({where}, source={self.source!r})"

    def preload(self, symbols: Iterable[str], start: dt.date, end: dt.date) -> int:
        """Encode the answers for ``symbols`` over ``start..end`` ahead of the requests
        (benchmarks time the client, not the server's first encoding); returns how
        many symbols have bars (the others are answered with 404)."""
        return sum(
            self._book.encoded_for(str(symbol).strip().upper(), start, end) is not None
            for symbol in symbols
        )

    def stall(self, seconds: float) -> bool:
        """Wait ``seconds`` (used by faults); True when the server is stopping."""
        return self._stopping.wait(seconds)

    # -- faults and counters ---------------------------------------------------

    def set_faults(self, faults: Mapping[str, str | Fault | Sequence[str | Fault]]) -> None:
        """Replace the per-symbol fault schedule (steps start again from the first)."""
        plans = {str(symbol).strip().upper(): FaultPlan(spec) for symbol, spec in faults.items()}
        with self._lock:
            self._schedule.plans = plans

    def reset_counters(self) -> None:
        """Set every counter back to zero (and clear :attr:`request_log`)."""
        self._counters.reset()

    total_requests = _reading("total", "Requests received (any path).")
    requests_by_symbol = _reading("requests", "Bars requests per symbol.")
    successes_by_symbol = _reading("successes", "Pages of bars served intact, per symbol.")
    faults_by_symbol = _reading("faults", "Faults injected, per symbol.")
    faults_by_kind = _reading("fault_kinds", "Faults injected, per kind.")
    faults_on_later_pages = _reading("later_page_faults", "Faults on the 2nd and later pages.")
    auth_failures = _reading("auth_failures", "Requests refused for a wrong or missing key.")
    client_addresses = _reading(
        "addresses", "Requests per client ``(host, port)``: one key per TCP connection used."
    )
    connections_opened = _reading("connections", "TCP connections accepted.")
    trickles_abandoned = _reading("trickles_abandoned", "Trickled answers the client gave up.")
    request_log = _reading("log", "Every request (:class:`RequestRecord`), in arrival order.")

    def wait_for(self, predicate: Callable[[list[RequestRecord]], bool], timeout: float) -> bool:
        """Block until ``predicate(request_log)`` is true (re-checked after every answer);
        False when ``timeout`` seconds pass first.  Tests wait on this, not on sleeps."""
        return self._counters.wait_for(predicate, timeout)

    def _connection_opened(self, sock: socket.socket) -> None:
        self._counters.connection_opened()
        with self._lock:
            self._open.add(sock)

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    # -- request handling ------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        parts = split.path.strip("/").split("/")
        symbol = parts[3].upper() if len(parts) == 9 else None
        address = (handler.client_address[0], handler.client_address[1])
        record = self._counters.request(symbol, address, "cursor" in query)
        handler.on_answered = lambda: self._counters.answered(record)
        try:
            self._respond(handler, record, split.path, parts, query)
        finally:
            handler._answered()  # an answer that raised before its last bytes

    def _respond(
        self,
        handler: _Handler,
        record: RequestRecord,
        path: str,
        parts: list[str],
        query: Mapping[str, str],
    ) -> None:
        """Answer one request (a fault is counted on ``record`` before it is injected)."""
        symbol = record.symbol
        if self.latency > 0 and self._stopping.wait(self.latency):
            handler.reset_connection()
            return
        if not _authorized(self.api_key, handler, query):
            self._counters.auth_failure()
            handler.send_json(self.auth_status, error_body("ERROR", UNKNOWN_KEY))
            return
        if self.forbidden:
            handler.send_json(403, error_body("NOT_AUTHORIZED", NOT_ENTITLED, "message"))
            return
        if symbol is None or not _is_bars_path(parts):
            handler.send_json(404, error_body("NOT_FOUND", "unknown path", "message"))
            return
        with self._lock:
            fault = self._schedule.next(symbol)
        if fault is not None:
            self._counters.fault(record, fault.kind)
        if fault is not None and fault.kind not in BODY_FAULT_KINDS:
            apply_fault(handler, fault, symbol, self, None)
            return
        status, body = self._book.answer(symbol, parts[7], parts[8], query, self.base_url + path)
        if fault is not None:
            apply_fault(handler, fault, symbol, self, (status, body))
            return
        if status == 200:
            self._counters.success(symbol)
        handler.send_json(status, body)


def _authorized(api_key: str | None, handler: _Handler, query: Mapping[str, str]) -> bool:
    if api_key is None:
        return True
    header = handler.headers.get("Authorization", "")
    if header.lower().startswith("bearer ") and header[7:].strip() == api_key:
        return True
    return query.get("apiKey") == api_key


def _is_bars_path(parts: list[str]) -> bool:
    return (
        parts[:3] == ["v2", "aggs", "ticker"] and parts[4] == "range" and parts[5:7] == ["1", "day"]
    )
