"""Run a scan from a notebook or a script: live progress, Cancel, resume.

:class:`ScanRunner` drives the engine (:func:`technic_nb.scan`) with its own
progress tracker and cancellation token.  In Jupyter it shows a widget panel
(:mod:`technic_nb._widgets`); elsewhere console bars on stderr
(:class:`~technic_nb._console.ConsoleProgress`), so scripts share this code.

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
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._cancel import ScanCancellation
from ._config import ScanConfig
from ._engine import scan
from ._progress import MultiStageProgressTracker, ProgressSnapshot
from ._result import ERROR_COLUMNS, ScanResult
from ._scoring import apply_filters, score_table

if TYPE_CHECKING:
    from ._console import ConsoleProgress
    from ._widgets import ScanPanel

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


def score_rows(
    rows: Mapping[str, Mapping[str, Any]], config: ScanConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Filter and rank feature rows like the engine: ``(ranked table, filtered rows)``."""
    if not rows:
        return pd.DataFrame(), pd.DataFrame()
    features = pd.DataFrame.from_dict(dict(rows), orient="index")
    features.index.name = "symbol"
    kept, rejected = apply_filters(
        features,
        min_price=config.min_price,
        min_dollar_volume=config.min_dollar_volume,
        min_bars=config.min_bars,
    )
    return score_table(kept, config.scoring), rejected


class _PanelLogHandler(logging.Handler):
    """Sends the package's warnings to the runner's log instead of a stray stderr."""

    def __init__(self, runner: ScanRunner) -> None:
        super().__init__(level=logging.WARNING)
        self._runner = runner

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # never let logging break the scan
            self._runner._log(f"{record.levelname.lower()}: {record.getMessage()}", "stderr")


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
    #: Least seconds between two panel refreshes (the engine reports thousands of events).
    refresh_interval: float = 0.25

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
        self._display = in_jupyter() if display is None else bool(display)
        self._console = (not self._display) if console is None else bool(console)
        self.tracker = MultiStageProgressTracker()
        self.token = ScanCancellation()

        self._lock = threading.RLock()
        self._state = RunnerState.PENDING
        self._began = False
        self._blocking = False
        self._completed = False
        self._done = threading.Event()
        self._result: ScanResult | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._predecessor: ScanRunner | None = None
        self._started_at: float | None = None
        self._ended_at: float | None = None
        self._cancel_at: float | None = None
        self._interrupted = False

        self._rows: dict[str, dict[str, Any]] = {}
        self._rows_lock = threading.Lock()
        self._messages: list[str] = []
        self._panel: ScanPanel | None = None
        self._console_bars: ConsoleProgress | None = None
        self._ui_lock = threading.Lock()
        self._last_refresh = float("-inf")
        self._retry_base = self._retry_counts()
        self.tracker.add_listener(self._on_progress)

    # -- public API ---------------------------------------------------------------
    @property
    def state(self) -> RunnerState:
        """The :class:`RunnerState`."""
        return self._state

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
        with self._lock:
            error, result, state = self._error, self._result, self._state
        if error is not None:
            raise error
        if result is None:
            raise RuntimeError(
                f"the scan has not finished yet (state: {state}); "
                "call runner.wait() to block until it ends"
            )
        return result

    @property
    def cancel_latency(self) -> float | None:
        """Seconds from the first cancel request to the scan's end (None if not cancelled)."""
        with self._lock:
            if self._cancel_at is None or self._ended_at is None:
                return None
            return max(0.0, self._ended_at - self._cancel_at)

    @property
    def elapsed(self) -> float:
        """Seconds the scan has run (so far, or in total once ended)."""
        with self._lock:
            if self._started_at is None:
                return 0.0
            end = self._ended_at if self._ended_at is not None else time.monotonic()
            return end - self._started_at

    @property
    def messages(self) -> list[str]:
        """The runner's log lines so far (also shown in the panel's log)."""
        with self._lock:
            return list(self._messages)

    @property
    def panel(self) -> ScanPanel:
        """The widget panel (built on first use; shown by :meth:`start` in Jupyter)."""
        with self._lock:
            if self._panel is None:
                from ._widgets import ScanPanel

                panel = ScanPanel(
                    self.config,
                    on_cancel=self._cancel_clicked,
                    top_rows=self._top_rows,
                    extra_counters=self._extra_counters,
                    blocking=self._blocking,
                )
                for message in self._messages:
                    panel.log(message)
                self._panel = panel
                if self._completed:
                    panel.finish(self.progress, self._state, self._result, self._error)
            return self._panel

    def start(self) -> None:
        """Show the progress UI and run the scan in a background thread; return at once.

        The kernel stays free, so the Cancel button works.  Use :meth:`wait` or
        :attr:`result` for the outcome.
        """
        self._begin(blocking=False)
        thread = threading.Thread(
            target=self._thread_main, name=f"technic_nb-scan-{id(self):x}", daemon=True
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
        restore = self._install_interrupt_handler()
        try:
            try:
                self._execute()
            except KeyboardInterrupt:  # a second interrupt while finishing
                self.token.cancel("interrupted")
                self._complete(result=self._partial_result())
        finally:
            restore()
            self._ensure_final()
        return self.result

    def cancel(self, reason: str = "cancelled") -> None:
        """Ask the scan to stop; it ends ``cancelled`` with the results so far.

        Returns at once (use :meth:`wait`).  Idempotent; does nothing once the
        scan ended.  Before :meth:`start` it makes the scan stop as soon as it
        starts.
        """
        with self._lock:
            if self._completed:
                return
            first = not self.token.is_cancelled()
            self.token.cancel(reason)
            if self._cancel_at is None:
                self._cancel_at = time.monotonic()
            if self._state is RunnerState.RUNNING:
                self._state = RunnerState.CANCELLING
        if first:
            self._log(f"Cancel requested ({reason}): stopping after the symbols in flight")
        if self._panel is not None:
            self._panel.cancelling()

    def wait(self, timeout: float | None = None) -> ScanResult:
        """Block until the scan ends; return its result.

        Interrupting the wait (Kernel > Interrupt) cancels the scan and returns
        the partial result.

        Raises:
            TimeoutError: when the scan has not ended within ``timeout`` seconds.
            Exception: the scan's own exception when it failed.
            RuntimeError: when the runner was never started.
        """
        if not self._began:
            raise RuntimeError(
                "the scan was not started: call runner.start() (background) or runner.run()"
            )
        try:
            ended = self._done.wait(timeout)
        except KeyboardInterrupt:
            self.cancel("interrupted")
            ended = self._done.wait()
        if not ended:
            raise TimeoutError(
                f"the scan did not end within {timeout} s (state: {self._state}, "
                f"{self.progress.stage('symbol_scanning').current} symbols done); "
                "wait longer or call runner.cancel()"
            )
        return self.result

    def __repr__(self) -> str:
        scanning = self.tracker.snapshot().stage("symbol_scanning")
        return (
            f"<ScanRunner {self._state}: {scanning.current} of {scanning.total} symbols, "
            f"cache {self.cache_key}>"
        )

    # -- lifecycle ------------------------------------------------------------------
    def _begin(self, blocking: bool) -> None:
        with self._lock:
            if self._began:
                raise RuntimeError(
                    "this ScanRunner was already started; create a new ScanRunner to scan "
                    "again (it resumes from the cache)"
                )
            self._began = True
            self._blocking = blocking
            self._state = RunnerState.RUNNING
            self._started_at = time.monotonic()
            if self.token.is_cancelled():
                self._state = RunnerState.CANCELLING
        try:
            self._show_ui()
        except BaseException as exc:  # end in a final state, never half started
            self._complete(error=exc)
            raise
        previous = _register(self)
        if previous is not None:
            self._predecessor = previous
            self._log(
                f"A scan on the same cache folder is still {previous.state}: "
                "cancelling it and waiting for it to stop before this one starts"
            )
            previous.cancel("superseded by a new scan on the same cache folder")

    def _show_ui(self) -> None:
        if self._panel is not None and self._blocking:
            self._panel.set_blocking()
        if self._display:
            panel = self.panel  # a new panel reads the blocking flag itself
            from IPython.display import display

            display(panel.widget)
        if self._console:
            from ._console import ConsoleProgress

            self._console_bars = ConsoleProgress(self.tracker, file=sys.stderr)

    def _thread_main(self) -> None:
        try:
            self._execute()
        except BaseException as exc:  # pragma: no cover - _execute records everything
            self._complete(error=exc)

    def _execute(self) -> None:
        try:
            self._await_predecessor()
            self._retry_base = self._retry_counts()
            with self._forward_logs():
                result = scan(
                    self.config,
                    cancellation_token=self.token,
                    tracker=self.tracker,
                    row_listener=self._on_row,
                )
        except KeyboardInterrupt:  # escaped the engine (e.g. while it was finishing)
            self.token.cancel("interrupted")
            self._complete(result=self._partial_result())
        except BaseException as exc:
            self._complete(error=exc)
        else:
            self._complete(result=result)

    def _await_predecessor(self) -> None:
        previous = self._predecessor
        if previous is None:
            return
        if self._panel is not None:
            self._panel.set_status(
                "running", "Waiting for the previous scan on this cache folder to stop…"
            )
        if not previous._done.wait(self.supersede_timeout):
            raise RuntimeError(
                f"the previous scan on the cache folder {self.cache_key} did not stop within "
                f"{self.supersede_timeout:.0f} s; wait for it or use another cache_dir"
            )
        self._predecessor = None
        self._log(f"The previous scan ended ({previous.state}); starting")

    def _complete(
        self, result: ScanResult | None = None, error: BaseException | None = None
    ) -> None:
        with self._lock:
            if self._completed:
                return
            self._completed = True
            self._ended_at = time.monotonic()
            if error is not None:
                self._error = error
                self._state = RunnerState.FAILED
            else:
                assert result is not None
                self._result = result
                self._state = RunnerState.CANCELLED if result.cancelled else RunnerState.FINISHED
            state = self._state
        try:
            if state is not RunnerState.FINISHED:
                self.tracker.stop("failed" if error is not None else "cancelled")
            self._final_ui(state, result, error)
        finally:
            self._ensure_final()

    def _ensure_final(self) -> None:
        _unregister(self)
        self._done.set()

    def _final_ui(
        self, state: RunnerState, result: ScanResult | None, error: BaseException | None
    ) -> None:
        if self._interrupted:
            self._log("Interrupted: the scan was cancelled and keeps the results so far")
        latency = self.cancel_latency
        if state is RunnerState.CANCELLED and latency is not None:
            self._log(f"Stopped {latency:.2f} s after the cancel request")
        if error is not None:
            text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            if self._panel is not None:
                self._panel.log(text, "stderr")
        try:
            if self._panel is not None:
                with self._ui_lock:
                    self._panel.finish(self.tracker.snapshot(), state, result, error)
            if self._console_bars is not None:
                status = result.status if result is not None else f"failed: {error}"
                self._console_bars.close(status)
                self._console_write(status if result is not None else self._error_text(error))
        except Exception:  # the UI never hides the outcome
            logger.warning("could not update the progress display", exc_info=True)

    @staticmethod
    def _error_text(error: BaseException | None) -> str:
        text = f"scan failed: {type(error).__name__}: {error}"
        suggestion = getattr(error, "suggestion", "")
        return f"{text}\n  what to do: {suggestion}" if suggestion else text

    # -- cancel paths -------------------------------------------------------------------
    def _cancel_clicked(self) -> None:
        self.cancel("Cancel clicked")

    def _install_interrupt_handler(self) -> Callable[[], None]:
        """While run() runs on the main thread, turn SIGINT into a cooperative cancel."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        try:
            previous = signal.getsignal(signal.SIGINT)
        except (ValueError, OSError):  # pragma: no cover
            return lambda: None

        def on_interrupt(signum: int, frame: Any) -> None:
            if self.token.is_cancelled():
                raise KeyboardInterrupt  # a second interrupt: stop at once
            with self._lock:  # no widget calls here: the main thread may be inside one
                self._interrupted = True
                self.token.cancel("interrupted")
                if self._cancel_at is None:
                    self._cancel_at = time.monotonic()
                if self._state is RunnerState.RUNNING:
                    self._state = RunnerState.CANCELLING

        try:
            signal.signal(signal.SIGINT, on_interrupt)
        except (ValueError, OSError):  # pragma: no cover
            return lambda: None

        def restore() -> None:
            handler = previous if previous is not None else signal.default_int_handler
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signal.SIGINT, handler)

        return restore

    def _partial_result(self) -> ScanResult:
        """A cancelled result from the rows so far (the engine could not finish its own)."""
        with self._rows_lock:
            rows = dict(self._rows)
        table, filtered = score_rows(rows, self.config)
        snapshot = self.tracker.snapshot()
        scanning = snapshot.stage("symbol_scanning")
        done, total = scanning.current, scanning.total
        counters = snapshot.counters
        stats = {
            "symbols": total,
            "done": done,
            "from_cache": counters.get("from_cache", 0),
            "computed": max(0, done - counters.get("from_cache", 0)),
            "ranked": len(table),
            "failed": counters.get("failed", 0),
            "filtered": len(filtered),
            "elapsed": self.elapsed,
        }
        status = (
            f"Cancelled after {done} of {total} symbols - run again to resume "
            f"({len(table)} ranked so far; interrupted while finishing)"
        )
        return ScanResult(
            table=table,
            errors=pd.DataFrame(columns=list(ERROR_COLUMNS)),
            status=status,
            stats=stats,
            cancelled=True,
            filtered=filtered,
            warnings=["interrupted while the scan was finishing: the error table is not available"],
            config=self.config,
        )

    # -- progress -----------------------------------------------------------------------
    def _on_row(self, symbol: str, features: dict[str, Any]) -> None:
        with self._rows_lock:
            self._rows[symbol] = features

    def _top_rows(self, n: int) -> tuple[pd.DataFrame, int]:
        with self._rows_lock:
            rows = dict(self._rows)
        table, _ = score_rows(rows, self.config)
        return table.head(n), len(rows)

    def _retry_counts(self) -> dict[str, Any]:
        stats = getattr(self.config.source, "retry_stats", None)
        return stats.snapshot() if stats is not None else {}

    def _extra_counters(self) -> dict[str, int]:
        now = self._retry_counts()
        if "retries" not in now:
            return {}
        return {"retrying": int(now["retries"] - self._retry_base.get("retries", 0))}

    def _on_progress(
        self, stage: str, current: int, total: int, message: str, metadata: Mapping[str, Any]
    ) -> None:
        link = metadata.get("dask_dashboard")
        if link:
            self._log(f"Dask dashboard: {link}")
            if self._panel is not None:
                self._panel.show_dashboard(str(link))
        panel = self._panel
        if panel is None:
            return
        now = time.monotonic()
        boundary = (total > 0 and current >= total) or bool(metadata.get("stopped"))
        if not boundary and now - self._last_refresh < self.refresh_interval:
            return
        if not self._ui_lock.acquire(blocking=False):
            return
        try:
            self._last_refresh = now
            panel.refresh(self.tracker.snapshot(), self._state)
        except Exception:
            logger.debug("panel refresh failed", exc_info=True)
        finally:
            self._ui_lock.release()

    # -- messages -------------------------------------------------------------------------
    def _log(self, text: str, stream: str = "stdout") -> None:
        with self._lock:
            self._messages.append(text)
        if self._panel is not None:
            self._panel.log(text, stream)
        if self._console:
            self._console_write(text)

    def _console_write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(f"technic_nb: {text}", file=sys.stderr)

    @contextmanager
    def _forward_logs(self) -> Iterator[None]:
        if self._panel is None:
            yield
            return
        handler = _PanelLogHandler(self)
        package_logger = logging.getLogger("technic_nb")
        package_logger.addHandler(handler)
        try:
            yield
        finally:
            package_logger.removeHandler(handler)
