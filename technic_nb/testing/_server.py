"""A local HTTP server that speaks the Polygon aggregates API and injects faults.

:class:`FakePolygonServer` serves the bars of any
:class:`~technic_nb.sources._base.DataSource` (the demo market, in-memory
frames, files) in the format of ``GET /v2/aggs/ticker/{symbol}/range/1/day/{from}/{to}``,
on ``127.0.0.1`` with an ephemeral port.  It is a real socket server (HTTP/1.1
with keep-alive), so the client's connection pool, timeouts and error handling
are exercised for real.

Faults can be scheduled per symbol (a list applied to the symbol's successive
requests, then success; or one fault applied to every request) or drawn at a
rate, deterministically from a seed::

    with FakePolygonServer(source, api_key="test-key",
                           faults={"AAA": ["503", Fault("429", retry_after=1)]}) as server:
        polygon = PolygonSource(api_key="test-key", base_url=server.base_url)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import random
import socket
import struct
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .._errors import ErrorType, ScanError
from ..sources._base import DataSource, DateWindow

__all__ = ["FAULT_KINDS", "RATE_FAULT_KINDS", "FakePolygonServer", "Fault", "fault_plan"]

logger = logging.getLogger("technic_nb.testing")

NEW_YORK = ZoneInfo("America/New_York")

#: Every fault kind the server can inject ("ok" is an explicit "no fault" step in a plan).
FAULT_KINDS: tuple[str, ...] = (
    "ok",
    "429",
    "500",
    "502",
    "503",
    "504",
    "reset",
    "timeout",
    "truncated",
    "badjson",
    "404",
    "empty",
)
#: The kinds drawn by ``fault_rate`` unless told otherwise: every transient kind but "timeout".
RATE_FAULT_KINDS: tuple[str, ...] = (
    "429",
    "500",
    "502",
    "503",
    "504",
    "reset",
    "truncated",
    "badjson",
)

#: Encoded bars kept for repeated requests: at most this many entries and bytes.
_CACHE_ENTRIES = 4096
_CACHE_BYTES = 512 * 2**20

_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class Fault:
    """One injected fault.

    Attributes:
        kind: one of :data:`FAULT_KINDS`.
        retry_after: for ``"429"``/``"503"``: the ``Retry-After`` header, seconds
            (a number) or an HTTP date (a string sent as is); None uses the
            server's default (``"429"``) or sends no header (``"503"``).
        delay: for ``"timeout"``: seconds to stall (default: the server's ``timeout_delay``).
    """

    kind: str
    retry_after: float | str | None = None
    delay: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"Fault.kind={self.kind!r} is invalid: kind must be one of {', '.join(FAULT_KINDS)}"
            )


def _as_fault(item: str | Fault) -> Fault:
    return item if isinstance(item, Fault) else Fault(str(item))


def fault_plan(*steps: str | Fault, then: str | Fault | None = None) -> list[Fault]:
    """A list of faults for one symbol's successive requests.

    ``fault_plan("503", "reset")`` fails the first two requests, then serves
    normally.  (A single :class:`Fault` or kind string given as a symbol's plan
    instead of a list applies to every request.)  ``then`` appends a final step.
    """
    faults = [_as_fault(step) for step in steps]
    if then is not None:
        faults.append(_as_fault(then))
    return faults


class _Plan:
    """A symbol's fault schedule: successive steps, or one permanent fault."""

    def __init__(self, spec: str | Fault | Sequence[str | Fault]) -> None:
        if isinstance(spec, (str, Fault)):
            self.permanent: Fault | None = _as_fault(spec)
            self.steps: list[Fault] = []
        else:
            self.permanent = None
            self.steps = [_as_fault(step) for step in spec]
        self.position = 0

    def next(self) -> Fault | None:
        if self.permanent is not None:
            return self.permanent
        if self.position < len(self.steps):
            self.position += 1
            return self.steps[self.position - 1]
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    owner: FakePolygonServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or disconnect mid-answer are part of the game here.
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakePolygon/1.0"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.owner.idle_timeout  # type: ignore[misc]  # per connection
        super().setup()
        self.server.owner._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._connection_closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    # -- response helpers used by the owner ------------------------------------

    def send_json(
        self,
        status: int,
        body: Mapping[str, Any] | bytes,
        headers: Mapping[str, str] | None = None,
        *,
        declared_length: int | None = None,
        close: bool = False,
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status, _REASONS.get(status))
        self.send_header("Content-Type", "application/json")
        self.send_header(
            "Content-Length", str(declared_length if declared_length is not None else len(data))
        )
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def reset_connection(self) -> None:
        """Close the connection at once with a TCP reset, without any answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The socket closes for real (sending the reset) once its buffered reader is closed.
        with contextlib.suppress(OSError):
            self.rfile.close()
        self.connection.close()


class FakePolygonServer:
    """A fault-injecting Polygon-style server for tests, benchmarks and notebooks.

    Args:
        source: where the bars come from (``source.fetch(symbol, DateWindow(start, end))``);
            a data error from the source (an unknown symbol) is answered with 404.
        api_key: the key clients must send (``Authorization: Bearer`` or the
            ``apiKey`` query parameter); a missing or wrong key gets 401.
            None accepts every request.
        latency: seconds added to every request.
        page_size: at most this many bars per response; the rest is reached
            through ``next_url`` (None: only the request's ``limit`` applies).
        faults: symbol -> a list of faults applied to the symbol's successive
            requests (then success), or one fault applied to every request.
            A fault is a kind string (see :data:`FAULT_KINDS`) or a :class:`Fault`.
        fault_rate: the probability that a request without a scheduled fault
            gets a fault drawn from ``fault_kinds``; deterministic for a given
            ``seed`` (drawn from the seed, the symbol and its request number).
        fault_kinds: the kinds drawn by ``fault_rate``.
        seed: the seed of the fault draws.
        retry_after: the default ``Retry-After`` of a ``"429"`` fault, in seconds.
        timeout_delay: how long a ``"timeout"`` fault stalls before closing the
            connection (choose more than the client's timeout).
        forbidden: answer every authenticated request with 403 (a key whose
            plan does not include the data).
        next_url_with_key: put ``apiKey=...`` into ``next_url`` (as some proxies
            do) to check that clients do not leak it.
        idle_timeout: seconds an idle keep-alive connection is kept open.

    Counters (thread-safe copies): :attr:`total_requests`,
    :attr:`requests_by_symbol`, :attr:`successes_by_symbol`,
    :attr:`faults_by_symbol`, :attr:`faults_by_kind`, :attr:`auth_failures`,
    :attr:`client_addresses` (one entry per client ``(host, port)``, that is per
    TCP connection) and :attr:`connections_opened`; :meth:`reset_counters`
    clears them (scheduled faults already consumed stay consumed; use
    :meth:`set_faults` to schedule again).
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
    ) -> None:
        if not isinstance(source, DataSource):
            raise TypeError(f"source must be a DataSource, got {type(source).__name__}")
        if page_size is not None and (not isinstance(page_size, int) or page_size < 1):
            raise ValueError(f"page_size={page_size!r} is invalid: page_size must be None or >= 1")
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate={fault_rate!r} is invalid: fault_rate must be in [0, 1]")
        kinds = tuple(fault_kinds)
        for kind in kinds:
            Fault(kind)  # validates
        if fault_rate > 0 and not kinds:
            raise ValueError("fault_kinds is empty: fault_kinds must name at least one kind")
        self.source = source
        self.api_key = api_key
        self.latency = float(latency)
        self.page_size = page_size
        self.fault_rate = float(fault_rate)
        self.fault_kinds = kinds
        self.seed = seed
        self.retry_after = retry_after
        self.timeout_delay = float(timeout_delay)
        self.forbidden = forbidden
        self.next_url_with_key = next_url_with_key
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._plans: dict[str, _Plan] = {}
        self._sequence: Counter[str] = Counter()
        self._encoded: dict[tuple[str, str, str], _EncodedRows | None] = {}
        self._encoded_bytes = 0
        self._open: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.set_faults(faults or {})
        self.reset_counters()

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
        """Prepare the answers for ``symbols`` over ``start..end`` ahead of the requests.

        The server encodes each symbol's bars once and keeps them, so the first
        request for a symbol otherwise costs more than the next ones.  Benchmarks
        call this so that they time the client, not the server's first encoding.
        Returns how many symbols have bars (the others are answered with 404).
        """
        return sum(
            self._encoded_for(str(symbol).strip().upper(), start, end) is not None
            for symbol in symbols
        )

    # -- faults and counters ---------------------------------------------------

    def set_faults(self, faults: Mapping[str, str | Fault | Sequence[str | Fault]]) -> None:
        """Replace the per-symbol fault schedule (steps start again from the first)."""
        plans = {str(symbol).strip().upper(): _Plan(spec) for symbol, spec in faults.items()}
        with self._lock:
            self._plans = plans

    def reset_counters(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self._total = 0
            self._requests: Counter[str] = Counter()
            self._successes: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._fault_kinds: Counter[str] = Counter()
            self._addresses: Counter[tuple[str, int]] = Counter()
            self._auth_failures = 0
            self._connections = 0

    @property
    def total_requests(self) -> int:
        with self._lock:
            return self._total

    @property
    def requests_by_symbol(self) -> Counter[str]:
        with self._lock:
            return Counter(self._requests)

    @property
    def successes_by_symbol(self) -> Counter[str]:
        with self._lock:
            return Counter(self._successes)

    @property
    def faults_by_symbol(self) -> Counter[str]:
        with self._lock:
            return Counter(self._faults)

    @property
    def faults_by_kind(self) -> Counter[str]:
        with self._lock:
            return Counter(self._fault_kinds)

    @property
    def auth_failures(self) -> int:
        with self._lock:
            return self._auth_failures

    @property
    def client_addresses(self) -> Counter[tuple[str, int]]:
        """Requests per client ``(host, port)``: one key per TCP connection used."""
        with self._lock:
            return Counter(self._addresses)

    @property
    def connections_opened(self) -> int:
        with self._lock:
            return self._connections

    def _connection_opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections += 1
            self._open.add(sock)

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    def _next_fault(self, symbol: str) -> Fault | None:
        with self._lock:
            number = self._sequence[symbol]
            self._sequence[symbol] += 1
            plan = self._plans.get(symbol)
            fault = plan.next() if plan is not None else None
        if fault is None and self.fault_rate > 0:
            draw = random.Random(f"{self.seed}:{symbol}:{number}")
            if draw.random() < self.fault_rate:
                fault = Fault(draw.choice(self.fault_kinds))
        if fault is not None and fault.kind == "ok":
            return None
        return fault

    # -- request handling ------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        parts = split.path.strip("/").split("/")
        symbol = parts[3].upper() if len(parts) == 9 else None
        with self._lock:
            self._total += 1
            self._addresses[(handler.client_address[0], handler.client_address[1])] += 1
            if symbol is not None:
                self._requests[symbol] += 1
        if self.latency > 0 and self._stopping.wait(self.latency):
            handler.reset_connection()
            return
        if not self._authorized(handler, query):
            with self._lock:
                self._auth_failures += 1
            handler.send_json(
                401,
                {"status": "ERROR", "request_id": _request_id(), "error": "Unknown API Key"},
            )
            return
        if self.forbidden:
            handler.send_json(
                403,
                {
                    "status": "NOT_AUTHORIZED",
                    "request_id": _request_id(),
                    "message": "You are not entitled to this data.",
                },
            )
            return
        if (
            symbol is None
            or parts[:3] != ["v2", "aggs", "ticker"]
            or parts[4] != "range"
            or parts[5:7] != ["1", "day"]
        ):
            handler.send_json(
                404,
                {"status": "NOT_FOUND", "request_id": _request_id(), "message": "unknown path"},
            )
            return
        fault = self._next_fault(symbol)
        if fault is not None:
            with self._lock:
                self._faults[symbol] += 1
                self._fault_kinds[fault.kind] += 1
            if self._inject(handler, fault, symbol):
                return
        self._serve_bars(handler, symbol, parts[7], parts[8], query, split.path)

    def _authorized(self, handler: _Handler, query: Mapping[str, str]) -> bool:
        if self.api_key is None:
            return True
        header = handler.headers.get("Authorization", "")
        if header.lower().startswith("bearer ") and header[7:].strip() == self.api_key:
            return True
        return query.get("apiKey") == self.api_key

    def _inject(self, handler: _Handler, fault: Fault, symbol: str) -> bool:
        """Apply ``fault``; False when the request must be served normally afterwards."""
        kind = fault.kind
        if kind in ("500", "502", "503", "504", "429"):
            status = int(kind)
            headers: dict[str, str] = {}
            retry_after = fault.retry_after
            if retry_after is None and kind == "429":
                retry_after = self.retry_after
            if retry_after is not None:
                headers["Retry-After"] = (
                    retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
                )
            handler.send_json(
                status,
                {"status": "ERROR", "request_id": _request_id(), "error": _REASONS[status]},
                headers,
            )
        elif kind == "404":
            handler.send_json(
                404,
                {
                    "status": "NOT_FOUND",
                    "request_id": _request_id(),
                    "message": f"ticker {symbol} not found",
                },
            )
        elif kind == "empty":
            handler.send_json(
                200,
                {
                    "ticker": symbol,
                    "queryCount": 0,
                    "resultsCount": 0,
                    "adjusted": True,
                    "status": "OK",
                    "request_id": _request_id(),
                },
            )
        elif kind == "reset":
            handler.reset_connection()
        elif kind == "timeout":
            delay = fault.delay if fault.delay is not None else self.timeout_delay
            self._stopping.wait(delay)
            handler.reset_connection()
        elif kind == "truncated":
            body = json.dumps({"ticker": symbol, "status": "OK", "results": []}).encode()
            handler.send_json(200, body, declared_length=len(body) + 64, close=True)
        elif kind == "badjson":
            handler.send_json(200, b'{"ticker": "' + symbol.encode() + b'", "results": [{"t": 1')
        else:  # pragma: no cover - Fault validates its kind
            return False
        return True

    def _serve_bars(
        self,
        handler: _Handler,
        symbol: str,
        start_text: str,
        end_text: str,
        query: Mapping[str, str],
        path: str,
    ) -> None:
        try:
            start, end = _parse_day(start_text), _parse_day(end_text)
            offset = int(query.get("cursor", "0"))
            limit = int(query.get("limit", "5000"))
            if offset < 0 or not 1 <= limit <= 50000:
                raise ValueError("cursor must be >= 0 and limit in 1..50000")
        except ValueError as exc:
            handler.send_json(
                400, {"status": "ERROR", "request_id": _request_id(), "error": str(exc)}
            )
            return
        try:
            encoded = self._encoded_for(symbol, start, end)
        except Exception as exc:  # the source broke: a server error
            logger.debug("source failed for %s", symbol, exc_info=True)
            handler.send_json(
                500,
                {"status": "ERROR", "request_id": _request_id(), "error": type(exc).__name__},
            )
            return
        if encoded is None:
            handler.send_json(
                404,
                {
                    "status": "NOT_FOUND",
                    "request_id": _request_id(),
                    "message": f"ticker {symbol} not found",
                },
            )
            return
        total = len(encoded)
        size = min(limit, self.page_size or limit)
        count = max(0, min(size, total - offset))
        body: dict[str, Any] = {
            "ticker": symbol,
            "queryCount": total,
            "resultsCount": count,
            "adjusted": query.get("adjusted", "true") != "false",
            "status": "OK",
            "request_id": _request_id(),
        }
        if offset + size < total:
            params = (
                f"cursor={offset + size}&adjusted={query.get('adjusted', 'true')}"
                f"&sort={query.get('sort', 'asc')}&limit={limit}"
            )
            if self.next_url_with_key and self.api_key is not None:
                params += f"&apiKey={self.api_key}"
            body["next_url"] = f"{self.base_url}{path}?{params}"
        data = json.dumps(body).encode()
        if count:
            results = encoded.page(offset, count, descending=query.get("sort", "asc") == "desc")
            data = b"".join((data[:-1], b', "results": [', results, b"]}"))
        with self._lock:
            self._successes[symbol] += 1
        handler.send_json(200, data)

    def _encoded_for(self, symbol: str, start: dt.date, end: dt.date) -> _EncodedRows | None:
        """The source's bars as encoded result rows (None for an unknown symbol), kept for
        repeated requests: the server shares one GIL, so each symbol is encoded once."""
        key = (symbol, start.isoformat(), end.isoformat())
        with self._lock:
            if key in self._encoded:
                return self._encoded[key]
        try:
            bars = self.source.fetch(symbol, DateWindow(start, end))
        except ScanError as exc:
            if exc.error_type is not ErrorType.DATA_ERROR:
                raise
            encoded = None
        else:
            encoded = _EncodedRows(bars)
        size = encoded.nbytes if encoded is not None else 0
        with self._lock:
            if len(self._encoded) >= _CACHE_ENTRIES or self._encoded_bytes + size > _CACHE_BYTES:
                self._encoded.clear()
                self._encoded_bytes = 0
            if key not in self._encoded:
                self._encoded[key] = encoded
                self._encoded_bytes += size
        return encoded


class _EncodedRows:
    """Polygon result rows of one bars frame as JSON text, sliceable into pages.

    ``text`` holds every row in ascending order separated by ``", "``;
    ``starts``/``ends`` are the byte offsets of each row, so a page of
    consecutive rows is one slice of ``text``.  The text equals
    ``json.dumps(_rows(bars))`` without its brackets.
    """

    def __init__(self, bars: pd.DataFrame) -> None:
        pieces = _row_texts(bars)
        lengths = np.fromiter((len(piece) for piece in pieces), dtype=np.int64, count=len(pieces))
        self.starts = np.concatenate(([0], np.cumsum(lengths + 2)[:-1])).astype(np.int64)
        self.ends = self.starts + lengths
        self.text = ", ".join(pieces).encode("ascii")

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def nbytes(self) -> int:
        return len(self.text) + self.starts.nbytes + self.ends.nbytes

    def page(self, offset: int, count: int, descending: bool = False) -> bytes:
        """Rows ``offset .. offset + count - 1`` (of the ascending or descending order)."""
        if not descending:
            return self.text[self.starts[offset] : self.ends[offset + count - 1]]
        total = len(self.starts)
        positions = range(total - 1 - offset, total - 1 - offset - count, -1)
        return b", ".join(self.text[self.starts[k] : self.ends[k]] for k in positions)


def _bar_arrays(
    bars: pd.DataFrame,
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
    """``(t, [o, h, l, c], v, vw)``: ``t`` is New York midnight in epoch milliseconds."""
    index = pd.DatetimeIndex(bars.index).normalize()
    stamps = index.tz_localize(NEW_YORK).as_unit("ms").asi8
    columns = [bars[c].to_numpy(dtype="float64") for c in ("open", "high", "low", "close")]
    volume = bars["volume"].to_numpy(dtype="float64")
    weighted = (columns[1] + columns[2] + columns[3]) / 3.0
    return stamps, columns, volume, weighted


def _row_texts(bars: pd.DataFrame) -> list[str]:
    """The JSON text of each row of :func:`_rows` (the same text ``json.dumps`` gives)."""
    if bars.empty:
        return []
    stamps, columns, volume, weighted = _bar_arrays(bars)
    if not (np.isfinite(volume).all() and all(np.isfinite(c).all() for c in columns)):
        return [json.dumps(row) for row in _rows(bars)]  # NaN/Infinity: json's own spelling
    template = '{"v": %r, "vw": %r, "o": %r, "c": %r, "h": %r, "l": %r, "t": %d, "n": %d}'
    return [
        template % (v, round(w, 4), o, c, h, lo, t, max(1, v // 100))
        for t, o, h, lo, c, v, w in zip(
            stamps.tolist(),
            *(column.tolist() for column in columns),
            volume.tolist(),
            weighted.tolist(),
            strict=True,
        )
    ]


def _request_id() -> str:
    return uuid.uuid4().hex


def _parse_day(text: str) -> dt.date:
    """A ``YYYY-MM-DD`` date or an epoch-milliseconds timestamp (as New York date)."""
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text) / 1000, tz=NEW_YORK).date()
    return dt.date.fromisoformat(text)


def _rows(bars: pd.DataFrame) -> list[dict[str, Any]]:
    """Bars as Polygon result rows: ``t`` is New York midnight in epoch milliseconds."""
    if bars.empty:
        return []
    stamps, columns, volume, weighted = _bar_arrays(bars)
    return [
        {
            "v": float(v),
            "vw": round(float(w), 4),
            "o": float(o),
            "c": float(c),
            "h": float(h),
            "l": float(lo),
            "t": int(t),
            "n": int(max(1, v // 100)) if np.isfinite(v) else 0,
        }
        for t, o, h, lo, c, v, w in zip(stamps, *columns, volume, weighted, strict=True)
    ]
