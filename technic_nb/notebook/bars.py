"""The panel's stage bars: one ``tqdm.notebook.tqdm`` per stage, and a weighted overall bar.

Each bar is tqdm's own notebook bar (its ipywidgets container: a description, a
``FloatProgress`` and the figures), made with ``display=False`` and placed in the
panel.  tqdm formats every figure (percentage, counts, elapsed time, time left,
rate) from its ``bar_format``, keeps each bar's clock, and gives a bar its final
colour when it is closed: green when complete, red when it stopped short.

The bars never see the scan's events.  The panel's one tick thread calls
:meth:`StageBars.show` a few times a second with the tracker's latest snapshot;
each bar then takes the stage's count (``n``) and total, and redraws once
(``refresh()``).  A stage's bar starts its clock (``reset``) on the first tick
that finds the stage running and is closed on the first tick that finds it
done, so its elapsed time is the stage's, give or take one tick.
:meth:`StageBars.finish` closes what is still open when the scan ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
from tqdm.notebook import tqdm as notebook_tqdm

from technic_nb.compat.tqdm_internals import BarView, bar_view, set_notebook_total
from technic_nb.engine.progress import STAGES, ProgressSnapshot, StageSnapshot
from technic_nb.notebook.console import STAGE_LABELS

__all__ = ["STAGE_LABELS", "StageBars"]

_SYMBOL_STAGES = ("data_fetching", "symbol_scanning")

#: Formats (tqdm's fields): a stage counted in symbols shows its rate, one counted in
#: steps its time; a stage that stopped no time left; a stage not started says so.  The
#: description on the left of the bar is the stage's name alone, so it never changes
#: while the stage runs: each tick sends a bar two updates (its value and its figures),
#: not three.
_SYMBOL_FORMAT = (
    "{desc}|{bar}| {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]"
)
_STEP_FORMAT = "{desc}|{bar}| {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}]"
_STOPPED_FORMAT = "{desc}|{bar}| {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}]"
_PENDING_FORMAT = "{desc}|{bar}| waiting"
_NOT_STARTED_FORMAT = "{desc}|{bar}| not started"
_OVERALL_FORMAT = "{desc}|{bar}| {percentage:3.0f}% [{elapsed}<{remaining}]"
_OVERALL_END_FORMAT = "{desc}|{bar}| {percentage:3.0f}% [{elapsed}]{postfix}"
#: Steps of the overall bar (its ``total``): the weighted fraction in thousandths.
OVERALL_STEPS = 1000


def _bar(label: str, unit: str, bar_format: str, total: int) -> Any:
    bar = notebook_tqdm(
        total=total,
        desc=label,
        unit=unit,
        bar_format=bar_format,
        display=False,  # placed in the panel, not displayed on its own
        leave=True,
        smoothing=0,  # the rate is the stage's mean: n / elapsed
        mininterval=0,  # the tick already paces the redraws
        dynamic_ncols=True,  # the bar takes the panel's width
    )
    bar.container.add_class("tn-stage-bar")
    return bar


class StageBars:
    """Four stage bars and the overall bar, as tqdm notebook bars in one box.

    Attributes:
        bars: stage name -> its ``tqdm.notebook.tqdm``.
        overall: the weighted overall bar (``total`` = :data:`OVERALL_STEPS`).
        widget: the box holding their containers, in stage order, overall last.
    """

    def __init__(self) -> None:
        self.bars: dict[str, Any] = {
            stage: _bar(
                STAGE_LABELS[stage],
                " symbols" if stage in _SYMBOL_STAGES else " steps",
                _PENDING_FORMAT,
                1,
            )
            for stage in STAGES
        }
        self.overall = _bar("overall", " steps", _OVERALL_FORMAT, OVERALL_STEPS)
        self._started: set[str] = set()
        self._closed: set[str] = set()
        self.widget = widgets.VBox(
            [bar.container for bar in (*self.bars.values(), self.overall)],
            layout=widgets.Layout(width="100%"),
        )

    # -- while the scan runs -------------------------------------------------------------
    def show(self, snapshot: ProgressSnapshot) -> None:
        """Bring every bar to ``snapshot`` (a stage that ended is closed)."""
        for stage in snapshot.stages:
            if stage.state in ("running", "done"):
                self._advance(stage)
        self._show_overall(snapshot.fraction)

    def _advance(self, stage: StageSnapshot) -> None:
        name = stage.name
        if name in self._closed:
            return
        bar = self.bars[name]
        if name not in self._started:  # the stage's clock starts now
            self._started.add(name)
            bar.reset(total=max(stage.total, 0))
            bar.bar_format = _SYMBOL_FORMAT if name in _SYMBOL_STAGES else _STEP_FORMAT
        elif stage.total != bar.total:
            set_notebook_total(bar, stage.total)
        bar.n = stage.current
        if stage.state == "done":
            self._close(name)
        else:
            bar.refresh()

    def _show_overall(self, fraction: float) -> None:
        if "overall" in self._closed:
            return
        self.overall.n = min(OVERALL_STEPS, round(fraction * OVERALL_STEPS))
        self.overall.refresh()  # its elapsed time moves on at every tick

    def _close(self, name: str) -> None:
        self._closed.add(name)
        (self.overall if name == "overall" else self.bars[name]).close()

    # -- at the end ------------------------------------------------------------------------
    def finish(self, snapshot: ProgressSnapshot, state: str) -> None:
        """Close every bar as the scan ended (``state``: ``finished``, ``cancelled``,
        ``failed`` or ``kernel_gone``).

        A complete stage is green; one that stopped short is red (tqdm's close) and
        says ``(stopped)``; one that never started says so.  The overall bar ends
        green when the scan finished, else red with the state after its time.
        """
        for stage in snapshot.stages:
            name = stage.name
            if name in self._closed:
                continue
            if stage.state == "done":
                self._advance(stage)  # brought to its end and closed
                continue
            bar = self.bars[name]
            if name in self._started or stage.total or stage.current:  # it ran, then stopped
                if name not in self._started:  # within the last tick
                    self._started.add(name)
                    bar.reset(total=stage.total)
                bar.n = stage.current
                bar.set_description_str(f"{STAGE_LABELS[name]} (stopped)", refresh=False)
                bar.bar_format = _STOPPED_FORMAT
            else:
                bar.bar_format = _NOT_STARTED_FORMAT
            self._close(name)
        if "overall" not in self._closed:
            self.overall.n = min(OVERALL_STEPS, round(snapshot.fraction * OVERALL_STEPS))
            self.overall.bar_format = _OVERALL_END_FORMAT
            if state != "finished":
                self.overall.set_postfix_str(
                    "stopped" if state == "kernel_gone" else state, refresh=False
                )
            self._close("overall")

    # -- reading -------------------------------------------------------------------------
    def shown(self) -> Mapping[str, BarView]:
        """What each bar shows now (stage names, then ``overall``)."""
        return {name: bar_view(bar) for name, bar in {**self.bars, "overall": self.overall}.items()}
