"""The notebook panel of a running scan (ipywidgets).

Imported only when a panel is shown.  The panel is a view: the runner's view
(:class:`~technic_nb.notebook.view.RunnerView`) calls :meth:`ScanPanel.refresh`
with the latest progress a few times a second from one tick thread,
:meth:`ScanPanel.show_top` with the live table, :meth:`ScanPanel.log` for
messages and :meth:`ScanPanel.finish` at the end.  Every change goes through
widget traits, and a trait is only sent when its value changed: a tick sends
the progress block (every bar, the counters and the stale note, one message)
and the live table's caption (and its rows when they changed), whatever the
scan's speed.  Nothing here prints.

Layout, top to bottom: a header (source and cache folder, and the panel's
style sheet), the four stage bars and the weighted overall bar (tqdm's
notebook bars, :mod:`technic_nb.notebook.bars`) with the counters line below
them (done, from cache, failed, retrying, throughput, elapsed, ETA while
running) and its stale note (:func:`~technic_nb.notebook.parts.panel_css`), the
Cancel button with the status line, an error box (hidden until a failure), the
live "top so far" table, the final results (ranked table and errors; wide
tables scroll sideways) and the log.
"""

from __future__ import annotations

import html
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
import pandas as pd

from technic_nb.engine.progress import ProgressSnapshot
from technic_nb.notebook.console import STAGE_LABELS
from technic_nb.notebook.live import LiveCounts
from technic_nb.notebook.parts import LiveBox, ProgressBlock, panel_css
from technic_nb.notebook.text import (
    LIVE_COLUMNS,
    counters_html,
    error_html,
    header_html,
    result_html,
    status_html,
)

__all__ = ["LIVE_COLUMNS", "ScanPanel"]

_BLOCKING_TIP = "The {kind} runs in this cell: use Kernel > Interrupt to stop it"
_BLOCKING_NOTE = " - Kernel > Interrupt stops it and keeps the results so far"
_CLICKABLE_NOTE = " - Cancel or Kernel > Interrupt stops it and keeps the results so far"
#: The button at the end: description, icon, style.
_FINAL_BUTTON = {
    "finished": ("Done", "check", "success"),
    "cancelled": ("Cancelled", "ban", ""),
    "failed": ("Failed", "times", "danger"),
    "kernel_gone": ("Stopped", "ban", ""),
}
_KERNEL_GONE = (
    "Stopped: the kernel shut down or restarted during the {kind} - run the cell again "
    "to resume (every finished symbol is in the cache)"
)


class _PanelBox(widgets.VBox):
    """The panel's box.  Its text form (``text/plain``, what a notebook stores and what
    nbval compares) is one line about the scan, not a dump of the widgets."""

    summary = "technic_nb scan panel"

    def __repr__(self) -> str:
        return self.summary

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        data = super()._repr_mimebundle_(**kwargs)
        if isinstance(data, dict):
            data["text/plain"] = self.summary
        return data


def _summary(config: Any, blocking: bool, kind: str, clickable: bool = False) -> str:
    if config is None:
        name = "demo"
    elif isinstance(config.source, str):
        name = config.source_label  # an API key in the text is masked
    else:
        name = type(config.source).__name__
    if not blocking:
        how = "runs in the background; runner.wait() returns its result"
    elif clickable:
        how = "runs in this cell; Cancel or Kernel > Interrupt stops it"
    else:
        how = "runs in this cell; Kernel > Interrupt stops it"
    shows = "progress, Cancel and the top so far" if kind == "scan" else "progress and Cancel"
    return f"technic_nb {kind} panel ({name}): {shows}; the {kind} {how}"


class ScanPanel:
    """Widgets showing one scan: bars, counters, Cancel, status, live table, results, log.

    Args:
        config: the scan's :class:`~technic_nb.ScanConfig` (for the header).
        kind: what runs: ``"scan"`` or ``"replay"`` (the panel's title and texts).
        on_cancel: called (on the kernel's main thread) when Cancel is clicked,
            once, after the button was disabled.
        extra_counters: ``fn() -> {"retrying": n, ...}`` read on every refresh.
        live_rows: rows in the live table.
        result_rows: rows of the final ranked table shown in the panel.
        blocking: the scan holds the cell (``ScanRunner.run``).
        clickable: with ``blocking``, whether the kernel handles clicks meanwhile
            (the wait processes widget messages).  When it cannot, a click could
            only arrive once the scan ended: the button is disabled and the
            status line says to use Kernel > Interrupt.
    """

    def __init__(
        self,
        config: Any = None,
        *,
        kind: str = "scan",
        on_cancel: Callable[[], Any] | None = None,
        extra_counters: Callable[[], Mapping[str, int]] | None = None,
        live_rows: int = 10,
        result_rows: int = 25,
        blocking: bool = False,
        clickable: bool = True,
    ) -> None:
        self._on_cancel = on_cancel
        self._extra_counters = extra_counters
        self._live_rows = int(live_rows)
        self._result_rows = int(result_rows)
        self._lock = threading.RLock()
        self._finished = False
        self._blocking = False
        self._note = ""
        self._click_taken = False
        self.kind = kind
        self.uid = uuid.uuid4().hex[:10]
        self.header = widgets.HTML(value=header_html(config, kind) + panel_css(self.uid))
        self.progress = ProgressBlock(self.uid)
        self.stage_bars = self.progress.bars
        self._build_controls(blocking and not clickable)
        self._build_outputs()
        self.widget = _PanelBox(
            [
                self.header,
                self.progress.widget,
                widgets.HBox([self.button, self.status]),
                self.error_box,
                self.live_box,
                self.results,
                widgets.HTML(value="<small>Log</small>"),
                self.log_output,
            ],
            _dom_classes=(f"tn-panel-{self.uid}",),
        )
        self._config = config
        self.widget.summary = _summary(config, False, kind)
        if blocking:
            self.set_blocking(clickable)

    def _build_controls(self, blocking: bool) -> None:
        self.button = widgets.Button(
            description="Cancel",
            icon="stop",
            button_style="warning",
            tooltip=_BLOCKING_TIP.format(kind=self.kind)
            if blocking
            else f"Stop the {self.kind}; finished symbols are kept",
            disabled=blocking,
            layout=widgets.Layout(width="8em", flex="0 0 auto"),
            _dom_classes=(f"tn-cancel-{self.uid}",),
        )
        self.button.on_click(self._clicked)
        self.status = widgets.HTML(value=status_html("pending", "Starting…"))

    def _build_outputs(self) -> None:
        self.error_box = widgets.HTML(
            value="",
            layout=widgets.Layout(
                display="none", border="1px solid #b91c1c", padding="4px 8px", margin="4px 0"
            ),
        )
        self.live = LiveBox()
        self.top_caption, self.top_table, self.live_box = (
            self.live.caption,
            self.live.table,
            self.live.box,
        )
        self.results = widgets.HTML(value="", layout=widgets.Layout(display="none"))
        self.log_output = widgets.Output(
            layout=widgets.Layout(
                max_height="9em", overflow="auto", border="1px solid #e5e7eb", padding="2px 6px"
            )
        )

    # -- header, status and log -------------------------------------------------
    @property
    def cancel_button(self) -> Any:
        """The Cancel button (``panel.cancel_button.click()`` clicks it as a user would)."""
        return self.button

    def show_dashboard(self, link: str) -> None:
        """Add the Dask dashboard link to the header (scans on a Dask cluster)."""
        if "Dask dashboard" in self.header.value:
            return
        safe = html.escape(link, quote=True)
        self.header.value += (
            f" · <a href='{safe}' target='_blank' rel='noopener'>Dask dashboard</a>"
        )

    def set_status(self, state: str, text: str) -> None:
        """Show ``text`` in the status line, coloured for ``state``."""
        self.status.value = status_html(str(state), text)

    @property
    def status_text(self) -> str:
        """The status line as plain text."""
        value = self.status.value
        text = value.split(">", 1)[1].rsplit("<", 1)[0] if ">" in value else value
        return html.unescape(text)

    def log(self, text: str, stream: str = "stdout") -> None:
        """Append a time-stamped line to the log (safe from any thread)."""
        line = f"{time.strftime('%H:%M:%S')} {text.rstrip()}\n"
        if stream == "stderr":
            self.log_output.append_stderr(line)
        else:
            self.log_output.append_stdout(line)

    @property
    def log_text(self) -> str:
        """Everything logged so far."""
        return "".join(o.get("text", "") for o in self.log_output.outputs)

    def set_blocking(self, clickable: bool = False) -> None:
        """The scan holds the cell; unless ``clickable``, the kernel cannot take a
        click until it ends, so the button is disabled."""
        self._blocking = True
        self._note = _CLICKABLE_NOTE if clickable else _BLOCKING_NOTE
        self.widget.summary = _summary(self._config, True, self.kind, clickable)
        if not clickable:
            self.button.disabled = True
            self.button.tooltip = _BLOCKING_TIP.format(kind=self.kind)
        self.set_status("running", "Running in this cell" + self._note)

    # -- cancel -----------------------------------------------------------------
    def _clicked(self, _button: Any = None) -> None:
        with self._lock:  # a double click sends two clicks: act on the first only
            if self._click_taken or self._finished:
                return
            self._click_taken = True
        self.button.disabled = True
        self.button.description = "Cancelling"
        self.log("Cancel clicked")
        if self._on_cancel is not None:
            self._on_cancel()

    def cancelling(self) -> None:
        """Show that a cancel was requested (idempotent)."""
        with self._lock:
            if self._finished:
                return
            self.button.disabled = True
            self.button.description = "Cancelling"
            self.set_status("cancelling", "Cancelling - stopping after the symbols in flight…")

    # -- progress -----------------------------------------------------------------
    def refresh(self, snapshot: ProgressSnapshot, state: str) -> None:
        """Show ``snapshot``: bars, counters (with the stale note) and status line (one tick)."""
        state = str(state)
        with self._lock:
            if self._finished:
                return
            self.stage_bars.show(snapshot)
            self.progress.counters = self._counters(snapshot, running=state == "running")
            self.progress.render(live=True)
            if state == "cancelling":
                self.cancelling()
            elif state == "running":
                stages = [s for s in snapshot.stages if s.state == "running"]
                text = f"Running: {STAGE_LABELS[stages[-1].name]}" if stages else "Running…"
                self.set_status("running", text + (self._note if self._blocking else ""))

    def _counters(self, snapshot: ProgressSnapshot, running: bool) -> str:
        scanning = snapshot.stage("symbol_scanning")
        counters = dict(snapshot.counters)
        if self._extra_counters is not None:
            counters.update(self._extra_counters())
        eta = (scanning.eta if scanning.state == "running" else snapshot.eta) if running else None
        return counters_html(
            scanning.current, scanning.total, counters, scanning.rate, snapshot.elapsed, eta
        )

    def show_top(self, top: pd.DataFrame, counts: LiveCounts, exact: bool = True) -> None:
        """Show the live table: the best rows so far and what they were chosen from."""
        with self._lock:
            if self._finished or not counts.done:
                return
            self.live.show(top.head(self._live_rows), counts, exact)

    # -- the end ------------------------------------------------------------------
    def finish(
        self,
        snapshot: ProgressSnapshot,
        state: str,
        result: Any = None,
        error: BaseException | None = None,
    ) -> None:
        """Freeze the bars and show the outcome: results, cancelled partial results, or an error.

        ``state`` is the runner's final state, or ``"kernel_gone"`` when the scan
        ended because its kernel is shutting down (its workers were stopped).
        """
        state = str(state)
        with self._lock:
            if self._finished:
                return
            self._finished = True
            self.stage_bars.finish(snapshot, state)
            self.progress.counters = self._counters(snapshot, running=False)
            self.progress.render(live=False)
            description, icon, style = _FINAL_BUTTON.get(state, _FINAL_BUTTON["finished"])
            self.button.disabled = True
            self.button.description, self.button.icon = description, icon
            self.button.button_style = style
            self.button.tooltip = f"The {self.kind} is {state}"
            self.live.clear()
            if state == "kernel_gone":
                self.set_status("cancelled", _KERNEL_GONE.format(kind=self.kind))
            elif error is not None:
                self.error_box.value, self.error_box.layout.display = error_html(error), "block"
                self.set_status("failed", f"Failed: {type(error).__name__}: {error}")
            elif result is not None:
                self.set_status(state, result.status)
                self.results.value = result_html(result, self._result_rows)
                self.results.layout.display = "block"
