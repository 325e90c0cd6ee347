"""A replay's per-symbol work: one symbol's bars read once, its outcome at every date.

For each replayed date ``d`` the symbol's bars are cut exactly as a scan with
``as_of=d`` cuts them (the scan's window ending at ``d``, then its last
``lookback_days`` bars), and the scan's own code computes the outcome, so a
replay's row for ``d`` is the scan's row, number for number.  No bar after ``d``
is ever given to the computation for ``d``.

Each symbol is one ``joblib.Memory`` entry (:func:`technic_nb.engine.cache.cached.replay_entry`)
holding its bars and its outcome at every date replayed so far: a replay with
more dates computes only the new ones and rewrites the entry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.bars import WindowScreen, check_bar_arrays
from technic_nb.core.errors import ScanError, unexpected_error
from technic_nb.core.indicators import features_from_arrays
from technic_nb.core.indicators.history import FeatureHistory, full_bars, row_columns
from technic_nb.engine.factor_work import compute_one
from technic_nb.engine.outcomes import (
    Columns,
    Computed,
    FactorValue,
    Failure,
    Features,
    Recoverable,
    Unfinished,
)
from technic_nb.engine.plan import window_ending
from technic_nb.engine.work import SymbolJob, SymbolWork, no_bars_error, outcome_of_used
from technic_nb.research.replay.rows import RowBlock
from technic_nb.sources.base import BarsArrays

__all__ = ["REPLAY_VERSION", "ReplayOutcome", "ReplayRecord", "ReplayWork"]

#: Bump when a cached replay record changes meaning (with FEATURES_VERSION's changes too).
REPLAY_VERSION = "2"


@dataclass(frozen=True)
class ReplayRecord:
    """What a replay entry stores for one symbol."""

    bars: BarsArrays | None  # None when the symbol's bars could not be had
    error: ScanError | None  # the permanent data error of its bars, if any
    block: RowBlock = field(default_factory=RowBlock.empty)  # feature rows by ISO date
    errors: dict[str, ScanError] = field(default_factory=dict)  # ISO date -> error
    #: factor code key -> ISO date -> its columns, or its failure
    factor_rows: dict[str, dict[str, FactorValue]] = field(default_factory=dict)

    def done(self, day: str) -> bool:
        """True when the record has the outcome (features or error) of ``day``."""
        return day in self.errors or day in self._dates

    @property
    def _dates(self) -> frozenset[str]:
        cached = self.__dict__.get("_date_set")
        if cached is None:
            cached = frozenset(self.block.dates)
            object.__setattr__(self, "_date_set", cached)
        return cached


@dataclass(frozen=True)
class ReplayOutcome:
    """One symbol's replay: its outcome at each requested date, and its bars.

    Attributes:
        symbol: the symbol.
        block: the feature rows at the requested dates (factor columns included).
        errors: date -> the error of the dates without features.
        bars: the symbol's bars (the forward returns and trade walks read them).
        error: an error for the whole symbol (its bars could not be had), else None.
        from_cache: True when every date came from the cache.
        computed: how many dates were computed now.
        warnings: notes for ``result.warnings``.
        factor_errors: date -> the errors of user factors at that date.
    """

    symbol: str
    block: RowBlock = field(default_factory=RowBlock.empty)
    errors: dict[dt.date, ScanError] = field(default_factory=dict)
    bars: BarsArrays | None = None
    error: ScanError | None = None
    from_cache: bool = False
    computed: int = 0
    warnings: tuple[str, ...] = ()
    factor_errors: dict[dt.date, tuple[ScanError, ...]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the symbol's bars were read (some dates may still be errors)."""
        return self.error is None


@dataclass(frozen=True)
class ReplayWork(SymbolWork):
    """Replay at ``dates`` (ascending): the :class:`SymbolWork` of :func:`technic_nb.replay`."""

    dates: tuple[dt.date, ...]

    def key(self, bars_key: str, job: SymbolJob) -> tuple[str, str, int, str]:
        """The replay entry's key."""
        return (bars_key, job.params_key, job.lookback, REPLAY_VERSION)

    def run(
        self, symbol: str, bars_key: str, load: Callable[[], pd.DataFrame], job: SymbolJob
    ) -> ReplayOutcome:
        warnings: list[str] = []
        record = self._cached(bars_key, job, warnings)
        missing = self._missing(record, job)
        if record is not None and (not missing or record.error is not None):
            return self._outcome(symbol, record, True, 0, warnings, job)
        if record is not None and record.bars is not None:
            bars = record.bars.frame()
        else:
            try:
                bars = load()
            except ScanError as exc:
                if exc.recoverable or exc.fatal:
                    return self.failed(symbol, exc, tuple(warnings))
                failed = ReplayRecord(None, exc)
                self._store(bars_key, job, failed, warnings)
                return self._outcome(symbol, failed, False, 0, warnings, job)
            except Exception as exc:  # a bug: the symbol fails, the replay goes on
                return self.failed(symbol, unexpected_error(symbol, exc), tuple(warnings))
        updated = self._compute(symbol, bars, record, missing, job)
        self._store(bars_key, job, updated, warnings)
        return self._outcome(symbol, updated, False, len(missing), warnings, job)

    def _missing(self, record: ReplayRecord | None, job: SymbolJob) -> list[dt.date]:
        """The dates whose features or any factor value the record lacks."""
        if record is None:
            return list(self.dates)
        missing = []
        for date in self.dates:
            day = date.isoformat()
            if not record.done(day) or (
                day not in record.errors
                and any(day not in record.factor_rows.get(key, {}) for _, key in job.factors.items)
            ):
                missing.append(date)
        return missing

    def _compute(
        self,
        symbol: str,
        bars: pd.DataFrame,
        record: ReplayRecord | None,
        missing: list[dt.date],
        job: SymbolJob,
    ) -> ReplayRecord:
        errors = dict(record.errors) if record is not None else {}
        factor_rows = {k: dict(v) for k, v in (record.factor_rows if record else {}).items()}
        history = History(bars)
        todo = [
            date
            for date in missing
            if date.isoformat() not in errors
            and not (record is not None and date.isoformat() in record._dates)
        ]
        block, failed = history.outcomes(symbol, todo, job)
        errors.update(failed)
        have = set(block.dates) | (record._dates if record is not None else frozenset())
        for date in missing:
            day = date.isoformat()
            if day in have:
                for item, key in job.factors.items:
                    done = factor_rows.setdefault(key, {})
                    if day not in done:
                        used, _ = used_bars(bars, date, job)
                        done[day] = compute_one(item, used, symbol, job.factors.reserved)
            if job.cancelled():  # a long history: see the cancel between dates too
                raise Unfinished(symbol)
        if record is not None:
            block = record.block.merged(block)
        return ReplayRecord(BarsArrays.of(bars), None, block, errors, factor_rows)

    def may_have_outcomes(self, job: SymbolJob) -> bool:
        return job.cache is not None and job.cache.replay.has_entries()

    def peek(
        self, symbol: str, bars_key: str, job: SymbolJob, notes: list[str]
    ) -> ReplayOutcome | None:
        record = self._cached(bars_key, job, notes)
        if record is None:
            return None
        if record.error is None and self._missing(record, job):
            return None
        return self._outcome(symbol, record, True, 0, [], job)

    def failed(
        self, symbol: str, error: ScanError, warnings: tuple[str, ...] = ()
    ) -> ReplayOutcome:
        return ReplayOutcome(symbol, error=error, warnings=warnings)

    def remember(
        self, symbol: str, bars_key: str, error: ScanError, job: SymbolJob
    ) -> ReplayOutcome:
        record = ReplayRecord(None, error)
        warnings: list[str] = []
        self._store(bars_key, job, record, warnings)
        return self._outcome(symbol, record, False, 0, warnings, job)

    # -- the cache ----------------------------------------------------------------------
    def _cached(self, bars_key: str, job: SymbolJob, warnings: list[str]) -> ReplayRecord | None:
        if job.cache is None:
            return None
        value = job.cache.replay.peek(self.key(bars_key, job), ReplayRecord, warnings.append)
        return value if isinstance(value, ReplayRecord) else None

    def _store(
        self, bars_key: str, job: SymbolJob, record: ReplayRecord, warnings: list[str]
    ) -> None:
        if job.cache is not None:
            job.cache.replay.store(self.key(bars_key, job), record, warnings.append)

    def _outcome(
        self,
        symbol: str,
        record: ReplayRecord,
        from_cache: bool,
        computed: int,
        warnings: list[str],
        job: SymbolJob,
    ) -> ReplayOutcome:
        days = {date.isoformat(): date for date in self.dates}
        block = record.block.take(days)
        errors = {days[d]: e for d, e in record.errors.items() if d in days}
        factor_errors: dict[dt.date, list[ScanError]] = {}
        extra: dict[str, dict[str, float]] = {}
        for _, key in job.factors.items:
            for day, value in record.factor_rows.get(key, {}).items():
                if day not in days:
                    continue
                if isinstance(value, Columns):
                    for column, number in value.values.items():
                        extra.setdefault(column, {})[day] = number
                else:
                    factor_errors.setdefault(days[day], []).append(value.error)
        return ReplayOutcome(
            symbol,
            block.with_columns(extra),
            errors,
            record.bars,
            record.error,
            from_cache,
            computed,
            tuple(warnings),
            {d: tuple(e) for d, e in factor_errors.items()},
        )


def used_bars(bars: pd.DataFrame, date: dt.date, job: SymbolJob) -> tuple[pd.DataFrame, Any]:
    """The bars a scan with ``as_of=date`` uses, and its window.

    Those inside its window ending at ``date`` (``DateWindow.clip``), then the
    last ``lookback`` of them (``trim_bars``), found here by position (the same
    rows, without copying the history).
    """
    window = window_ending(date, job.lookback)
    index = bars.index
    assert window.start is not None
    low = int(index.searchsorted(pd.Timestamp(window.start), "left"))
    high = int(index.searchsorted(pd.Timestamp(date), "right"))
    return bars.iloc[max(low, high - job.lookback) : high], window


def outcome_at(symbol: str, bars: pd.DataFrame, date: dt.date, job: SymbolJob) -> Computed:
    """The outcome of ``symbol`` as a scan with ``as_of=date`` computes it from ``bars``."""
    used, window = used_bars(bars, date, job)
    return _outcome_of_window(symbol, used, window, job)


class History:
    """One symbol's bars as arrays, cut per date without pandas.

    :meth:`outcomes` gives, at many dates, what the scan's own checks and indicators
    (:func:`~technic_nb.core.bars.check_bar_arrays`,
    :func:`~technic_nb.core.indicators.features_from_arrays`, which
    ``check_bar_values`` and ``latest_features`` call on a frame) give on the same
    rows :func:`used_bars` selects, number for number, doing once per symbol what
    does not change between dates: the row checks and the outlier candidates
    (:class:`~technic_nb.core.bars.WindowScreen`; the exact check runs only on the
    windows holding a suspect bar) and the windowed indicators and chart pivots
    (:class:`~technic_nb.core.indicators.history.FeatureHistory`).
    """

    def __init__(self, bars: pd.DataFrame) -> None:
        self.dates = bars.index
        self.stamps = bars.index.to_numpy(dtype="datetime64[ns]")
        self.values = np.ascontiguousarray(bars.to_numpy(dtype="float64"))
        columns = list(bars.columns)
        self.columns = {
            name: np.ascontiguousarray(self.values[:, columns.index(name)])
            for name in ("high", "low", "close", "volume")
        }

    def iso(self, positions: np.ndarray) -> list[str]:
        """The ISO dates of the bars at ``positions``."""
        return np.datetime_as_string(self.stamps[positions], unit="D").tolist()

    def spans(self, dates: list[dt.date], lookback: int) -> tuple[np.ndarray, np.ndarray]:
        """``(first, end)`` positions of the bars used at each of ``dates``."""
        window = window_ending(dt.date(2000, 1, 1), lookback)
        assert window.start is not None and window.end is not None
        days = np.array(dates, dtype="datetime64[D]")
        span = np.timedelta64((window.end - window.start).days, "D")
        starts = (days - span).astype("datetime64[ns]")
        low = np.searchsorted(self.stamps, starts, "left")
        high = np.searchsorted(self.stamps, (days + _DAY).astype("datetime64[ns]"), "left")
        return np.maximum(low, high - lookback), high

    def outcomes(
        self, symbol: str, dates: list[dt.date], job: SymbolJob
    ) -> tuple[RowBlock, dict[str, ScanError]]:
        """The feature rows at ``dates`` (ascending) and the errors of the others (by ISO
        date): what :func:`outcome_at` gives at each."""
        firsts, ends = self.spans(dates, job.lookback)
        errors: dict[str, ScanError] = {}
        good = np.zeros(len(dates), dtype=bool)
        clean = WindowScreen(self.values).clean(firsts, ends) if len(dates) else good
        for i, date in enumerate(dates):
            first, end = int(firsts[i]), int(ends[i])
            try:
                if end <= first:
                    raise no_bars_error(symbol, window_ending(date, job.lookback))
                if not clean[i]:
                    check_bar_arrays(self.values[first:end], self.dates, symbol, start=first)
                good[i] = True
            except ScanError as exc:
                errors[date.isoformat()] = exc
        columns = row_columns(job.indicators)
        where = np.flatnonzero(good)
        if not len(where):
            return RowBlock.empty(), errors
        values = np.empty((len(where), len(columns)))
        c = self.columns
        fast = ends[where] - firsts[where] >= full_bars(job.indicators)
        if fast.any():
            features = FeatureHistory(c["high"], c["low"], c["close"], c["volume"], job.indicators)
            picked = where[fast]
            found = features.columns(firsts[picked], ends[picked])
            values[fast] = np.column_stack([found[name] for name in columns])
        for row in np.flatnonzero(~fast).tolist():
            first, end = int(firsts[where[row]]), int(ends[where[row]])
            computed = features_from_arrays(
                self.iso(np.array([end - 1]))[0],
                c["high"][first:end],
                c["low"][first:end],
                c["close"][first:end],
                c["volume"][first:end],
                job.indicators,
            )
            values[row] = [computed[name] for name in columns]
        block = RowBlock(
            tuple(dates[i].isoformat() for i in where.tolist()),
            columns,
            values,
            tuple(self.iso(ends[where] - 1)),
        )
        return block, errors

    def outcome_at(self, symbol: str, date: dt.date, job: SymbolJob) -> Computed:
        """What :func:`outcome_at` gives, from the arrays (one date)."""
        block, errors = self.outcomes(symbol, [date], job)
        day = date.isoformat()
        if day in errors:
            return Failure(errors[day])
        row: dict[str, Any] = {"last_date": block.last_dates[0]}
        row.update(zip(block.columns, block.values[0].tolist(), strict=True))
        return Features(row)


_DAY = np.timedelta64(1, "D")


def _outcome_of_window(symbol: str, used: pd.DataFrame, window: Any, job: SymbolJob) -> Computed:
    try:
        return outcome_of_used(symbol, used, dataclasses.replace(job, window=window))
    except Recoverable as failure:  # bars in hand fail only for good: keep the reason
        return Failure(failure.error)
