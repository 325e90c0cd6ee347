"""What a :class:`~technic_nb.ScanRunner` shows: the widget panel or console bars, and its log.

:class:`RunnerView` owns every display of one runner: the Jupyter panel
(:mod:`technic_nb._widgets`), the console bars on stderr
(:mod:`technic_nb._console`), the log lines, and the rate at which progress
reaches them.  The runner tells it what happened; it never touches the scan.
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
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._config import ScanConfig
from ._progress import MultiStageProgressTracker

if TYPE_CHECKING:
    from ._console import ConsoleProgress
    from ._result import ScanResult
    from ._widgets import ScanPanel

__all__ = ["RunnerView"]

logger = logging.getLogger("technic_nb.runner")

TopRows = Callable[[int], tuple[pd.DataFrame, int]]


class _PanelLogHandler(logging.Handler):
    """Sends the package's warnings to the runner's log instead of a stray stderr."""

    def __init__(self, view: RunnerView) -> None:
        super().__init__(level=logging.WARNING)
        self._view = view

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # never let logging break the scan
            self._view.log(f"{record.levelname.lower()}: {record.getMessage()}", "stderr")


class RunnerView:
    """The displays of one runner.

    Args:
        config: the scan's configuration (the panel's header).
        tracker: the tracker the engine drives.
        display: show the widget panel.
        console: show tqdm bars on stderr.
        on_cancel: called when the panel's Cancel button is clicked.
        top_rows: ``fn(n) -> (best rows so far, rows scored)`` for the live table.
        extra_counters: ``fn() -> {"retrying": n}`` for the counters line.
        refresh_interval: least seconds between two panel refreshes.
    """

    def __init__(
        self,
        config: ScanConfig,
        tracker: MultiStageProgressTracker,
        *,
        display: bool,
        console: bool,
        on_cancel: Callable[[], Any],
        top_rows: TopRows,
        extra_counters: Callable[[], Mapping[str, int]],
        refresh_interval: float,
    ) -> None:
        self.config = config
        self.tracker = tracker
        self.display = display
        self.console = console
        self.refresh_interval = refresh_interval
        self._on_cancel = on_cancel
        self._top_rows = top_rows
        self._extra_counters = extra_counters
        self._lock = threading.RLock()
        self._ui_lock = threading.Lock()
        self._messages: list[str] = []
        self._panel: ScanPanel | None = None
        self._console_bars: ConsoleProgress | None = None
        self._last_refresh = float("-inf")
        self._blocking = False
        self._finished: tuple[Any, ...] | None = None

    # -- the panel ----------------------------------------------------------------------
    def panel(self) -> ScanPanel:
        """The widget panel (built on first use)."""
        with self._lock:
            if self._panel is None:
                from ._widgets import ScanPanel

                panel = ScanPanel(
                    self.config,
                    on_cancel=self._on_cancel,
                    top_rows=self._top_rows,
                    extra_counters=self._extra_counters,
                    blocking=self._blocking,
                )
                for message in self._messages:
                    panel.log(message)
                self._panel = panel
                if self._finished is not None:
                    panel.finish(*self._finished)
            return self._panel

    def show(self, blocking: bool) -> None:
        """Display the panel (Jupyter) and open the console bars, as configured."""
        self._blocking = blocking
        if self._panel is not None and blocking:
            self._panel.set_blocking()
        if self.display:
            from IPython.display import display

            display(self.panel().widget)
        if self.console:
            from ._console import ConsoleProgress

            self._console_bars = ConsoleProgress(self.tracker, file=sys.stderr)

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
        """A tracker listener that refreshes this view (``state()`` is the runner's state)."""

        def on_event(
            stage: str, current: int, total: int, message: str, metadata: Mapping[str, Any]
        ) -> None:
            link = metadata.get("dask_dashboard")
            if link:
                self.dashboard(str(link))
            boundary = (total > 0 and current >= total) or bool(metadata.get("stopped"))
            self.progress(state(), boundary)

        return on_event

    def progress(self, state: str, boundary: bool) -> None:
        """A progress event: refresh the panel at most every :attr:`refresh_interval`."""
        panel = self._panel
        if panel is None:
            return
        now = time.monotonic()
        if not boundary and now - self._last_refresh < self.refresh_interval:
            return
        if not self._ui_lock.acquire(blocking=False):
            return
        try:
            self._last_refresh = now
            panel.refresh(self.tracker.snapshot(), state)
        except Exception:
            logger.debug("panel refresh failed", exc_info=True)
        finally:
            self._ui_lock.release()

    def finish(
        self,
        state: str,
        result: ScanResult | None,
        error: BaseException | None,
        notes: list[str],
    ) -> None:
        """Show the outcome (results, the partial result, or the error and its traceback)."""
        for note in notes:
            self.log(note)
        if error is not None and self._panel is not None:
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


def _error_text(error: BaseException | None) -> str:
    text = f"scan failed: {type(error).__name__}: {error}"
    suggestion = getattr(error, "suggestion", "")
    return f"{text}\n  what to do: {suggestion}" if suggestion else text
