"""A replay under the notebook panel: stage bars, Cancel, and a re-run that resumes."""

from __future__ import annotations

import threading
from typing import Any

from technic_nb.engine.config import ScanConfig
from technic_nb.engine.hooks import Outcome, ScanHooks
from technic_nb.engine.plan import Collected, ScanPlan
from technic_nb.notebook.runner import ScanRunner
from technic_nb.research.replay.result import ReplayResult, build_replay_result
from technic_nb.research.replay.run import DEFAULT_HORIZONS, check_dates, check_horizons, replay
from technic_nb.research.replay.work import ReplayOutcome

__all__ = ["ReplayRunner"]


class _ReplayHooks(ScanHooks):
    """What a replay runner keeps of its replay: the plan and every symbol's outcome."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.plan: ScanPlan | None = None
        self.outcomes: dict[str, ReplayOutcome] = {}

    def scan_prepared(self, plan: ScanPlan) -> None:
        self.plan = plan

    def symbol_done(self, outcome: Outcome) -> None:
        if isinstance(outcome, ReplayOutcome):
            with self._lock:
                self.outcomes[outcome.symbol] = outcome


class ReplayRunner(ScanRunner):
    """Runs :func:`~technic_nb.replay` with the same panel, Cancel and resume as a scan.

    ``ReplayRunner(config, dates, horizons=(5, 21, 63))``, then ``start()`` (the
    panel and a background thread) or ``run()`` (blocking); ``wait()`` and
    ``result`` give the :class:`~technic_nb.ReplayResult`.  Running it again
    with the same configuration and dates resumes from the cache.
    """

    kind = "replay"

    def __init__(
        self,
        config: ScanConfig | None = None,
        dates: Any = None,
        horizons: Any = DEFAULT_HORIZONS,
        *,
        display: bool | None = None,
        console: bool | None = None,
    ) -> None:
        super().__init__(config, display=display, console=console)
        self.dates = check_dates(dates)
        self.horizons = check_horizons(horizons)
        self._replay_hooks = _ReplayHooks()

    def _run_engine(self) -> ReplayResult:
        return replay(
            self.config,
            self.dates,
            self.horizons,
            cancellation_token=self.token,
            tracker=self.tracker,
            hooks=self._replay_hooks,
        )

    def _partial_result(self) -> Any:
        """The outcomes so far as a cancelled :class:`ReplayResult`."""
        hooks = self._replay_hooks
        with hooks._lock:
            outcomes = dict(hooks.outcomes)
        if hooks.plan is None:
            raise RuntimeError("the replay was interrupted before its universe was read")
        return build_replay_result(
            hooks.plan,
            outcomes,
            self.dates,
            self.horizons,
            cancelled=True,
            collected=Collected(),
            elapsed=self.elapsed,
            token=self.token,
        )
