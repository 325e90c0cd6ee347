"""Daily bars from a Polygon-style REST API over HTTP.

The request is ``GET {base_url}/v2/aggs/ticker/{symbol}/range/1/day/{start}/{end}``
with ``adjusted=true&sort=asc&limit=50000``; the API key travels in an
``Authorization: Bearer`` header, never in the URL, so that no URL (in a log
line, an exception text or an error's details) can carry it.  Every text that
leaves this module is still passed through a redaction step as a second guard.
Where a key may be given (argument, ``apiKey=`` in ``base_url``, environment)
is in :mod:`technic_nb.sources.polygon.config`.

Every request is made by :meth:`PolygonSource._attempt`, decorated with
``backoff.on_exception`` (its options: :data:`~technic_nb.sources.retry.RETRY_OPTIONS`).  Each
answer is read in full within ``answer_timeout`` (a body trickled slower than
that is abandoned) and each page is parsed and checked inside that attempt
(:mod:`technic_nb.sources.polygon.pages`), so a page that does not parse or
check out is retried like any transient failure and never cached.  Failures
are sorted (:mod:`technic_nb.sources.polygon.errors`) into:

* transient (retried with backoff under the source's :class:`RetryPolicy`):
  HTTP 429 (honouring ``Retry-After``), 408, 5xx, refused/reset connections,
  timeouts, a body cut short, trickled or that is not valid JSON (an HTML page
  with status 200), a page whose ``status`` says it failed, a page without the
  ``results`` its counts promise, malformed bar rows.  A 429 rate-limits the
  key: it closes a gate that every thread of the source waits at before its
  next attempt (:mod:`technic_nb.sources.polygon.guard`);
* one symbol's problem (not retried): HTTP 404, a ``NOT_FOUND`` status, no
  bars in the window (data errors); a 403 saying the plan does not cover the
  symbol (an ``api_error`` quoting the server);
* the whole scan's problem (``fatal=True``, latched: every later attempt of the
  scan raises it without a request): a 401 or a 403 that says the key is
  unknown or invalid; the first few answers of a scan all being 403 "not
  entitled" with none succeeding (the plan covers nothing asked for).

Anything else (another 4xx, a protocol error on our side) is an ``api_error``
for the symbol, not retried.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import backoff
import pandas as pd

from technic_nb.core.cancel import ScanCancellation
from technic_nb.core.errors import ErrorType, ScanError, data_error, symbol_error
from technic_nb.core.symbols import validate_symbol
from technic_nb.sources.base import DataSource, DateWindow
from technic_nb.sources.polygon.client import HttpClient, RequestFailed
from technic_nb.sources.polygon.config import (
    API_KEY_ENV,
    _Secret,
    check_options,
    redact,
    resolve_credentials,
)
from technic_nb.sources.polygon.errors import Answer, classify, parse_retry_after
from technic_nb.sources.polygon.guard import KeyGuard, KeyState, RateLimiter
from technic_nb.sources.polygon.pages import Page, PolygonRows, parse_page, without_key
from technic_nb.sources.retry.calls import (
    RETRY_OPTIONS,
    cancellable_waits,
    retrying,
)
from technic_nb.sources.retry.policy import RetryPolicy, RetryStats, TransientFetchError

__all__ = ["API_KEY_ENV", "PolygonRows", "PolygonSource", "parse_retry_after", "redact"]

logger = logging.getLogger("technic_nb.http")

NEW_YORK = ZoneInfo("America/New_York")
_MAX_PAGES = 10_000
#: The default retry policy (``RetryPolicy()``; frozen, so one shared instance is safe).
DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class _PageCall:
    """One page's request, as every attempt at it sees it."""

    url: str
    params: dict[str, str] | None
    symbol: str
    guard: KeyGuard
    cancellation: ScanCancellation | None
    #: ``time.monotonic()`` past which the call gives up (its policy's ``max_time``)
    deadline: float


class PolygonSource(DataSource):
    """Daily OHLCV bars from Polygon.io (or any server speaking its aggregates API).

    Args:
        api_key: the API key; default: an ``apiKey=`` in ``base_url``, else the
            ``POLYGON_API_KEY`` environment variable.  It is sent as an
            ``Authorization: Bearer`` header and never appears in the source's
            repr, its identity, log lines or errors.
        base_url: the service root, such as ``"https://api.polygon.io"``; an
            ``?apiKey=KEY`` in it is taken out and used as the key.
        max_connections: connections kept open to the service (shared by all
            threads fetching through this source).
        requests_per_second: an optional limit on the request rate of this
            source across all threads (retries and pages included).
        timeout: seconds allowed to connect and for each read.
        retry: how transient failures are retried (per HTTP request).
        benchmark: the symbol of the market regime's benchmark (e.g. ``"SPY"``).
        answer_timeout: seconds allowed for a whole answer to arrive (default
            three times ``timeout``); a slower one is abandoned and retried.

    Attributes:
        retry_stats: counters of attempts, retries, give-ups and time spent
            waiting, kept across fetches.

    Raises:
        ScanError: a ``config_error`` with ``fatal=True`` when no key is found,
            an argument is invalid, or ``base_url`` holds credentials where they
            are not accepted (see :mod:`technic_nb.sources.polygon.config`).
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
        answer_timeout: float | None = None,
    ) -> None:
        # Only wrapped values stay in this frame: tracebacks that list locals stay clean.
        key_arg: Any = _Secret(api_key) if isinstance(api_key, str) else api_key
        url_arg: Any = _Secret(base_url) if isinstance(base_url, str) else base_url
        api_key = base_url = None  # type: ignore[assignment]
        self._api_key, self.base_url = resolve_credentials(key_arg, url_arg)
        del key_arg, url_arg
        options = check_options(
            max_connections, requests_per_second, timeout, answer_timeout, retry
        )
        self.max_connections = options.max_connections
        self.requests_per_second = options.requests_per_second
        self.timeout = options.timeout
        self.answer_timeout = options.answer_timeout
        self.retry = options.retry
        self.benchmark = validate_symbol(benchmark) if benchmark else None
        self.retry_stats = RetryStats()
        rate = self.requests_per_second
        self._limiter = RateLimiter(rate) if rate else None
        self._key_state = KeyState()
        self._http = HttpClient(self.max_connections, self.timeout, self.answer_timeout)

    # -- identity (pickling: the client and the key state pickle without their pools)

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

    def close(self) -> None:
        """Close the connection pool (a later fetch opens a new one)."""
        self._http.close()

    # -- fetching --------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {
            "User-Agent": "technic_nb",
            "Accept": "application/json",
            "Authorization": f"Bearer {self._api_key.value}",
        }

    def _redact(self, text: str) -> str:
        return redact(text, self._api_key)

    def fetch_payload(
        self,
        symbol: str,
        window: DateWindow | None = None,
        *,
        cancellation: ScanCancellation | None = None,
    ) -> PolygonRows:
        """Every page of ``symbol``'s answer, parsed and checked, as columns of numbers.

        The scan's fetch threads call this; :meth:`PolygonRows.bars` (run in a
        worker) turns it into the bars :meth:`fetch` returns.  Fetches sharing
        ``cancellation`` (one scan) share what is learnt about the key.
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
        start, end = _check_window(symbol, window)
        guard = self._key_state.guard(cancellation)
        url: str | None = (
            f"{self.base_url}/v2/aggs/ticker/{symbol}/range/1/day/"
            f"{start.isoformat()}/{end.isoformat()}"
        )
        params: dict[str, str] | None = {"adjusted": "true", "sort": "asc", "limit": "50000"}
        pages: list[Page] = []
        seen: set[str] = set()
        while url:
            if len(pages) >= _MAX_PAGES or url in seen:
                raise symbol_error(
                    ErrorType.API_ERROR,
                    symbol,
                    f"the data service's pagination does not end (page {len(pages) + 1}, "
                    "next_url repeats or too many pages)",
                    "Try again later; report the problem if it persists.",
                    pages=len(pages) + 1,
                    url=self._redact(url),
                )
            seen.add(url)
            page = self._get_page(url, params, symbol, guard, cancellation)
            pages.append(page)
            params = None
            url = self._next_page(page.next_url, symbol) if page.next_url else None
        return PolygonRows.join(symbol, window.key(), pages)

    def _next_page(self, next_url: str, symbol: str) -> str:
        """Validate a ``next_url``: same scheme and host as ``base_url``, no key in it."""
        base = urlsplit(self.base_url)
        split = urlsplit(next_url)
        if (split.scheme, split.netloc) != (base.scheme, base.netloc):
            raise symbol_error(
                ErrorType.API_ERROR,
                symbol,
                "the data service's next_url points to another host; it was not followed "
                "(the API key is only sent to base_url)",
                "Check base_url; report the problem if it persists.",
                next_url=self._redact(next_url),
            )
        return without_key(next_url)

    def _get_page(
        self,
        url: str,
        params: dict[str, str] | None,
        symbol: str,
        guard: KeyGuard,
        cancellation: ScanCancellation | None,
    ) -> Page:
        """One page, retried under the source's :class:`RetryPolicy` until it checks out."""
        shown = self._redact(urlsplit(url).path)
        deadline = time.monotonic() + self.retry.max_time
        call = _PageCall(url, params, symbol, guard, cancellation, deadline)
        with retrying(
            self.retry,
            stats=self.retry_stats,
            cancellation=cancellation,
            describe=f"{symbol}: GET {shown}",
            symbol=symbol,
        ):
            return self._attempt(call)

    @backoff.on_exception(cancellable_waits, Exception, **RETRY_OPTIONS)
    def _attempt(self, call: _PageCall) -> Page:
        """One HTTP request: the parsed, checked page of a 200 answer, or a classified exception.

        Before the request: the key's latched refusal (if any) is raised, the
        Retry-After gate is waited for (a 429 when it stays closed past the
        call's ``max_time``), the cancel token is checked, and the rate limit's
        slot is taken.
        """
        symbol, guard, cancellation = call.symbol, call.guard, call.cancellation
        guard.check()
        self._key_state.gate.wait(cancellation, call.deadline)
        guard.check()
        if cancellation is not None:
            cancellation.check_and_raise()
        if self._limiter is not None:
            self._limiter.acquire(cancellation)
        try:
            answer = self._http.exchange(call.url, call.params, self._headers, self._redact)
        except RequestFailed as exc:
            raise _request_failed(symbol, str(exc), self._redact(call.url)) from None
        shown_url = self._redact(call.url)
        if answer.status != 200:
            raise self._refusal(answer, symbol, shown_url, guard)
        try:
            page = parse_page(answer.body, symbol, shown_url, self._api_key)
        except ScanError:  # NOT_FOUND: a definite answer
            guard.answer()
            raise
        guard.answer()
        return page

    def _refusal(
        self, answer: Answer, symbol: str, shown_url: str, guard: KeyGuard
    ) -> BaseException:
        """The exception for a non-200 ``answer``; updates the gate and the scan's guard."""
        verdict = classify(answer, symbol, shown_url, self._api_key)
        failure = verdict.failure
        if answer.status == 429 and isinstance(failure, TransientFetchError):
            wait = failure.retry_after if failure.retry_after is not None else self.retry.base_delay
            self._key_state.gate.close_for(min(wait, self.retry.retry_after_cap))
        elif verdict.kind == "key" and isinstance(failure, ScanError):
            failure = guard.refuse(failure)
        elif verdict.kind == "entitlement" and isinstance(failure, ScanError):
            failure = guard.deny(failure)
        elif verdict.kind == "answered":
            guard.answer()
        return failure


def _check_window(symbol: str, window: DateWindow) -> tuple[dt.date, dt.date]:
    """The window's start and end; a fatal config error when open, a data error when empty."""
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
    return window.start, window.end


def _request_failed(symbol: str, text: str, shown_url: str) -> ScanError:
    return symbol_error(
        ErrorType.API_ERROR,
        symbol,
        f"the request to the data service failed ({text})",
        "Check base_url and the network; report the problem if it persists.",
        url=shown_url,
    )


# Names older code and tests import from this module.
_Page = Page
_parse_page = parse_page
_without_key = without_key
