"""Where a runner is: its state, its outcome and its timings, behind one lock."""

from __future__ import annotations

import enum
import threading
import time
from typing import Any

__all__ = ["RunRecord", "RunnerState"]


class RunnerState(enum.StrEnum):
    """Where a runner (:class:`~technic_nb.ScanRunner`, :class:`~technic_nb.ReplayRunner`) is.

    ``pending`` -> ``running`` -> ``finished``; ``running`` -> ``cancelling`` ->
    ``cancelled`` (or ``finished`` when the scan completed before it noticed);
    any -> ``failed`` when the scan raised.  The last three are final.
    """

    PENDING = "pending"
    RUNNING = "running"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FINISHED = "finished"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """True for ``cancelled``, ``finished`` and ``failed``."""
        return self in (RunnerState.CANCELLED, RunnerState.FINISHED, RunnerState.FAILED)


class RunRecord:
    """The state of one run and its timings, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.state = RunnerState.PENDING
        self.began = False
        self.completed = False
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.cancel_at: float | None = None
        self.interrupted = False

    def begin(self, cancelled: bool) -> None:
        with self.lock:
            if self.began:
                raise RuntimeError(
                    "this runner was already started; create a new runner to run "
                    "again (it resumes from the cache)"
                )
            self.began = True
            self.started_at = time.monotonic()
            self.state = RunnerState.CANCELLING if cancelled else RunnerState.RUNNING

    def cancelling(self) -> None:
        """A cancel was requested (call with the lock held or from a signal handler)."""
        if self.cancel_at is None:
            self.cancel_at = time.monotonic()
        if self.state is RunnerState.RUNNING:
            self.state = RunnerState.CANCELLING

    def complete(self, result: Any, error: BaseException | None) -> RunnerState | None:
        """Record the outcome; the final state, or None if it was already recorded."""
        with self.lock:
            if self.completed:
                return None
            self.completed = True
            self.ended_at = time.monotonic()
            if error is not None:
                self.error, self.state = error, RunnerState.FAILED
            else:
                assert result is not None
                self.result = result
                self.state = RunnerState.CANCELLED if result.cancelled else RunnerState.FINISHED
            return self.state

    def outcome(self) -> Any:
        with self.lock:
            error, result, state = self.error, self.result, self.state
        if error is not None:
            raise error
        if result is None:
            raise RuntimeError(
                f"the scan has not finished yet (state: {state}); "
                "call runner.wait() to block until it ends"
            )
        return result

    def cancel_latency(self) -> float | None:
        with self.lock:
            if self.cancel_at is None or self.ended_at is None:
                return None
            return max(0.0, self.ended_at - self.cancel_at)

    def notes(self) -> list[str]:
        """Log lines about how the run ended (interrupted, how long the cancel took)."""
        notes = []
        if self.interrupted:
            notes.append("Interrupted: the scan was cancelled and keeps the results so far")
        latency = self.cancel_latency()
        if self.state is RunnerState.CANCELLED and latency is not None:
            notes.append(f"Stopped {latency:.2f} s after the cancel request")
        return notes

    def elapsed(self) -> float:
        with self.lock:
            if self.started_at is None:
                return 0.0
            end = self.ended_at if self.ended_at is not None else time.monotonic()
            return end - self.started_at
