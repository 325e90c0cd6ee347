"""Per-symbol work: bars in, one feature row (or a structured error) out.

These functions run inside joblib workers (processes by default), so they take
small picklable arguments and return small dicts.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ._bars import check_bar_values
from ._checkpoint import Checkpoint
from ._errors import ErrorType, ScanError
from ._indicators import IndicatorParams, latest_features
from .sources._base import DataSource, DateWindow

__all__ = [
    "FEATURES_VERSION",
    "Shipped",
    "SymbolJob",
    "compute_outcome",
    "run_shipped",
    "run_symbols",
]

#: Bump when the meaning of a cached per-symbol result changes (indicator
#: formulas, trimming, validation); old entries are then ignored.
FEATURES_VERSION = "2"


@dataclass(frozen=True)
class SymbolJob:
    """What every symbol of one scan shares (pickled once per task batch)."""

    window: DateWindow
    lookback: int
    indicators: IndicatorParams
    checkpoint: Checkpoint | None
    #: :attr:`DataSource.identity` of the scan's source (names the cache partitions).
    source_identity: str = ""

    @property
    def params_key(self) -> str:
        """Everything besides the bars that decides a per-symbol result."""
        return f"lookback={self.lookback}|{self.indicators.key()}"

    @property
    def bars_partition(self) -> str:
        """The bars cache partition of this scan: source and date window."""
        return f"{self.source_identity}|{self.window.key()}|1d"

    @property
    def features_partition(self) -> str:
        """The features cache partition: source, window, parameters and code version."""
        return f"{self.bars_partition}|{self.params_key}|features={FEATURES_VERSION}"


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


def _outcome(symbol: str, job: SymbolJob, load: Callable[[], pd.DataFrame]) -> tuple[dict, bool]:
    """``(outcome, cacheable)`` for one symbol whose bars ``load`` returns.

    Features and permanent data errors are cacheable; recoverable failures
    (network give-ups, a garbled body) and unexpected exceptions are returned
    as errors but not cached, so a re-run tries them again.
    """
    try:
        try:
            bars = load()
        except ScanError as exc:
            if exc.recoverable or exc.fatal:
                raise
            return {"symbol": symbol, "error": exc.to_dict()}, True
        return compute_outcome(symbol, bars, job), True
    except ScanError as exc:
        return {"symbol": symbol, "error": exc.to_dict()}, False
    except Exception as exc:  # a bug or an unexpected library error: keep the scan going
        error = ScanError(
            ErrorType.SYSTEM_ERROR,
            f"{symbol}: unexpected {type(exc).__name__}: {exc}",
            details={"symbol": symbol, "exception": type(exc).__name__},
            suggestion="This is a bug in technic_nb or a library; please report it "
            "with the symbol and the data.",
            affected_symbols=(symbol,),
        )
        return {"symbol": symbol, "error": error.to_dict()}, False


def _checkpoint_outcomes(job: SymbolJob, done: list[tuple[str, dict, bool]]) -> None:
    """One features pack for the cacheable outcomes of a task."""
    if job.checkpoint is None:
        return
    job.checkpoint.store_features(
        job.features_partition, {key: outcome for key, outcome, ok in done if ok}
    )


def run_symbols(
    symbols: list[tuple[str, str]], job: SymbolJob, source: DataSource
) -> list[dict[str, Any]]:
    """Worker task for sources read in the workers: a batch of ``(symbol, bars_key)``.

    Reads, computes and checkpoints the batch (one features pack per task).
    """
    source = _warm_source(source)
    done: list[tuple[str, dict, bool]] = []
    for symbol, key in symbols:
        outcome, cacheable = _outcome(
            symbol, job, lambda symbol=symbol: source.fetch(symbol, job.window)
        )
        done.append((key, outcome, cacheable))
    _checkpoint_outcomes(job, done)
    return [outcome for _, outcome, _ in done]


@dataclass(frozen=True)
class Shipped:
    """One symbol whose data the main process fetched, on its way to a worker.

    ``payload`` is what :meth:`DataSource.fetch_payload` returned: bars, or
    (network sources) raw response bodies with a ``decode(symbol, window)``
    method that runs here, in the worker.  ``decoded`` marks bars read back
    from the bars cache.  With ``store`` the worker
    writes the decoded bars to the bars cache.
    """

    symbol: str
    bars_key: str
    payload: Any
    decoded: bool = False
    store: bool = False


def decode_shipped(item: Shipped, window: DateWindow) -> pd.DataFrame:
    """The bars of a shipped item: as shipped, or decoded from the fetched payload."""
    if item.decoded or isinstance(item.payload, pd.DataFrame):
        return item.payload
    return item.payload.decode(item.symbol, window)


def run_shipped(boxed: tuple[list[Shipped]], job: SymbolJob) -> list[dict[str, Any]]:
    """Worker task for data fetched in the main process: decode, compute, checkpoint.

    ``boxed`` is a 1-tuple holding the batch: joblib's Dask backend scatters
    large arguments to one worker first (a round trip, and data lost with that
    worker), but ships a tuple inside the task itself.  The batch's bars are
    written as one bars pack, its outcomes as one features pack.
    """
    done: list[tuple[str, dict, bool]] = []
    to_store: dict[str, pd.DataFrame] = {}
    for item in boxed[0]:

        def load(item: Shipped = item) -> pd.DataFrame:
            bars = decode_shipped(item, job.window)
            if item.store and not item.decoded:
                to_store[item.bars_key] = bars
            return bars

        outcome, cacheable = _outcome(item.symbol, job, load)
        done.append((item.bars_key, outcome, cacheable))
    if job.checkpoint is not None and to_store:
        job.checkpoint.store_bars(job.bars_partition, to_store)
    _checkpoint_outcomes(job, done)
    return [outcome for _, outcome, _ in done]


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
