"""What a retry decides by: the failures worth retrying, the policy's limits and delays,
and the counters of a source's retries."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import backoff

__all__ = ["RetryPolicy", "RetryStats", "TransientFetchError", "is_transient_fetch_error"]


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
