"""Parts of the scan panel: the progress block, the live table, and the stale look.

:class:`ProgressView` shows the four stage bars, the overall bar and the
counters line as one ``HTML`` widget (:class:`StageBar` renders each row): one
message per tick for all of them, where a widget per bar, label and figure line
would send seven, and about sixty fewer widget models to create.  In the
browser the cost of an update is mostly the frame it makes the page draw, not
its size, so fewer, coalesced updates are what keep the panel cheap.  An
unchanged text is not sent again.  :class:`LiveBox` is the live "top so far".

The stale look lets the front end tell, without custom JavaScript, that the
kernel behind a panel is gone: while a scan runs, every update of the progress
block carries a note whose CSS animations (:func:`panel_css`) only take effect
after :data:`STALE_AFTER` seconds: they show the note over the Cancel button's
row and fade the bars.  Each update writes a new note, which restarts them, so
while the kernel answers they never reach their end; when the kernel dies, is
restarted or hangs, the updates stop and the panel turns stale by itself.
ipywidgets' own ``jupyter-widgets-disconnected`` class (set on every view when
the kernel restarts) shows the note at once.  The final block has no note: a
finished panel is final, not stale.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import ipywidgets as widgets
import pandas as pd

from ._live_top import LiveCounts
from ._panel_text import count, duration, live_caption, live_table_html, rate
from ._progress import ProgressSnapshot

__all__ = [
    "STALE_AFTER",
    "LiveBox",
    "ProgressView",
    "StageBar",
    "freeze_bars",
    "panel_css",
]

#: Seconds without an update after which the front end shows the panel as stale.
STALE_AFTER = 6.0

_BAR_STYLES = {"done": "success", "stopped": "warning"}


#: Bar colours by style (ipywidgets' own).
_COLOURS = {"": "#2196f3", "success": "#4caf50", "warning": "#ff9800", "danger": "#f44336"}


class StageBar:
    """One stage (or the overall progress): a label, a bar and a line of figures.

    A plain renderer: :meth:`html` writes it as one row of the panel's progress
    block (:class:`ProgressView`), so the whole block goes to the front end as a
    single update per tick.

    Args:
        label: the stage's name in the panel (``scanning``).
        unit: ``"symbols"`` to show a rate, None for stages counted in steps.

    Attributes:
        label: the text on the left (``scanning (stopped)`` once it stopped).
        info: the figures on the right.
        fraction: the filled part of the bar, 0..1.
        bar_style: ``""`` (running), ``"success"``, ``"warning"`` or ``"danger"``.
    """

    def __init__(self, label: str, unit: str | None) -> None:
        self.name = label
        self.unit = unit
        self.label = label
        self.info = ""
        self.fraction = 0.0
        self.bar_style = ""
        self.frozen = False

    def show(
        self,
        current: int,
        total: int,
        state: str,
        elapsed: float,
        per_second: float = 0.0,
        eta: float | None = None,
        style: str | None = None,
    ) -> None:
        """Show a stage's counts; a stage that is done or stopped is frozen afterwards."""
        if self.frozen:
            return
        fraction = 1.0 if state == "done" else (min(1.0, current / total) if total else 0.0)
        self.fraction = fraction
        self.label = f"{self.name} (stopped)" if state == "stopped" else self.name
        self.info = self._figures(current, total, state, elapsed, per_second, eta, fraction)
        if state in ("done", "stopped"):
            self.bar_style = style or _BAR_STYLES[state]
            self.frozen = True

    def _figures(
        self,
        current: int,
        total: int,
        state: str,
        elapsed: float,
        per_second: float,
        eta: float | None,
        fraction: float,
    ) -> str:
        if state == "pending":
            return ""
        if state == "stopped" and not (current or total or elapsed):
            return "not started"
        if state == "done" and total == 0:
            return f"nothing to do · {duration(elapsed)}"
        noun = "symbol" if self.unit else "step"
        parts = [f"{fraction:.0%}", f"{current:,} of {count(total, noun)}", duration(elapsed)]
        if state == "running":
            parts[-1] += f" (ETA {duration(eta)})" if eta is not None else ""
        if self.unit:
            parts.append(rate(per_second, self.unit))
        return " · ".join(parts)

    def show_overall(self, fraction: float, elapsed: float, eta: float | None, state: str) -> None:
        """Show the weighted overall progress (``state`` is the runner's)."""
        if self.frozen:
            return
        self.fraction = min(1.0, fraction)
        parts = [f"{self.fraction:.0%}", f"elapsed {duration(elapsed)}"]
        if state in ("running", "pending") and eta is not None:
            parts.append(f"ETA {duration(eta)}")
        elif state in ("cancelled", "failed"):
            parts.append(state)
        self.info = " · ".join(parts)

    def freeze(self, style: str = "") -> None:
        """Stop updating the bar and give it ``style`` (a stage that never ran: none)."""
        self.bar_style = style
        self.frozen = True

    def html(self) -> str:
        """The row: label, bar (an ARIA progress bar) and figures."""
        percent = f"{100 * self.fraction:.1f}"
        colour = _COLOURS.get(self.bar_style, _COLOURS[""])
        return (
            f"<div class='tn-bar tn-bar-{self.bar_style or 'running'}' style='display:flex;"
            "align-items:center;margin:3px 0'>"
            f"<div style='flex:0 0 10em'>{html.escape(self.label)}</div>"
            f"<div class='tn-track' role='progressbar' aria-label='{html.escape(self.name)}' "
            f"aria-valuemin='0' aria-valuemax='100' aria-valuenow='{percent}' "
            "style='flex:0 0 40%;height:14px;background:#eeeeee;overflow:hidden'>"
            f"<div style='height:100%;width:{percent}%;background:{colour}'></div></div>"
            "<div style='margin-left:8px;font-size:12px;white-space:normal'>"
            f"{html.escape(self.info)}</div></div>"
        )


class ProgressView:
    """The stage bars, the overall bar and the counters line: one ``HTML`` widget.

    :meth:`render` rewrites it from the bars' state; an unchanged text is not sent.
    """

    def __init__(self, uid: str, bars: Mapping[str, StageBar], overall: StageBar) -> None:
        self.uid = uid
        self.bars = bars
        self.overall = overall
        self.counters = ""
        self.widget = widgets.HTML(value="", _dom_classes=(f"tn-bars-{uid}",))
        self.render(live=False)

    def render(self, live: bool) -> None:
        """Send the block as it stands (one message, if anything changed).

        ``live``: the scan runs, so the block carries the stale note (see
        :func:`panel_css`), renewed by every update.
        """
        rows = "".join(bar.html() for bar in (*self.bars.values(), self.overall))
        counters = f"<div style='font-size:12px;margin-top:4px'>{self.counters}</div>"
        note = f"<div class='tn-note-{self.uid}'>{_STALE_NOTE}</div>" if live else ""
        state = "live" if live else "final"
        self.widget.value = (
            f"<div class='tn-{state}-{self.uid}'><div class='tn-rows'>{rows}{counters}</div>"
            f"{note}</div>"
        )


_STALE_NOTE = (
    "⚠ The kernel behind this panel stopped answering (restarted, shut down or stuck): "
    "this panel is no longer live, and a restarted kernel has dropped its scan. Run the "
    "cell again to resume from the cache."
)


def panel_css(uid: str) -> str:
    """The panel's own style sheet (written once, in its header): the stale look.

    While a scan runs, every update of the progress block (at least one a second:
    its elapsed time changes) writes a new stale note, whose delayed animations
    show it over the Cancel button's row and fade the bars once
    :data:`STALE_AFTER` seconds pass; a new note restarts them.  ipywidgets'
    ``jupyter-widgets-disconnected`` class shows it at once.
    """
    after = f"{STALE_AFTER:g}s"
    return (
        "<style>"
        "@keyframes tn-stale{to{visibility:visible}}"
        "@keyframes tn-faded{to{opacity:.35}}"
        f".tn-bars-{uid}{{overflow:visible!important;z-index:5}}"
        f".tn-bars-{uid} .widget-html-content{{overflow:visible}}"
        f".tn-live-{uid} .tn-rows{{animation:tn-faded 0s linear {after} forwards}}"
        f".tn-note-{uid}{{position:absolute;left:0;right:0;top:100%;z-index:5;"
        "visibility:hidden;padding:4px 8px;color:#b91c1c;font-weight:600;"
        "white-space:normal;background:var(--jp-layout-color1,#fff);"
        f"border:1px solid #b91c1c;animation:tn-stale 0s linear {after} forwards}}"
        f".tn-panel-{uid}.jupyter-widgets-disconnected .tn-note-{uid}{{visibility:visible}}"
        "</style>"
    )


def freeze_bars(
    bars: Mapping[str, StageBar], overall: StageBar, snapshot: ProgressSnapshot, state: str
) -> None:
    """The bars of an ended scan: each stage as it ended (a stopped one orange, or red when
    the scan failed; one that never ran grey), the overall bar green, orange or red."""
    stopped_style = "danger" if state == "failed" else "warning"
    for stage in snapshot.stages:
        bar = bars[stage.name]
        bar.show(
            stage.current,
            stage.total,
            stage.state,
            stage.elapsed,
            stage.rate,
            stage.eta,
            style=stopped_style if stage.state == "stopped" else None,
        )
        if not bar.frozen:  # never started nor stopped
            bar.freeze("")
    overall.show_overall(snapshot.fraction, snapshot.elapsed, None, state)
    overall.freeze({"finished": "success", "failed": "danger"}.get(state, "warning"))


class LiveBox:
    """The live "top so far": a caption and a table, hidden until the first rows.

    The caption changes at every update, the table only when the top does; as two
    widgets, an unchanged table is never sent (nor rendered) again.
    """

    def __init__(self) -> None:
        self.caption = widgets.HTML(value="")
        self.table = widgets.HTML(value="")
        self.box = widgets.VBox([self.caption, self.table], layout=widgets.Layout(display="none"))

    def show(self, top: pd.DataFrame, counts: LiveCounts, exact: bool) -> None:
        """Show ``top`` (best first) and what it was chosen from."""
        caption = live_caption(
            len(top), counts.done, counts.rated, counts.filtered, counts.failed, exact
        )
        self.caption.value = f"<div style='font-size:12px;white-space:normal'>{caption}</div>"
        self.table.value = live_table_html(top, "")
        self.box.layout.display = "flex"

    def clear(self) -> None:
        """The scan ended: the final table replaces the live one."""
        self.caption.value = self.table.value = ""
        self.box.layout.display = "none"
