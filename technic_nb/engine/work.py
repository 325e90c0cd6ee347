"""Per-symbol work: bars in, one outcome (features or a structured error) out.

These functions run inside joblib workers (processes by default), so they take
small picklable arguments and return small typed values.  Every symbol's
outcome is checkpointed the moment it is computed (one ``joblib.Memory`` entry
per symbol, :mod:`technic_nb.engine.cache.checkpoints`), and a task checks its
:class:`~technic_nb.core.cancel.CancelFlag` between two symbols, so a cancelled task
returns what it finished and the workers stay alive for the next scan.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from technic_nb.core.bars import check_bar_values
from technic_nb.core.cancel import CancelFlag
from technic_nb.core.errors import ScanError, data_error, unexpected_error
from technic_nb.core.indicators import IndicatorParams, latest_features
from technic_nb.engine.cache.checkpoints import CheckpointCache
from technic_nb.engine.factor_work import FactorSet, factor_values
from technic_nb.engine.outcomes import (
    Computed,
    Failure,
    Features,
    Recoverable,
    SymbolOutcome,
    TaskResult,
    Unfinished,
)
from technic_nb.sources.base import BarsArrays, BarsPayload, DataSource, DateWindow

__all__ = [
    "FEATURES_VERSION",
    "ScanWork",
    "Shipped",
    "SymbolJob",
    "SymbolWork",
    "compute_outcome",
    "outcome_of_used",
    "peek_outcomes",
    "run_local",
    "run_shipped",
    "trim_bars",
]

#: Bump when the meaning of a cached per-symbol result changes (indicator
#: formulas, trimming, validation); old entries are then ignored.
FEATURES_VERSION = "6"


@dataclass(frozen=True)
class SymbolJob:
    """What every symbol of one scan shares (pickled once per worker task)."""

    window: DateWindow
    lookback: int
    indicators: IndicatorParams
    cache: CheckpointCache | None = None
    #: :attr:`DataSource.identity` of the scan's source (part of the bars keys).
    source_identity: str = ""
    cancel: CancelFlag | None = None
    #: what a worker does with each symbol's bars (the scan's features by default)
    work: SymbolWork = field(default_factory=lambda: ScanWork())
    #: the user factors, keyed in the scan's process
    factors: FactorSet = field(default_factory=FactorSet)

    @property
    def params_key(self) -> str:
        """The indicator parameters as a cache-key text."""
        return self.indicators.key()

    def features_key(self, bars_key: str) -> tuple[str, str, int, str]:
        """The features entry's key: the bars, the parameters, the lookback, the code version."""
        return (bars_key, self.params_key, self.lookback, FEATURES_VERSION)

    def bars_key(self, symbol: str) -> tuple[str, str, str]:
        """The bars entry's key: source identity, symbol and date window."""
        return (self.source_identity, symbol, f"{self.window.key()}|1d")

    def cancelled(self) -> bool:
        """True once the scan's cancel flag is raised."""
        return self.cancel is not None and self.cancel.is_set()


def trim_bars(bars: pd.DataFrame, job: SymbolJob) -> pd.DataFrame:
    """The last ``lookback`` bars on or before the window end."""
    if job.window.end is not None:
        bars = bars.loc[bars.index <= pd.Timestamp(job.window.end)]
    return bars.iloc[-job.lookback :]


def no_bars_error(symbol: str, window: DateWindow) -> ScanError:
    """The data error of a symbol without a bar in the scan's window."""
    end = window.end.isoformat() if window.end else "the latest date"
    return data_error(
        symbol,
        f"no bars on or before {end}",
        "Choose a later as_of, or remove the symbol from the universe.",
    )


def compute_outcome(symbol: str, bars: pd.DataFrame, job: SymbolJob) -> Computed:
    """The features of ``symbol`` from its bars, or its permanent data error.

    The outcome keeps the bars used (see :func:`outcome_of_used`).

    Raises:
        Recoverable: for a failure that must not be cached.
    """
    return outcome_of_used(symbol, trim_bars(bars, job), job, keep_window=True)


def outcome_of_used(
    symbol: str, used: pd.DataFrame, job: SymbolJob, keep_window: bool = False
) -> Computed:
    """The outcome of ``symbol`` from exactly the bars a scan uses (already trimmed).

    With ``keep_window`` the features also hold those bars, so user factors can be
    computed from the cache later.

    Raises:
        Recoverable: for a failure that must not be cached.
    """
    try:
        if used.empty:
            raise no_bars_error(symbol, job.window)
        check_bar_values(used, symbol)
        row = latest_features(used, job.indicators)
        return Features(row, BarsArrays.of(used) if keep_window else None)
    except ScanError as exc:
        if exc.recoverable or exc.fatal:
            raise Recoverable(exc) from None
        return Failure(exc)


def _outcome_of(symbol: str, produce: Callable[[], Computed]) -> Computed:
    """``produce()``, with loading failures sorted into cached and not cached."""
    try:
        return produce()
    except ScanError as exc:
        if exc.recoverable or exc.fatal:
            raise Recoverable(exc) from None
        return Failure(exc)  # a permanent data error of the source
    except Recoverable:
        raise
    except Exception as exc:  # a bug or an unexpected library error: keep the scan going
        raise Recoverable(unexpected_error(symbol, exc)) from None


def checkpointed(
    symbol: str, bars_key: str, job: SymbolJob, produce: Callable[[], Computed]
) -> tuple[SymbolOutcome, BarsArrays | None]:
    """The outcome of one symbol through its features entry (computed and stored on a miss),
    and the bars it was computed from when the entry holds them."""
    warnings: list[str] = []
    try:
        if job.cache is None:
            value, hit = _outcome_of(symbol, produce), False
        else:
            value, hit = job.cache.features.get(
                job.features_key(bars_key),
                lambda: _outcome_of(symbol, produce),
                Computed,
                warnings.append,
            )
    except Recoverable as failure:
        return SymbolOutcome.failed(symbol, failure.error, tuple(warnings)), None
    window = value.window if isinstance(value, Features) else None
    return SymbolOutcome.of(symbol, value, hit, tuple(warnings)), window


def with_factors(
    outcome: SymbolOutcome,
    bars_key: str,
    job: SymbolJob,
    window: Callable[[], pd.DataFrame | None],
    notes: list[str],
    peek_only: bool = False,
) -> SymbolOutcome | None:
    """``outcome`` with the job's factor columns and errors (None: a factor is not cached
    and ``peek_only``); unreadable factor entries are told in ``notes``."""
    if not job.factors or outcome.features is None:
        return outcome
    found = factor_values(
        outcome.symbol, bars_key, job.lookback, job.factors, job.cache, window, notes, peek_only
    )
    if found is None:
        return None
    return dataclasses.replace(
        outcome,
        features={**outcome.features, **found.values},
        factor_errors=found.errors,
        from_cache=outcome.from_cache and found.computed == 0,
        factors_computed=found.computed,
    )


class SymbolWork:
    """What a worker does with one symbol's bars: a small picklable strategy.

    :class:`ScanWork` (a scan's features at the window's end) is the default;
    replay uses its own (:mod:`technic_nb.research.replay.work`).  Each method returns
    the outcome object the engine collects (it has ``symbol``, ``from_cache``,
    ``warnings`` and ``error``).
    """

    def run(
        self, symbol: str, bars_key: str, load: Callable[[], pd.DataFrame], job: SymbolJob
    ) -> Any:
        """The outcome of ``symbol``: read back from the cache, or computed from ``load()``."""
        raise NotImplementedError

    def peek(self, symbol: str, bars_key: str, job: SymbolJob, notes: list[str]) -> Any | None:
        """The cached outcome of ``symbol``, or None (nothing is computed).

        A cache entry found unreadable on the way (removed, so the symbol is computed
        again) is told in ``notes``, whether or not an outcome is returned.
        """
        raise NotImplementedError

    def may_have_outcomes(self, job: SymbolJob) -> bool:
        """False when no symbol's outcome can be in the cache (``peek`` would find none)."""
        return job.cache is not None

    def failed(self, symbol: str, error: ScanError) -> Any:
        """The outcome of a symbol whose bars could not be had (not cached)."""
        raise NotImplementedError

    def remember(self, symbol: str, bars_key: str, error: ScanError, job: SymbolJob) -> Any:
        """The outcome of a permanent fetch failure, stored so it is not fetched again."""
        raise NotImplementedError


class ScanWork(SymbolWork):
    """A scan: the features of each symbol at the window's end, one cache entry each."""

    def run(
        self, symbol: str, bars_key: str, load: Callable[[], pd.DataFrame], job: SymbolJob
    ) -> SymbolOutcome:
        outcome, window = checkpointed(
            symbol, bars_key, job, lambda: compute_outcome(symbol, load(), job)
        )

        def bars_used() -> pd.DataFrame:
            return window.frame() if window is not None else trim_bars(load(), job)

        notes: list[str] = []
        found = with_factors(outcome, bars_key, job, bars_used, notes)
        assert found is not None
        if notes:
            found = dataclasses.replace(found, warnings=found.warnings + tuple(notes))
        return found

    def may_have_outcomes(self, job: SymbolJob) -> bool:
        return job.cache is not None and job.cache.features.has_entries()

    def peek(
        self, symbol: str, bars_key: str, job: SymbolJob, notes: list[str]
    ) -> SymbolOutcome | None:
        if job.cache is None:
            return None
        value = job.cache.features.peek(job.features_key(bars_key), Computed, notes.append)
        if value is None:
            return None
        outcome = SymbolOutcome.of(symbol, value, True)
        window = value.window if isinstance(value, Features) else None
        # factors missing from the cache are computed here when the entry holds its bars
        return with_factors(
            outcome,
            bars_key,
            job,
            lambda: window.frame() if window is not None else None,
            notes,
            peek_only=window is None,
        )

    def failed(self, symbol: str, error: ScanError) -> SymbolOutcome:
        return SymbolOutcome.failed(symbol, error)

    def remember(
        self, symbol: str, bars_key: str, error: ScanError, job: SymbolJob
    ) -> SymbolOutcome:
        value = Failure(error)
        warnings: list[str] = []
        if job.cache is not None:
            job.cache.features.get(
                job.features_key(bars_key), lambda: value, Computed, warnings.append
            )
        return SymbolOutcome(symbol, error=error, warnings=tuple(warnings))

    def __repr__(self) -> str:
        return "ScanWork()"


def run_local(symbols: list[str], job: SymbolJob, source: DataSource) -> TaskResult:
    """Worker task for sources read in the workers (files, the demo market).

    Each symbol is read, computed and checkpointed in turn (a checkpointed
    symbol is read back instead); the task stops early when the scan is cancelled.
    """
    source = _warm_source(source)
    done: list[Any] = []
    for position, symbol in enumerate(symbols):
        if job.cancelled():
            return TaskResult(tuple(done), tuple(symbols[position:]))
        try:
            bars_key = source.fingerprint(symbol, job.window)
        except ScanError as exc:
            done.append(job.work.failed(symbol, exc))
            continue
        try:
            done.append(job.work.run(symbol, bars_key, _loader(source, symbol, job), job))
        except Unfinished:
            return TaskResult(tuple(done), tuple(symbols[position:]))
    return TaskResult(tuple(done))


def _loader(source: DataSource, symbol: str, job: SymbolJob) -> Callable[[], pd.DataFrame]:
    return lambda: source.fetch(symbol, job.window)


def peek_outcomes(items: list[tuple[str, str]], job: SymbolJob) -> TaskResult:
    """Worker task: the checkpointed outcomes of ``items`` (symbol, bars key); the others
    are returned as unfinished."""
    found: list[Any] = []
    missing: list[str] = []
    notes: list[str] = []
    for symbol, bars_key in items:
        outcome = job.work.peek(symbol, bars_key, job, notes)
        if outcome is None:
            missing.append(symbol)
        else:
            found.append(outcome)
    return TaskResult(tuple(found), tuple(missing), tuple(notes))


@dataclass(frozen=True)
class Shipped:
    """One symbol whose bars this process fetched, on its way to a worker."""

    symbol: str
    bars_key: str
    payload: BarsPayload
    window: DateWindow
    warnings: tuple[str, ...] = field(default=())

    def frame(self) -> pd.DataFrame:
        """The bars (a network source's rows are parsed into bars here, in the worker)."""
        return self.payload.bars(self.symbol, self.window)


def run_shipped(boxed: tuple[list[Shipped]], job: SymbolJob) -> TaskResult:
    """Worker task for bars fetched in the scan's process: compute and checkpoint each.

    ``boxed`` is a 1-tuple holding the batch: joblib's Dask backend scatters
    large arguments to one worker first (a round trip, and data lost with that
    worker), but ships a tuple inside the task itself.
    """
    items = boxed[0]
    done: list[Any] = []
    for position, item in enumerate(items):
        if job.cancelled():
            return TaskResult(tuple(done), tuple(i.symbol for i in items[position:]))
        try:
            outcome = job.work.run(item.symbol, item.bars_key, item.frame, job)
        except Unfinished:
            return TaskResult(tuple(done), tuple(i.symbol for i in items[position:]))
        if item.warnings:
            outcome = dataclasses.replace(outcome, warnings=item.warnings + outcome.warnings)
        done.append(outcome)
    return TaskResult(tuple(done))


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
