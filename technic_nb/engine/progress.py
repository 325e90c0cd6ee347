"""The multi-stage progress model of a scan (pure: no I/O, no widgets).

A scan has four stages, each with a weight in the overall bar:

==================  ======  ==========================================
stage               weight  counts
==================  ======  ==========================================
universe_loading    0.05    universe steps finished
data_fetching       0.20    symbols whose bars are in hand (or failed)
symbol_scanning     0.70    symbols whose indicators are computed
finalization        0.05    scoring, ranking and regime steps finished
==================  ======  ==========================================

The tracker counts work *finished* (never started), is thread-safe, and calls
an optional callback ``cb(stage, current, total, message, metadata)`` after
each update.  A legacy three-argument callback ``cb(stage, current, total)`` is
accepted too.  A callback that raises is reported once as a warning and
otherwise ignored: it never breaks the scan.
"""

from __future__ import annotations

import inspect
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_STAGE_WEIGHTS",
    "STAGES",
    "MultiStageProgressTracker",
    "ProgressCallback",
    "ProgressSnapshot",
    "StageSnapshot",
]

logger = logging.getLogger("technic_nb.progress")

STAGES: tuple[str, ...] = ("universe_loading", "data_fetching", "symbol_scanning", "finalization")
DEFAULT_STAGE_WEIGHTS: Mapping[str, float] = {
    "universe_loading": 0.05,
    "data_fetching": 0.20,
    "symbol_scanning": 0.70,
    "finalization": 0.05,
}

ProgressCallback = Callable[..., Any]


@dataclass(frozen=True)
class StageSnapshot:
    """One stage at one moment."""

    name: str
    weight: float
    current: int
    total: int
    state: str  # "pending", "running", "done" or "stopped"
    elapsed: float
    rate: float  # items finished per second while running (0 when unknown)
    eta: float | None  # seconds left, None when unknown
    message: str

    @property
    def fraction(self) -> float:
        """Finished fraction in [0, 1] (a done stage with no work counts as 1)."""
        if self.total > 0:
            return min(1.0, self.current / self.total)
        return 1.0 if self.state == "done" else 0.0


@dataclass(frozen=True)
class ProgressSnapshot:
    """All stages and the weighted overall progress at one moment."""

    stages: tuple[StageSnapshot, ...]
    fraction: float
    elapsed: float
    eta: float | None
    counters: Mapping[str, int] = field(default_factory=dict)

    def stage(self, name: str) -> StageSnapshot:
        """The snapshot of stage ``name``."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)


class _Stage:
    __slots__ = ("current", "ended", "message", "name", "started", "state", "total", "weight")

    def __init__(self, name: str, weight: float) -> None:
        self.name = name
        self.weight = weight
        self.current = 0
        self.total = 0
        self.state = "pending"
        self.started: float | None = None
        self.ended: float | None = None
        self.message = ""


def _adapt_callback(callback: ProgressCallback | None) -> Callable[..., Any] | None:
    """Return a 5-argument callable for a 5- or legacy 3-argument callback."""
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"progress_cb must be callable, got {type(callback).__name__}")
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):  # builtins without a signature: assume the full form
        return callback
    try:
        signature.bind("stage", 0, 0, "", {})
        return callback
    except TypeError:
        pass
    try:
        signature.bind("stage", 0, 0)
    except TypeError:
        raise TypeError(
            "progress_cb must accept (stage, current, total, message, metadata) "
            "or the legacy (stage, current, total)"
        ) from None
    return lambda stage, current, total, message, metadata: callback(stage, current, total)


def _stage_weights(
    weights: Mapping[str, float] | None,
    stages: Sequence[str] | None,
    stage_weights: Sequence[float] | None,
) -> dict[str, float]:
    """The stage -> weight mapping from either form of the constructor's arguments."""
    if stages is not None or stage_weights is not None:
        if weights is not None:
            raise ValueError("give weights or stages and stage_weights, not both")
        if stages is None or stage_weights is None:
            raise ValueError("stages and stage_weights go together")
        stages, stage_weights = list(stages), list(stage_weights)
        if len(stages) != len(stage_weights):
            raise ValueError(
                f"stages ({len(stages)}) and stage_weights ({len(stage_weights)}) "
                "must have the same length"
            )
        weights = dict(zip(stages, stage_weights, strict=True))
        if len(weights) != len(stages):
            raise ValueError(f"stage names must be unique, got {stages}")
    result = dict(DEFAULT_STAGE_WEIGHTS if weights is None else weights)
    if not result or not all(isinstance(name, str) and name for name in result):
        raise ValueError(f"stages must be non-empty names, got {list(result)}")
    return result


class MultiStageProgressTracker:
    """Thread-safe progress over the four weighted scan stages.

    Two equivalent ways to name the stages::

        MultiStageProgressTracker()                                   # the scan's four
        MultiStageProgressTracker(weights={"download": 0.3, "compute": 0.7})
        MultiStageProgressTracker(stages=["download", "compute"], stage_weights=[0.3, 0.7])

    and two ways to report work: by stage name (:meth:`start_stage`,
    :meth:`advance`, :meth:`finish_stage`), or on the stage started last
    (:meth:`update`), as in ``start_stage("download", total=500)`` then
    ``update(1, message="AAPL")``.

    Args:
        weights: stage name -> weight, in stage order; each weight finite and
            >= 0, summing to 1 (within 1e-6).  Default:
            :data:`DEFAULT_STAGE_WEIGHTS` (the scan's four stages, which a
            tracker given to :func:`~technic_nb.scan` must have).
        callback: called after every update as ``cb(stage, current, total,
            message, metadata)`` (or legacy ``cb(stage, current, total)``).
        clock: a monotonic clock (injectable for tests).
        stages: the stage names in order (instead of ``weights``).
        stage_weights: their weights, in the same order.
        progress_callback: another name for ``callback``.
    """

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        callback: ProgressCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        stages: Sequence[str] | None = None,
        stage_weights: Sequence[float] | None = None,
        progress_callback: ProgressCallback | None = None,
    ) -> None:
        weights = _stage_weights(weights, stages, stage_weights)
        if callback is not None and progress_callback is not None:
            raise ValueError("give callback or progress_callback, not both")
        callback = callback if callback is not None else progress_callback
        for name, value in weights.items():
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"weight of stage {name!r} must be a finite number >= 0, got {value!r}"
                )
        total = sum(weights.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"stage weights must sum to 1, got {total:.6g}")
        self._lock = threading.RLock()
        self._clock = clock
        self._stages = {name: _Stage(name, float(value)) for name, value in weights.items()}
        self._current: str | None = None
        self._callback = _adapt_callback(callback)
        self._callback_failed = False
        self._created = clock()
        self._counters: dict[str, int] = {}
        self._listeners: list[Callable[[str, int, int, str, Mapping[str, Any]], Any]] = []

    # -- updates -------------------------------------------------------------
    def start_stage(self, stage: str, total: int, message: str = "", **metadata: Any) -> None:
        """Mark ``stage`` running with ``total`` items to finish."""
        if total < 0:
            raise ValueError(f"total must be >= 0, got {total}")
        with self._lock:
            st = self._get(stage)
            st.total = int(total)
            st.current = 0
            st.state = "running"
            st.started = self._clock()
            st.ended = None
            st.message = message
            self._current = stage
        self._notify(stage, message, metadata)

    def update(self, n: int = 1, message: str = "", **metadata: Any) -> None:
        """Record ``n`` more items finished in the stage started last (see :meth:`start_stage`)."""
        with self._lock:
            stage = self._current
        if stage is None:
            raise ValueError("update() needs a running stage: call start_stage(name, total=...)")
        self.advance(stage, n, message, **metadata)

    def complete_stage(self, message: str = "") -> None:
        """Mark the stage started last done (see :meth:`finish_stage`)."""
        with self._lock:
            stage = self._current
        if stage is None:
            raise ValueError("complete_stage() needs a running stage: call start_stage first")
        self.finish_stage(stage, message)

    @property
    def stages(self) -> tuple[str, ...]:
        """The stage names, in order."""
        return tuple(self._stages)

    @property
    def current_stage(self) -> str | None:
        """The stage started last (None before any)."""
        return self._current

    def advance(self, stage: str, n: int = 1, message: str = "", **metadata: Any) -> None:
        """Record ``n`` more items of ``stage`` finished."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        with self._lock:
            st = self._get(stage)
            if st.state == "pending":
                st.state = "running"
                st.started = self._clock()
            st.current += int(n)
            if st.total and st.current > st.total:
                st.total = st.current
            if message:
                st.message = message
        self._notify(stage, message, metadata)

    def set_total(self, stage: str, total: int) -> None:
        """Change the item count of ``stage`` (e.g. once the universe is known)."""
        with self._lock:
            st = self._get(stage)
            st.total = max(int(total), st.current)
        self._notify(stage, "", {})

    def finish_stage(self, stage: str, message: str = "", **metadata: Any) -> None:
        """Mark ``stage`` done (its count is set to its total)."""
        with self._lock:
            st = self._get(stage)
            if st.started is None:
                st.started = self._clock()
            st.current = max(st.current, st.total)
            st.total = st.current if st.total == 0 else st.total
            st.state = "done"
            st.ended = self._clock()
            if message:
                st.message = message
        self._notify(stage, message, metadata)

    def stop(self, message: str = "stopped") -> None:
        """Mark every unfinished stage stopped (the scan was cancelled or failed)."""
        with self._lock:
            now = self._clock()
            for st in self._stages.values():
                if st.state in ("pending", "running"):
                    st.state = "stopped"
                    st.ended = now
                    st.message = message
        self._notify("finalization", message, {"stopped": True})

    def count(self, counter: str, n: int = 1) -> None:
        """Bump a named counter (``from_cache``, ``failed``, ``retrying``...)."""
        with self._lock:
            self._counters[counter] = self._counters.get(counter, 0) + int(n)

    def add_listener(self, listener: Callable[..., Any]) -> None:
        """Also call ``listener(stage, current, total, message, metadata)`` on updates."""
        adapted = _adapt_callback(listener)
        if adapted is None:
            raise TypeError("listener must be callable, got None")
        with self._lock:
            self._listeners.append(adapted)

    # -- queries -------------------------------------------------------------
    def snapshot(self) -> ProgressSnapshot:
        """A consistent picture of every stage and the weighted overall progress."""
        with self._lock:
            now = self._clock()
            stages = tuple(self._stage_snapshot(st, now) for st in self._stages.values())
            counters = dict(self._counters)
        fraction = sum(s.weight * s.fraction for s in stages)
        elapsed = now - self._created
        eta = None
        if 0 < fraction < 1 and elapsed > 0:
            eta = elapsed / fraction - elapsed
        elif fraction >= 1:
            eta = 0.0
        return ProgressSnapshot(stages, min(1.0, fraction), elapsed, eta, counters)

    @property
    def overall_fraction(self) -> float:
        """Weighted finished fraction of the whole scan in [0, 1]."""
        return self.snapshot().fraction

    @property
    def weights(self) -> dict[str, float]:
        """Stage weights."""
        return {name: st.weight for name, st in self._stages.items()}

    # -- internals -----------------------------------------------------------
    def _get(self, stage: str) -> _Stage:
        try:
            return self._stages[stage]
        except KeyError:
            raise ValueError(f"unknown stage {stage!r}; stages are {list(self._stages)}") from None

    def _stage_snapshot(self, st: _Stage, now: float) -> StageSnapshot:
        elapsed = 0.0
        if st.started is not None:
            elapsed = (st.ended if st.ended is not None else now) - st.started
        rate = st.current / elapsed if elapsed > 0 and st.current else 0.0
        eta: float | None = None
        if st.state == "done":
            eta = 0.0
        elif st.state == "running" and rate > 0 and st.total:
            eta = max(0.0, (st.total - st.current) / rate)
        return StageSnapshot(
            st.name, st.weight, st.current, st.total, st.state, elapsed, rate, eta, st.message
        )

    def _notify(self, stage: str, message: str, metadata: Mapping[str, Any]) -> None:
        with self._lock:
            st = self._stages.get(stage)
            current, total = (st.current, st.total) if st else (0, 0)
            listeners = list(self._listeners)
        if self._callback is not None:
            try:
                self._callback(stage, current, total, message, dict(metadata))
            except Exception:  # a user callback never breaks the scan
                if not self._callback_failed:
                    self._callback_failed = True
                    logger.warning(
                        "progress callback raised; further errors ignored", exc_info=True
                    )
        for listener in listeners:
            try:
                listener(stage, current, total, message, dict(metadata))
            except Exception:
                logger.debug("progress listener raised", exc_info=True)
