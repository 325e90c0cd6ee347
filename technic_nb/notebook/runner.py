"""Run a scan or a replay from a notebook or a script: live progress, Cancel, resume.

A :class:`Runner` drives the engine's one pipeline (:func:`technic_nb.engine.run.run`)
with its own progress tracker and cancellation token; :class:`ScanRunner` and
:class:`ReplayRunner` only choose what the run collects (a scan's
:class:`~technic_nb.engine.scan.ScanCollector`, a replay's
:class:`~technic_nb.research.replay.run.ReplayCollector`).  In Jupyter the runner
shows a widget panel (:mod:`technic_nb.notebook.panel`); elsewhere console bars on
stderr, so scripts share this code.

Two ways to run::

    runner = ScanRunner(ScanConfig(source="demo:3000"))
    runner.start()           # returns at once; the scan runs in a background thread
    ...                      # the kernel stays free: Cancel works, other cells run
    result = runner.wait()   # blocks until the scan ends

    result = ScanRunner(config).run()   # blocking: Run All, nbval, papermill, scripts

With :meth:`Runner.run` the kernel is busy until the run ends, so the panel's
Cancel button cannot be clicked; Kernel > Interrupt (Ctrl-C in a terminal) stops
it instead and ``run()`` returns the partial result.

Every finished symbol is checkpointed by the engine, so running the same
configuration again resumes where a cancelled run stopped.  Only one run works
on a cache at a time (:mod:`technic_nb.notebook.registry`): starting a runner on
the cache of a running one first cancels the old run and waits for it to stop
(re-running a notebook cell does exactly that).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pandas as pd

from technic_nb.compat.ui_poll import why_not_polled
from technic_nb.core.cancel import ScanCancellation
from technic_nb.engine.config import ScanConfig
from technic_nb.engine.finalize import error_table
from technic_nb.engine.hooks import Outcome, ScanHooks
from technic_nb.engine.plan import ScanPlan
from technic_nb.engine.progress import MultiStageProgressTracker, ProgressSnapshot
from technic_nb.engine.result import ScanResult
from technic_nb.engine.run import Collector, engine_hooks, run
from technic_nb.engine.scan import ScanCollector
from technic_nb.notebook.live import LiveTop
from technic_nb.notebook.record import RunnerState, RunRecord
from technic_nb.notebook.registry import cache_key, in_jupyter, register, unregister
from technic_nb.notebook.view import RunnerView
from technic_nb.notebook.waiting import SigintGuard, wait_for, wait_to_end
from technic_nb.research.replay.result import ReplayResult
from technic_nb.research.replay.run import (
    DEFAULT_HORIZONS,
    ReplayCollector,
    check_dates,
    check_horizons,
)

if TYPE_CHECKING:
    from technic_nb.notebook.panel import ScanPanel

__all__ = ["ReplayRunner", "Runner", "RunnerState", "ScanRunner"]

_INTERRUPTED = "interrupted while finishing: the market regime is not available"


class _RunnerHooks(ScanHooks):
    """What a runner sees of its run: the plan, and each outcome for the live table."""

    def __init__(self, live: LiveTop | None) -> None:
        self.plan: ScanPlan | None = None
        self.live = live

    def scan_prepared(self, plan: ScanPlan) -> None:
        self.plan = plan

    def symbol_done(self, outcome: Outcome) -> None:
        features = getattr(outcome, "features", None)
        if self.live is not None and isinstance(features, dict):
            self.live.add(outcome.symbol, features)


class _RetryCounter:
    """Retries of the config's own source since the run started (the panel's counter)."""

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


class Runner:
    """Runs one scan or replay with live progress, Cancel, and a result to wait for.

    A runner runs once; create a new one to run again (it resumes from the
    cache).  Thread-safe: :meth:`cancel`, :attr:`state`, :attr:`progress` and
    :meth:`wait` may be called from any thread.

    Attributes:
        config: the configuration.
        tracker: the progress tracker the engine drives.
        token: the cancellation token given to the engine.
    """

    #: Seconds a new runner waits for the previous run on its cache folder to stop.
    supersede_timeout: float = 120.0
    #: Seconds between two panel updates: one tick pushes the latest progress, whatever
    #: the number of events (the engine reports thousands per second).
    refresh_interval: float = 0.5
    #: Seconds between two updates of the live "top so far" table.
    live_interval: float = 0.5
    #: What runs (the panel's title and texts).
    kind: str = "scan"

    def __init__(
        self, config: ScanConfig | None, *, display: bool | None, console: bool | None
    ) -> None:
        config = config if config is not None else ScanConfig()
        if not isinstance(config, ScanConfig):
            raise TypeError(f"config must be a ScanConfig, got {type(config).__name__}")
        self.config = config
        self.cache_key = cache_key(config)
        self.tracker = MultiStageProgressTracker()
        self.token = ScanCancellation()
        shown = in_jupyter() if display is None else bool(display)
        self._collector = self._new_collector()
        self._hooks = _RunnerHooks(LiveTop(config) if self.kind == "scan" else None)
        self._retries = _RetryCounter(config)
        self.view = RunnerView(
            config,
            self.tracker,
            display=shown,
            console=(not shown) if console is None else bool(console),
            on_cancel=lambda: self.cancel("Cancel clicked"),
            live=self._hooks.live,
            extra_counters=self._retries.counters,
            refresh_interval=self.refresh_interval,
            live_interval=self.live_interval,
            kind=self.kind,
        )
        self._record = RunRecord()
        #: set once the run ended (finished, cancelled or failed)
        self.ended = self._record.done
        self._predecessor: Runner | None = None
        self.tracker.add_listener(self.view.listener(lambda: str(self.state)))

    def _new_collector(self) -> Collector[Any]:
        """What the run collects (a scan's or a replay's)."""
        raise NotImplementedError

    def _before_start(self) -> Any:
        """The result of a run cancelled before its universe was read."""
        raise NotImplementedError

    # -- public API ---------------------------------------------------------------
    @property
    def state(self) -> RunnerState:
        """The :class:`RunnerState`."""
        return self._record.state

    @property
    def began(self) -> bool:
        """True once :meth:`start` or :meth:`run` was called."""
        return self._record.began

    @property
    def done(self) -> bool:
        """True once the run ended (finished, cancelled or failed)."""
        return self._record.done.is_set()

    @property
    def progress(self) -> ProgressSnapshot:
        """The tracker's snapshot: every stage, the overall fraction, counters."""
        return self.tracker.snapshot()

    @property
    def result(self) -> Any:
        """The result (partial when cancelled).

        Raises:
            Exception: the run's own exception when it failed.
            RuntimeError: when the run has not ended yet.
        """
        return self._record.outcome()

    @property
    def cancel_latency(self) -> float | None:
        """Seconds from the first cancel request to the run's end (None if not cancelled)."""
        return self._record.cancel_latency()

    @property
    def elapsed(self) -> float:
        """Seconds the run has taken (so far, or in total once ended)."""
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
        """Show the progress UI and run in a background thread; return at once.

        The kernel stays free, so the Cancel button works.  Use :meth:`wait` or
        :attr:`result` for the outcome.
        """
        self._begin(blocking=False)
        self._start_thread()

    def run(self) -> Any:
        """Run to the end and return the result: the blocking form, for Run All,
        nbval, papermill and scripts.

        In a Jupyter kernel the run goes on in a background thread while this
        call waits and handles the panel's widget messages, so the Cancel button
        works; outside one it runs in the calling thread.  Either way Kernel >
        Interrupt (SIGINT, Ctrl-C) cancels the run and returns the partial result
        (``cancelled=True``).

        Raises:
            ScanError: when the run fails (bad configuration, rejected API key...).
        """
        if self.view.display and why_not_polled() is None:
            self._begin(blocking=True, clickable=True)
            self._start_thread()
            wait_to_end(self, self._interrupted)
            return self.result
        self._begin(blocking=True)
        _run_in_this_thread(self)
        return self.result

    def cancel(self, reason: str = "cancelled") -> None:
        """Ask the run to stop; it ends ``cancelled`` with the results so far.

        Returns at once (use :meth:`wait`).  Idempotent; does nothing once the
        run ended.  Before :meth:`start` it makes the run stop as soon as it starts.
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

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the run ends; return its result.  As with
        ``concurrent.futures.Future.result(timeout)``, waiting never changes the run:

        * ``TimeoutError`` (the builtin) when ``timeout`` seconds pass first; the run
          keeps going (``wait()`` again, or :meth:`cancel`).  ``None`` waits as
          long as it runs, ``0`` only checks;
        * an interrupt while waiting (Kernel > Interrupt, Ctrl-C) raises
          ``KeyboardInterrupt`` at once; the run keeps going in the background
          (the Cancel button or :meth:`cancel` stops it; :meth:`run` is the form
          that an interrupt stops).

        Raises:
            TimeoutError, KeyboardInterrupt: as above.
            Exception: the run's own exception when it failed.
            RuntimeError: the runner was never started.
        """
        wait_for(self, timeout)
        return self.result

    def __repr__(self) -> str:
        scanning = self.tracker.snapshot().stage("symbol_scanning")
        return (
            f"<{type(self).__name__} {self.state}: {scanning.current} of {scanning.total} "
            f"items, cache {self.cache_key}>"
        )

    # -- lifecycle ------------------------------------------------------------------
    def _interrupted(self) -> None:
        """Kernel > Interrupt while run() waits: cancel, and say so when it ends."""
        self._record.interrupted = True
        self.cancel("interrupted")

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._execute, name=f"technic_nb-{self.kind}-{id(self):x}", daemon=True
        )
        try:
            thread.start()
        except BaseException as exc:
            self._complete(error=exc)
            raise

    def _begin(self, blocking: bool, clickable: bool = False) -> None:
        self._record.begin(cancelled=self.token.is_cancelled())
        try:
            self.view.show(blocking, clickable)
        except BaseException as exc:  # end in a final state, never half started
            self._complete(error=exc)
            raise
        previous = register(self)
        if previous is not None:
            self._predecessor = previous
            self.view.log(
                f"A {previous.kind} on the same cache folder is still {previous.state}: "
                "cancelling it and waiting for it to stop before this one starts"
            )
            previous.cancel(f"superseded by a new {self.kind} on the same cache folder")

    def _execute(self) -> None:
        try:
            _await_predecessor(self)
            self._retries.restart()
            with self.view.forward_logs():
                _, hooks = engine_hooks(self.tracker, None, None, self._hooks)
                result = run(self.config, self._collector, self.token, hooks)
        except KeyboardInterrupt:  # escaped the engine (e.g. while it was finishing)
            self.token.cancel("interrupted")
            self._complete(result=_partial_result(self))
        except BaseException as exc:  # recorded, shown, and raised again by wait()/result
            self._complete(error=exc)
        else:
            self._complete(result=result)

    def _complete(self, result: Any = None, error: BaseException | None = None) -> None:
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
        unregister(self)
        self._record.done.set()


def _run_in_this_thread(runner: Runner) -> None:
    """The blocking run where no kernel can take clicks: SIGINT cancels it."""
    try:
        with SigintGuard(runner.token, runner._record):
            try:
                runner._execute()
            except KeyboardInterrupt:  # a second interrupt while finishing
                runner.token.cancel("interrupted")
                runner._complete(result=_partial_result(runner))
    finally:
        runner._ensure_final()


def _partial_result(runner: Runner) -> Any:
    """A cancelled result from the outcomes so far (the engine could not finish its own)."""
    plan = runner._hooks.plan
    if plan is None:
        return runner._before_start()
    result = runner._collector.partial(plan, runner.elapsed)
    result.warnings.append(_INTERRUPTED)
    return result


def _await_predecessor(runner: Runner) -> None:
    """Wait for the run this one superseded on the same cache to stop (re-running a cell)."""
    previous = runner._predecessor
    if previous is None:
        return
    runner.view.status("running", "Waiting for the previous run on this cache folder to stop…")
    if not previous.ended.wait(runner.supersede_timeout):
        raise RuntimeError(
            f"the previous {previous.kind} on the cache folder {runner.cache_key} did not "
            f"stop within {runner.supersede_timeout:.0f} s; wait for it or use another "
            "cache_dir"
        )
    runner._predecessor = None
    runner.view.log(f"The previous {previous.kind} ended ({previous.state}); starting")


class ScanRunner(Runner):
    """Runs one scan with live progress, Cancel, and a result you can wait for.

    Args:
        config: the scan configuration (default: ``ScanConfig()``, the demo market).
        display: show the widget panel (default: True inside a Jupyter kernel).
        console: show tqdm bars on stderr (default: when the panel is not shown).

    ``start()`` (the panel and a background thread) or ``run()`` (blocking);
    ``wait()`` and ``result`` give the :class:`~technic_nb.ScanResult`.  A runner
    runs once; create a new one to scan again (it resumes from the cache).
    """

    kind = "scan"

    def __init__(
        self,
        config: ScanConfig | None = None,
        *,
        display: bool | None = None,
        console: bool | None = None,
    ) -> None:
        super().__init__(config, display=display, console=console)

    def _new_collector(self) -> ScanCollector:
        return ScanCollector()

    def _before_start(self) -> ScanResult:
        return ScanResult(
            table=pd.DataFrame(),
            errors=error_table({}),
            status="Cancelled before the scan started - run again to resume",
            stats={"symbols": 0, "done": 0, "from_cache": 0, "computed": 0, "ranked": 0},
            cancelled=True,
            warnings=[_INTERRUPTED],
            config=self.config,
        )


class ReplayRunner(Runner):
    """Runs :func:`~technic_nb.replay` with the same panel, Cancel and resume as a scan.

    ``ReplayRunner(config, dates, horizons=(5, 21, 63))``, then ``start()`` (the
    panel and a background thread) or ``run()`` (blocking); ``wait()`` and
    ``result`` give the :class:`~technic_nb.ReplayResult`.  Running it again
    with the same configuration and dates resumes from the cache.
    """

    kind = "replay"

    def __init__(
        self,
        config: ScanConfig | None = None,
        dates: Any = None,
        horizons: Any = DEFAULT_HORIZONS,
        *,
        display: bool | None = None,
        console: bool | None = None,
    ) -> None:
        self.dates = check_dates(dates)
        self.horizons = check_horizons(horizons)
        super().__init__(config, display=display, console=console)

    def _new_collector(self) -> ReplayCollector:
        return ReplayCollector(self.dates, self.horizons)

    def _before_start(self) -> ReplayResult:
        raise RuntimeError("the replay was interrupted before its universe was read")
