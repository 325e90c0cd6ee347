"""What a :class:`~technic_nb.ScanRunner` shows: the widget panel or console bars, and its log.

:class:`RunnerView` owns every display of one runner: the Jupyter panel
(:mod:`technic_nb.notebook.panel`), the console bars on stderr
(:mod:`technic_nb.notebook.console`), the log lines, and the rate at which progress
reaches them.  The runner tells it what happened; it never touches the scan.

The panel is driven by one tick thread (:class:`_Ticker`), never by the scan's
events: every :attr:`RunnerView.refresh_interval` seconds it reads the
tracker's latest snapshot and pushes it to the panel (bars, counters and
status), and every :attr:`RunnerView.live_interval` seconds it brings the
live table up to date (:class:`~technic_nb.notebook.live.LiveTop`).  The scanning
thread only records progress, so the panel's cost is a few small updates per
second whatever the number of symbols per second.  The CPU time the tick
spends is kept in :attr:`RunnerView.costs` (for ``bench/browser_panel.py``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from technic_nb.engine.config import ScanConfig
from technic_nb.engine.progress import MultiStageProgressTracker

if TYPE_CHECKING:
    from technic_nb.engine.result import ScanResult
    from technic_nb.notebook.console import ConsoleProgress
    from technic_nb.notebook.live import LiveTop
    from technic_nb.notebook.panel import ScanPanel

__all__ = ["RunnerView", "TickCosts"]

logger = logging.getLogger("technic_nb.runner")


class _PanelLogHandler(logging.Handler):
    """Sends the package's warnings to the runner's log instead of a stray stderr."""

    def __init__(self, view: RunnerView) -> None:
        super().__init__(level=logging.WARNING)
        self._view = view

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # never let logging break the scan
            self._view.log(f"{record.levelname.lower()}: {record.getMessage()}", "stderr")


@dataclass
class TickCosts:
    """CPU seconds the panel's tick spent (thread time), and how often it ran."""

    ticks: int = 0
    panel_seconds: float = 0.0
    live_updates: int = 0
    live_seconds: float = 0.0
    live_rows: int = 0
    #: Largest number of outcomes the live table was behind the counters at a tick.
    live_backlog: int = 0


class _Ticker:
    """A daemon thread calling ``tick()`` every ``interval`` seconds until stopped."""

    def __init__(self, tick: Callable[[], None], interval: float) -> None:
        self._tick = tick
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="technic_nb-panel", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._tick()
            except Exception:  # the display never breaks the scan
                logger.debug("panel tick failed", exc_info=True)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop ticking; wait for a tick in progress (unless called from the tick itself)."""
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)


class RunnerView:
    """The displays of one runner.

    Args:
        config: the scan's configuration (the panel's header).
        tracker: the tracker the engine drives.
        display: show the widget panel.
        console: show tqdm bars on stderr.
        on_cancel: called when the panel's Cancel button is clicked.
        live: the live "top so far" the runner feeds (None: no live table).
        extra_counters: ``fn() -> {"retrying": n}`` for the counters line.
        refresh_interval: seconds between two panel updates (one tick).
        live_interval: seconds between two updates of the live table.
        kind: what runs, ``"scan"`` or ``"replay"`` (the panel's title).
    """

    def __init__(
        self,
        config: ScanConfig,
        tracker: MultiStageProgressTracker,
        *,
        display: bool,
        console: bool,
        on_cancel: Callable[[], Any],
        live: LiveTop | None,
        extra_counters: Callable[[], Mapping[str, int]],
        refresh_interval: float,
        live_interval: float = 1.0,
        kind: str = "scan",
    ) -> None:
        self.config = config
        self.kind = kind
        self.tracker = tracker
        self.display = display
        self.console = console
        self.refresh_interval = refresh_interval
        self.live_interval = live_interval
        self.live = live
        self.costs = TickCosts()
        self._on_cancel = on_cancel
        self._extra_counters = extra_counters
        self._state: Callable[[], str] = lambda: "pending"
        self._lock = threading.RLock()
        self._ui_lock = threading.Lock()
        self._messages: list[str] = []
        self._panel: ScanPanel | None = None
        self._console_bars: ConsoleProgress | None = None
        self._ticker: _Ticker | None = None
        self._ticks_to_live = 0
        self._started = False
        self._blocking = False
        self._clickable = True
        self._finished: tuple[Any, ...] | None = None

    # -- the panel ----------------------------------------------------------------------
    def panel(self) -> ScanPanel:
        """The widget panel (built on first use)."""
        with self._lock:
            if self._panel is None:
                from technic_nb.notebook.panel import ScanPanel

                panel = ScanPanel(
                    self.config,
                    kind=self.kind,
                    on_cancel=self._on_cancel,
                    extra_counters=self._extra_counters,
                    blocking=self._blocking,
                    clickable=self._clickable,
                )
                for message in self._messages:
                    panel.log(message)
                self._panel = panel
                if self._finished is not None:
                    panel.finish(*self._finished)
                elif self._started:
                    self._start_ticker()
            return self._panel

    def show(self, blocking: bool, clickable: bool = True) -> None:
        """Display the panel (Jupyter) and open the console bars, as configured.

        ``blocking``: the run holds the cell (``run()``); ``clickable``: the
        kernel handles the Cancel button's clicks meanwhile.
        """
        with self._lock:
            self._blocking = blocking
            self._clickable = clickable or not blocking
            self._started = True
            if self._panel is not None and blocking:
                self._panel.set_blocking(self._clickable)
        if self.display:
            from IPython.display import display

            display(self.panel().widget)
        if self.console:
            from technic_nb.notebook.console import ConsoleProgress

            self._console_bars = ConsoleProgress(self.tracker, file=sys.stderr)
        with self._lock:
            if self._panel is not None:
                self._start_ticker()

    def _start_ticker(self) -> None:
        """Start the tick thread (with the lock held; once)."""
        if self._ticker is None and self._finished is None:
            self._ticker = _Ticker(self.tick, self.refresh_interval)

    def status(self, state: str, text: str) -> None:
        """Set the panel's status line."""
        if self._panel is not None:
            self._panel.set_status(state, text)

    def cancelling(self) -> None:
        """The scan was asked to stop."""
        if self._panel is not None:
            self._panel.cancelling()

    def dashboard(self, link: str) -> None:
        """The Dask dashboard of the scan's cluster."""
        self.log(f"Dask dashboard: {link}")
        if self._panel is not None:
            self._panel.show_dashboard(link)

    def listener(self, state: Callable[[], str]) -> Callable[..., None]:
        """A tracker listener for this view (``state()`` is the runner's state).

        It only picks up the Dask dashboard link: progress reaches the panel
        through the tick, not through the scan's events.
        """
        self._state = state

        def on_event(
            stage: str, current: int, total: int, message: str, metadata: Mapping[str, Any]
        ) -> None:
            if metadata and metadata.get("dask_dashboard"):
                self.dashboard(str(metadata["dask_dashboard"]))

        return on_event

    def tick(self) -> None:
        """Push the latest progress to the panel; bring the live table up to date when due."""
        panel = self._panel
        if panel is None:
            return
        started = time.thread_time()
        with self._ui_lock:
            snapshot = self.tracker.snapshot()
            panel.refresh(snapshot, self._state())
            self.costs.ticks += 1
            self.costs.panel_seconds += time.thread_time() - started
            # the live table every ``live_interval`` seconds, counted in ticks (a clock
            # compared at ticks would slip a whole tick now and then)
            self._ticks_to_live -= 1
            if self.live is not None and self._ticks_to_live <= 0:
                self._ticks_to_live = round(self.live_interval / self.refresh_interval)
                self._show_live(panel, snapshot.stage("symbol_scanning").current)

    def _show_live(self, panel: ScanPanel, done: int) -> None:
        """Score the outcomes that arrived since the last update, up to the ``done`` the
        counters show (so the list is never ahead of them), and show the best rows."""
        live = self.live
        assert live is not None
        started = time.thread_time()
        before = live.counts.done
        backlog = live.pending
        live.catch_up(up_to=done)
        counts = live.counts
        panel.show_top(live.table(), counts, live.exact)
        costs = self.costs
        costs.live_updates += 1
        costs.live_rows += counts.done - before
        costs.live_backlog = max(costs.live_backlog, backlog)
        costs.live_seconds += time.thread_time() - started

    def finish(
        self,
        state: str,
        result: ScanResult | None,
        error: BaseException | None,
        notes: list[str],
    ) -> None:
        """Show the outcome (results, the partial result, or the error and its traceback)."""
        with self._lock:
            ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.stop()
        for note in notes:
            self.log(note)
        for warning in result.warnings if result is not None else ():
            self.log(f"warning: {warning}", "stderr")
        if error is not None and self._panel is not None and _kernel_exiting():
            self.log(f"The kernel is shutting down: the scan stopped ({type(error).__name__})")
            state = "kernel_gone"  # not a failure of the scan: say what happened
        elif error is not None and self._panel is not None:
            text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            self._panel.log(text, "stderr")
        snapshot = self.tracker.snapshot()
        with self._lock:
            self._finished = (snapshot, state, result, error)
        try:
            if self._panel is not None:
                with self._ui_lock:
                    self._panel.finish(snapshot, state, result, error)
            if self._console_bars is not None:
                status = result.status if result is not None else f"failed: {error}"
                self._console_bars.close(status)
                self._console_write(status if result is not None else _error_text(error))
        except Exception:  # the UI never hides the outcome
            logger.warning("could not update the progress display", exc_info=True)

    # -- the log -------------------------------------------------------------------------
    @property
    def messages(self) -> list[str]:
        """The log lines so far."""
        with self._lock:
            return list(self._messages)

    def log(self, text: str, stream: str = "stdout") -> None:
        """Add a line to the log (panel, and console when the console bars are on)."""
        with self._lock:
            self._messages.append(text)
        if self._panel is not None:
            self._panel.log(text, stream)
        if self.console:
            self._console_write(text)

    def _console_write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(f"technic_nb: {text}", file=sys.stderr)

    @contextmanager
    def forward_logs(self) -> Iterator[None]:
        """While inside, the package's warnings go to the panel's log."""
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


def _kernel_exiting() -> bool:
    """True while the Jupyter kernel shuts down (a restart or a shutdown: ipykernel stops
    the kernel's child processes, so the scan's workers die under it)."""
    shell = None
    if "IPython" in sys.modules:
        with contextlib.suppress(Exception):
            from IPython import get_ipython

            shell = get_ipython()
    return bool(getattr(shell, "exit_now", False))


def _error_text(error: BaseException | None) -> str:
    text = f"scan failed: {type(error).__name__}: {error}"
    suggestion = getattr(error, "suggestion", "")
    return f"{text}\n  what to do: {suggestion}" if suggestion else text
