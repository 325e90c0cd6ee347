"""The notebook panel of a running scan (ipywidgets).

Imported only when a panel is shown.  The panel is a view: the scan runner
calls :meth:`ScanPanel.refresh` with progress snapshots (it throttles the
calls), :meth:`ScanPanel.log` for messages and :meth:`ScanPanel.finish` at the
end.  Every change goes through widget traits, so it is safe from the scanning
thread; nothing here prints.

Layout, top to bottom: a header (source and cache folder), the four stage bars
and the weighted overall bar (``tqdm.notebook`` bars, which are ipywidgets),
the counters line (done, from cache, failed, retrying, throughput, ETA), the
Cancel button with the status line, an error box (hidden until a failure), the
live "top so far" table, the final results (ranked table and errors) and the
log.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
import pandas as pd
from tqdm.notebook import tqdm as notebook_tqdm

from ._console import STAGE_LABELS
from ._plots import errors_html, style_table
from ._progress import STAGES, ProgressSnapshot

__all__ = ["LIVE_COLUMNS", "ScanPanel"]

#: Columns of the live "top so far" table.
LIVE_COLUMNS = ("signal", "tech_rating", "close", "entry", "stop", "target", "reward_risk", "rsi")

_STATUS_COLOURS = {
    "pending": "#374151",
    "running": "#1d4ed8",
    "cancelling": "#b45309",
    "cancelled": "#b45309",
    "finished": "#047857",
    "failed": "#b91c1c",
}
_STATUS_ICONS = {"cancelled": "⚠ ", "finished": "✓ ", "failed": "✗ ", "cancelling": "… "}

_BLOCKING_TIP = "The scan runs in this cell: use Kernel > Interrupt to stop it"

TopRows = Callable[[int], tuple[pd.DataFrame, int]]


def _clock(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "–"
    seconds = round(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ScanPanel:
    """Widgets showing one scan: bars, counters, Cancel, status, live table, results, log.

    Args:
        config: the scan's :class:`~technic_nb.ScanConfig` (for the header).
        on_cancel: called (on the kernel's main thread) when Cancel is clicked,
            after the button was disabled.
        top_rows: ``fn(n) -> (best n rows scored so far, rows scored)``, or None
            for no live table.
        extra_counters: ``fn() -> {"retrying": n, ...}`` read on every refresh.
        live_table_interval: the least seconds between two live-table renders
            (raised automatically when scoring the rows takes long).
        live_rows: rows in the live table.
        result_rows: rows of the final ranked table shown in the panel.
        blocking: the scan runs in the cell itself (``ScanRunner.run``), so a click
            could only arrive once it ended: the button is disabled and the
            status line says to use Kernel > Interrupt.
    """

    def __init__(
        self,
        config: Any = None,
        *,
        on_cancel: Callable[[], Any] | None = None,
        top_rows: TopRows | None = None,
        extra_counters: Callable[[], Mapping[str, int]] | None = None,
        live_table_interval: float = 0.5,
        live_rows: int = 10,
        result_rows: int = 25,
        blocking: bool = False,
    ) -> None:
        self._on_cancel = on_cancel
        self._top_rows = top_rows
        self._extra_counters = extra_counters
        self._table_interval = float(live_table_interval)
        self._live_rows = int(live_rows)
        self._result_rows = int(result_rows)
        self._lock = threading.RLock()
        self._table_at = float("-inf")
        self._table_cost = 0.0
        self._table_count = -1
        self._rendered: dict[str, tuple[int, int, str]] = {}
        self._closed: set[str] = set()
        self._stage_started: dict[str, bool] = dict.fromkeys(STAGES, False)
        self._finished = False
        self._blocking = False

        self.header = widgets.HTML(value=self._header(config))
        self.bars: dict[str, Any] = {}
        for stage in STAGES:
            bar = notebook_tqdm(
                total=0,
                desc=STAGE_LABELS[stage],
                unit="sym" if stage in ("data_fetching", "symbol_scanning") else "step",
                display=False,
                leave=True,
                mininterval=0,
                dynamic_ncols=True,
            )
            bar.container.children[0].layout.min_width = "7em"
            progress = bar.container.children[1]
            progress.max, progress.value, progress.bar_style = 1, 0, ""  # not the "unknown" look
            self.bars[stage] = bar
        self.overall = notebook_tqdm(
            total=1000,
            desc="overall",
            display=False,
            leave=True,
            mininterval=0,
            dynamic_ncols=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
        )
        self.overall.container.children[0].layout.min_width = "7em"
        self.counters = widgets.HTML(value=self._counters_html(None))
        self.button = widgets.Button(
            description="Cancel",
            icon="stop",
            button_style="warning",
            tooltip=_BLOCKING_TIP if blocking else "Stop the scan; finished symbols are kept",
            disabled=blocking,
            layout=widgets.Layout(width="8em"),
        )
        self.button.on_click(self._clicked)
        self.status = widgets.HTML(value=self._status_html("pending", "Starting…"))
        self.error_box = widgets.HTML(
            value="",
            layout=widgets.Layout(
                display="none", border="1px solid #b91c1c", padding="4px 8px", margin="4px 0"
            ),
        )
        self.top_table = widgets.HTML(value="")
        self.results = widgets.HTML(value="", layout=widgets.Layout(display="none"))
        self.log_output = widgets.Output(
            layout=widgets.Layout(
                max_height="9em", overflow="auto", border="1px solid #e5e7eb", padding="2px 6px"
            )
        )
        if blocking:
            self.set_blocking()
        self.widget = widgets.VBox(
            [
                self.header,
                *(self.bars[stage].container for stage in STAGES),
                self.overall.container,
                self.counters,
                widgets.HBox([self.button, self.status]),
                self.error_box,
                self.top_table,
                self.results,
                widgets.HTML(value="<small>Log</small>"),
                self.log_output,
            ]
        )

    # -- header, status and log -------------------------------------------------
    @staticmethod
    def _header(config: Any) -> str:
        if config is None:
            return "<b>technic_nb scan</b>"
        source = config.source if isinstance(config.source, str) else repr(config.source)
        return (
            f"<b>technic_nb scan</b> · source <code>{html.escape(str(source))}</code>"
            f" · cache <code>{html.escape(str(config.resolved_cache_dir))}</code>"
        )

    @staticmethod
    def _status_html(state: str, text: str) -> str:
        colour = _STATUS_COLOURS.get(state, "#374151")
        icon = _STATUS_ICONS.get(state, "")
        return (
            f"<span style='color:{colour};font-weight:600;line-height:28px;padding-left:8px'>"
            f"{icon}{html.escape(text)}</span>"
        )

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
        self.status.value = self._status_html(str(state), text)

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

    def set_blocking(self) -> None:
        """The scan runs in the cell itself: the kernel cannot take a click until it ends."""
        self._blocking = True
        self.button.disabled = True
        self.button.tooltip = _BLOCKING_TIP
        self.set_status(
            "running",
            "Running in this cell - Kernel > Interrupt stops it and keeps the results so far",
        )

    # -- cancel -----------------------------------------------------------------
    def _clicked(self, _button: Any = None) -> None:
        self.button.disabled = True  # first: a second click must not queue another cancel
        self.button.description = "Cancelling"
        self.log("Cancel clicked")
        if self._on_cancel is not None:
            self._on_cancel()

    def cancelling(self) -> None:
        """Show that a cancel was requested (idempotent)."""
        self.button.disabled = True
        with self._lock:
            if self._finished:
                return
            self.button.description = "Cancelling"
            self.set_status("cancelling", "Cancelling - stopping after the symbols in flight…")

    # -- progress -----------------------------------------------------------------
    def _set_bar(
        self, stage: str, current: int, total: int, state: str, elapsed: float, style: str = ""
    ) -> None:
        """Show one stage; a stage that ended is frozen (closed) with its final style."""
        bar = self.bars[stage]
        if stage in self._closed:
            return
        key = (current, total, state)
        if self._rendered.get(stage) == key and state == "running":
            return
        self._rendered[stage] = key
        if state != "pending" and not self._stage_started[stage]:
            self._stage_started[stage] = True
            bar.reset(total=total)
        shown_total = total if total > 0 else (1 if state == "done" else 0)
        if bar.total != shown_total:
            bar.total = shown_total
        progress = bar.container.children[1]
        progress.max = max(shown_total, 1)
        bar.n = shown_total if state == "done" and total == 0 else current
        bar.start_t = bar._time() - elapsed  # the tracker's stage clock, not the bar's
        if state == "stopped":  # where it stopped, with no time left to show
            bar.set_description(f"{STAGE_LABELS[stage]} (stopped)", refresh=False)
            bar.bar_format = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}]"
        if state in ("done", "stopped"):
            self._closed.add(stage)
            bar.close()  # freezes the elapsed time and the rate
            progress.bar_style = "success" if state == "done" else (style or "warning")
        else:
            bar.refresh()

    def _counters_html(self, snapshot: ProgressSnapshot | None) -> str:
        if snapshot is None:
            done = total = from_cache = failed = retrying = 0
            rate, eta, elapsed = 0.0, None, 0.0
        else:
            scanning = snapshot.stage("symbol_scanning")
            done, total = scanning.current, scanning.total
            counters = dict(snapshot.counters)
            if self._extra_counters is not None:
                counters.update(self._extra_counters())
            from_cache = counters.get("from_cache", 0)
            failed = counters.get("failed", 0)
            retrying = counters.get("retrying", 0)
            rate = scanning.rate
            eta = scanning.eta if scanning.state == "running" else snapshot.eta
            elapsed = snapshot.elapsed
        parts = [
            f"<b>{done:,}</b> of {total:,} done",
            f"{from_cache:,} from cache",
            f"{failed:,} failed",
            f"{retrying:,} retrying",
            f"{rate:,.0f} symbols/s" if rate else "– symbols/s",
            f"ETA {_clock(eta)}",
            f"elapsed {_clock(elapsed)}",
        ]
        return "<span style='font-size:12px'>" + " · ".join(parts) + "</span>"

    def refresh(self, snapshot: ProgressSnapshot, state: str, *, table: bool = True) -> None:
        """Show ``snapshot`` (the runner throttles the calls); refresh the live table when due."""
        with self._lock:
            if self._finished:
                return
            for stage in snapshot.stages:
                # a stage stopped before the scan ended gets its final colour in finish()
                if stage.state != "stopped":
                    self._set_bar(
                        stage.name, stage.current, stage.total, stage.state, stage.elapsed
                    )
            overall = round(snapshot.fraction * 1000)
            if overall != self.overall.n:
                self.overall.n = overall
                self.overall.start_t = self.overall._time() - snapshot.elapsed
                self.overall.refresh()
            self.counters.value = self._counters_html(snapshot)
            state = str(state)
            if state == "cancelling":
                self.button.disabled = True
                self.set_status("cancelling", "Cancelling - stopping after the symbols in flight…")
            elif state == "running":
                running = [s for s in snapshot.stages if s.state == "running"]
                if running:
                    stage = running[-1]
                    text = (
                        f"Running: {STAGE_LABELS[stage.name]} {stage.current:,} of {stage.total:,}"
                    )
                else:
                    text = "Running…"
                if self._blocking:
                    text += " - Kernel > Interrupt stops it and keeps the results so far"
                self.set_status("running", text)
            if table:
                self._refresh_table()

    def _refresh_table(self, force: bool = False) -> None:
        if self._top_rows is None:
            return
        now = time.monotonic()
        interval = max(self._table_interval, 8.0 * self._table_cost)  # <= ~12% of the time
        if not force and now - self._table_at < interval:
            return
        started = time.monotonic()
        top, count = self._top_rows(self._live_rows)
        if count == self._table_count and not force:
            self._table_at = now
            return
        self._table_count = count
        if len(top):
            columns = [c for c in LIVE_COLUMNS if c in top.columns]
            caption = f"Top {len(top)} so far ({count:,} symbols scored)"
            self.top_table.value = style_table(top, columns=columns, caption=caption).to_html()
        self._table_cost = time.monotonic() - started
        self._table_at = time.monotonic()

    # -- the end ------------------------------------------------------------------
    def finish(
        self,
        snapshot: ProgressSnapshot,
        state: str,
        result: Any = None,
        error: BaseException | None = None,
    ) -> None:
        """Freeze the bars and show the outcome: results, cancelled partial results, or an error."""
        state = str(state)
        with self._lock:
            if self._finished:
                return
            self._finished = True
            stopped_style = "danger" if state == "failed" else "warning"
            for stage in snapshot.stages:
                self._set_bar(
                    stage.name,
                    stage.current,
                    stage.total,
                    stage.state,
                    stage.elapsed,
                    style=stopped_style,
                )
                if stage.name not in self._closed:  # never started nor stopped
                    self._closed.add(stage.name)
                    self.bars[stage.name].close()
                    self.bars[stage.name].container.children[1].bar_style = ""
            self.overall.n = round(snapshot.fraction * 1000)
            self.overall.start_t = self.overall._time() - snapshot.elapsed
            self.overall.close()
            overall_style = {"finished": "success", "failed": "danger"}.get(state, "warning")
            self.overall.container.children[1].bar_style = overall_style
            self.counters.value = self._counters_html(snapshot)
            self.button.disabled = True
            self.button.description = {"cancelled": "Cancelled", "failed": "Failed"}.get(
                state, "Done"
            )
            self.top_table.value = ""
            self.top_table.layout.display = "none"
            if error is not None:
                self._show_error(error)
                self.set_status("failed", f"Failed: {type(error).__name__}: {error}")
            elif result is not None:
                self.set_status(state, result.status)
                self._show_result(result)

    def _show_error(self, error: BaseException) -> None:
        suggestion = getattr(error, "suggestion", "")
        kind = getattr(error, "error_type", None)
        title = f"{type(error).__name__}" + (f" ({kind})" if kind is not None else "")
        body = f"<b style='color:#b91c1c'>{html.escape(title)}</b>: {html.escape(str(error))}"
        if suggestion:
            body += f"<br><b>What to do:</b> {html.escape(str(suggestion))}"
        body += "<br><small>The full traceback is in the log below.</small>"
        self.error_box.value = body
        self.error_box.layout.display = "block"

    def _show_result(self, result: Any) -> None:
        parts = []
        table = result.table
        if len(table):
            shown = min(self._result_rows, len(table))
            what = "ranked so far (partial: cancelled)" if result.cancelled else "ranked"
            caption = f"Top {shown} of {len(table):,} {what}"
            parts.append(style_table(table, top=self._result_rows, caption=caption).to_html())
            if len(table) > shown:
                parts.append(
                    "<p><small>The full table is <code>runner.result.table</code>.</small></p>"
                )
        else:
            parts.append("<p>No ranked symbols.</p>")
        parts.append(errors_html(result.errors))
        self.results.value = "".join(parts)
        self.results.layout.display = "block"
