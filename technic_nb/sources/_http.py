"""Daily bars from a Polygon-style REST API over HTTP.

The request is ``GET {base_url}/v2/aggs/ticker/{symbol}/range/1/day/{start}/{end}``
with ``adjusted=true&sort=asc&limit=50000``; the API key travels in an
``Authorization: Bearer`` header, never in the URL, so that no URL (in a log
line, an exception text or an error's details) can carry it.  Every text that
leaves this module is still passed through a redaction step as a second guard.

Every request is made by :meth:`PolygonSource._attempt`, decorated with
``backoff.on_exception`` (:data:`~technic_nb._retry.retry_transient`), and each
page is parsed and checked inside that attempt, so a page that does not parse
or check out is retried like any transient failure.  Failures are sorted into
three groups:

* transient (retried with backoff under the source's :class:`RetryPolicy`):
  HTTP 429 (honouring ``Retry-After``), 408, 5xx, refused/reset connections,
  timeouts, a body cut short or that is not valid JSON (an HTML page with
  status 200), a page whose ``status`` says it failed, a page without the
  ``results`` its counts promise, malformed bar rows;
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
from .._retry import RetryPolicy, RetryStats, TransientFetchError, retry_transient, retrying
from .._symbols import validate_symbol
from ._base import BarsPayload, DataSource, DateWindow

__all__ = ["PolygonRows", "PolygonSource"]

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
        _RateLimiter.__init__(self, state["rate"])


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
    ) -> PolygonRows:
        """Every page of ``symbol``'s answer, parsed and checked, as columns of numbers.

        The scan's fetch threads call this; :meth:`PolygonRows.bars` (run in a
        worker) turns it into the bars :meth:`fetch` returns.
        """
        window = window or DateWindow()
        return self._fetch_rows(validate_symbol(symbol), window, cancellation)

    def _fetch_raw(
        self, symbol: str, window: DateWindow, cancellation: ScanCancellation | None
    ) -> pd.DataFrame:
        return self._fetch_rows(symbol, window, cancellation).raw_frame()

    def _fetch_rows(
        self, symbol: str, window: DateWindow, cancellation: ScanCancellation | None
    ) -> PolygonRows:
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
        pages: list[_Page] = []
        seen: set[str] = set()
        while url:
            if len(pages) >= _MAX_PAGES or url in seen:
                raise ScanError(
                    ErrorType.API_ERROR,
                    f"{symbol}: the data service's pagination does not end "
                    f"(page {len(pages) + 1}, next_url repeats or too many pages)",
                    details={"symbol": symbol, "pages": len(pages) + 1, "url": self._redact(url)},
                    suggestion="Try again later; report the problem if it persists.",
                    affected_symbols=(symbol,),
                )
            seen.add(url)
            page = self._get_page(url, params, symbol, cancellation)
            pages.append(page)
            params = None
            url = self._next_page(page.next_url, symbol) if page.next_url else None
        return PolygonRows.join(symbol, window.key(), pages)

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

    def _get_page(
        self,
        url: str,
        params: dict[str, str] | None,
        symbol: str,
        cancellation: ScanCancellation | None,
    ) -> _Page:
        """One page, retried under the source's :class:`RetryPolicy` until it checks out."""
        shown = self._redact(urlsplit(url).path)
        with retrying(
            self.retry,
            stats=self.retry_stats,
            cancellation=cancellation,
            describe=f"{symbol}: GET {shown}",
            symbol=symbol,
        ):
            return self._attempt(url, params, symbol, cancellation)

    @retry_transient
    def _attempt(
        self,
        url: str,
        params: dict[str, str] | None,
        symbol: str,
        cancellation: ScanCancellation | None,
    ) -> _Page:
        """One HTTP request: the parsed, checked page of a 200 answer, or a classified exception.

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
            return _parse_page(response.data, symbol, self._redact(url), self._api_key)
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


_RETRY_SUGGESTION = "Try again later; report the problem if it persists."
_ROW_KEYS = ("t", "o", "h", "l", "c", "v")


@dataclass(frozen=True)
class _Page:
    """One page of an answer: its bar columns (float64 arrays) and its ``next_url``."""

    columns: tuple[np.ndarray, ...]  # t, o, h, l, c, v
    next_url: str | None


def _parse_page(body: bytes, symbol: str, shown_url: str, secret: _Secret) -> _Page:
    """Parse and check one 200 answer; anything that does not check out is transient.

    Raises:
        TransientFetchError: the body is not valid JSON (cut short, an HTML page),
            not an object, says it failed (a ``status`` other than ``OK`` or
            ``DELAYED``), lacks the ``results`` its counts promise, or holds
            malformed rows.  Retried like a 503.
        ScanError: a data error for ``NOT_FOUND`` (the symbol is unknown).
    """
    try:
        payload = orjson.loads(body)  # several times faster than json
    except ValueError:  # orjson.JSONDecodeError is a ValueError
        raise TransientFetchError(
            f"HTTP 200 with a body that is not valid JSON ({len(body)} bytes)", status=200
        ) from None
    if not isinstance(payload, dict):
        raise TransientFetchError("HTTP 200 with a JSON body that is not an object", status=200)
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
        message = redact(str(payload.get("error") or payload.get("message") or ""), secret.value)
        raise TransientFetchError(
            f"HTTP 200 with status {state}" + (f": {message[:200]}" if message else ""),
            status=200,
        )
    results = payload.get("results")
    count = payload.get("resultsCount", payload.get("queryCount", 0))
    if results is None:
        if isinstance(count, int | float) and count > 0:
            raise TransientFetchError(
                f"HTTP 200 without the {count:g} results it announces", status=200
            )
        results = []
    if not isinstance(results, list):
        raise TransientFetchError("HTTP 200 whose 'results' is not a list", status=200)
    next_url = payload.get("next_url")
    if next_url is not None and not isinstance(next_url, str):
        raise TransientFetchError("HTTP 200 with a malformed next_url", status=200)
    return _Page(_row_columns(results), _without_key(next_url) if next_url else None)


def _row_columns(rows: list[Any]) -> tuple[np.ndarray, ...]:
    """The t, o, h, l, c, v columns of Polygon rows; malformed rows are transient."""
    try:
        return tuple(
            np.fromiter((row[key] for row in rows), dtype="float64", count=len(rows))
            for key in _ROW_KEYS
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TransientFetchError(
            f"HTTP 200 with malformed bar rows ({type(exc).__name__}: {str(exc)[:80]})",
            status=200,
        ) from None


@dataclass(frozen=True)
class PolygonRows(BarsPayload):
    """The checked answer for one symbol: every page's rows as columns of numbers.

    Returned by :meth:`PolygonSource.fetch_payload` and stored in the bars cache;
    holds no API key, so it can be shipped to worker processes, where
    :meth:`bars` turns it into the bars :meth:`PolygonSource.fetch` returns.
    """

    symbol: str
    window: str
    columns: tuple[np.ndarray, ...]  # t (epoch ms), o, h, l, c, v

    @classmethod
    def join(cls, symbol: str, window: str, pages: list[_Page]) -> PolygonRows:
        """The rows of every page, in page order."""
        columns = tuple(
            np.concatenate([page.columns[i] for page in pages]) if pages else np.empty(0)
            for i in range(len(_ROW_KEYS))
        )
        return cls(symbol, window, columns)

    def __repr__(self) -> str:
        return f"PolygonRows({self.symbol!r}, {self.window}, {len(self.columns[0])} bars)"

    def raw_frame(self) -> pd.DataFrame:
        """The rows as one frame (columns date, open ... volume; not validated).

        Raises:
            ScanError: a data error when there are no bars or a timestamp is malformed.
        """
        stamps = self.columns[0]
        if not len(stamps):
            start, _, end = self.window.partition("..")
            raise data_error(
                self.symbol,
                f"no daily bars from {start} to {end} at the data service",
                "Check the ticker, whether it traded in this date window, or exclude the symbol.",
                window=self.window,
            )
        if not np.isfinite(stamps).all() or (np.abs(stamps) > 4e12).any():
            raise data_error(self.symbol, "the data service answered with malformed bar timestamps")
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
        _, o, h, low, c, v = self.columns
        return pd.DataFrame(
            {"date": dates, "open": o, "high": h, "low": low, "close": c, "volume": v}
        )

    def bars(self, symbol: str, window: DateWindow) -> pd.DataFrame:
        """Validated bars inside ``window`` (what :meth:`PolygonSource.fetch` returns)."""
        return window.clip(normalize_bars(self.raw_frame(), symbol))


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
