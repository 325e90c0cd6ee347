"""The one small interface every data source implements."""

from __future__ import annotations

import abc
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from technic_nb.core.bars import normalize_bars
from technic_nb.core.cancel import ScanCancellation
from technic_nb.core.symbols import validate_symbol

__all__ = ["BarsArrays", "BarsPayload", "DataSource", "DateWindow"]


@dataclass(frozen=True)
class DateWindow:
    """An inclusive window of trading dates.

    ``start=None`` means "from the first bar the source has"; ``end=None`` means
    "up to the latest bar the source has" (used by offline sources when no
    ``as_of`` is given).  Remote sources always get a concrete ``end``: the scan
    resolves "today" once, so a scan run tomorrow asks for tomorrow's data.
    """

    start: dt.date | None = None
    end: dt.date | None = None

    def key(self) -> str:
        """A short stable text used in cache keys."""
        start = self.start.isoformat() if self.start else "first"
        end = self.end.isoformat() if self.end else "latest"
        return f"{start}..{end}"

    def clip(self, bars: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``bars`` (date-indexed, ascending) inside this window.

        ``bars`` itself is returned when every row is inside (no copy).
        """
        if bars.empty:
            return bars
        first, last = bars.index[0], bars.index[-1]
        if self.start is not None and first < pd.Timestamp(self.start):
            bars = bars.loc[bars.index >= pd.Timestamp(self.start)]
        if self.end is not None and len(bars) and last > pd.Timestamp(self.end):
            bars = bars.loc[bars.index <= pd.Timestamp(self.end)]
        return bars


class BarsPayload(abc.ABC):
    """What a source's fetch threads hand to the workers (and the bars cache stores).

    Picklable and free of secrets; :meth:`bars` runs in a worker.
    """

    @abc.abstractmethod
    def bars(self, symbol: str, window: DateWindow) -> pd.DataFrame:
        """The validated bars of ``symbol`` inside ``window``."""


@dataclass(frozen=True, slots=True)
class BarsArrays(BarsPayload):
    """Normalized bars as plain arrays (they pickle 4x faster than the frame)."""

    dates: np.ndarray  # datetime64 values of the DatetimeIndex
    values: np.ndarray  # float64, columns open, high, low, close, volume
    columns: tuple[str, ...]

    @classmethod
    def of(cls, bars: pd.DataFrame) -> BarsArrays:
        """The arrays of a normalized bars frame."""
        return cls(
            bars.index.to_numpy(), bars.to_numpy(dtype="float64"), tuple(map(str, bars.columns))
        )

    def frame(self) -> pd.DataFrame:
        """The bars frame again (index named ``date``)."""
        index = pd.DatetimeIndex(self.dates, name="date")
        return pd.DataFrame(self.values, index=index, columns=list(self.columns))

    def bars(self, symbol: str, window: DateWindow) -> pd.DataFrame:
        """The bars (already validated when they were fetched)."""
        return self.frame()


class DataSource(abc.ABC):
    """Daily OHLCV bars by symbol.

    Subclasses implement :meth:`_fetch_raw` (and :attr:`identity`); callers use
    :meth:`fetch`, which validates the symbol *before* any I/O, normalizes and
    validates the structure of the bars, and clips them to the window.

    Class attributes tell the engine how to run the source:

    * ``fetch_in_worker``: fetch inside the CPU worker processes (cheap, local
      sources: files, the synthetic demo market).  When False the engine fetches
      in an I/O thread pool in the main process and ships the bars to workers
      (network sources, in-memory frames).
    * ``cache_bars``: keep fetched bars in the on-disk bars cache (worth it for
      network sources; local sources are their own cache).
    """

    fetch_in_worker: bool = True
    cache_bars: bool = False

    @property
    @abc.abstractmethod
    def identity(self) -> str:
        """A stable, secret-free text that identifies the data (used in cache keys)."""

    @abc.abstractmethod
    def _fetch_raw(
        self, symbol: str, window: DateWindow, cancellation: ScanCancellation | None
    ) -> pd.DataFrame:
        """Return raw bars for a validated ``symbol`` (any column case, dates in a column or index).

        Network sources honour ``cancellation`` between attempts.
        """

    def fetch(
        self,
        symbol: str,
        window: DateWindow | None = None,
        *,
        cancellation: ScanCancellation | None = None,
    ) -> pd.DataFrame:
        """Validated bars of ``symbol`` inside ``window``.

        Raises:
            ScanError: of type data_error for an invalid symbol, missing data or
                malformed bars; api_error/timeout_error from network sources.
        """
        window = window or DateWindow()
        symbol = validate_symbol(symbol)
        bars = normalize_bars(self._fetch_raw(symbol, window, cancellation), symbol)
        return window.clip(bars)

    def fetch_payload(
        self,
        symbol: str,
        window: DateWindow | None = None,
        *,
        cancellation: ScanCancellation | None = None,
    ) -> BarsPayload:
        """The part of :meth:`fetch` run in the scan's fetch threads (sources fetched there).

        Returns a :class:`BarsPayload` (picklable, no secret) whose ``bars(symbol,
        window)`` gives what :meth:`fetch` returns; the scan stores it in the bars
        cache and ships it to a worker.  The default fetches the bars here;
        network sources return their checked rows, so that building the frame
        does not hold this process's GIL while other requests wait.  Raises what
        :meth:`fetch` raises.
        """
        return BarsArrays.of(self.fetch(symbol, window, cancellation=cancellation))

    def universe(self) -> pd.DataFrame | None:
        """The source's own universe (``symbol, name, sector``), if it has one."""
        return None

    def benchmark_symbol(self) -> str | None:
        """The symbol used for the market regime, if the source has one."""
        return None

    def resolve_end(self, as_of: dt.date | None) -> dt.date | None:
        """The window end for a scan: ``as_of``, else the latest available (None).

        Remote sources override this to return today's date when ``as_of`` is None.
        """
        return as_of

    def fingerprint(self, symbol: str, window: DateWindow) -> str:
        """A text that changes whenever the bars for ``symbol``/``window`` may change.

        Used as the key of the checkpoint cache.  The default is the identity,
        the symbol and the window; file sources add the file's size and mtime.
        """
        return f"{self.identity}|{symbol}|{window.key()}|1d"

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources such as connection pools (default: nothing)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity!r})"
