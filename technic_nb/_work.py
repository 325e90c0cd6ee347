"""Per-symbol work: bars in, one feature row (or a structured error) out.

These functions run inside joblib workers (processes by default), so they take
small picklable arguments and return small dicts.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ._bars import check_bar_values
from ._checkpoint import Checkpoint
from ._errors import ErrorType, ScanError
from ._indicators import IndicatorParams, latest_features
from .sources._base import DataSource, DateWindow

__all__ = ["FEATURES_VERSION", "SymbolJob", "compute_outcome", "run_symbol"]

#: Bump when the meaning of a cached per-symbol result changes (indicator
#: formulas, trimming, validation); old entries are then ignored.
FEATURES_VERSION = "1"


@dataclass(frozen=True)
class SymbolJob:
    """What every symbol of one scan shares (pickled once per task batch)."""

    window: DateWindow
    lookback: int
    indicators: IndicatorParams
    checkpoint: Checkpoint | None

    @property
    def params_key(self) -> str:
        """Everything besides the bars that decides a per-symbol result."""
        return f"lookback={self.lookback}|{self.indicators.key()}"


def trim_bars(bars: pd.DataFrame, job: SymbolJob) -> pd.DataFrame:
    """The last ``lookback`` bars on or before the window end."""
    if job.window.end is not None:
        bars = bars.loc[bars.index <= pd.Timestamp(job.window.end)]
    return bars.iloc[-job.lookback :]


def compute_outcome(symbol: str, bars: pd.DataFrame, job: SymbolJob) -> dict[str, Any]:
    """Features of ``symbol`` from its bars, or its permanent data error, as a dict."""
    try:
        used = trim_bars(bars, job)
        if used.empty:
            end = job.window.end.isoformat() if job.window.end else "the latest date"
            raise ScanError(
                ErrorType.DATA_ERROR,
                f"{symbol}: no bars on or before {end}",
                details={"symbol": symbol},
                suggestion="Choose a later as_of, or remove the symbol from the universe.",
                affected_symbols=(symbol,),
            )
        check_bar_values(used, symbol)
        return {"symbol": symbol, "features": latest_features(used, job.indicators)}
    except ScanError as exc:
        if exc.recoverable:
            raise
        return {"symbol": symbol, "error": exc.to_dict()}


def run_symbol(
    symbol: str,
    job: SymbolJob,
    bars_key: str,
    source: DataSource | None = None,
    bars: pd.DataFrame | None = None,
    store_bars: bool = False,
) -> dict[str, Any]:
    """Worker entry point: features for one symbol, through the checkpoint cache.

    Either ``source`` (fetched here, in the worker) or ``bars`` (fetched by the
    main process) is given.  With ``store_bars`` the worker also writes the
    shipped bars to the bars cache under ``bars_key`` (keeping that write off
    the fetching process).  Recoverable failures (network give-ups) are
    returned as errors but not cached, so a re-run tries them again.
    """
    started = time.perf_counter()
    if store_bars and bars is not None and job.checkpoint is not None:
        job.checkpoint.store_bars(bars_key, bars)

    def compute() -> dict[str, Any]:
        if bars is not None:
            data = bars
        else:
            assert source is not None
            try:
                data = source.fetch(symbol, job.window)
            except ScanError as exc:
                if exc.recoverable or exc.fatal:
                    raise
                return {"symbol": symbol, "error": exc.to_dict()}
        return compute_outcome(symbol, data, job)

    try:
        if job.checkpoint is not None:
            outcome = job.checkpoint.features(
                symbol, bars_key, job.params_key, FEATURES_VERSION, compute
            )
        else:
            outcome = compute()
    except ScanError as exc:
        outcome = {"symbol": symbol, "error": exc.to_dict()}
    except Exception as exc:  # a bug or an unexpected library error: keep the scan going
        outcome = {
            "symbol": symbol,
            "error": ScanError(
                ErrorType.SYSTEM_ERROR,
                f"{symbol}: unexpected {type(exc).__name__}: {exc}",
                details={"symbol": symbol, "exception": type(exc).__name__},
                suggestion="This is a bug in technic_nb or a library; please report it "
                "with the symbol and the data.",
                affected_symbols=(symbol,),
            ).to_dict(),
        }
    outcome = dict(outcome)
    outcome["seconds"] = time.perf_counter() - started
    return outcome


def run_symbols(
    symbols: list[tuple[str, str]], job: SymbolJob, source: DataSource
) -> list[dict[str, Any]]:
    """Run a batch of (symbol, bars_key) in one task (fewer round trips to workers)."""
    source = _warm_source(source)
    return [run_symbol(symbol, job, key, source=source) for symbol, key in symbols]


#: Sources already seen by this worker process, by their pickled form.  Every task
#: arrives with a fresh unpickled copy; reusing the first keeps its per-process
#: caches warm (the demo market's factor paths, a file source's listing).
_WARM_SOURCES: dict[bytes, DataSource] = {}


def _warm_source(source: DataSource) -> DataSource:
    try:
        key = pickle.dumps(source, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # not picklable here: nothing to share
        return source
    if len(key) > 4096:  # large sources are not worth keeping twice
        return source
    if len(_WARM_SOURCES) > 64:
        _WARM_SOURCES.clear()
    return _WARM_SOURCES.setdefault(key, source)
