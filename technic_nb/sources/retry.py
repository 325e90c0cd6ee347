"""Retries with exponential backoff: ``backoff`` decorators that a cancel interrupts at once.

Every fetch is decorated with ``@backoff.on_exception(cancellable_waits,
Exception, **RETRY_OPTIONS)`` (:data:`retry_transient` is the same decorator
for a function given at run time): ``max_tries`` and ``max_time`` come from the
:class:`RetryPolicy` of the call in progress, ``giveup`` stops at once on a
permanent failure, and handlers count attempts, retries and give-ups and log
them.  ``backoff``'s own sleep cannot be interrupted, so the waiting is done in
the wait generator (:func:`cancellable_waits`): backoff 2 sends it each failure,
so it honours a server's ``Retry-After`` and waits on the scan's cancellation
token, which a cancel wakes at once; backoff itself then sleeps 0 seconds.

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
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import backoff
from backoff.types import Details

from technic_nb.core.cancel import ScanCancellation, ScanCancelled
from technic_nb.core.errors import ErrorType, ScanError

__all__ = [
    "RETRY_OPTIONS",
    "RetryCall",
    "RetryPolicy",
    "RetryStats",
    "TransientFetchError",
    "call_with_retries",
    "cancellable_waits",
    "current_call",
    "is_transient_fetch_error",
    "retry_transient",
    "retrying",
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


@dataclass
class RetryCall:
    """One call under retry: what the backoff decorator reads while it runs.

    :func:`retrying` makes it the current call of this thread (a context
    variable), so that the fetches' backoff decorator, a plain decorator applied
    once, takes its limits, counters and cancellation token from the call in progress.
    """

    policy: RetryPolicy
    stats: RetryStats | None = None
    cancellation: ScanCancellation | None = None
    is_transient: Callable[[BaseException], bool] = is_transient_fetch_error
    describe: str = "request"
    symbol: str | None = None
    #: filled in by the handlers
    tries: int = 0
    elapsed: float = 0.0
    gave_up: str = ""
    last_delay: float = 0.0

    def give_up_error(self, failure: BaseException) -> ScanError:
        """The structured error for a transient ``failure`` that was not retried further."""
        return _give_up_error(
            failure, self.describe, self.symbol, self.tries, self.elapsed, self.gave_up
        )


_CALL: ContextVar[RetryCall] = ContextVar("technic_nb_retry_call")


def current_call() -> RetryCall:
    """The :class:`RetryCall` of this thread (inside :func:`retrying`)."""
    try:
        return _CALL.get()
    except LookupError:
        raise RuntimeError(
            "a function decorated with retry_transient must be called inside retrying(...)"
        ) from None


def cancellable_waits(call: RetryCall) -> Generator[float, BaseException | None, None]:
    """backoff's wait generator: each failure is sent in; the wait happens here.

    The delay is the next exponential backoff delay (full jitter when the
    policy says so), or the failure's ``retry_after`` (capped at
    ``retry_after_cap``, never jittered).  It waits on the call's cancellation
    token, so a cancel ends the wait at once (:class:`ScanCancelled`), and then
    hands 0 to backoff, whose own sleep cannot be interrupted.  When the next
    wait would end past ``max_time`` it stops (backoff then gives up at once).
    """
    policy = call.policy
    delays = policy.delays()
    started = time.monotonic()
    failure = yield 0.0  # backoff primes the generator with send(None)
    while True:
        delay = next(delays)
        retry_after = getattr(failure, "retry_after", None)
        if retry_after is not None:
            delay = min(max(float(retry_after), 0.0), policy.retry_after_cap)
        if time.monotonic() - started + delay > policy.max_time:
            call.gave_up = "max_time"
            return
        call.last_delay = delay
        waited_from = time.monotonic()
        try:
            _wait(delay, call.cancellation)
        finally:
            if call.stats is not None:
                call.stats.record_wait(time.monotonic() - waited_from)
        failure = yield 0.0


def _wait(delay: float, cancellation: ScanCancellation | None) -> None:
    """Wait ``delay`` seconds; raise :class:`ScanCancelled` at once if cancelled."""
    if cancellation is None:
        if delay > 0:
            time.sleep(delay)
        return
    if cancellation.wait(delay) if delay > 0 else cancellation.is_cancelled():
        raise ScanCancelled(cancellation.reason or "cancelled")


def _exception_of(details: Details) -> BaseException | None:
    failure = details.get("exception")
    return failure if isinstance(failure, BaseException) else None


def _on_success(details: Details) -> None:
    call = current_call()
    call.tries = details["tries"]
    if call.stats is not None:
        call.stats.record_attempt()


def _on_backoff(details: Details) -> None:
    call = current_call()
    call.tries = details["tries"]
    if call.stats is not None:
        call.stats.record_attempt()
        call.stats.record_retry()
    failure = _exception_of(details)
    logger.debug(
        "%s: attempt %d/%d failed (%s); retried after %.3fs%s",
        call.describe,
        details["tries"],
        call.policy.max_tries,
        _failure_text(failure) if failure is not None else "?",
        call.last_delay,
        " (Retry-After)" if getattr(failure, "retry_after", None) is not None else "",
    )


def _on_giveup(details: Details) -> None:
    call = current_call()
    call.tries = details["tries"]
    call.elapsed = details["elapsed"]
    if call.stats is not None:
        call.stats.record_attempt()
    failure = _exception_of(details)
    if failure is None or not call.is_transient(failure):
        return  # a permanent failure: not retried, and not a give-up
    if not call.gave_up:
        call.gave_up = "max_tries" if call.tries >= call.policy.max_tries else "max_time"
    if call.stats is not None:
        call.stats.record_give_up()
    logger.debug(
        "%s: giving up after %d attempt(s) in %.2fs (%s): %s",
        call.describe,
        call.tries,
        call.elapsed,
        call.gave_up,
        _failure_text(failure),
    )


#: The keyword arguments of every fetch's ``backoff.on_exception`` decorator
#: (``@backoff.on_exception(cancellable_waits, Exception, **RETRY_OPTIONS)``): the
#: current :class:`RetryCall`'s limits (``max_tries``, ``max_time``), ``giveup``
#: for failures its classifier calls permanent, handlers that feed the counters
#: and the log; the jitter and the waiting are :func:`cancellable_waits`'s (it
#: receives the call as ``call``).  Call the decorated function inside
#: :func:`retrying`.
RETRY_OPTIONS: dict[str, Any] = {
    "max_tries": lambda: current_call().policy.max_tries,
    "max_time": lambda: current_call().policy.max_time,
    "giveup": lambda exc: not current_call().is_transient(exc),
    "on_success": _on_success,
    "on_backoff": _on_backoff,
    "on_giveup": _on_giveup,
    "jitter": None,
    "logger": None,
    "raise_on_giveup": True,
    "call": current_call,
}

#: That decorator, for functions decorated at run time (:func:`call_with_retries`).
retry_transient = backoff.on_exception(cancellable_waits, Exception, **RETRY_OPTIONS)


@contextmanager
def retrying(
    policy: RetryPolicy,
    *,
    stats: RetryStats | None = None,
    cancellation: ScanCancellation | None = None,
    is_transient: Callable[[BaseException], bool] = is_transient_fetch_error,
    describe: str = "request",
    symbol: str | None = None,
) -> Iterator[RetryCall]:
    """Run functions decorated with :data:`retry_transient` under ``policy``.

    A transient failure that escapes (retries exhausted, or the next wait would
    pass ``max_time``) becomes one structured :class:`~technic_nb.ScanError`;
    anything else propagates unchanged.  The call is cancelled before it
    starts if ``cancellation`` already is.
    """
    if cancellation is not None:
        cancellation.check_and_raise()
    call = RetryCall(policy, stats, cancellation, is_transient, describe, symbol)
    reset = _CALL.set(call)
    failure: BaseException | None = None
    try:
        yield call
    except ScanCancelled:
        raise
    except Exception as exc:
        if not (call.gave_up and call.is_transient(exc)):
            raise
        failure = exc  # decided outside the except block: see below
    finally:
        _CALL.reset(reset)
    if failure is not None:
        # The final error carries the original only when that holds no secret text.
        error = call.give_up_error(failure)
        if isinstance(failure, TransientFetchError):
            raise error from failure
        raise error


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

    The same backoff decorator as every fetch (:data:`retry_transient`) applied
    to ``fn``.

    Args:
        fn: the attempt; called with no argument.
        policy: the limits and delays.
        stats: counters to update (attempts, retries, give-ups, time waited).
        cancellation: checked before the first attempt and woken while waiting.
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
    with retrying(
        policy,
        stats=stats,
        cancellation=cancellation,
        is_transient=is_transient,
        describe=describe,
        symbol=symbol,
    ):
        return retry_transient(fn)()


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
