"""A scan: the pipeline's collector for one date, and the public scan functions.

:class:`ScanCollector` keeps each symbol's features row or error
(:class:`~technic_nb.engine.finalize.Collected`) and makes the
:class:`~technic_nb.ScanResult`: the finalization stage fetches the benchmark
for the market regime, then scores, screens and ranks
(:func:`~technic_nb.engine.finalize.finalize`).  :func:`scan`,
:func:`run_scan`, :func:`clear_scan_cache` and :func:`prune_cache` are the
public functions built on it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from technic_nb.core.cancel import ScanCancellation
from technic_nb.engine.benchmark import scan_regime
from technic_nb.engine.cache.location import Checkpoints
from technic_nb.engine.config import ScanConfig
from technic_nb.engine.finalize import Collected, finalize
from technic_nb.engine.hooks import ScanHooks
from technic_nb.engine.outcomes import SymbolOutcome
from technic_nb.engine.plan import ScanPlan, as_of_date, resolve_window
from technic_nb.engine.progress import MultiStageProgressTracker, ProgressCallback
from technic_nb.engine.result import ScanResult
from technic_nb.engine.run import Stages, engine_hooks, run
from technic_nb.engine.universe import load_universe
from technic_nb.engine.work import SymbolJob
from technic_nb.sources import resolve_source

__all__ = ["ScanCollector", "clear_scan_cache", "prune_cache", "run_scan", "scan"]


class ScanCollector:
    """A scan's outcomes, one per symbol, and the :class:`~technic_nb.ScanResult` of them."""

    noun = "symbols to scan"

    def __init__(self) -> None:
        self.collected = Collected()
        self.warnings = self.collected.warnings
        self.stats = self.collected.extra_stats

    def planned(self, plan: ScanPlan) -> ScanPlan:
        return plan

    def items(self, symbols: int) -> int:
        return symbols

    def accept(self, outcome: SymbolOutcome) -> int:
        self.collected.add(outcome)
        return 1

    def finish(
        self, plan: ScanPlan, token: ScanCancellation, stages: Stages, elapsed: float
    ) -> ScanResult:
        stages.start("finalization", 3, "scoring")
        stages.step("finalization", "ranking")
        regime = scan_regime(plan, token, self.collected.warnings)
        stages.step("finalization", "regime")
        result = finalize(
            plan,
            self.collected,
            cancelled=False,
            elapsed=elapsed,
            stage_seconds=stages.seconds,
            regime=regime,
        )
        stages.finish("finalization", result.status)
        result.stats["stage_seconds"] = {k: round(v, 6) for k, v in stages.seconds.items()}
        return result

    def partial(self, plan: ScanPlan, elapsed: float) -> ScanResult:
        return finalize(plan, self.collected, cancelled=True, elapsed=elapsed)


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
        hooks: a :class:`~technic_nb.ScanHooks` told of every stage event and every
            symbol's outcome.  Exceptions raised by hooks, listeners and callbacks
            are logged and ignored.

    Raises:
        ScanError: for an invalid configuration, an unusable cache folder, or a
            scan-wide failure such as a rejected API key.  Per-symbol failures
            never raise; they are in ``result.errors``.
    """
    config = _checked(config)
    token = cancellation_token if cancellation_token is not None else ScanCancellation()
    _, chain = engine_hooks(tracker, progress_cb, row_listener, hooks)
    return run(config, ScanCollector(), token, chain)


def _checked(config: ScanConfig | None) -> ScanConfig:
    config = config if config is not None else ScanConfig()
    if not isinstance(config, ScanConfig):
        raise TypeError(f"config must be a ScanConfig, got {type(config).__name__}")
    return config


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
    config = _checked(config)
    checkpoints = Checkpoints.of(config)
    if checkpoints is None:
        return 0
    if everything:
        checkpoints.clear_everything()
        return -1
    source = resolve_source(config.source)
    try:
        frame, _ = load_universe(config, source)
        window = resolve_window(source, as_of_date(config), config.lookback_days)
        job = SymbolJob(window, config.lookback_days, config.indicators, None, source.identity)
        cache = checkpoints.open()
        removed = 0
        for symbol in frame["symbol"]:
            removed += cache.features.forget(job.features_key(source.fingerprint(symbol, window)))
            removed += cache.bars.forget(job.bars_key(symbol))
    finally:
        if source is not config.source:
            source.close()
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
    config = _checked(config)
    checkpoints = Checkpoints.of(config)
    if checkpoints is None:
        return 0
    if bytes_limit is not None or age_limit is not None:
        checked = ScanConfig(cache_bytes_limit=bytes_limit, cache_age_limit=age_limit)
        bytes_limit, age_limit = checked.cache_bytes_limit, checked.cache_age_limit
    return checkpoints.prune(bytes_limit, age_limit, items_limit)
