"""Cooperative cancellation shared by the engine, the sources and the runner."""

from __future__ import annotations

import threading

from ._errors import ErrorType, ScanError

__all__ = ["ScanCancellation", "ScanCancelled"]


class ScanCancelled(ScanError):
    """Raised inside the engine when its :class:`ScanCancellation` was cancelled.

    :func:`~technic_nb.run_scan` catches it and returns the partial result; users
    normally never see it.
    """

    def __init__(self, reason: str = "cancelled") -> None:
        super().__init__(
            ErrorType.SYSTEM_ERROR,
            f"scan {reason}",
            suggestion="Run the scan again to resume from the cache.",
            recoverable=True,
        )
        self.reason = reason


class ScanCancellation:
    """A thread-safe cancellation token.

    Give the same token to :func:`~technic_nb.run_scan` (or the runner) and call
    :meth:`cancel` from any thread, a widget callback or a signal handler.  The
    scan stops dispatching work, stops its workers and returns partial results.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        """Request cancellation (idempotent; the first reason is kept)."""
        if not self._event.is_set():
            self._reason = reason
            self._event.set()

    def is_cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._event.is_set()

    @property
    def reason(self) -> str:
        """The reason given to the first :meth:`cancel` call ('' before it)."""
        return self._reason

    def check_and_raise(self) -> None:
        """Raise :class:`ScanCancelled` if cancellation was requested."""
        if self._event.is_set():
            raise ScanCancelled(self._reason or "cancelled")

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep up to ``timeout`` seconds, waking at once on cancel; True if cancelled."""
        return self._event.wait(timeout)

    def __repr__(self) -> str:
        return f"ScanCancellation(cancelled={self.is_cancelled()})"
