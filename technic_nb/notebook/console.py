"""Console progress bars (tqdm on stderr) driven by a progress tracker."""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any

from tqdm.auto import tqdm as _tqdm_auto
from tqdm.std import tqdm as _tqdm_std

from technic_nb.compat.tqdm_internals import mark_printed, set_elapsed
from technic_nb.engine.progress import STAGES, MultiStageProgressTracker

__all__ = ["STAGE_LABELS", "ConsoleProgress"]

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
