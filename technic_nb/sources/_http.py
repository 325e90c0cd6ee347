"""Daily bars from a Polygon-style REST API over HTTP.

The request is ``GET {base_url}/v2/aggs/ticker/{symbol}/range/1/day/{start}/{end}``
with ``adjusted=true&sort=asc&limit=50000``; the API key travels in an
``Authorization: Bearer`` header, never in the URL, so that no URL (in a log
line, an exception text or an error's details) can carry it.  Every text that
leaves this module is still passed through a redaction step as a second guard.

Failures are sorted into three groups:

* transient (retried with backoff under the source's :class:`RetryPolicy`):
  HTTP 429 (honouring ``Retry-After``), 408, 5xx, refused/reset connections,
  timeouts, a body cut short or that is not one JSON object;
* a page that passes that check but is garbled, or whose ``status`` is not
  ``OK``/``DELAYED``: found when the page is decoded (in a scan's worker), a
  recoverable ``api_error``: not cached, so the next run fetches it again;
* one symbol's problem (a data error, not retried): HTTP 404, a ``NOT_FOUND``
  status, no bars in the window;
* the whole scan's problem (raised at once, ``fatal=True``): HTTP 401/403 (a
  missing or wrong API key, or a plan without this data).

Anything else (another 4xx, a protocol error on our side) is an ``api_error``
for the symbol, not retried.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import pandas as pd
import urllib3
from urllib3.exceptions import NewConnectionError, ProtocolError, ProxyError

from .._bars import normalize_bars
from .._cancel import ScanCancellation, ScanCancelled
from .._errors import ErrorType, ScanError, config_error, data_error
from .._retry import RetryPolicy, RetryStats, TransientFetchError, call_with_retries
from .._symbols import validate_symbol
from ._base import DataSource, DateWindow

__all__ = ["PolygonSource", "RawPages"]

logger = logging.getLogger("technic_nb.http")

NEW_YORK = ZoneInfo("America/New_York")
API_KEY_ENV = "POLYGON_API_KEY"
_MAX_PAGES = 10_000
_DAY_MS = 86_400_000
#: The default retry policy (``RetryPolicy()``; frozen, so one shared instance is safe).
DEFAULT_RETRY = RetryPolicy()
_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_KEY_SUGGESTION = (
    f"Set the {API_KEY_ENV} environment variable to a valid key, or pass "
    "api_key=... to PolygonSource; check that the plan includes daily aggregates."
)
_URL_KEY = re.compile(r"(?i)((?:api_?key|access_token|token)=)[^&\s#'\"]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",]+")


class _Secret:
    """Holds the API key so that no repr, traceback-with-locals or ``vars()`` shows it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__

    def __getstate__(self) -> str:
        return self.value

    def __setstate__(self, state: str) -> None:
        self.value = state


def redact(text: str, secret: str | None = None) -> str:
    """``text`` with API keys in query strings, bearer tokens and ``secret`` replaced by ``***``."""
    text = _URL_KEY.sub(r"\1***", text)
    text = _BEARER.sub(r"\1***", text)
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text


def _source_config_error(field: str, value: Any, allowed: str) -> ScanError:
    return config_error(field, value, allowed, owner="PolygonSource", fatal=True)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Returns None when the header is missing or unreadable; a date in the past
    gives 0.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000" means UTC with an unknown origin zone
            when = when.replace(tzinfo=dt.UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class _RateLimiter:
    """Hands out request slots at most ``rate`` per second, shared by all threads.

    Each caller reserves the next free slot under a lock and then waits for it
    outside the lock (no burst: slots are spaced ``1/rate`` apart).
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._interval = 1.0 / rate
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self, cancellation: ScanCancellation | None) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        delay = slot - now
        if delay <= 0:
            return
        if cancellation is None:
            time.sleep(delay)
        elif cancellation.wait(delay):
            raise ScanCancelled(cancellation.reason or "cancelled")

    def __getstate__(self) -> dict[str, float]:
        return {"rate": self.rate}

    def __setstate__(self, state: dict[str, float]) -> None:
        self.__init__(state["rate"])


class PolygonSource(DataSource):
    """Daily OHLCV bars from Polygon.io (or any server speaking its aggregates API).

    Args:
        api_key: the API key; default: the ``POLYGON_API_KEY`` environment variable.
            It is sent as an ``Authorization: Bearer`` header and never appears
            in the source's repr, its identity, log lines or errors.
        base_url: the service root, such as ``"https://api.polygon.io"``.
        max_connections: connections kept open to the service (shared by all
            threads fetching through this source).
        requests_per_second: an optional limit on the request rate of this
            source across all threads (retries and pages included).
        timeout: seconds allowed to connect and for each read.
        retry: how transient failures are retried (per HTTP request).

    Attributes:
        retry_stats: counters of attempts, retries, give-ups and time spent
            waiting, kept across fetches.

    Raises:
        ScanError: a ``config_error`` with ``fatal=True`` when no key is given
            and ``POLYGON_API_KEY`` is not set, or an argument is invalid.
    """

    fetch_in_worker = False
    cache_bars = True

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str = "https://api.polygon.io",
        max_connections: int = 8,
        requests_per_second: float | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        benchmark: str | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        # Only the wrapped key stays in this frame: tracebacks that list locals stay clean.
        api_key = None
        secret = _Secret(key.strip()) if isinstance(key, str) and key.strip() else None
        del key
        if secret is None:
            raise ScanError(
                ErrorType.CONFIG_ERROR,
                f"no Polygon API key: set {API_KEY_ENV} or pass api_key=... to PolygonSource",
                details={"field": "api_key", "env": API_KEY_ENV},
                suggestion=f"Set the {API_KEY_ENV} environment variable (for example in the "
                "notebook: os.environ['POLYGON_API_KEY'] = '...') or pass "
                "PolygonSource(api_key='...').",
                fatal=True,
            )
        if not isinstance(base_url, str) or urlsplit(base_url.strip()).scheme not in (
            "http",
            "https",
        ):
            raise _source_config_error(
                "base_url", base_url, "an http:// or https:// URL such as https://api.polygon.io"
            )
        split = urlsplit(base_url.strip())
        if split.username is not None or split.password is not None:
            raise ScanError(  # the value is not echoed: it holds credentials
                ErrorType.CONFIG_ERROR,
                "PolygonSource.base_url is invalid: base_url must not contain user:password@",
                details={"field": "base_url", "allowed": "an http:// or https:// URL"},
                suggestion="Pass the key as api_key=... (or POLYGON_API_KEY), not in base_url.",
                fatal=True,
            )
        if not split.netloc or split.query or split.fragment:
            raise _source_config_error(
                "base_url", base_url, "an http:// or https:// URL without query or fragment"
            )
        if (
            not isinstance(max_connections, int)
            or isinstance(max_connections, bool)
            or max_connections < 1
        ):
            raise _source_config_error("max_connections", max_connections, "an integer >= 1")
        if requests_per_second is not None and (
            not isinstance(requests_per_second, (int, float))
            or isinstance(requests_per_second, bool)
            or not math.isfinite(requests_per_second)
            or requests_per_second <= 0
        ):
            raise _source_config_error(
                "requests_per_second", requests_per_second, "None or a finite number > 0"
            )
        if (
            not isinstance(timeout, (int, float))
            or isinstance(timeout, bool)
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise _source_config_error("timeout", timeout, "a finite number of seconds > 0")
        if not isinstance(retry, RetryPolicy):
            raise _source_config_error("retry", retry, "a RetryPolicy")
        self._api_key = secret
        self.base_url = base_url.strip().rstrip("/")
        self.max_connections = max_connections
        self.requests_per_second = (
            float(requests_per_second) if requests_per_second is not None else None
        )
        self.timeout = float(timeout)
        self.retry = retry
        self.benchmark = validate_symbol(benchmark) if benchmark else None
        self.retry_stats = RetryStats()
        self._limiter = _RateLimiter(self.requests_per_second) if self.requests_per_second else None
        self._client: urllib3.PoolManager | None = None
        self._client_pid: int | None = None
        self._client_lock = threading.Lock()

    # -- identity and pickling -------------------------------------------------

    @property
    def identity(self) -> str:
        return f"polygon:{self.base_url}"

    def __repr__(self) -> str:
        if "base_url" not in self.__dict__:  # shown by tracebacks while __init__ runs
            return f"{type(self).__name__}(<not initialized>)"
        return super().__repr__()

    def benchmark_symbol(self) -> str | None:
        """The ``benchmark`` given to the constructor (e.g. ``"SPY"``), used for the regime."""
        return self.benchmark

    def resolve_end(self, as_of: dt.date | None) -> dt.date | None:
        """``as_of``, else today's calendar date in New York (the exchange's time zone)."""
        if as_of is not None:
            return as_of
        return dt.datetime.now(NEW_YORK).date()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = None
        state["_client_pid"] = None
        del state["_client_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._client_lock = threading.Lock()

    # -- the connection pool ---------------------------------------------------

    def _get_client(self) -> urllib3.PoolManager:
        """The one connection pool of this source in this process (created on first use)."""
        client = self._client
        pid = os.getpid()
        if client is not None and self._client_pid == pid:
            return client
        with self._client_lock:
            if self._client is None or self._client_pid != pid:
                # After a fork the parent's pool is left alone (its sockets are shared).
                # block=True and no pool timeout: with more fetch threads than connections
                # a thread waits for a free connection, which is not a failure of the service.
                self._client = urllib3.PoolManager(
                    num_pools=4,
                    maxsize=self.max_connections,
                    block=True,
                    timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                    retries=False,
                )
                self._client_pid = pid
            return self._client

    def close(self) -> None:
        """Close the connection pool (a later fetch opens a new one)."""
        with self._client_lock:
            client, self._client = self._client, None
            owned = self._client_pid == os.getpid()
            self._client_pid = None
        if client is not None and owned:
            client.clear()

    # -- fetching --------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {
            "User-Agent": "technic_nb",
            "Accept": "application/json",
            "Authorization": f"Bearer {self._api_key.value}",
        }

    def _redact(self, text: str) -> str:
        return redact(text, self._api_key.value)

    def fetch_payload(
        self,
        symbol: str,
        window: DateWindow | None = None,
        *,
        cancellation: ScanCancellation | None = None,
    ) -> RawPages:
        """The raw response bodies for ``symbol`` (every page), undecoded.

        Only what the requests need is checked here (HTTP status, a body that
        looks like a JSON object; pages are parsed only to follow ``next_url``),
        so the fetching threads spend their time waiting on the network.
        :meth:`RawPages.decode` (run in a worker by the scan) gives the bars.
        """
        window = window or DateWindow()
        return self._fetch_pages(validate_symbol(symbol), window, cancellation)

    def _fetch_raw(
        self, symbol: str, window: DateWindow, cancellation: ScanCancellation | None
    ) -> pd.DataFrame:
        return self._fetch_pages(symbol, window, cancellation).rows_frame()

    def _fetch_pages(
        self, symbol: str, window: DateWindow, cancellation: ScanCancellation | None
    ) -> RawPages:
        if window.start is None or window.end is None:
            raise ScanError(
                ErrorType.CONFIG_ERROR,
                f"PolygonSource needs a date window with a start and an end, got {window.key()}",
                details={"field": "window", "value": window.key(), "symbol": symbol},
                suggestion="Fetch with DateWindow(start, end) (a scan derives both from as_of "
                "and its lookback).",
                fatal=True,
            )
        if window.start > window.end:
            raise data_error(
                symbol,
                f"empty date window {window.key()} (start after end)",
                "Pass a window whose start is on or before its end.",
                window=window.key(),
            )
        url: str | None = (
            f"{self.base_url}/v2/aggs/ticker/{symbol}/range/1/day/"
            f"{window.start.isoformat()}/{window.end.isoformat()}"
        )
        params: dict[str, str] | None = {"adjusted": "true", "sort": "asc", "limit": "50000"}
        bodies: list[bytes] = []
        urls: list[str] = []
        pages = 0
        seen: set[str] = set()
        while url:
            pages += 1
            if pages > _MAX_PAGES or url in seen:
                raise ScanError(
                    ErrorType.API_ERROR,
                    f"{symbol}: the data service's pagination does not end "
                    f"(page {pages}, next_url repeats or too many pages)",
                    details={"symbol": symbol, "pages": pages, "url": self._redact(url)},
                    suggestion="Try again later; report the problem if it persists.",
                    affected_symbols=(symbol,),
                )
            seen.add(url)
            body = self._get_body(url, params, symbol, cancellation)
            if self._api_key.value.encode() in body:  # echoed back (e.g. in next_url)
                body = body.replace(self._api_key.value.encode(), b"***")
            bodies.append(body)
            urls.append(self._redact(url))
            params = None
            url = None
            if _NEXT_URL in body:  # only a paginated answer is parsed here
                next_url = _parse_body(body, symbol, urls[-1]).get("next_url")
                if next_url:
                    url = self._next_page(next_url, symbol)
        return RawPages(symbol, window.key(), tuple(bodies), tuple(urls))

    def _next_page(self, next_url: Any, symbol: str) -> str:
        """Validate a ``next_url``: same scheme and host as ``base_url``, no key in it."""
        if not isinstance(next_url, str):
            raise data_error(
                symbol,
                "the data service answered with a malformed next_url",
                "Try again later; report the problem if it persists.",
            )
        base = urlsplit(self.base_url)
        split = urlsplit(next_url)
        if (split.scheme, split.netloc) != (base.scheme, base.netloc):
            raise ScanError(
                ErrorType.API_ERROR,
                f"{symbol}: the data service's next_url points to another host; "
                "it was not followed (the API key is only sent to base_url)",
                details={"symbol": symbol, "next_url": self._redact(next_url)},
                suggestion="Check base_url; report the problem if it persists.",
                affected_symbols=(symbol,),
            )
        return _without_key(next_url)

    def _get_body(
        self,
        url: str,
        params: dict[str, str] | None,
        symbol: str,
        cancellation: ScanCancellation | None,
    ) -> bytes:
        shown = self._redact(urlsplit(url).path)
        return call_with_retries(
            lambda: self._attempt(url, params, symbol, cancellation),
            policy=self.retry,
            stats=self.retry_stats,
            cancellation=cancellation,
            describe=f"{symbol}: GET {shown}",
            symbol=symbol,
        )

    def _attempt(
        self,
        url: str,
        params: dict[str, str] | None,
        symbol: str,
        cancellation: ScanCancellation | None,
    ) -> bytes:
        """One HTTP request: the body of a 200 answer, or a classified exception.

        Exceptions are built after the ``except`` blocks so that they carry no
        reference to urllib3's exception (whose text holds the URL and whose
        context holds the request).
        """
        if self._limiter is not None:
            self._limiter.acquire(cancellation)
        client = self._get_client()
        started = time.monotonic()
        failure: BaseException | None = None
        response: urllib3.BaseHTTPResponse | None = None
        try:
            # No local variable holds the key: tracebacks that list locals stay clean.
            response = client.request(
                "GET", url, fields=params, headers=self._headers(), redirect=False
            )
        except (NewConnectionError, ProtocolError, ProxyError, ConnectionError) as exc:
            # refused, reset, or cut short (a body shorter than its Content-Length)
            failure = TransientFetchError(f"{type(exc).__name__}: {self._redact(str(exc))}")
        except urllib3.exceptions.TimeoutError as exc:
            failure = TransientFetchError(
                f"timed out after {self.timeout:g}s ({type(exc).__name__})", timeout=True
            )
        except urllib3.exceptions.HTTPError as exc:
            failure = ScanError(
                ErrorType.API_ERROR,
                f"{symbol}: the request to the data service failed "
                f"({type(exc).__name__}: {self._redact(str(exc))})",
                details={"symbol": symbol, "url": self._redact(url)},
                suggestion="Check base_url and the network; report the problem if it persists.",
                affected_symbols=(symbol,),
            )
        elapsed = time.monotonic() - started
        if failure is not None:
            logger.debug(
                "GET %s failed after %.3fs: %s", self._redact(url), elapsed, _describe(failure)
            )
            raise failure
        assert response is not None
        status = response.status
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("GET %s -> %d in %.3fs", self._redact(url), status, elapsed)
        if status == 200:
            return _check_body(response.data)
        shown_url = self._redact(url)
        reason = f"HTTP {status} {response.reason or ''}".strip()
        if status in _TRANSIENT_STATUSES or (500 <= status < 600 and status not in (501, 505)):
            retry_after = None
            if status in (429, 503):
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise TransientFetchError(reason, status=status, retry_after=retry_after)
        server_message = self._server_message(response)
        if status in (401, 403):
            raise ScanError(
                ErrorType.API_ERROR,
                f"the data service refused the API key ({reason}): set {API_KEY_ENV} "
                "or pass api_key=... to PolygonSource",
                details={"status": status, "url": shown_url, "server_message": server_message},
                suggestion=_KEY_SUGGESTION,
                recoverable=False,
                fatal=True,
            )
        if status == 404:
            raise data_error(
                symbol,
                f"unknown symbol at the data service ({reason})",
                "Check the ticker spelling and whether it is listed; exclude the symbol.",
                status=status,
                url=shown_url,
                server_message=server_message,
            )
        raise ScanError(
            ErrorType.API_ERROR,
            f"{symbol}: the data service refused the request ({reason})",
            details={
                "symbol": symbol,
                "status": status,
                "url": shown_url,
                "server_message": server_message,
            },
            suggestion="Check the symbol and the date window; report the problem if it persists.",
            affected_symbols=(symbol,),
        )

    def _server_message(self, response: urllib3.BaseHTTPResponse) -> str:
        """The ``error``/``message`` text of an error body (redacted, shortened)."""
        try:
            body = json.loads(response.data)
        except ValueError:
            return ""
        if not isinstance(body, dict):
            return ""
        text = body.get("error") or body.get("message") or ""
        return self._redact(str(text))[:200]


_NEXT_URL = b'"next_url"'
_WHITESPACE = b" \t\r\n"
_RETRY_SUGGESTION = "Try again later; report the problem if it persists."


def _check_body(body: bytes) -> bytes:
    """``body`` if it looks like one JSON object, else a transient failure (retried).

    A body cut short or garbled by a proxy almost never still starts with ``{``
    and ends with ``}``; the full parse happens when the page is decoded.
    """
    stripped = body.strip(_WHITESPACE)
    if not (stripped.startswith(b"{") and stripped.endswith(b"}")):
        raise TransientFetchError(
            f"HTTP 200 with a body that is not valid JSON ({len(body)} bytes)", status=200
        )
    return body


def _parse_body(body: bytes, symbol: str, shown_url: str) -> dict[str, Any]:
    """One page's JSON object, after checking its ``status`` field.

    Raises:
        TransientFetchError: not valid JSON, or not an object.
        ScanError: a data error for ``NOT_FOUND``, an api error for another status.
    """
    try:
        payload = orjson.loads(body)  # several times faster than json
    except ValueError:  # orjson.JSONDecodeError is a ValueError
        payload = None
    if payload is None:
        raise TransientFetchError(
            f"HTTP 200 with a body that is not valid JSON ({len(body)} bytes)", status=200
        )
    if not isinstance(payload, dict):
        raise TransientFetchError("HTTP 200 with a JSON body that is not an object")
    state = str(payload.get("status", "OK")).upper()
    if state == "NOT_FOUND":
        raise data_error(
            symbol,
            "unknown symbol at the data service (status NOT_FOUND)",
            "Check the ticker spelling and whether it is listed; exclude the symbol.",
            status=200,
            url=shown_url,
        )
    if state not in ("OK", "DELAYED"):
        message = redact(str(payload.get("error") or payload.get("message") or ""))
        raise ScanError(
            ErrorType.API_ERROR,
            f"{symbol}: the data service answered with status {state}"
            + (f": {message[:200]}" if message else ""),
            details={"symbol": symbol, "status": 200, "api_status": state, "url": shown_url},
            suggestion="Run the scan again later: the symbol is fetched again (it is not "
            "cached); report the problem if it persists.",
            affected_symbols=(symbol,),
            recoverable=True,  # the service's own failure, not the symbol's
        )
    next_url = payload.get("next_url")
    if isinstance(next_url, str):
        # Some proxies put the key into next_url: drop it before anything can keep it.
        payload["next_url"] = _without_key(next_url)
    return payload


@dataclass(frozen=True)
class RawPages:
    """The undecoded answer for one symbol: every page's body, as received.

    Returned by :meth:`PolygonSource.fetch_payload`; holds no API key (the key
    only ever travels in a request header), so it can be shipped to worker
    processes, where :meth:`decode` turns it into bars.
    """

    symbol: str
    window: str
    bodies: tuple[bytes, ...]
    urls: tuple[str, ...]

    def __repr__(self) -> str:
        size = sum(len(body) for body in self.bodies)
        return f"RawPages({self.symbol!r}, {self.window}, {len(self.bodies)} pages, {size} bytes)"

    def rows_frame(self) -> pd.DataFrame:
        """The pages' bars as one raw frame (columns date, open ... volume; not validated).

        Raises:
            ScanError: a data error for an unknown symbol, no bars or malformed
                bars; a recoverable api error for a body that is not valid JSON.
        """
        rows: list[Any] = []
        for body, url in zip(self.bodies, self.urls, strict=True):
            try:
                payload = _parse_body(body, self.symbol, url)
            except TransientFetchError as exc:
                raise ScanError(
                    ErrorType.API_ERROR,
                    f"{self.symbol}: the data service answered with a garbled page ({exc})",
                    details={"symbol": self.symbol, "url": url},
                    suggestion="Run the scan again: the symbol is fetched again.",
                    affected_symbols=(self.symbol,),
                    recoverable=True,
                ) from None
            results = payload.get("results")
            if results is not None and not isinstance(results, list):
                raise data_error(
                    self.symbol,
                    "the data service answered with malformed bars ('results' is not a list)",
                    _RETRY_SUGGESTION,
                    url=url,
                )
            rows.extend(results or [])
        if not rows:
            start, _, end = self.window.partition("..")
            raise data_error(
                self.symbol,
                f"no daily bars from {start} to {end} at the data service",
                "Check the ticker, whether it traded in this date window, or exclude the symbol.",
                window=self.window,
            )
        return _frame(rows, self.symbol)

    def decode(self, symbol: str, window: DateWindow) -> pd.DataFrame:
        """Validated bars inside ``window`` (what :meth:`PolygonSource.fetch` returns)."""
        return window.clip(normalize_bars(self.rows_frame(), symbol))


def _frame(rows: list[Any], symbol: str) -> pd.DataFrame:
    """Polygon rows (``t`` = New York midnight in epoch ms) as a bars frame."""
    if not all(isinstance(row, dict) for row in rows):
        raise data_error(
            symbol,
            "the data service answered with malformed bars (a row is not an object)",
            _RETRY_SUGGESTION,
        )
    columns: dict[str, np.ndarray] = {}
    for key in ("t", "o", "h", "l", "c", "v"):
        try:
            columns[key] = np.fromiter((row[key] for row in rows), dtype="float64", count=len(rows))
        except KeyError:
            raise data_error(
                symbol,
                f"the data service answered with malformed bars (missing {key})",
                _RETRY_SUGGESTION,
                missing=[key],
            ) from None
        except (TypeError, ValueError):
            raise data_error(
                symbol,
                f"the data service answered with malformed bars (non-numeric {key})",
                _RETRY_SUGGESTION,
            ) from None
    stamps = columns["t"]
    if not np.isfinite(stamps).all() or (np.abs(stamps) > 4e12).any():
        raise data_error(
            symbol,
            "the data service answered with malformed bar timestamps",
            _RETRY_SUGGESTION,
        )
    local = (
        pd.DatetimeIndex(stamps.astype("int64").astype("datetime64[ms]"))
        .tz_localize("UTC")
        .tz_convert(NEW_YORK)
        .tz_localize(None)
        .as_unit("ms")
        .asi8
    )
    # Midnight of each local day, by integer arithmetic: DatetimeIndex.normalize()
    # gives the same dates but also infers a frequency, which costs more than the rest.
    dates = pd.DatetimeIndex((local - local % _DAY_MS).astype("datetime64[ms]")).as_unit("us")
    return pd.DataFrame(
        {
            "date": dates,
            "open": columns["o"],
            "high": columns["h"],
            "low": columns["l"],
            "close": columns["c"],
            "volume": columns["v"],
        }
    )


def _without_key(url: str) -> str:
    """``url`` without ``apiKey``/``api_key`` query parameters (and without a fragment)."""
    split = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(split.query, keep_blank_values=True)
        if k.lower() not in ("apikey", "api_key")
    ]
    return urlunsplit((split.scheme, split.netloc, split.path, urlencode(query), ""))


def _describe(failure: BaseException) -> str:
    if isinstance(failure, ScanError):
        return failure.message
    return str(failure)
