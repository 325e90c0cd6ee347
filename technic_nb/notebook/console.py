"""Console progress driven by a progress tracker: tqdm bars, or plain lines.

:class:`ConsoleProgress` draws tqdm bars for a terminal; :class:`LineProgress`
writes a few plain lines for a log file or a pipe, where cursor movements and
carriage returns would only be noise.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from tqdm.auto import tqdm as _tqdm_auto
from tqdm.std import tqdm as _tqdm_std

from technic_nb.compat.tqdm_internals import mark_printed, set_elapsed
from technic_nb.engine.progress import STAGES, MultiStageProgressTracker, StageSnapshot
from technic_nb.notebook.text import count, duration, rate

__all__ = ["STAGE_LABELS", "ConsoleProgress", "LineProgress"]

STAGE_LABELS = {
    "universe_loading": "universe",
    "data_fetching": "fetching",
    "symbol_scanning": "scanning",
    "finalization": "finalizing",
}


_SYMBOL_STAGES = ("data_fetching", "symbol_scanning")

#: Least seconds between two redraws of the bars (a finished stage is always drawn).
MIN_INTERVAL = 0.05


#: Bar formats: symbol stages show their rate, step stages (universe, finalizing) only
#: counts and time, and a stage that stopped no time left.
_SYMBOL_FORMAT = (
    "{desc:>10}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]"
)
_STEP_FORMAT = "{desc:>10}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed_s:.2f} s]"
_STOPPED_FORMAT = "{desc:>10}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}]"
_OVERALL_FORMAT = "{desc:>10}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]"
_OVERALL_END_FORMAT = "{desc:>10}: {percentage:3.0f}%|{bar}| [{elapsed}]{postfix}"


class ConsoleProgress:
    """Four stage bars and a weighted overall bar, updated from tracker events.

    Events only record that something changed; the bars are redrawn from the
    tracker's snapshot at most every :data:`MIN_INTERVAL` seconds, when a
    stage's total changes or it completes, and on :meth:`close`, so thousands
    of events per second cost microseconds.  Each bar shows its own stage's
    time (from the stage's start to its end, not from when the bars were
    created) and the stage's mean rate; a stage that ended is frozen.
    Thread-safe: the engine may report from several threads.  Use as a
    context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        tracker: MultiStageProgressTracker,
        file: IO[str] | None = None,
        disable: bool | None = None,
        tqdm_class: Any = None,
    ) -> None:
        self._tracker = tracker
        self._lock = threading.Lock()
        cls = tqdm_class or (_tqdm_std if file is not None else _tqdm_auto)
        out = file if file is not None else sys.stderr
        common = {"file": out, "disable": disable, "leave": True, "smoothing": 0}
        self.overall = cls(
            total=1000, desc="overall", position=0, bar_format=_OVERALL_FORMAT, **common
        )
        self.bars = {
            stage: cls(
                total=0,
                desc=STAGE_LABELS[stage],
                position=i + 1,
                unit="sym" if stage in _SYMBOL_STAGES else "step",
                bar_format=_SYMBOL_FORMAT if stage in _SYMBOL_STAGES else _STEP_FORMAT,
                dynamic_ncols=True,
                **common,
            )
            for i, stage in enumerate(STAGES)
        }
        self._closed = False
        self._frozen: dict[str, float] = {}  # stage -> its final elapsed seconds
        self._totals: dict[str, int] = {}
        self._drawn_at = float("-inf")
        tracker.add_listener(self._on_event)

    def _on_event(self, stage: str, current: int, total: int, message: str, metadata: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if self._closed:
                return
            urgent = self._totals.get(stage) != total or (total > 0 and current >= total)
            if urgent or now - self._drawn_at >= MIN_INTERVAL:
                self._totals[stage] = total
                self._draw()
                self._drawn_at = now

    def _draw(self) -> None:
        """Bring every bar to the tracker's latest snapshot (called with the lock held)."""
        if self.overall.disable:  # --no-progress, or no terminal
            return
        snapshot = self._tracker.snapshot()
        for stage in snapshot.stages:
            bar = self.bars.get(stage.name)
            if bar is None or stage.name in self._frozen or stage.state == "pending":
                continue
            bar.total = stage.total
            bar.n = stage.current
            set_elapsed(bar, stage.elapsed)  # the stage's own clock
            if stage.state in ("done", "stopped"):
                self._frozen[stage.name] = stage.elapsed
                if stage.state == "stopped":
                    bar.set_description_str(f"{STAGE_LABELS[stage.name]} (stopped)", refresh=False)
                    bar.bar_format = _STOPPED_FORMAT
            bar.refresh()
        overall = round(snapshot.fraction * 1000)
        if overall != self.overall.n:
            self.overall.n = overall
            self.overall.refresh()

    def close(self, status: str | None = None) -> None:
        """Close every bar (leaving them on screen); a scan that did not finish says so.

        ``status`` is the scan's status line (a cancelled or failed scan's overall
        bar ends with "stopped" instead of a time left).
        """
        with self._lock:
            if self._closed:
                return
            self._draw()
            self._closed = True
            if self.overall.disable:
                return
            snapshot = self._tracker.snapshot()
            for stage in snapshot.stages:
                bar = self.bars[stage.name]
                if stage.name in self._frozen:  # the time the stage took, not until now
                    set_elapsed(bar, self._frozen[stage.name])
                    mark_printed(bar)  # tqdm skips bars "never printed" since
                bar.close()
            stopped = any(stage.state == "stopped" for stage in snapshot.stages)
            ended = all(stage.state == "done" for stage in snapshot.stages)
            self.overall.bar_format = _OVERALL_END_FORMAT
            if stopped or (status and status.startswith("Cancelled")):
                self.overall.set_postfix_str("stopped", refresh=False)
            elif not ended:
                self.overall.set_postfix_str("", refresh=False)
            self.overall.close()

    def __enter__(self) -> ConsoleProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LineProgress:
    """Progress as plain lines of text: for a log file or a pipe, not a terminal.

    One line when a stage starts, one when it ends (or stops), and while stages
    run at most one ``overall`` line every ``interval`` seconds with the overall
    percentage, the time left and each running stage's count and rate;
    :meth:`close` ends with one ``overall`` line.  No cursor escapes,
    no carriage returns: every line is complete when written.  Thread-safe, and
    cheap per event (the tracker's snapshot is read only when a line may be due).
    """

    def __init__(
        self,
        tracker: MultiStageProgressTracker,
        file: IO[str] | None = None,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tracker = tracker
        self._file = file if file is not None else sys.stderr
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        self._shown: dict[str, str] = {}  # stage -> the state its last line showed
        self._line_at = clock()  # when the last progress line was written
        tracker.add_listener(self._on_event)

    def _on_event(self, stage: str, current: int, total: int, message: str, metadata: Any) -> None:
        now = self._clock()
        with self._lock:
            if self._closed:
                return
            shown = self._shown.get(stage)
            changed = shown != "running" or (total > 0 and current >= total)
            if changed or metadata.get("stopped") or now - self._line_at >= self._interval:
                self._write(now)

    def _write(self, now: float) -> None:
        """Write the lines due at ``now`` (called with the lock held)."""
        snapshot = self._tracker.snapshot()
        lines: list[str] = []
        running: list[StageSnapshot] = []
        for stage in snapshot.stages:
            if stage.name not in STAGE_LABELS or stage.state == "pending":
                continue
            if stage.state == "stopped" and stage.name not in self._shown:
                continue  # stopped before it started: nothing to say
            if self._shown.get(stage.name) != stage.state:
                self._shown[stage.name] = stage.state
                lines.append(_stage_line(stage))
            elif stage.state == "running":
                running.append(stage)
        if running and now - self._line_at >= self._interval:
            left = f", about {duration(snapshot.eta)} left" if snapshot.eta is not None else ""
            stages = "; ".join(_running_part(stage) for stage in running)
            lines.append(
                f"{'overall':>10}: {snapshot.fraction:.0%} after "
                f"{duration(snapshot.elapsed)}{left} ({stages})"
            )
            self._line_at = now
        if lines:
            self._file.write("".join(line + "\n" for line in lines))
            self._file.flush()

    def close(self, status: str | None = None) -> None:
        """Write the last stage lines and the ``overall`` line; a stopped scan says so.

        ``status`` is the scan's status line (a cancelled scan ends "stopped").
        """
        with self._lock:
            if self._closed:
                return
            self._write(float("-inf"))  # stage transitions only, no progress line
            self._closed = True
            snapshot = self._tracker.snapshot()
            stopped = any(stage.state == "stopped" for stage in snapshot.stages)
            if stopped or (status and status.startswith("Cancelled")):
                end = f"stopped at {snapshot.fraction:.0%} after {duration(snapshot.elapsed)}"
            elif all(stage.state == "done" for stage in snapshot.stages):
                end = f"done in {duration(snapshot.elapsed)}"
            else:
                end = f"ended at {snapshot.fraction:.0%} after {duration(snapshot.elapsed)}"
            self._file.write(f"{'overall':>10}: {end}\n")
            self._file.flush()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stage_line(stage: StageSnapshot) -> str:
    """A stage that started, ended or stopped, e.g. ``  scanning: done, 150/150 symbols in
    2.1 s, 71 symbols/s``."""
    label = f"{STAGE_LABELS[stage.name]:>10}"
    noun = "symbol" if stage.name in _SYMBOL_STAGES else "step"
    done = f"{stage.current:,}/{count(stage.total, noun)}"
    if stage.state == "done":
        speed = f", {rate(stage.rate, noun + 's')}" if stage.name in _SYMBOL_STAGES else ""
        return f"{label}: done, {done} in {duration(stage.elapsed)}{speed}"
    if stage.state == "stopped":
        return f"{label}: stopped at {done} after {duration(stage.elapsed)}"
    if stage.current == 0:
        return f"{label}: started, {count(stage.total, noun)}"
    return f"{label}: started, {done} already"


def _running_part(stage: StageSnapshot) -> str:
    """A running stage within the periodic ``overall`` line: ``scanning 250/1,000 symbols,
    50 symbols/s``."""
    noun = "symbol" if stage.name in _SYMBOL_STAGES else "step"
    part = f"{STAGE_LABELS[stage.name]} {stage.current:,}/{count(stage.total, noun)}"
    return part + (f", {rate(stage.rate, noun + 's')}" if stage.rate else "")
