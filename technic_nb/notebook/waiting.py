"""Waiting on a runner from the kernel's main thread, and interrupts while it runs."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from typing import Any, Protocol

from technic_nb.core.cancel import ScanCancellation
from technic_nb.engine.progress import ProgressSnapshot
from technic_nb.notebook.record import RunnerState, RunRecord
from technic_nb.notebook.text import count


class Runner(Protocol):
    """What a wait needs of a runner."""

    ended: threading.Event
    view: Any

    @property
    def began(self) -> bool: ...

    @property
    def done(self) -> bool: ...

    @property
    def state(self) -> RunnerState: ...

    @property
    def progress(self) -> ProgressSnapshot: ...


__all__ = ["SigintGuard", "wait_for"]


class SigintGuard:
    """While a blocking run() runs on the main thread, SIGINT becomes a cooperative cancel."""

    def __init__(self, token: ScanCancellation, record: RunRecord) -> None:
        self.token = token
        self.record = record
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> SigintGuard:
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.getsignal(signal.SIGINT)
                signal.signal(signal.SIGINT, self._on_interrupt)
                self._installed = True
            except (ValueError, OSError):  # pragma: no cover
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            handler = self._previous if self._previous is not None else signal.default_int_handler
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signal.SIGINT, handler)

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        if self.token.is_cancelled():
            raise KeyboardInterrupt  # a second interrupt: stop at once
        # no widget calls and no lock here: the main thread may be inside either
        self.record.interrupted = True
        self.token.cancel("interrupted")
        self.record.cancelling()


def _wait_in_slices(event: threading.Event, timeout: float | None) -> bool:
    """``event.wait(timeout)`` in slices of 0.1 s, so that an interrupt is seen at once
    even when the signal reached another thread."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
        if event.wait(max(0.0, left)):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


def wait_for(runner: Runner, timeout: float | None) -> None:
    """The wait of :meth:`Runner.wait`, without the result: return once the run ended."""
    if not runner.began:
        raise RuntimeError(
            "the scan was not started: call runner.start() (background) or runner.run()"
        )
    if timeout is not None:
        timeout = max(0.0, float(timeout))
    try:
        ended = _wait_in_slices(runner.ended, timeout)
    except KeyboardInterrupt:
        if runner.done:  # it ended meanwhile: nothing is left running
            raise
        runner.view.log("Interrupted while waiting: the scan goes on (Cancel stops it)")
        raise KeyboardInterrupt(
            f"the wait was interrupted; the scan is still {runner.state} in the background: "
            "runner.cancel() (or the Cancel button) stops it, runner.wait() waits again"
        ) from None
    if not ended:
        raise TimeoutError(
            f"the scan did not end within {timeout:g} s (state: {runner.state}, "
            f"{count(runner.progress.stage('symbol_scanning').current, 'symbol')} done); "
            "it goes on: call runner.wait() again, or runner.cancel() to stop it"
        )
