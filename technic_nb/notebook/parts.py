"""Parts of the scan panel: the progress block, the live table, and the stale look.

:class:`ProgressBlock` holds the stage bars (tqdm's notebook bars, see
:mod:`technic_nb.notebook.bars`) and the counters line below them.  An unchanged
text is not sent again.  :class:`LiveBox` is the live "top so far".

The stale look lets the front end tell, without custom JavaScript, that the
kernel behind a panel is gone: while a scan runs, every update of the counters
line carries a note whose CSS animation (:func:`panel_css`) only takes effect
after :data:`STALE_AFTER` seconds: it shows the note over the Cancel button's
row.  Each update writes a new note, which restarts it, so while the kernel
answers it never reaches its end; when the kernel dies, is restarted or hangs,
the updates stop and the panel turns stale by itself.  ipywidgets' own
``jupyter-widgets-disconnected`` class (set on every view when the kernel
restarts) shows the note at once.  The final line has no note: a finished panel
is final, not stale.
"""

from __future__ import annotations

import ipywidgets as widgets
import pandas as pd

from technic_nb.notebook.bars import StageBars
from technic_nb.notebook.live import LiveCounts
from technic_nb.notebook.text import live_caption, live_table_html

__all__ = ["STALE_AFTER", "LiveBox", "ProgressBlock", "panel_css"]

#: Seconds without an update after which the front end shows the panel as stale.
STALE_AFTER = 6.0


class ProgressBlock:
    """The stage bars (:class:`~technic_nb.notebook.bars.StageBars`, tqdm notebook bars)
    and, below them, the counters line with the stale note, in one box.

    :meth:`render` rewrites the counters line; an unchanged text is not sent.
    """

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self.bars = StageBars()
        self.counters = ""
        self.line = widgets.HTML(value="", _dom_classes=(f"tn-counters-{uid}",))
        self.widget = widgets.VBox([self.bars.widget, self.line], _dom_classes=(f"tn-bars-{uid}",))
        self.render(live=False)

    def render(self, live: bool) -> None:
        """Send the counters line as it stands (one message, if anything changed).

        ``live``: the scan runs, so the line carries the stale note (see
        :func:`panel_css`), renewed by every update.
        """
        counters = f"<div style='font-size:12px;margin-top:4px'>{self.counters}</div>"
        note = f"<div class='tn-note-{self.uid}'>{_STALE_NOTE}</div>" if live else ""
        state = "live" if live else "final"
        self.line.value = f"<div class='tn-{state}-{self.uid}'>{counters}{note}</div>"


_STALE_NOTE = (
    "⚠ The kernel behind this panel stopped answering (restarted, shut down or stuck): "
    "this panel is no longer live, and a restarted kernel has dropped its scan. Run the "
    "cell again to resume from the cache."
)


def panel_css(uid: str) -> str:
    """The panel's own style sheet (written once, in its header): the columns of the
    stage bars, and the stale look.

    While a scan runs, every update of the counters line (at least one a second:
    its elapsed time changes) writes a new stale note, whose delayed animation
    shows it over the Cancel button's row once :data:`STALE_AFTER` seconds pass; a
    new note restarts it.  ipywidgets' ``jupyter-widgets-disconnected`` class
    shows it at once.
    """
    after = f"{STALE_AFTER:g}s"
    return (
        "<style>"
        "@keyframes tn-stale{to{visibility:visible}}"
        # tqdm's bars in columns: the description, the bar, the figures
        f".tn-bars-{uid} .tn-stage-bar>:first-child{{flex:0 0 12em;justify-content:flex-start}}"
        f".tn-bars-{uid} .tn-stage-bar>:last-child{{flex:0 0 22em}}"
        f".tn-bars-{uid},.tn-counters-{uid}{{overflow:visible!important;z-index:5}}"
        f".tn-counters-{uid} .widget-html-content{{overflow:visible}}"
        f".tn-note-{uid}{{position:absolute;left:0;right:0;top:100%;z-index:5;"
        "visibility:hidden;padding:4px 8px;color:#b91c1c;font-weight:600;"
        "white-space:normal;background:var(--jp-layout-color1,#fff);"
        f"border:1px solid #b91c1c;animation:tn-stale 0s linear {after} forwards}}"
        f".tn-panel-{uid}.jupyter-widgets-disconnected .tn-note-{uid}{{visibility:visible}}"
        "</style>"
    )


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
