"""Replay: the scan at many past dates, without look-ahead, in one pass over the bars.

``tn.replay(config, dates)`` reads each symbol's bars once and computes its
outcome at every date in one worker call (:mod:`technic_nb.research.replay.work`), with
the scan's own code on exactly the bars a scan ``as_of`` that date would use.
It runs through the scan's executors, so it streams through the same joblib
workers, checkpoints each symbol the moment it is done, cancels cooperatively
and resumes from the cache.  :class:`~technic_nb.ReplayResult` then ranks each
date as the scan would and evaluates the ratings against what happened next.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any

import pandas as pd

from technic_nb.core.cancel import ScanCancellation
from technic_nb.core.errors import config_error
from technic_nb.engine.config import ScanConfig
from technic_nb.engine.finalize import Collected
from technic_nb.engine.hooks import ScanHooks
from technic_nb.engine.plan import ScanPlan, window_ending
from technic_nb.engine.progress import MultiStageProgressTracker, ProgressCallback
from technic_nb.engine.run import Stages, engine_hooks, run
from technic_nb.research.replay.result import ReplayResult, build_replay_result
from technic_nb.research.replay.work import ReplayOutcome, ReplayWork
from technic_nb.sources.base import DateWindow

__all__ = ["DEFAULT_HORIZONS", "ReplayCollector", "check_dates", "check_horizons", "replay"]

#: Forward-return horizons (trading bars) evaluated by default.
DEFAULT_HORIZONS: tuple[int, ...] = (5, 21, 63)


def check_dates(dates: Any) -> tuple[dt.date, ...]:
    """The replay dates as sorted, unique ``datetime.date`` values.

    Raises:
        ScanError: a ``config_error`` naming the value that is not a date.
    """
    allowed = "a non-empty list of dates (datetime.date, 'YYYY-MM-DD' texts or Timestamps)"
    if isinstance(dates, str | dt.date) or not isinstance(dates, Iterable):
        raise config_error("dates", dates, allowed, owner="replay")
    out: set[dt.date] = set()
    for value in dates:
        try:
            out.add(pd.Timestamp(value).date())
        except (TypeError, ValueError):
            raise config_error(
                "dates", value, allowed + f"; {value!r} is not a date", owner="replay"
            ) from None
    if not out:
        raise config_error("dates", dates, allowed, owner="replay")
    return tuple(sorted(out))


def check_horizons(horizons: Any) -> tuple[int, ...]:
    """Forward-return horizons as sorted unique integers >= 1."""
    allowed = "a non-empty list of integers >= 1 (trading bars)"
    if isinstance(horizons, int):
        values: tuple[Any, ...] = (horizons,)
    elif isinstance(horizons, Iterable) and not isinstance(horizons, str):
        values = tuple(horizons)
    else:
        raise config_error("horizons", horizons, allowed, owner="replay")
    if not values or not all(
        isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in values
    ):
        raise config_error("horizons", horizons, allowed, owner="replay")
    return tuple(sorted(set(values)))


def replay_window(plan: ScanPlan, dates: tuple[dt.date, ...]) -> DateWindow:
    """The bars a replay reads per symbol: all of a local source's history; for a
    network source, from the first date's scan window to today."""
    end = plan.source.resolve_end(None)
    if end is None:
        return DateWindow(None, None)
    return DateWindow(window_ending(dates[0], plan.config.lookback_days).start, end)


class ReplayCollector:
    """A replay's outcomes, one per symbol with every date, and the
    :class:`~technic_nb.ReplayResult` of them."""

    noun = "symbols to replay"

    def __init__(self, dates: tuple[dt.date, ...], horizons: tuple[int, ...]) -> None:
        self.dates = dates
        self.horizons = horizons
        self.outcomes: dict[str, ReplayOutcome] = {}
        self.collected = Collected()
        self.warnings = self.collected.warnings
        self.stats = self.collected.extra_stats

    def planned(self, plan: ScanPlan) -> ScanPlan:
        job = dataclasses.replace(
            plan.job, window=replay_window(plan, self.dates), work=ReplayWork(self.dates)
        )
        return dataclasses.replace(plan, window=job.window, job=job)

    def items(self, symbols: int) -> int:
        return symbols * len(self.dates)

    def accept(self, outcome: ReplayOutcome) -> int:
        self.outcomes[outcome.symbol] = outcome
        if outcome.from_cache:
            self.collected.from_cache += 1
        else:
            self.collected.computed += 1
        self.collected.warnings.extend(outcome.warnings)
        return len(self.dates)

    def finish(
        self, plan: ScanPlan, token: ScanCancellation, stages: Stages, elapsed: float
    ) -> ReplayResult:
        stages.start("finalization", 1, "ranking every date")
        result = self._result(plan, False, elapsed, token)
        stages.finish("finalization", result.status)
        return result

    def partial(self, plan: ScanPlan, elapsed: float) -> ReplayResult:
        return self._result(plan, True, elapsed, ScanCancellation())

    def _result(
        self, plan: ScanPlan, cancelled: bool, elapsed: float, token: ScanCancellation
    ) -> ReplayResult:
        return build_replay_result(
            plan,
            self.outcomes,
            self.dates,
            self.horizons,
            cancelled=cancelled,
            collected=self.collected,
            elapsed=elapsed,
            token=token,
        )


def replay(
    config: ScanConfig | None = None,
    dates: Any = None,
    horizons: Any = DEFAULT_HORIZONS,
    progress_cb: ProgressCallback | None = None,
    cancellation_token: ScanCancellation | None = None,
    *,
    tracker: MultiStageProgressTracker | None = None,
    hooks: ScanHooks | None = None,
) -> ReplayResult:
    """Replay the scan of ``config`` at every date of ``dates``; evaluate what happened next.

    For each date ``d``, ``result.table(d)`` is what ``tn.scan(config.replace(as_of=d))``
    returns (the same numbers: the scan's own code runs on exactly the bars it
    would use; no bar after ``d``), but each symbol's bars are read once and all
    its dates are computed in one worker call, checkpointed per symbol in the
    same cache (a replay with more dates computes only the new ones).

    Args:
        config: the scan configuration (its ``as_of`` is not used).
        dates: the scan dates: dates, ISO texts or Timestamps (sorted and
            de-duplicated), e.g. month-ends from ``pandas.date_range(..., freq="BME")``.
        horizons: forward-return horizons in trading bars.
        progress_cb: as for :func:`~technic_nb.scan`; ``symbol_scanning`` counts
            symbols x dates.
        cancellation_token: cancelling returns the partial result (every
            symbol finished so far); running again resumes from the cache.
        tracker: a progress tracker to drive instead of a new one (front ends).
        hooks: a :class:`~technic_nb.engine.hooks.ScanHooks` told of every event.

    Raises:
        ScanError: a ``config_error`` for bad dates, horizons or configuration;
            scan-wide failures as for :func:`~technic_nb.scan`.
    """
    config = config if config is not None else ScanConfig()
    if not isinstance(config, ScanConfig):
        raise TypeError(f"config must be a ScanConfig, got {type(config).__name__}")
    collector = ReplayCollector(check_dates(dates), check_horizons(horizons))
    token = cancellation_token if cancellation_token is not None else ScanCancellation()
    _, chain = engine_hooks(tracker, progress_cb, None, hooks)
    return run(config, collector, token, chain)
