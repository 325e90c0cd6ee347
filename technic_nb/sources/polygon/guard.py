"""What every thread of a source shares about its key: the request rate, the
Retry-After gate, and what each scan has learnt about the key.

* :class:`RateLimiter` spaces requests ``1/rate`` apart across threads.
* :class:`RetryAfterGate`: a 429 rate-limits the *key*, not the symbol, so it
  closes the gate for the ``Retry-After`` the server asked for; every thread
  checks the gate before each attempt and waits (cancellably) until it opens.
* :class:`KeyGuard`, one per scan (per cancellation token): the first refusal
  of the key is latched, so every later attempt of that scan raises the same
  fatal error without a request (at most the requests already in flight reach
  the server); and when the first few answers are all 403 "not entitled" and
  none succeeded, the plan covers nothing asked for: one fatal error.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from technic_nb.core.cancel import ScanCancellation, ScanCancelled
from technic_nb.core.errors import ScanError
from technic_nb.sources.polygon.errors import plan_covers_nothing
from technic_nb.sources.retry.policy import TransientFetchError

__all__ = ["ENTITLEMENT_PROBE", "KeyGuard", "KeyState", "RateLimiter", "RetryAfterGate"]

#: 403 "not entitled" answers, with no success in between, after which a scan stops.
ENTITLEMENT_PROBE = 8


def _wait(seconds: float, cancellation: ScanCancellation | None) -> None:
    """Wait ``seconds``; raise :class:`ScanCancelled` at once when cancelled."""
    if cancellation is None:
        time.sleep(seconds)
    elif cancellation.wait(seconds):
        raise ScanCancelled(cancellation.reason or "cancelled")


class RateLimiter:
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
        if slot > now:
            _wait(slot - now, cancellation)

    def __getstate__(self) -> dict[str, float]:
        return {"rate": self.rate}

    def __setstate__(self, state: dict[str, float]) -> None:
        RateLimiter.__init__(self, state["rate"])


class RetryAfterGate:
    """Closed until a time the server named; every request of the source waits for it.

    Attributes:
        closings: how many times a 429 closed (or kept closed) the gate.
        waits: how many attempts found it closed and waited.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = threading.Condition(self._lock)
        self._until = 0.0  # time.monotonic() at which the gate opens
        self.closings = 0
        self.waits = 0

    def close_for(self, seconds: float) -> None:
        """Keep every request back for ``seconds`` from now (never shortens a wait)."""
        with self._lock:
            self._until = max(self._until, time.monotonic() + max(0.0, seconds))
            self.closings += 1
            self._closed.notify_all()

    def wait_closed(self, timeout: float) -> bool:
        """Block until the gate is closed; False when ``timeout`` seconds pass first."""
        with self._closed:
            return self._closed.wait_for(lambda: self._until > time.monotonic(), timeout)

    def remaining(self) -> float:
        """Seconds until the gate opens (0 when open)."""
        with self._lock:
            return max(0.0, self._until - time.monotonic())

    def wait(self, cancellation: ScanCancellation | None, deadline: float | None = None) -> None:
        """Return once the gate is open (it may be closed again meanwhile).

        Raises:
            TransientFetchError: a 429 with the time left as ``retry_after`` when
                the gate stays closed past ``deadline`` (a ``time.monotonic()``
                value): the retry loop then gives up at once, as for a server's
                ``Retry-After`` beyond ``max_time``.
            ScanCancelled: at once when ``cancellation`` is cancelled while waiting.
        """
        counted = False
        while (remaining := self.remaining()) > 0:
            if deadline is not None and time.monotonic() + remaining > deadline:
                raise TransientFetchError(
                    f"HTTP 429: the key is rate limited for {remaining:.1f}s more",
                    status=429,
                    retry_after=remaining,
                )
            if not counted:
                with self._lock:
                    self.waits += 1
                counted = True
            _wait(remaining, cancellation)

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        RetryAfterGate.__init__(self)


class KeyGuard:
    """What one scan learnt about the key: a latched fatal refusal, entitlement answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fatal: ScanError | None = None
        self.answered = 0  # definite answers other than a 403: pages, unknown symbols
        self.denied = 0  # 403 "not entitled"
        self._first_denial: ScanError | None = None

    def check(self) -> None:
        """Raise the latched fatal error (a copy) when the key was refused in this scan."""
        fatal = self.fatal
        if fatal is not None:
            raise _copy(fatal)

    def answer(self) -> None:
        """Count a definite answer that is not a 403 (a page, an unknown symbol)."""
        with self._lock:
            self.answered += 1

    def refuse(self, error: ScanError) -> ScanError:
        """Latch ``error`` unless a refusal is latched already; the error to raise."""
        with self._lock:
            if self.fatal is None:
                self.fatal = error
                return error
            return _copy(self.fatal)

    def deny(self, error: ScanError) -> ScanError:
        """Count a 403 "not entitled"; the symbol's ``error``, or the scan's fatal one
        once :data:`ENTITLEMENT_PROBE` answers were all such 403s."""
        with self._lock:
            self.denied += 1
            if self._first_denial is None:
                self._first_denial = error
            if self.fatal is not None:
                return _copy(self.fatal)
            if self.answered == 0 and self.denied >= ENTITLEMENT_PROBE:
                self.fatal = plan_covers_nothing(self._first_denial, self.denied)
                return self.fatal
            return error


def _copy(error: ScanError) -> ScanError:
    """A new exception object with ``error``'s fields (each thread raises its own)."""
    return ScanError.from_dict(error.to_dict())


class KeyState:
    """The gate and the per-scan guards of one source (shared by its shallow copies;
    a pickled copy starts afresh)."""

    def __init__(self) -> None:
        self.gate = RetryAfterGate()
        self._lock = threading.Lock()
        self._guards: weakref.WeakKeyDictionary[ScanCancellation, KeyGuard] = (
            weakref.WeakKeyDictionary()
        )

    def guard(self, cancellation: ScanCancellation | None) -> KeyGuard:
        """The guard of the scan that ``cancellation`` belongs to (a new one without it)."""
        if cancellation is None:
            return KeyGuard()
        with self._lock:
            guard = self._guards.get(cancellation)
            if guard is None:
                guard = self._guards[cancellation] = KeyGuard()
            return guard

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        KeyState.__init__(self)
