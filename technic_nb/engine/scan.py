"""The scan engine: one pipeline that every front end drives.

A scan reads top to bottom in :class:`_Scan`:

1. **universe_loading** - :func:`~technic_nb.engine.plan.prepare`: the source, the
   universe, the date window, the checkpoint cache.
2. **data_fetching** and 3. **symbol_scanning** - an executor
   (:mod:`technic_nb.engine.executors`) gets every symbol's outcome: read back from
   the checkpoint cache, or fetched and computed in joblib workers, each
   symbol checkpointed the moment it is done.
4. **finalization** - :func:`~technic_nb.engine.plan.finalize`: filters, scoring,
   ranking, the market regime, the error table and the status line.

The engine reports through one :class:`~technic_nb.engine.hooks.ScanHooks` (the
progress publisher and any row listener).  Cancelling (the token, or Ctrl-C /
Kernel > Interrupt) stops feeding the workers, lets the tasks in flight hand back
what they finished, and returns the partial result; the worker processes stay up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
from joblib import Memory

from technic_nb.core.cancel import CancelFlag, ScanCancellation, ScanCancelled
from technic_nb.core.errors import ScanError
from technic_nb.engine.cache.checkpoints import CheckpointCache, clear_cache
from technic_nb.engine.config import ScanConfig
from technic_nb.engine.executors import (
    ComputePool,
    FetchExecutor,
    LocalExecutor,
    effective_jobs,
    join_fetches,
)
from technic_nb.engine.hooks import DelegatingHooks, ProgressHooks, RowHooks, ScanHooks
from technic_nb.engine.plan import (
    Collected,
    ScanPlan,
    as_of_date,
    finalize,
    prepare,
    resolve_window,
    scan_regime,
)
from technic_nb.engine.progress import STAGES, MultiStageProgressTracker, ProgressCallback
from technic_nb.engine.result import ScanResult
from technic_nb.engine.universe import load_universe
from technic_nb.engine.work import SymbolJob, SymbolOutcome
from technic_nb.sources import resolve_source

__all__ = ["clear_scan_cache", "prune_cache", "resolve_window", "run_scan", "scan"]


class _Scan:
    """One scan, from the config to the result (not reusable)."""

    def __init__(self, config: ScanConfig, token: ScanCancellation, hooks: ScanHooks) -> None:
        self.config = config
        self.token = token
        self.hooks = hooks
        self.started = time.monotonic()
        self.collected = Collected()
        self.stage_started: dict[str, float] = {}
        self.stage_seconds: dict[str, float] = {}

    def run(self) -> ScanResult:
        join_fetches(_location(self.config))
        plan = self._prepare()
        try:
            cancelled = False
            try:
                self._scan_symbols(plan)
            except ScanCancelled:
                cancelled = True
            except KeyboardInterrupt:
                self.token.cancel("interrupted")
                cancelled = True
            if cancelled or self.token.is_cancelled():
                self.hooks.scan_stopped("cancelled")
                return self._result(plan, cancelled=True)
            return self._finish(plan)
        except BaseException:
            self.hooks.scan_stopped("failed")
            raise
        finally:
            plan.close()
            _prune(plan.job.cache, self.config)

    # -- stages -----------------------------------------------------------------
    def _stage(self, name: str, total: int, message: str = "") -> None:
        self.stage_started[name] = time.monotonic()
        self.hooks.stage_started(name, total, message)

    def _end_stage(self, name: str, message: str = "") -> None:
        self.stage_seconds[name] = time.monotonic() - self.stage_started.get(name, self.started)
        self.hooks.stage_finished(name, message)

    def _prepare(self) -> ScanPlan:
        self._stage("universe_loading", 3, "resolving the data source")
        try:
            plan = prepare(
                self.config,
                on_step=lambda message: self.hooks.stage_advanced("universe_loading", 1, message),
            )
        except BaseException:
            self.hooks.scan_stopped("failed")
            raise
        self._end_stage("universe_loading", f"{len(plan.universe)} symbols to scan")
        self.hooks.scan_prepared(plan)
        return plan

    def _scan_symbols(self, plan: ScanPlan) -> None:
        self.token.check_and_raise()
        symbols = plan.symbols
        self._stage("data_fetching", len(symbols), "checking the cache")
        self._stage("symbol_scanning", len(symbols), "checking the cache")
        if symbols:
            with (
                CancelFlag(self.token) as flag,
                _compute_pool(plan, self.token, self.hooks, self.collected) as (pool, job),
            ):
                job = dataclasses.replace(job, cancel=flag)
                kind = LocalExecutor if plan.source.fetch_in_worker else FetchExecutor
                executor = kind(plan, pool, job, self.hooks)
                try:
                    executor.run(symbols, self._accept)
                finally:
                    executor.close()
                    self.collected.warnings.extend(getattr(executor, "warnings", []))
        self._end_stage("data_fetching")
        self._end_stage("symbol_scanning")

    def _accept(self, outcome: SymbolOutcome) -> None:
        """Take one symbol's outcome (in the scanning thread)."""
        if outcome.error is not None and outcome.error.get("fatal"):
            self.token.cancel("failed")
            raise ScanError.from_dict(outcome.error)
        self.collected.add(outcome)
        self.hooks.symbol_done(outcome)
        self.hooks.stage_advanced(
            "symbol_scanning",
            1,
            outcome.symbol,
            symbol=outcome.symbol,
            from_cache=outcome.from_cache,
            ok=outcome.ok,
        )

    def _finish(self, plan: ScanPlan) -> ScanResult:
        self._stage("finalization", 3, "scoring")
        self.hooks.stage_advanced("finalization", 1, "ranking")
        regime = scan_regime(plan, self.token, self.collected.warnings)
        self.hooks.stage_advanced("finalization", 1, "regime")
        result = self._result(plan, cancelled=False, regime=regime)
        self._end_stage("finalization", result.status)
        result.stats["stage_seconds"] = {k: round(v, 6) for k, v in self.stage_seconds.items()}
        return result

    def _result(self, plan: ScanPlan, cancelled: bool, regime: Any = None) -> ScanResult:
        return finalize(
            plan,
            self.collected,
            cancelled=cancelled,
            elapsed=time.monotonic() - self.started,
            stage_seconds=self.stage_seconds,
            regime=regime,
        )


@contextlib.contextmanager
def _compute_pool(
    plan: ScanPlan, token: ScanCancellation, hooks: ScanHooks, collected: Collected
) -> Iterator[tuple[ComputePool, SymbolJob]]:
    """The workers of a scan, and the job to ship to them (Dask adjusts it)."""
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
                cluster.backend,
                -1,
                cluster.n_workers,
                token,
                on_cancel=cluster.cancel_tasks,
            )
            yield pool, cluster.job
    finally:
        collected.warnings.extend(cluster.warnings)
        collected.extra_stats.update(cluster.stats)


def _location(config: ScanConfig) -> str | None:
    location = config.checkpoint_location
    return None if location is None else str(location)


def _prune(cache: CheckpointCache | None, config: ScanConfig) -> None:
    if cache is None or (config.cache_bytes_limit is None and config.cache_age_limit is None):
        return
    with contextlib.suppress(OSError):
        cache.prune(bytes_limit=config.cache_bytes_limit, age_limit=config.cache_age_limit)  # type: ignore[arg-type]


def _hooks_for(
    tracker: MultiStageProgressTracker,
    row_listener: Any,
    hooks: ScanHooks | None,
) -> ScanHooks:
    chain: list[ScanHooks] = [ProgressHooks(tracker)]
    if row_listener is not None:
        chain.append(RowHooks(row_listener))
    if hooks is not None:
        chain.append(hooks)
    return DelegatingHooks(chain)


def scan(
    config: ScanConfig | None = None,
    progress_cb: ProgressCallback | None = None,
    cancellation_token: ScanCancellation | None = None,
    *,
    tracker: MultiStageProgressTracker | None = None,
    row_listener: Any = None,
    hooks: ScanHooks | None = None,
) -> ScanResult:
    """Run a scan and return the full :class:`~technic_nb.ScanResult`.

    Args:
        config: the scan configuration (default: ``ScanConfig()``, the demo market).
        progress_cb: ``cb(stage, current, total, message, metadata)`` or the legacy
            ``cb(stage, current, total)``; called from the scanning thread.
        cancellation_token: a :class:`~technic_nb.ScanCancellation`; cancelling it
            returns the partial result promptly.
        tracker: a progress tracker to drive instead of a new one (front ends).
        row_listener: ``fn(symbol, features)`` called with the feature dict of
            every symbol finished without error (from the cache or computed),
            from the scanning thread.  The dict is the engine's own: do not
            change it.
        hooks: a :class:`~technic_nb.engine.hooks.ScanHooks` told of every stage event
            and every symbol's outcome.  Exceptions raised by hooks, listeners
            and callbacks are logged and ignored.

    Raises:
        ScanError: for an invalid configuration, an unusable cache folder, or a
            scan-wide failure such as a rejected API key.  Per-symbol failures
            never raise; they are in ``result.errors``.
    """
    config = config if config is not None else ScanConfig()
    if not isinstance(config, ScanConfig):
        raise TypeError(f"config must be a ScanConfig, got {type(config).__name__}")
    token = cancellation_token if cancellation_token is not None else ScanCancellation()
    if tracker is None:
        tracker = MultiStageProgressTracker(callback=progress_cb)
    else:
        missing = [stage for stage in STAGES if stage not in tracker.stages]
        if missing:
            raise ValueError(
                f"a tracker given to scan() needs the stages {list(STAGES)}; it lacks {missing}"
            )
        if progress_cb is not None:
            tracker.add_listener(progress_cb)
    return _Scan(config, token, _hooks_for(tracker, row_listener, hooks)).run()


def run_scan(
    config: ScanConfig | None = None,
    progress_cb: ProgressCallback | None = None,
    cancellation_token: ScanCancellation | None = None,
) -> tuple[pd.DataFrame, str]:
    """Run a scan; return ``(ranked_table, status_text)``, always exactly two values.

    The table's ``attrs`` also carry ``errors`` (a list of error dicts),
    ``stats`` and ``cancelled``; use :func:`scan` for the full
    :class:`~technic_nb.ScanResult`.
    """
    result = scan(config, progress_cb, cancellation_token)
    table = result.table
    table.attrs["errors"] = result.errors.to_dict("records")
    table.attrs["stats"] = result.stats
    table.attrs["cancelled"] = result.cancelled
    return table, result.status


def clear_scan_cache(config: ScanConfig | None = None, *, everything: bool = False) -> int:
    """Remove checkpoint entries.

    With ``everything=True`` every checkpoint under the config's cache folder is
    removed (entries of earlier versions included).  Otherwise only the entries
    this config's scan would read (its symbols, window and parameters, both
    layers) are removed.  Returns how many entries were removed (``-1`` when
    everything was).
    """
    config = config if config is not None else ScanConfig()
    location = config.checkpoint_location
    if location is None:
        return 0
    if everything:
        if location.name == "checkpoints" and config.memory is None:
            clear_cache(location.parent)
        else:
            _cache(config, location).memory.clear(warn=False)
        return -1
    source = resolve_source(config.source)
    frame, _ = load_universe(config, source)
    window = resolve_window(source, as_of_date(config), config.lookback_days)
    job = SymbolJob(window, config.lookback_days, config.indicators, None, source.identity)
    cache = _cache(config, location)
    removed = 0
    for symbol in frame["symbol"]:
        removed += cache.forget_features(job.features_key(source.fingerprint(symbol, window)))
        removed += cache.forget_bars(job.bars_key(symbol))
    return removed


def prune_cache(
    config: ScanConfig | None = None,
    *,
    bytes_limit: int | str | None = None,
    age_limit: Any = None,
    items_limit: int | None = None,
) -> int:
    """Evict checkpoint entries, least recently used first, until the limits hold.

    ``bytes_limit`` is a size in bytes or a text such as ``"2G"``; ``age_limit``
    a ``datetime.timedelta`` (or a number of days) after which an unused entry
    goes; ``items_limit`` the most entries kept.  Without limits, the config's
    ``cache_bytes_limit`` and ``cache_age_limit`` apply.  Uses
    ``joblib.Memory.reduce_size``.  Returns how many entries were removed.
    """
    config = config if config is not None else ScanConfig()
    location = config.checkpoint_location
    if location is None or not location.exists():
        return 0
    if bytes_limit is None and age_limit is None and items_limit is None:
        bytes_limit, age_limit = config.cache_bytes_limit, config.cache_age_limit
    else:
        checked = ScanConfig(cache_bytes_limit=bytes_limit, cache_age_limit=age_limit)
        bytes_limit, age_limit = checked.cache_bytes_limit, checked.cache_age_limit
    return _cache(config, location).prune(bytes_limit, age_limit, items_limit)


def _cache(config: ScanConfig, location: Any) -> CheckpointCache:
    if isinstance(config.memory, Memory):
        return CheckpointCache(config.memory)
    return CheckpointCache.at(location)
