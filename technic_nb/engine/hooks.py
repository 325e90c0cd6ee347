"""What a scan tells the outside world while it runs: one hooks interface.

The engine calls a :class:`ScanHooks` at each step; front ends implement the
methods they need.  :class:`ProgressHooks` is the progress publisher (it drives
a :class:`~technic_nb.MultiStageProgressTracker`, whose listeners receive the
5-argument or legacy 3-argument callbacks), :class:`RowHooks` adapts a
``row_listener(symbol, features)``, and :class:`DelegatingHooks` fans out to
several.  A hook that raises is logged and ignored: front ends never break a scan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from technic_nb.engine.progress import MultiStageProgressTracker

if TYPE_CHECKING:
    from technic_nb.engine.plan import ScanPlan


class Outcome(Protocol):
    """What every per-symbol outcome has (a scan's ``SymbolOutcome``, a replay's
    ``ReplayOutcome``)."""

    @property
    def symbol(self) -> str: ...

    @property
    def from_cache(self) -> bool: ...

    @property
    def ok(self) -> bool: ...


__all__ = ["DelegatingHooks", "Outcome", "ProgressHooks", "RowHooks", "ScanHooks"]

logger = logging.getLogger("technic_nb.hooks")


class ScanHooks:
    """The interface: every method does nothing by default."""

    def scan_prepared(self, plan: ScanPlan) -> None:
        """The source, universe, window and cache are fixed (a ``ScanPlan``)."""

    def stage_started(self, stage: str, total: int, message: str = "") -> None:
        """``stage`` begins with ``total`` items to finish."""

    def stage_advanced(self, stage: str, n: int = 1, message: str = "", **metadata: Any) -> None:
        """``n`` more items of ``stage`` are finished."""

    def stage_finished(self, stage: str, message: str = "") -> None:
        """``stage`` is done."""

    def symbol_done(self, outcome: Outcome) -> None:
        """One symbol has its outcome (from the cache or computed)."""

    def scan_stopped(self, reason: str) -> None:
        """The scan stops early (``"cancelled"`` or ``"failed"``)."""


class ProgressHooks(ScanHooks):
    """The progress publisher: stage events and counters into a tracker."""

    def __init__(self, tracker: MultiStageProgressTracker) -> None:
        self.tracker = tracker

    def stage_started(self, stage: str, total: int, message: str = "") -> None:
        self.tracker.start_stage(stage, total, message)

    def stage_advanced(self, stage: str, n: int = 1, message: str = "", **metadata: Any) -> None:
        self.tracker.advance(stage, n, message, **metadata)

    def stage_finished(self, stage: str, message: str = "") -> None:
        self.tracker.finish_stage(stage, message)

    def symbol_done(self, outcome: Outcome) -> None:
        if outcome.from_cache:
            self.tracker.count("from_cache")
        if not outcome.ok:
            self.tracker.count("failed")

    def scan_stopped(self, reason: str) -> None:
        self.tracker.stop(reason)


class RowHooks(ScanHooks):
    """Adapts ``row_listener(symbol, features)``: called for every symbol with features."""

    def __init__(self, listener: Callable[[str, dict[str, Any]], Any]) -> None:
        self.listener = listener

    def symbol_done(self, outcome: Outcome) -> None:
        features = getattr(outcome, "features", None)
        if features is not None:
            self.listener(outcome.symbol, features)


class DelegatingHooks(ScanHooks):
    """Calls every hook in turn; one that raises is logged and the others still run."""

    def __init__(self, hooks: Iterable[ScanHooks]) -> None:
        self.hooks = tuple(hooks)

    def _each(self, method: str, *args: Any, **kwargs: Any) -> None:
        for hook in self.hooks:
            try:
                getattr(hook, method)(*args, **kwargs)
            except KeyboardInterrupt:
                raise
            except Exception:
                logger.debug("%s.%s raised", type(hook).__name__, method, exc_info=True)

    def scan_prepared(self, plan: ScanPlan) -> None:
        self._each("scan_prepared", plan)

    def stage_started(self, stage: str, total: int, message: str = "") -> None:
        self._each("stage_started", stage, total, message)

    def stage_advanced(self, stage: str, n: int = 1, message: str = "", **metadata: Any) -> None:
        self._each("stage_advanced", stage, n, message, **metadata)

    def stage_finished(self, stage: str, message: str = "") -> None:
        self._each("stage_finished", stage, message)

    def symbol_done(self, outcome: Outcome) -> None:
        self._each("symbol_done", outcome)

    def scan_stopped(self, reason: str) -> None:
        self._each("scan_stopped", reason)
