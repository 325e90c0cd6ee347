"""The start of every run: :func:`prepare` fixes everything before the first symbol.

``prepare`` resolves the source (with the config's retry limits), reads the
universe, fixes the date window and opens the checkpoint cache
(:class:`~technic_nb.engine.cache.location.Checkpoints`); the result is a
:class:`ScanPlan`.  Its other end is :mod:`technic_nb.engine.finalize`.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from technic_nb.core.cancel import ScanCancellation
from technic_nb.core.errors import ScanError
from technic_nb.core.scoring.columns import builtin_columns
from technic_nb.engine.cache.location import Checkpoints
from technic_nb.engine.config import ScanConfig
from technic_nb.engine.factor_work import FactorSet
from technic_nb.engine.universe import read_universe
from technic_nb.engine.work import SymbolJob
from technic_nb.sources import resolve_source
from technic_nb.sources.base import DataSource, DateWindow
from technic_nb.sources.retry.policy import RetryPolicy

__all__ = ["ScanPlan", "as_of_date", "prepare", "resolve_window", "window_ending"]


def resolve_window(source: DataSource, as_of: dt.date | None, lookback_days: int) -> DateWindow:
    """The date window of a scan, resolved once per scan.

    The end is ``as_of``, or for network sources today's date (so a scan run
    tomorrow asks for tomorrow's bars), or None for offline sources ("their
    latest bar").  When the end is known the start is far enough back to hold
    ``lookback_days`` trading bars (365.25/252 calendar days per bar plus 30 days
    for holidays).
    """
    end = source.resolve_end(as_of)
    if end is None:
        return DateWindow(None, None)
    return window_ending(end, lookback_days)


def window_ending(end: dt.date, lookback_days: int) -> DateWindow:
    """The window of a scan as of ``end``: long enough for ``lookback_days`` trading bars."""
    span = math.ceil(lookback_days * 365.25 / 252) + 30
    return DateWindow(end - dt.timedelta(days=span), end)


def as_of_date(config: ScanConfig) -> dt.date | None:
    """``config.as_of`` (validated to a date or None when the config was built)."""
    as_of = config.as_of
    if isinstance(as_of, str):  # pragma: no cover - ScanConfig converts text dates
        return dt.date.fromisoformat(as_of)
    return as_of


@dataclass
class ScanPlan:
    """Everything fixed before the first symbol is scanned."""

    config: ScanConfig
    source: DataSource
    owns_source: bool
    universe: pd.DataFrame
    #: the universe's entries that are not valid symbols, with their errors
    invalid: dict[str, ScanError]
    window: DateWindow
    job: SymbolJob
    checkpoints: Checkpoints | None = None
    retry_before: dict[str, Any] = field(default_factory=dict)
    #: notes found while preparing (for ``result.warnings``)
    warnings: list[str] = field(default_factory=list)

    @property
    def symbols(self) -> list[str]:
        """The symbols to scan, in universe order."""
        return list(self.universe["symbol"])

    def close(self) -> None:
        """Release the source when this scan created it."""
        if self.owns_source:
            self.source.close()


def _with_retry_limits(config: ScanConfig, source: DataSource) -> tuple[DataSource, bool]:
    """The source with the config's retry limits (a copy: the caller's source is unchanged)."""
    owns = not isinstance(config.source, DataSource)
    base = getattr(source, "retry", None)
    if isinstance(base, RetryPolicy):
        policy = config.retry_policy(base)
        if policy != base:
            source = copy.copy(source)
            source.retry = policy  # type: ignore[attr-defined]
            owns = True
    return source, owns


def prepare(
    config: ScanConfig, token: ScanCancellation | None = None, *, on_step: Any = None
) -> ScanPlan:
    """Resolve the source, the universe, the window and the cache of a scan.

    ``on_step(message)`` is called after each of the three steps (progress).
    """
    step = on_step or (lambda message: None)
    checkpoints = Checkpoints.of(config)
    cache = checkpoints.open() if checkpoints is not None else None
    source, owns = _with_retry_limits(config, resolve_source(config.source))
    try:
        step(f"reading the universe from {source!r}")
        universe = read_universe(config, source)
        frame, bad = universe.frame, universe.invalid
        step(f"{len(frame)} symbols")
        window = resolve_window(source, as_of_date(config), config.lookback_days)
        job = SymbolJob(
            window=window,
            lookback=config.lookback_days,
            indicators=config.indicators,
            cache=cache,
            source_identity=source.identity,
            factors=factor_set(config),
        )
        stats = getattr(source, "retry_stats", None)
        invalid = {str(exc.details.get("symbol", "?")): exc for exc in bad}
        plan = ScanPlan(config, source, owns, frame, invalid, window, job, checkpoints)
        plan.warnings.extend(universe.notes)
        plan.retry_before = stats.snapshot() if stats is not None else {}
    except BaseException:
        if owns:
            source.close()
        raise
    if token is not None:
        token.check_and_raise()
    return plan


def factor_set(config: ScanConfig) -> FactorSet:
    """The config's factors keyed for the workers (keys computed here, where the factors'
    sources are readable), with the built-in columns they must not take."""
    if not config.factors:
        return FactorSet()
    reserved = frozenset(builtin_columns(config.indicators, config.scoring))
    return FactorSet.of(tuple(config.factors), reserved)
