"""The bars a scan used for a symbol, read back through the checkpoint cache.

:class:`ScanBars` is what :meth:`ScanResult.bars <technic_nb.ScanResult.bars>` calls.
A symbol's features entry keeps the bars its features were computed from, so
they come back as they were, without the source; a symbol without one (its
entry was pruned, or the scan cached nothing) is read from the source in the
scan's own date window (network sources through the bars cache) and trimmed to
the scan's ``lookback_days``, as the scan trimmed it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from technic_nb.core.symbols import validate_symbol
from technic_nb.engine.cache.checkpoints import CheckpointCache
from technic_nb.engine.config import ScanConfig
from technic_nb.engine.outcomes import Computed, Features
from technic_nb.engine.work import SymbolJob, trim_bars
from technic_nb.sources import resolve_source
from technic_nb.sources.base import BarsPayload, DataSource, DateWindow

__all__ = ["ScanBars"]


@dataclass(frozen=True)
class ScanBars:
    """Reads the bars one scan used, by symbol (picklable: a config, a window, a cache)."""

    config: ScanConfig
    window: DateWindow
    cache: CheckpointCache | None

    @classmethod
    def of(cls, plan: object) -> ScanBars:
        """The reader of the scan planned by ``plan`` (a ``ScanPlan``)."""
        return cls(plan.config, plan.window, plan.job.cache)  # type: ignore[attr-defined]

    def __call__(self, symbol: str) -> pd.DataFrame:
        """The bars of ``symbol`` the scan used (at most ``lookback_days``, up to its end).

        Raises:
            ScanError: an invalid symbol, or one the source has no bars for.
        """
        symbol = validate_symbol(symbol)
        given = self.config.source
        source = given if isinstance(given, DataSource) else resolve_source(given)
        try:
            job = SymbolJob(
                self.window,
                self.config.lookback_days,
                self.config.indicators,
                self.cache,
                source.identity,
            )
            kept = self._kept(source, symbol, job)
            return kept if kept is not None else trim_bars(self._fetched(source, symbol, job), job)
        finally:
            if source is not given:
                source.close()

    def _kept(self, source: DataSource, symbol: str, job: SymbolJob) -> pd.DataFrame | None:
        """The bars held by the symbol's features entry, if the cache has one."""
        if self.cache is None:
            return None
        key = job.features_key(source.fingerprint(symbol, self.window))
        value = self.cache.features.peek(key, Computed, lambda note: None)
        if isinstance(value, Features) and value.window is not None:
            return value.window.frame()
        return None

    def _fetched(self, source: DataSource, symbol: str, job: SymbolJob) -> pd.DataFrame:
        """The symbol's bars from the source (a network source's through the bars cache)."""
        if self.cache is None or not source.cache_bars:
            return source.fetch(symbol, self.window)
        payload, _ = self.cache.bars.get(
            job.bars_key(symbol),
            lambda: source.fetch_payload(symbol, self.window),
            BarsPayload,
            lambda note: None,
        )
        return payload.bars(symbol, self.window)
