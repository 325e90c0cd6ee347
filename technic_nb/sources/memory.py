"""Bars the user already holds as DataFrames."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pandas as pd

from technic_nb.core.errors import ErrorType, ScanError, data_error
from technic_nb.core.symbols import validate_symbol
from technic_nb.sources.base import DataSource, DateWindow

__all__ = ["InMemorySource"]


class InMemorySource(DataSource):
    """A source over ``{symbol: DataFrame}``.

    Each frame has ``open, high, low, close, volume`` columns and the dates in a
    ``date`` column or in its index.  The frames are validated when fetched, not
    when the source is built, so one bad frame becomes one symbol's data error.

    Args:
        frames: symbol -> bars.
        universe: optional ``symbol,name,sector`` frame (default: the symbols, sector "Unknown").
        benchmark: optional symbol (one of ``frames``) used for the market regime.
        name: a label used in the cache identity.

    Bars are fetched in the main process and handed to the workers, so the whole
    mapping is never copied into every worker.
    """

    fetch_in_worker = False
    cache_bars = False

    def __init__(
        self,
        frames: Mapping[str, pd.DataFrame],
        universe: pd.DataFrame | None = None,
        benchmark: str | None = None,
        name: str = "memory",
    ) -> None:
        if not isinstance(frames, Mapping) or not frames:
            raise ScanError(
                ErrorType.CONFIG_ERROR,
                "InMemorySource needs a non-empty mapping of symbol -> DataFrame",
                details={"field": "source"},
                suggestion="Pass {'AAPL': df, ...} with open/high/low/close/volume columns.",
            )
        self._frames = {validate_symbol(s): f for s, f in frames.items()}
        self._universe = universe
        self._benchmark = validate_symbol(benchmark) if benchmark else None
        self.name = name
        self._hashes: dict[str, str] = {}

    @property
    def identity(self) -> str:
        return f"memory:{self.name}"

    def fingerprint(self, symbol: str, window: DateWindow) -> str:
        symbol = validate_symbol(symbol)
        digest = self._hashes.get(symbol)
        if digest is None:
            frame = self._frames.get(symbol)
            if frame is None:
                digest = "missing"
            else:
                try:
                    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
                    digest = hashlib.blake2b(hashed.tobytes(), digest_size=12).hexdigest()
                except TypeError:  # unhashable cells: the frame will fail validation anyway
                    digest = "unhashable"
            self._hashes[symbol] = digest
        return f"{self.identity}|{symbol}|{window.key()}|1d|{digest}"

    def _fetch_raw(self, symbol, window, cancellation) -> pd.DataFrame:
        frame = self._frames.get(symbol)
        if frame is None:
            raise data_error(
                symbol,
                "not in this InMemorySource",
                f"Add a DataFrame for {symbol} or remove it from the universe.",
            )
        return frame

    def universe(self) -> pd.DataFrame:
        if self._universe is not None:
            return self._universe
        symbols = sorted(s for s in self._frames if s != self._benchmark)
        return pd.DataFrame({"symbol": symbols, "name": symbols, "sector": "Unknown"})

    def benchmark_symbol(self) -> str | None:
        return self._benchmark
