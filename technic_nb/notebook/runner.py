"""Run a scan from a notebook or a script: live progress, Cancel, resume.

:class:`ScanRunner` drives the engine (:func:`technic_nb.scan`) with its own
progress tracker and cancellation token.  In Jupyter it shows a widget panel
(:mod:`technic_nb.notebook.panel`); elsewhere console bars on stderr
(:class:`~technic_nb.notebook.console.ConsoleProgress`), so scripts share this code.

Two ways to run a scan::

    runner = ScanRunner(ScanConfig(source="demo:3000"))
    runner.start()           # returns at once; the scan runs in a background thread
    ...                      # the kernel stays free: Cancel works, other cells run
    result = runner.wait()   # blocks until the scan ends

    result = ScanRunner(config).run()   # blocking: Run All, nbval, papermill, scripts

With :meth:`ScanRunner.run` the kernel is busy until the scan ends, so the
panel's Cancel button cannot be clicked; Kernel > Interrupt (Ctrl-C in a
terminal) stops the scan instead and ``run()`` returns the partial result.

Every finished symbol is checkpointed by the engine, so running the same
configuration again resumes where a cancelled scan stopped.  Only one scan
works on a cache folder at a time: starting a runner whose configuration uses
the same cache folder as a running one first cancels the old scan and waits
for it to stop (re-running a notebook cell does exactly that).
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from technic_nb.core.cancel import ScanCancellation
from technic_nb.engine.config import ScanConfig
from technic_nb.engine.hooks import Outcome, ScanHooks
from technic_nb.engine.plan import Collected, ScanPlan, error_table, finalize
from technic_nb.engine.progress import MultiStageProgressTracker, ProgressSnapshot
from technic_nb.engine.result import ScanResult
from technic_nb.engine.scan import scan
from technic_nb.engine.work import SymbolOutcome
from technic_nb.notebook.live import LiveTop
from technic_nb.notebook.text import count
from technic_nb.notebook.view import RunnerView

if TYPE_CHECKING:
    from technic_nb.notebook.panel import ScanPanel

__all__ = ["RunnerState", "ScanRunner", "active_runners", "in_jupyter"]

logger = logging.getLogger("technic_nb.runner")


class RunnerState(enum.StrEnum):
    """Where a :class:`ScanRunner` is.

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

    def __str__(self) -> str:
        return self.value

    @property
    def is_final(self) -> bool:
        """True for ``cancelled``, ``finished`` and ``failed``."""
        return self in (RunnerState.CANCELLED, RunnerState.FINISHED, RunnerState.FAILED)


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (an IPython shell with a kernel)."""
    if "IPython" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    if shell is None:
        return False
    return hasattr(shell, "kernel") or "IPKernelApp" in getattr(shell, "config", {})


# -- one scan per cache folder ------------------------------------------------------

_registry_lock = threading.Lock()
_active: dict[str, ScanRunner] = {}


def _cache_key(config: ScanConfig) -> str:
    return str(Path(config.resolved_cache_dir).expanduser().resolve())


def active_runners() -> list[ScanRunner]:
    """The runners started and not yet ended (at most one per cache folder)."""
    with _registry_lock:
        return list(_active.values())


def _register(runner: ScanRunner) -> ScanRunner | None:
    """Make ``runner`` the active one of its cache folder; return the one it replaces."""
    with _registry_lock:
        previous = _active.get(runner.cache_key)
        _active[runner.cache_key] = runner
    if previous is None or previous is runner or previous.done:
        return None
    return previous


def _unregister(runner: ScanRunner) -> None:
    with _registry_lock:
        if _active.get(runner.cache_key) is runner:
            del _active[runner.cache_key]


@atexit.register
def _stop_all_at_exit() -> None:
    """At interpreter exit, stop background scans cleanly (their workers included)."""
    runners = active_runners()
    for runner in runners:
        runner.cancel("exiting")
    for runner in runners:
        runner._done.wait(10.0)


class _RunnerHooks(ScanHooks):
    """What a runner keeps of its scan: the plan and every symbol's outcome, and the
    live "top so far" (each outcome is handed to it as it arrives: O(1))."""

    def __init__(self, config: ScanConfig) -> None:
        self._lock = threading.Lock()
        self.plan: ScanPlan | None = None
        self.collected = Collected()
        self.live = LiveTop(config)

    def scan_prepared(self, plan: ScanPlan) -> None:
        self.plan = plan

    def symbol_done(self, outcome: Outcome) -> None:
        if isinstance(outcome, SymbolOutcome):  # a scan's (a replay keeps its own)
            with self._lock:
                self.collected.add(outcome)
            self.live.add(outcome.symbol, outcome.features)

    def partial_result(self, config: ScanConfig, elapsed: float) -> ScanResult:
        """A cancelled result from the outcomes so far (when the engine could not finish)."""
        plan, collected = self.snapshot()
        note = "interrupted while the scan was finishing: the market regime is not available"
        if plan is None:
            return ScanResult(
                table=pd.DataFrame(),
                errors=error_table({}),
                status="Cancelled before the scan started - run again to resume",
                stats={"symbols": 0, "done": 0, "from_cache": 0, "computed": 0, "ranked": 0},
                cancelled=True,
                warnings=[note],
                config=config,
            )
        result = finalize(plan, collected, cancelled=True, elapsed=elapsed)
        result.warnings.append(note)
        return result

    def snapshot(self) -> tuple[ScanPlan | None, Collected]:
        """The plan and a copy of what was collected so far."""
        with self._lock:
            collected = Collected(
                dict(self.collected.rows),
                dict(self.collected.errors),
                list(self.collected.warnings),
                self.collected.from_cache,
                self.collected.computed,
            )
        return self.plan, collected


class _RetryCounter:
    """Retries of the config's own source since the scan started (the panel's counter)."""

    def __init__(self, config: ScanConfig) -> None:
        self.stats = getattr(config.source, "retry_stats", None)
        self.base = self.stats.snapshot() if self.stats is not None else {}

    def restart(self) -> None:
        self.base = self.stats.snapshot() if self.stats is not None else {}

    def counters(self) -> dict[str, int]:
        if self.stats is None:
            return {}
        retries = self.stats.snapshot()["retries"] - self.base.get("retries", 0)
        return {"retrying": int(retries)}


class _RunRecord:
    """The state of one run and its timings, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.state = RunnerState.PENDING
        self.began = False
        self.completed = False
        self.done = threading.Event()
        self.result: ScanResult | None = None
        self.error: BaseException | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.cancel_at: float | None = None
        self.interrupted = False

    def begin(self, cancelled: bool) -> None:
        with self.lock:
            if self.began:
                raise RuntimeError(
                    "this ScanRunner was already started; create a new ScanRunner to scan "
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

    def complete(
        self, result: ScanResult | None, error: BaseException | None
    ) -> RunnerState | None:
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

    def outcome(self) -> ScanResult:
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


class _SigintGuard:
    """While a blocking run() runs on the main thread, SIGINT becomes a cooperative cancel."""

    def __init__(self, token: ScanCancellation, record: _RunRecord) -> None:
        self.token = token
        self.record = record
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _SigintGuard:
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


def _wait_for(runner: ScanRunner, timeout: float | None) -> None:
    """:meth:`ScanRunner.wait` without the result: return once the scan ended."""
    if not runner._record.began:
        raise RuntimeError(
            "the scan was not started: call runner.start() (background) or runner.run()"
        )
    if timeout is not None:
        timeout = max(0.0, float(timeout))
    try:
        ended = _wait_in_slices(runner._done, timeout)
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


class ScanRunner:
    """Runs one scan with live progress, Cancel, and a result you can wait for.

    Args:
        config: the scan configuration (default: ``ScanConfig()``, the demo market).
        display: show the widget panel (default: True inside a Jupyter kernel).
        console: show tqdm bars on stderr (default: when the panel is not shown).

    A runner runs once; create a new one to scan again (it resumes from the
    cache).  Thread-safe: :meth:`cancel`, :attr:`state`, :attr:`progress` and
    :meth:`wait` may be called from any thread.

    Attributes:
        config: the scan configuration.
        tracker: the progress tracker the engine drives.
        token: the cancellation token given to the engine.
    """

    #: Seconds a new runner waits for the previous scan on its cache folder to stop.
    supersede_timeout: float = 120.0
    #: Seconds between two panel updates: one tick pushes the latest progress, whatever
    #: the number of events (the engine reports thousands per second).
    refresh_interval: float = 0.5
    #: Seconds between two updates of the live "top so far" table.
    live_interval: float = 0.5
    #: What runs (the panel's title and texts).
    kind: str = "scan"

    def __init__(
        self,
        config: ScanConfig | None = None,
        *,
        display: bool | None = None,
        console: bool | None = None,
    ) -> None:
        config = config if config is not None else ScanConfig()
        if not isinstance(config, ScanConfig):
            raise TypeError(f"config must be a ScanConfig, got {type(config).__name__}")
        self.config = config
        self.cache_key = _cache_key(config)
        self.tracker = MultiStageProgressTracker()
        self.token = ScanCancellation()
        shown = in_jupyter() if display is None else bool(display)
        self._hooks = _RunnerHooks(config)
        self.view = RunnerView(
            config,
            self.tracker,
            display=shown,
            console=(not shown) if console is None else bool(console),
            on_cancel=self._cancel_clicked,
            live=self._hooks.live,
            extra_counters=lambda: self._retries.counters(),
            refresh_interval=self.refresh_interval,
            live_interval=self.live_interval,
            kind=self.kind,
        )
        self._retries = _RetryCounter(config)
        self._record = _RunRecord()
        self._done = self._record.done
        self._thread: threading.Thread | None = None
        self._predecessor: ScanRunner | None = None
        self.tracker.add_listener(self.view.listener(lambda: str(self.state)))

    # -- public API ---------------------------------------------------------------
    @property
    def state(self) -> RunnerState:
        """The :class:`RunnerState`."""
        return self._record.state

    @property
    def done(self) -> bool:
        """True once the scan ended (finished, cancelled or failed)."""
        return self._done.is_set()

    @property
    def progress(self) -> ProgressSnapshot:
        """The tracker's snapshot: every stage, the overall fraction, counters."""
        return self.tracker.snapshot()

    @property
    def result(self) -> ScanResult:
        """The :class:`~technic_nb.ScanResult` (partial when cancelled).

        Raises:
            Exception: the scan's own exception when it failed.
            RuntimeError: when the scan has not ended yet.
        """
        return self._record.outcome()

    @property
    def cancel_latency(self) -> float | None:
        """Seconds from the first cancel request to the scan's end (None if not cancelled)."""
        return self._record.cancel_latency()

    @property
    def elapsed(self) -> float:
        """Seconds the scan has run (so far, or in total once ended)."""
        return self._record.elapsed()

    @property
    def messages(self) -> list[str]:
        """The runner's log lines so far (also shown in the panel's log)."""
        return self.view.messages

    @property
    def panel(self) -> ScanPanel:
        """The widget panel (built on first use; shown by :meth:`start` in Jupyter)."""
        return self.view.panel()

    def start(self) -> None:
        """Show the progress UI and run the scan in a background thread; return at once.

        The kernel stays free, so the Cancel button works.  Use :meth:`wait` or
        :attr:`result` for the outcome.
        """
        self._begin(blocking=False)
        thread = threading.Thread(
            target=self._execute, name=f"technic_nb-scan-{id(self):x}", daemon=True
        )
        self._thread = thread
        try:
            thread.start()
        except BaseException as exc:
            self._complete(error=exc)
            raise

    def run(self) -> ScanResult:
        """Run the scan in the calling thread and return its result.

        Kernel > Interrupt (SIGINT, Ctrl-C) cancels the scan and returns the
        partial result (``cancelled=True``); a second interrupt while it stops
        raises ``KeyboardInterrupt`` inside the scan, which still ends with a
        partial result.

        Raises:
            ScanError: when the scan fails (bad configuration, rejected API key...).
        """
        self._begin(blocking=True)
        try:
            with _SigintGuard(self.token, self._record):
                try:
                    self._execute()
                except KeyboardInterrupt:  # a second interrupt while finishing
                    self.token.cancel("interrupted")
                    self._complete(result=self._partial_result())
        finally:
            self._ensure_final()
        return self.result

    def cancel(self, reason: str = "cancelled") -> None:
        """Ask the scan to stop; it ends ``cancelled`` with the results so far.

        Returns at once (use :meth:`wait`).  Idempotent; does nothing once the
        scan ended.  Before :meth:`start` it makes the scan stop as soon as it
        starts.
        """
        with self._record.lock:
            if self._record.completed:
                return
            first = not self.token.is_cancelled()
            self.token.cancel(reason)
            self._record.cancelling()
        if first:
            self.view.log(f"Cancel requested ({reason}): stopping after the symbols in flight")
        self.view.cancelling()

    def wait(self, timeout: float | None = None) -> ScanResult:
        """Block until the scan ends; return its result.  As with
        ``concurrent.futures.Future.result(timeout)``, waiting never changes the scan:

        * ``TimeoutError`` (the builtin) when ``timeout`` seconds pass first; the scan
          keeps running (``wait()`` again, or :meth:`cancel`).  ``None`` waits as
          long as it runs, ``0`` only checks;
        * an interrupt while waiting (Kernel > Interrupt, Ctrl-C) raises
          ``KeyboardInterrupt`` at once; the scan keeps running in the background
          (the Cancel button or :meth:`cancel` stops it; :meth:`run` is the form
          that an interrupt stops).

        Raises:
            TimeoutError, KeyboardInterrupt: as above.
            Exception: the scan's own exception when it failed.
            RuntimeError: the runner was never started.
        """
        _wait_for(self, timeout)
        return self.result

    def __repr__(self) -> str:
        scanning = self.tracker.snapshot().stage("symbol_scanning")
        return (
            f"<ScanRunner {self.state}: {scanning.current} of {scanning.total} symbols, "
            f"cache {self.cache_key}>"
        )

    # -- lifecycle ------------------------------------------------------------------
    def _begin(self, blocking: bool) -> None:
        self._record.begin(cancelled=self.token.is_cancelled())
        try:
            self.view.show(blocking)
        except BaseException as exc:  # end in a final state, never half started
            self._complete(error=exc)
            raise
        previous = _register(self)
        if previous is not None:
            self._predecessor = previous
            self.view.log(
                f"A scan on the same cache folder is still {previous.state}: "
                "cancelling it and waiting for it to stop before this one starts"
            )
            previous.cancel("superseded by a new scan on the same cache folder")

    def _execute(self) -> None:
        try:
            self._await_predecessor()
            self._retries.restart()
            with self.view.forward_logs():
                result = self._run_engine()
        except KeyboardInterrupt:  # escaped the engine (e.g. while it was finishing)
            self.token.cancel("interrupted")
            self._complete(result=self._partial_result())
        except BaseException as exc:  # recorded, shown, and raised again by wait()/result
            self._complete(error=exc)
        else:
            self._complete(result=result)

    def _run_engine(self) -> Any:
        """The engine call this runner drives (a scan; :class:`ReplayRunner` replays)."""
        return scan(
            self.config, cancellation_token=self.token, tracker=self.tracker, hooks=self._hooks
        )

    def _await_predecessor(self) -> None:
        previous = self._predecessor
        if previous is None:
            return
        self.view.status("running", "Waiting for the previous scan on this cache folder to stop…")
        if not previous._done.wait(self.supersede_timeout):
            raise RuntimeError(
                f"the previous scan on the cache folder {self.cache_key} did not stop within "
                f"{self.supersede_timeout:.0f} s; wait for it or use another cache_dir"
            )
        self._predecessor = None
        self.view.log(f"The previous scan ended ({previous.state}); starting")

    def _complete(
        self, result: ScanResult | None = None, error: BaseException | None = None
    ) -> None:
        state = self._record.complete(result, error)
        if state is None:
            return
        try:
            if state is not RunnerState.FINISHED:
                self.tracker.stop("failed" if error is not None else "cancelled")
            self.view.finish(str(state), result, error, self._record.notes())
        finally:
            self._ensure_final()

    def _ensure_final(self) -> None:
        _unregister(self)
        self._done.set()

    # -- cancel paths -------------------------------------------------------------------
    def _cancel_clicked(self) -> None:
        self.cancel("Cancel clicked")

    def _partial_result(self) -> ScanResult:
        """A cancelled result from the outcomes so far (the engine could not finish its own)."""
        return self._hooks.partial_result(self.config, self.elapsed)
