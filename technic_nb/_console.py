"""Console progress bars (tqdm on stderr) driven by a progress tracker."""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any

from tqdm.auto import tqdm as _tqdm_auto
from tqdm.std import tqdm as _tqdm_std

from ._progress import STAGES, MultiStageProgressTracker

__all__ = ["STAGE_LABELS", "ConsoleProgress"]

STAGE_LABELS = {
    "universe_loading": "universe",
    "data_fetching": "fetching",
    "symbol_scanning": "scanning",
    "finalization": "finalizing",
}


#: Least seconds between two redraws of the bars (a finished stage is always drawn).
MIN_INTERVAL = 0.05


class ConsoleProgress:
    """Four stage bars and a weighted overall bar, updated from tracker events.

    Events only record the latest counts; the bars are redrawn at most every
    :data:`MIN_INTERVAL` seconds, when a stage's total changes or it completes,
    and on :meth:`close`, so thousands of events per second cost microseconds.
    Thread-safe: the engine may report from several threads.  Use as a context
    manager, or call :meth:`close`.
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
        self.overall = cls(
            total=1000,
            desc="overall",
            file=out,
            position=0,
            disable=disable,
            leave=True,
            bar_format="{desc:>10}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]",
        )
        self.bars = {
            stage: cls(
                total=0,
                desc=STAGE_LABELS[stage],
                file=out,
                position=i + 1,
                disable=disable,
                leave=True,
                unit="sym" if stage in ("data_fetching", "symbol_scanning") else "step",
                dynamic_ncols=True,
            )
            for i, stage in enumerate(STAGES)
        }
        self._closed = False
        self._latest: dict[str, tuple[int, int]] = {}
        self._drawn_at = float("-inf")
        tracker.add_listener(self._on_event)

    def _on_event(self, stage: str, current: int, total: int, message: str, metadata: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if self._closed:
                return
            self._latest[stage] = (current, total)
            bar = self.bars.get(stage)
            urgent = bar is not None and (bar.total != total or current >= total)
            if urgent or now - self._drawn_at >= MIN_INTERVAL:
                self._draw()
                self._drawn_at = now

    def _draw(self) -> None:
        """Bring every bar to the latest counts (called with the lock held)."""
        for stage, (current, total) in self._latest.items():
            bar = self.bars.get(stage)
            if bar is None:
                continue
            if bar.total != total:
                bar.total = total
                bar.refresh()
            delta = current - bar.n
            if delta:
                bar.update(delta)
        overall = round(self._tracker.overall_fraction * 1000)
        if overall != self.overall.n:
            self.overall.update(overall - self.overall.n)

    def close(self, status: str | None = None) -> None:
        """Close every bar (leaving them on screen) and optionally print ``status``."""
        with self._lock:
            if self._closed:
                return
            self._draw()
            self._closed = True
            snap = self._tracker.snapshot()
            for stage in snap.stages:
                bar = self.bars[stage.name]
                if stage.state == "stopped":
                    bar.set_postfix_str("stopped", refresh=False)
                bar.close()
            if status:
                self.overall.set_postfix_str(status[:60], refresh=False)
            self.overall.close()

    def __enter__(self) -> ConsoleProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
