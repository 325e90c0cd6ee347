"""Cooperative cancellation shared by the engine, the sources, the workers and the runner."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Callable
from typing import Any

from technic_nb.core.errors import ErrorType, ScanError

__all__ = ["CancelFlag", "ScanCancellation", "ScanCancelled"]

logger = logging.getLogger("technic_nb.cancel")


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
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], Any]] = []

    def cancel(self, reason: str = "cancelled") -> None:
        """Request cancellation (idempotent; the first reason is kept)."""
        with self._lock:
            if self._event.is_set():
                return
            self._reason = reason
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a listener never stops the cancel
                logger.debug("cancel callback raised", exc_info=True)

    def on_cancel(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` once when the token is cancelled (at once if it already is)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

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


class CancelFlag:
    """A scan's cancel request as its worker tasks see it, between two symbols.

    In the scan's own process (threads) it reads the token; in worker processes
    (loky, multiprocessing) it checks for a flag file that the token creates when
    it is cancelled.  It pickles as the file's path only.  Use it as a context
    manager: the flag file is removed on exit.
    """

    def __init__(self, token: ScanCancellation, folder: str | None = None) -> None:
        self.path = os.path.join(
            folder or tempfile.gettempdir(), f".technic_nb-cancel-{uuid.uuid4().hex}"
        )
        self._token: ScanCancellation | None = token
        self._removed = False
        token.on_cancel(self._raise_flag)

    def _raise_flag(self) -> None:
        if self._removed:  # a cancel after the scan ended: no task is left to see it
            return
        try:
            with open(self.path, "x", encoding="ascii"):
                pass
        except FileExistsError:
            pass
        except OSError:  # workers in other processes then finish their task first
            logger.debug("could not write the cancel flag %s", self.path, exc_info=True)

    def is_set(self) -> bool:
        """True once the scan was cancelled."""
        if self._token is not None:
            return self._token.is_cancelled()
        return os.path.exists(self.path)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = state["path"]
        self._token = None
        self._removed = False

    def __enter__(self) -> CancelFlag:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        """Delete the flag file (when the scan's tasks are all back); a later cancel
        of the token writes none."""
        self._removed = True
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def __repr__(self) -> str:
        return f"CancelFlag({self.path!r}, set={self.is_set()})"
