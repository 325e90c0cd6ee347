"""Retries with exponential backoff that a cancellation request interrupts at once.

The delays come from the ``backoff`` library's wait generators
(:func:`backoff.expo`, optionally spread with :func:`backoff.full_jitter`).
``backoff``'s decorators sleep with :func:`time.sleep`, which nothing can
interrupt, so :func:`call_with_retries` runs its own small loop: it asks the
generator for the next delay and waits with :meth:`ScanCancellation.wait`, so a
scan that is cancelled while a request is backing off stops immediately.

Only failures the caller classifies as transient (by default
:class:`TransientFetchError`) are retried; anything else propagates at once.
When the retries are exhausted the caller gets one structured
:class:`~technic_nb.ScanError` that says how many attempts were made, for how
long, and what the last failure was.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import backoff

from ._cancel import ScanCancellation, ScanCancelled
from ._errors import ErrorType, ScanError

__all__ = [
    "RetryPolicy",
    "RetryStats",
    "TransientFetchError",
    "call_with_retries",
    "is_transient_fetch_error",
]

logger = logging.getLogger("technic_nb.retry")

T = TypeVar("T")


class TransientFetchError(Exception):
    """A failure that may go away if the same request is made again.

    Attributes:
        reason: a short, secret-free text (``"HTTP 503 Service Unavailable"``).
        status: the HTTP status, when there was a response.
        retry_after: seconds the server asked the client to wait, when it said so.
        timeout: True when the request timed out (the final error is then a
            ``timeout_error`` instead of an ``api_error``).
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        timeout: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.timeout = timeout

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return (
            f"TransientFetchError({self.reason!r}, status={self.status!r}, "
            f"retry_after={self.retry_after!r}, timeout={self.timeout!r})"
        )

    def __reduce__(self):
        return (_rebuild_transient, (self.reason, self.status, self.retry_after, self.timeout))


def _rebuild_transient(
    reason: str, status: int | None, retry_after: float | None, timeout: bool
) -> TransientFetchError:
    return TransientFetchError(reason, status=status, retry_after=retry_after, timeout=timeout)


def is_transient_fetch_error(exc: BaseException) -> bool:
    """The default classifier: only :class:`TransientFetchError` is retried."""
    return isinstance(exc, TransientFetchError)


def _invalid(field: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"RetryPolicy.{field}={value!r} is invalid: {field} must be {allowed}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a transient failure is retried.

    Attributes:
        max_tries: attempts in total, the first one included (1 = no retry).
        max_time: seconds from the first attempt after which no new attempt
            starts; a retry whose wait would end later than this gives up now.
        base_delay: the first backoff delay in seconds.
        factor: each following delay is ``factor`` times the previous one.
        max_delay: no backoff delay is longer than this.
        retry_after_cap: a server's ``Retry-After`` is used instead of the
            backoff delay, but never longer than this many seconds.
        jitter: spread each backoff delay uniformly over ``[0, delay]``
            ("full jitter") so that many clients do not retry in lock step.
            A ``Retry-After`` delay is never jittered.

    Raises:
        ValueError: naming the field, the value and what is allowed.
    """

    max_tries: int = 5
    max_time: float = 60.0
    base_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 30.0
    retry_after_cap: float = 60.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.max_tries, int) or isinstance(self.max_tries, bool):
            raise _invalid("max_tries", self.max_tries, "an integer >= 1")
        if self.max_tries < 1:
            raise _invalid("max_tries", self.max_tries, "an integer >= 1")
        checks = (
            ("max_time", "a finite number of seconds > 0", lambda v: v > 0),
            ("base_delay", "a finite number of seconds >= 0", lambda v: v >= 0),
            ("factor", "a finite number >= 1", lambda v: v >= 1),
            ("max_delay", "a finite number of seconds >= 0", lambda v: v >= 0),
            ("retry_after_cap", "a finite number of seconds >= 0", lambda v: v >= 0),
        )
        for field, allowed, ok in checks:
            value = getattr(self, field)
            if not _is_number(value) or not math.isfinite(value) or not ok(value):
                raise _invalid(field, value, allowed)
        if not isinstance(self.jitter, bool):
            raise _invalid("jitter", self.jitter, "True or False")

    def backoff_delays(self) -> Iterator[float]:
        """The un-jittered backoff delays: ``base_delay * factor**n`` capped at ``max_delay``."""
        generator = backoff.expo(base=self.factor, factor=self.base_delay, max_value=self.max_delay)
        next(generator)  # backoff's generators start with a bare yield
        return generator

    def delays(self) -> Iterator[float]:
        """The delays to wait before each retry (jittered when :attr:`jitter` is set)."""
        for delay in self.backoff_delays():
            yield backoff.full_jitter(delay) if self.jitter else delay


class RetryStats:
    """Thread-safe counters of the retry loop, shared by all fetches of one source.

    Attributes (read them through :meth:`snapshot` for a consistent view):
        attempts: calls made, first attempts included.
        retries: attempts that were repeats of a failed one.
        give_ups: calls that failed for good after retrying.
        wait_seconds: total time spent waiting between attempts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.attempts = 0
        self.retries = 0
        self.give_ups = 0
        self.wait_seconds = 0.0

    def record_attempt(self) -> None:
        with self._lock:
            self.attempts += 1

    def record_wait(self, seconds: float) -> None:
        with self._lock:
            self.wait_seconds += seconds

    def record_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def record_give_up(self) -> None:
        with self._lock:
            self.give_ups += 1

    def snapshot(self) -> dict[str, float | int]:
        """The counters as a plain dict."""
        with self._lock:
            return {
                "attempts": self.attempts,
                "retries": self.retries,
                "give_ups": self.give_ups,
                "wait_seconds": self.wait_seconds,
            }

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self.attempts = 0
            self.retries = 0
            self.give_ups = 0
            self.wait_seconds = 0.0

    def __getstate__(self) -> dict[str, Any]:
        return self.snapshot()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._lock = threading.Lock()
        self.attempts = int(state.get("attempts", 0))
        self.retries = int(state.get("retries", 0))
        self.give_ups = int(state.get("give_ups", 0))
        self.wait_seconds = float(state.get("wait_seconds", 0.0))

    def __repr__(self) -> str:
        return "RetryStats({})".format(", ".join(f"{k}={v!r}" for k, v in self.snapshot().items()))


def _wait(delay: float, cancellation: ScanCancellation | None) -> None:
    """Wait ``delay`` seconds; raise :class:`ScanCancelled` at once if cancelled."""
    if cancellation is None:
        if delay > 0:
            time.sleep(delay)
        return
    if cancellation.wait(delay) if delay > 0 else cancellation.is_cancelled():
        raise ScanCancelled(cancellation.reason or "cancelled")


def call_with_retries(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    stats: RetryStats | None = None,
    cancellation: ScanCancellation | None = None,
    is_transient: Callable[[BaseException], bool] = is_transient_fetch_error,
    describe: str = "request",
    symbol: str | None = None,
) -> T:
    """Call ``fn()`` until it succeeds, retrying transient failures under ``policy``.

    Args:
        fn: the attempt; called with no argument.
        policy: the limits and delays.
        stats: counters to update (attempts, retries, give-ups, time waited).
        cancellation: checked before every attempt and woken while waiting.
        is_transient: which exceptions are retried (default: :class:`TransientFetchError`).
            Every other exception propagates at once, unchanged.
        describe: a short, secret-free text naming the call, used in messages
            and logs (``"AAPL: GET /v2/aggs/..."``).
        symbol: the symbol concerned, recorded in the error if given.

    The delay before a retry is the next backoff delay, or the failure's
    ``retry_after`` (capped by ``policy.retry_after_cap``) when the server sent
    one.  The loop gives up after ``policy.max_tries`` attempts, or as soon as
    the next wait would end more than ``policy.max_time`` seconds after the
    first attempt started.

    Raises:
        ScanError: when giving up: ``timeout_error`` if the last failure was a
            timeout, else ``api_error``; ``recoverable=True``; details hold
            ``status``, ``attempts``, ``elapsed``, ``last_error``, ``gave_up``
            (``"max_tries"`` or ``"max_time"``), ``request`` and ``retry_after``.
        ScanCancelled: when ``cancellation`` is cancelled before an attempt or
            while waiting.
    """
    delays = policy.delays()
    started = time.monotonic()
    attempts = 0
    while True:
        if cancellation is not None:
            cancellation.check_and_raise()
        attempts += 1
        if stats is not None:
            stats.record_attempt()
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            failure = exc
        # Decide outside the ``except`` block so that the final error does not
        # drag the original exception (and whatever text it holds) along.
        elapsed = time.monotonic() - started
        retry_after = getattr(failure, "retry_after", None)
        if attempts >= policy.max_tries:
            gave_up = "max_tries"
        else:
            delay = next(delays)
            if retry_after is not None:
                delay = min(max(float(retry_after), 0.0), policy.retry_after_cap)
            gave_up = "max_time" if elapsed + delay > policy.max_time else ""
        if gave_up:
            if stats is not None:
                stats.record_give_up()
            error = _give_up_error(failure, describe, symbol, attempts, elapsed, gave_up)
            logger.debug(
                "%s: giving up after %d attempt(s) in %.2fs (%s): %s",
                describe,
                attempts,
                elapsed,
                gave_up,
                _failure_text(failure),
            )
            if isinstance(failure, TransientFetchError):
                raise error from failure
            raise error
        logger.debug(
            "%s: attempt %d/%d failed (%s); retrying in %.3fs%s",
            describe,
            attempts,
            policy.max_tries,
            _failure_text(failure),
            delay,
            " (Retry-After)" if retry_after is not None else "",
        )
        waited_from = time.monotonic()
        try:
            _wait(delay, cancellation)
        finally:
            if stats is not None:
                stats.record_wait(time.monotonic() - waited_from)
        if stats is not None:
            stats.record_retry()
        del failure


def _failure_text(failure: BaseException) -> str:
    if isinstance(failure, TransientFetchError):
        return failure.reason
    text = str(failure)
    return f"{type(failure).__name__}: {text}" if text else type(failure).__name__


def _give_up_error(
    failure: BaseException,
    describe: str,
    symbol: str | None,
    attempts: int,
    elapsed: float,
    gave_up: str,
) -> ScanError:
    status = getattr(failure, "status", None)
    retry_after = getattr(failure, "retry_after", None)
    timed_out = bool(getattr(failure, "timeout", False))
    last_error = _failure_text(failure)
    if status == 429:
        suggestion = (
            "The data service is rate limiting the requests: lower requests_per_second or "
            "max_connections, wait a while, or allow more time with RetryPolicy(max_time=...). "
            "Running the scan again resumes from the cache."
        )
    elif timed_out:
        suggestion = (
            "The data service did not answer in time: check the network, raise the source's "
            "timeout, or try again later. Running the scan again resumes from the cache."
        )
    else:
        suggestion = (
            "The data service is unavailable or the connection failed: check the network and "
            "the service status and run the scan again later (it resumes from the cache), or "
            "allow more retries with RetryPolicy(max_tries=..., max_time=...)."
        )
    if gave_up == "max_tries":
        why = "max_tries reached"
    elif retry_after is not None:
        why = f"the server asked to wait {retry_after:g}s, past max_time"
    else:
        why = "the next wait would pass max_time"
    details: dict[str, Any] = {
        "status": status,
        "attempts": attempts,
        "elapsed": round(elapsed, 3),
        "last_error": last_error,
        "gave_up": gave_up,
        "request": describe,
        "retry_after": retry_after,
    }
    if symbol is not None:
        details["symbol"] = symbol
    return ScanError(
        ErrorType.TIMEOUT_ERROR if timed_out else ErrorType.API_ERROR,
        f"{describe} failed after {attempts} attempt(s) in {elapsed:.1f}s ({why}); "
        f"last error: {last_error}",
        details=details,
        suggestion=suggestion,
        recoverable=True,
        retry_after=retry_after,
        affected_symbols=(symbol,) if symbol else (),
    )
