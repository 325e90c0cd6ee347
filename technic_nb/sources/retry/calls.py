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
from technic_nb.sources.retry.policy import (
    RetryPolicy,
    RetryStats,
    TransientFetchError,
    is_transient_fetch_error,
)

__all__ = [
    "RETRY_OPTIONS",
    "RetryCall",
    "call_with_retries",
    "cancellable_waits",
    "current_call",
    "retry_transient",
    "retrying",
]


logger = logging.getLogger("technic_nb.retry")


T = TypeVar("T")


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


def call_with_retries(fn: Callable[[], T], *, policy: RetryPolicy, **options: Any) -> T:
    """Call ``fn()`` until it succeeds, retrying transient failures under ``policy``.

    The same backoff decorator as every fetch (:data:`retry_transient`) applied to
    ``fn``, inside :func:`retrying` ``(policy, **options)``: ``stats`` (counters
    to update), ``cancellation`` (checked before the first attempt and woken while
    waiting), ``is_transient`` (which exceptions are retried; default
    :class:`~technic_nb.sources.retry.policy.TransientFetchError`: every other one
    propagates at once, unchanged), ``describe`` (a short, secret-free text naming
    the call in messages and logs, ``"AAPL: GET /v2/aggs/..."``) and ``symbol``
    (recorded in the error).

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
        ScanCancelled: when the cancellation is cancelled before an attempt or
            while waiting.
    """
    with retrying(policy, **options):
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
