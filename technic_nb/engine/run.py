"""The one pipeline every run goes through: a scan, a replay, from any front end.

:func:`run` reads top to bottom:

1. **universe_loading** - :func:`~technic_nb.engine.plan.prepare`: the source,
   the universe, the date window, the checkpoint cache.
2. **data_fetching** and 3. **symbol_scanning** - an executor
   (:mod:`technic_nb.engine.executors`) gets every symbol's outcome: read back
   from the checkpoint cache, or fetched and computed in joblib workers, each
   symbol checkpointed the moment it is done.
4. **finalization** - the collector's result (a scan scores and ranks; a replay
   ranks every date).

What differs between a scan and a replay is a :class:`Collector`: the work the
workers do for each symbol (it adjusts the plan), what it keeps of each outcome,
and the result it makes of them.  The pipeline reports through one
:class:`~technic_nb.ScanHooks` (the progress publisher, a row listener, a front
end's hooks).  Cancelling (the token, or Ctrl-C / Kernel > Interrupt) stops
feeding the workers, lets the tasks in flight hand back what they finished, and
returns the collector's partial result; the worker processes stay up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

from technic_nb.core.cancel import CancelFlag, ScanCancellation, ScanCancelled
from technic_nb.core.errors import ScanError
from technic_nb.engine.cache.location import Checkpoints
from technic_nb.engine.config import ScanConfig
from technic_nb.engine.executors import (
    ComputePool,
    FetchExecutor,
    LocalExecutor,
    effective_jobs,
    join_fetches,
)
from technic_nb.engine.hooks import DelegatingHooks, Outcome, ProgressHooks, RowHooks, ScanHooks
from technic_nb.engine.plan import ScanPlan, prepare
from technic_nb.engine.progress import STAGES, MultiStageProgressTracker, ProgressCallback
from technic_nb.engine.work import SymbolJob

__all__ = ["Collector", "Stages", "engine_hooks", "run"]

R = TypeVar("R", covariant=True)
T = TypeVar("T")


class Stages:
    """The stage events of one run, with the seconds each stage took."""

    def __init__(self, hooks: ScanHooks) -> None:
        self.hooks = hooks
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def start(self, name: str, total: int, message: str = "") -> None:
        self.started[name] = time.monotonic()
        self.hooks.stage_started(name, total, message)

    def step(self, name: str, message: str = "", n: int = 1, **metadata: Any) -> None:
        self.hooks.stage_advanced(name, n, message, **metadata)

    def finish(self, name: str, message: str = "") -> None:
        self.seconds[name] = time.monotonic() - self.started.get(name, time.monotonic())
        self.hooks.stage_finished(name, message)


class Collector(Protocol[R]):
    """What makes a run a scan or a replay (:mod:`technic_nb.engine.scan`,
    :mod:`technic_nb.research.replay.run`).  Called from the run's thread only."""

    #: what the universe stage says it found (``"symbols to scan"``)
    noun: str
    #: the notes of the run (for ``result.warnings``)
    warnings: list[str]
    #: figures of the run besides the counts (a Dask cluster's), for ``result.stats``
    stats: dict[str, Any]

    def planned(self, plan: ScanPlan) -> ScanPlan:
        """The plan the workers run (a replay reads whole histories with its own work)."""
        ...

    def items(self, symbols: int) -> int:
        """How many items the ``symbol_scanning`` stage counts for ``symbols`` symbols."""
        ...

    def accept(self, outcome: Any) -> int:
        """Keep one symbol's outcome; return how many items it finished."""
        ...

    def finish(self, plan: ScanPlan, token: ScanCancellation, stages: Stages, elapsed: float) -> R:
        """The result of a run that went through (runs the ``finalization`` stage)."""
        ...

    def partial(self, plan: ScanPlan, elapsed: float) -> R:
        """The result of the outcomes so far (a cancelled run)."""
        ...


def run(
    config: ScanConfig, collector: Collector[R], token: ScanCancellation, hooks: ScanHooks
) -> R:
    """Run ``config`` through the pipeline; ``collector`` makes the result.

    Raises:
        ScanError: an invalid configuration, an unusable cache folder, or a failure
            of the whole run (a rejected API key).  Per-symbol failures never raise.
    """
    started = time.monotonic()
    stages = Stages(hooks)
    checkpoints = Checkpoints.of(config)
    join_fetches(checkpoints.key if checkpoints is not None else None)
    plan = _prepare(config, collector, stages, hooks)
    try:
        cancelled = _symbols(plan, collector, token, stages, hooks)
        if cancelled or token.is_cancelled():
            hooks.scan_stopped("cancelled")
            return collector.partial(plan, time.monotonic() - started)
        return collector.finish(plan, token, stages, time.monotonic() - started)
    except BaseException:
        hooks.scan_stopped("failed")
        raise
    finally:
        plan.close()
        if plan.checkpoints is not None:
            plan.checkpoints.prune()


def _prepare(
    config: ScanConfig, collector: Collector[Any], stages: Stages, hooks: ScanHooks
) -> ScanPlan:
    stages.start("universe_loading", 3, "resolving the data source")
    try:
        plan = collector.planned(
            prepare(config, on_step=lambda message: stages.step("universe_loading", message))
        )
    except BaseException:
        hooks.scan_stopped("failed")
        raise
    stages.finish("universe_loading", f"{len(plan.universe)} {collector.noun}")
    hooks.scan_prepared(plan)
    return plan


def _symbols(
    plan: ScanPlan,
    collector: Collector[Any],
    token: ScanCancellation,
    stages: Stages,
    hooks: ScanHooks,
) -> bool:
    """Every symbol's outcome into the collector; True when the run was cancelled."""
    symbols = plan.symbols
    stages.start("data_fetching", len(symbols), "checking the cache")
    stages.start("symbol_scanning", collector.items(len(symbols)), "checking the cache")

    def accept(outcome: Outcome) -> None:
        error = getattr(outcome, "error", None)
        if isinstance(error, ScanError) and error.fatal:
            token.cancel("failed")
            raise error
        done = collector.accept(outcome)
        hooks.symbol_done(outcome)
        stages.step(
            "symbol_scanning",
            outcome.symbol,
            done,
            symbol=outcome.symbol,
            from_cache=outcome.from_cache,
            ok=outcome.ok,
        )

    try:
        token.check_and_raise()
        if symbols:
            with (
                CancelFlag(token) as flag,
                _compute_pool(plan, token, hooks, collector) as (pool, job),
            ):
                job = dataclasses.replace(job, cancel=flag)
                kind = LocalExecutor if plan.source.fetch_in_worker else FetchExecutor
                executor = kind(plan, pool, job, hooks)
                try:
                    executor.run(symbols, accept)
                finally:
                    executor.close()
                    collector.warnings.extend(getattr(executor, "warnings", []))
    except ScanCancelled:
        return True
    except KeyboardInterrupt:
        token.cancel("interrupted")
        return True
    stages.finish("data_fetching")
    stages.finish("symbol_scanning")
    return False


@contextlib.contextmanager
def _compute_pool(
    plan: ScanPlan, token: ScanCancellation, hooks: ScanHooks, collector: Collector[Any]
) -> Iterator[tuple[ComputePool, SymbolJob]]:
    """The workers of a run, and the job to ship to them (Dask adjusts it)."""
    config = plan.config
    if config.backend != "dask":
        n_workers = effective_jobs(config.n_jobs)
        yield ComputePool(config.backend, config.n_jobs, n_workers, token), plan.job
        return
    from technic_nb.engine.dask import DaskScan

    cluster = DaskScan(config.dask_client, plan.job, hooks)
    try:
        with cluster:
            pool = ComputePool(
                cluster.backend, -1, cluster.n_workers, token, on_cancel=cluster.cancel_tasks
            )
            yield pool, cluster.job
    finally:
        collector.warnings.extend(cluster.warnings)
        collector.stats.update(cluster.stats)


def engine_hooks(
    tracker: MultiStageProgressTracker | None,
    progress_cb: ProgressCallback | None,
    row_listener: Callable[[str, dict[str, Any]], Any] | None = None,
    hooks: ScanHooks | None = None,
) -> tuple[MultiStageProgressTracker, ScanHooks]:
    """The tracker a run drives and the hooks it reports to (progress publisher first).

    Raises:
        ValueError: a ``tracker`` without the four scan stages.
    """
    if tracker is None:
        tracker = MultiStageProgressTracker(callback=progress_cb)
    else:
        missing = [stage for stage in STAGES if stage not in tracker.stages]
        if missing:
            raise ValueError(
                f"a tracker given to scan() or replay() needs the stages {list(STAGES)}; "
                f"it lacks {missing}"
            )
        if progress_cb is not None:
            tracker.add_listener(progress_cb)
    chain: list[ScanHooks] = [ProgressHooks(tracker)]
    if row_listener is not None:
        chain.append(RowHooks(row_listener))
    if hooks is not None:
        chain.append(hooks)
    return tracker, DelegatingHooks(chain)
