"""Waiting on a runner from the kernel's main thread, and interrupts while it runs.

In a Jupyter kernel a wait processes the front end's widget messages between
short slices (:func:`technic_nb.compat.ui_poll.ui_events`), so the panel's
Cancel button works while a cell waits in ``wait()`` or ``run()``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from technic_nb.compat.ui_poll import Poll, kernel_cannot_poll, ui_events
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


__all__ = ["SigintGuard", "wait_for", "wait_to_end"]


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


def _wait_in_slices(event: threading.Event, timeout: float | None, poll: Poll | None) -> bool:
    """``event.wait(timeout)`` in short slices, so that an interrupt is seen at once
    even when the signal reached another thread, handling widget messages between
    slices when ``poll`` is given (a click on Cancel is one)."""
    step = 0.1 if poll is None else 0.05
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if poll is not None:
            poll()
        left = step if deadline is None else min(step, deadline - time.monotonic())
        if event.wait(max(0.0, left)):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


def _wait(event: threading.Event, timeout: float | None) -> bool:
    if timeout == 0:
        return event.is_set()
    with ui_events() as poll:
        return _wait_in_slices(event, timeout, poll)


def wait_to_end(runner: Runner, on_interrupt: Callable[[], None]) -> None:
    """Wait until a run started in the background ends; an interrupt cancels it.

    The blocking form (``run()``) in a kernel: the Cancel button works during
    the wait, and Kernel > Interrupt calls ``on_interrupt`` (which asks the run to
    stop) and keeps waiting the fraction of a second the run takes to hand back
    its partial result.
    """
    while True:
        try:
            _wait(runner.ended, None)
            return
        except KeyboardInterrupt:
            on_interrupt()


def wait_for(runner: Runner, timeout: float | None) -> None:
    """The wait of :meth:`Runner.wait`, without the result: return once the run ended."""
    if not runner.began:
        raise RuntimeError(
            "the scan was not started: call runner.start() (background) or runner.run()"
        )
    if timeout is not None:
        timeout = max(0.0, float(timeout))
    reason = kernel_cannot_poll() if timeout != 0 else None
    if reason is not None:
        runner.view.log(
            f"The Cancel button takes effect only once this cell ends ({reason}); "
            "Kernel > Interrupt stops the wait, and runner.cancel() the scan"
        )
    try:
        ended = _wait(runner.ended, timeout)
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
