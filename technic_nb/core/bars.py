"""Validation of daily OHLCV bars.

Every data source returns bars through :func:`normalize_bars` (structure) and
the engine checks the values it will use with :func:`check_bar_values`.  Each
problem raises a data :class:`~technic_nb.ScanError` naming the symbol, the
first offending date and what to do; nothing is silently changed except the
documented repairs below.  Besides the OHLC rules, :func:`check_bar_values`
reports isolated outliers that break none of them (a low divided by ten, a
volume a thousand times its neighbours'), by the rule of
:mod:`technic_nb.core.outliers`; it reports them, it never corrects them.
:func:`rejected_rows` marks every row of a whole history that those checks reject
(the replay's forward returns and trade walks never cross one).

Documented repairs (never change a number):

* column names are matched case-insensitively and stripped of spaces;
  extra columns are dropped;
* rows in descending or shuffled date order are sorted ascending.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.errors import ScanError, data_error
from technic_nb.core.outliers import Outlier, find_outliers_in_values, outlier_candidates

__all__ = [
    "BAR_COLUMNS",
    "WindowScreen",
    "check_bar_values",
    "normalize_bars",
    "rejected_rows",
]

BAR_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
#: The column index of normalized bars, built once: building an Index of strings is slow.
_COLUMNS = pd.Index(BAR_COLUMNS)


def normalize_bars(raw: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """Bring ``raw`` bars to the canonical layout or raise a data error.

    The result has a tz-naive, midnight-normalized ``DatetimeIndex`` named
    ``date`` (strictly ascending, unique) and float64 columns
    ``open, high, low, close, volume``.  ``raw`` may carry the dates in a
    ``date`` column or in its index.  ``raw`` is never modified.

    Bars read from a file carry ``raw.attrs["file"]`` (its name) and
    ``raw.attrs["first_line"]`` (the line of the first data row; ``"lines"``, the
    line of every row, when blank lines make them skip), so that a row's error
    names the file and the line.
    """
    if not isinstance(raw, pd.DataFrame):
        raise data_error(symbol, f"expected a DataFrame of bars, got {type(raw).__name__}")
    if _is_canonical(raw):  # already in shape (copy-on-write keeps the caller's frame safe)
        if not raw.attrs:
            return raw
        bars = raw.copy(deep=False)
        bars.attrs = {}  # where the rows came from: not part of the bars
        return bars
    names = {str(c).strip().lower(): c for c in raw.columns}
    missing = [c for c in BAR_COLUMNS if c not in names]
    if missing:
        raise data_error(
            symbol,
            f"missing column(s) {', '.join(missing)}; found {list(names)}",
            "Provide columns date,open,high,low,close,volume.",
            missing=missing,
        )
    if raw.empty:
        raise data_error(symbol, "no bars", "Check the symbol and the date window.")
    index = _parse_dates(
        raw[names["date"]] if "date" in names else raw.index, symbol, _RowPlace(raw.attrs)
    )
    columns = [_numeric(raw[names[c]], c, index, symbol) for c in BAR_COLUMNS]
    values = np.column_stack(columns)
    stamps = index.asi8
    if len(stamps) > 1 and not (np.diff(stamps) > 0).all():
        order = np.argsort(stamps, kind="stable")
        index, values, stamps = index[order], values[order], stamps[order]
        repeated = np.flatnonzero(np.diff(stamps) == 0)
        if len(repeated):
            when = index[repeated[0]].date()
            raise data_error(
                symbol, f"duplicate date {when}", "Keep one row per trading day.", date=str(when)
            )
    return pd.DataFrame(values, index=index, columns=_COLUMNS)


def _has_time_of_day(index: pd.DatetimeIndex) -> bool:
    """True when some timestamp is not at midnight."""
    day = 86_400 * {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[index.unit]
    return bool((index.asi8 % day).any())


def _is_canonical(frame: pd.DataFrame) -> bool:
    """True when ``frame`` already has the exact layout :func:`normalize_bars` produces."""
    index = frame.index
    if (
        tuple(frame.columns) != BAR_COLUMNS
        or not isinstance(index, pd.DatetimeIndex)
        or index.tz is not None
        or index.name != "date"
        or len(index) == 0
        or not all(dtype == np.float64 for dtype in frame.dtypes)
    ):
        return False
    stamps = index.asi8
    return bool((np.diff(stamps) > 0).all() and not _has_time_of_day(index))


class _RowPlace:
    """How an error names a data row: ``AAPL.csv line 7``, or ``row 6`` without a file."""

    def __init__(self, attrs: dict[Any, Any]) -> None:
        self.file = attrs.get("file")
        self.first_line = attrs.get("first_line")
        self.lines = attrs.get("lines")  # line numbers of the rows, when not consecutive

    def __call__(self, position: int) -> str:
        if self.file is not None and self.lines is not None and position < len(self.lines):
            return f"{self.file} line {self.lines[position]}"
        if self.file is not None and self.first_line is not None:
            return f"{self.file} line {position + int(self.first_line)}"
        if self.file is not None:
            return f"{self.file} row {position + 1}"
        return f"row {position + 1}"


def _parse_dates(dates: object, symbol: str, place: _RowPlace) -> pd.DatetimeIndex:
    if isinstance(dates, pd.DatetimeIndex):
        index = dates
    elif (
        isinstance(dates, pd.Series)
        and isinstance(dates.dtype, np.dtype)
        and dates.dtype.kind == "M"
    ):
        index = pd.DatetimeIndex(dates)
    else:
        try:  # plain ISO dates: numpy's parser is several times faster than pandas'
            index = pd.DatetimeIndex(np.asarray(dates, dtype="datetime64[D]"))
        except (ValueError, TypeError):
            try:
                index = pd.DatetimeIndex(pd.to_datetime(dates, format="ISO8601"))
            except (ValueError, TypeError):
                raise _unparseable_date(dates, symbol, place) from None
    if index.hasnans:
        raise data_error(symbol, "a row has no date", "Remove rows without a date.")
    if index.tz is not None:
        index = index.tz_convert("America/New_York").tz_localize(None)
    if _has_time_of_day(index):
        index = index.normalize()
    return index.rename("date")


def _unparseable_date(dates: Any, symbol: str, place: _RowPlace) -> ScanError:
    """The data error of the first date that does not parse: its place and value, one line."""
    values = pd.Series(np.asarray(dates, dtype=object))
    parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
    bad = np.flatnonzero((parsed.isna() & values.notna()).to_numpy())
    position = int(bad[0]) if len(bad) else 0
    value = values.iloc[position] if len(values) else None
    where = place(position)
    return data_error(
        symbol,
        f"unparseable date {value!r} at {where}",
        "Use ISO dates (YYYY-MM-DD) in the date column.",
        row=position,
        value=str(value),
        where=where,
    )


def _numeric(column: pd.Series, name: str, index: pd.DatetimeIndex, symbol: str) -> np.ndarray:
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiu":
        return column.to_numpy(dtype="float64")
    values = pd.to_numeric(column, errors="coerce")
    bad = (values.isna() & column.notna()).to_numpy()
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        when = index[position].date()
        raise data_error(
            symbol,
            f"non-numeric {name} value {column.iloc[position]!r} on {when}",
            "Fix the value or remove the row.",
            column=name,
            date=str(when),
        )
    return values.to_numpy(dtype="float64", na_value=np.nan)


def check_bar_values(bars: pd.DataFrame, symbol: str) -> None:
    """Raise a data error if any bar that will be used is not a valid price bar.

    Checks, in this order: no NaN or infinite value; all prices > 0; volume >= 0;
    ``high >= low``; open and close inside ``[low, high]``; no isolated price or
    volume outlier (:mod:`technic_nb.core.outliers`: a price 8x away from both
    neighbouring closes that snaps back, a first or last bar a power of ten away from
    its neighbour, a volume 100x the median volume on both sides).  The first failing
    check raises, naming its first bad date.
    """
    values = (
        bars.to_numpy(dtype="float64")
        if tuple(bars.columns) == BAR_COLUMNS
        else bars.loc[:, list(BAR_COLUMNS)].to_numpy(dtype="float64")
    )
    check_bar_arrays(values, bars.index, symbol)


def check_bar_arrays(
    values: np.ndarray, dates: pd.DatetimeIndex, symbol: str, start: int = 0
) -> None:
    """:func:`check_bar_values` on the bars' values (rows of open, high, low, close,
    volume) whose dates are ``dates[start:start + len(values)]``."""
    bad = _BadRows(values, dates, start, symbol)
    for what, mask in _row_checks(values):
        bad.check(mask, what)
    outliers = find_outliers_in_values(values, ohlc_checked=True)
    if outliers:
        raise _outlier_error(outliers, bad)


def rejected_rows(values: np.ndarray) -> np.ndarray:
    """The rows of a whole history that :func:`check_bar_arrays` rejects, as a bool mask.

    A row is rejected when it fails one of the row checks (a NaN or infinite value, a
    non-positive price, a negative volume, ``high < low``, an open or close outside
    ``[low, high]``) or when it holds an isolated outlier
    (:func:`~technic_nb.core.outliers.find_outliers_in_values`).  The outlier rule runs
    on the rows that pass the row checks, each compared with its nearest such rows, so
    one broken row does not hide (or fake) an outlier next to it.  Where a scan raises
    at the first bad row of its window, this marks every bad row of the history at
    once; the edge rules of the outliers apply to the first and last rows of the
    history only (inside it, every bar has a neighbour on each side).

    Args:
        values: rows of open, high, low, close, volume.
    """
    rejected = np.zeros(len(values), dtype=bool)
    for _, mask in _row_checks(values):
        rejected |= mask
    kept = np.flatnonzero(~rejected)
    outliers = find_outliers_in_values(values[kept], ohlc_checked=True)
    if outliers:
        rejected[kept[[o.position for o in outliers]]] = True
    return rejected


class WindowScreen:
    """Which windows of one history :func:`check_bar_arrays` surely passes, found once.

    The row checks are per row, and :func:`~technic_nb.core.outliers.outlier_candidates`
    marks every bar that could be an outlier in some window; a window holding no bar
    that fails a row check and no marked bar passes :func:`check_bar_arrays`.  Running
    counts of those bars answer each window in O(1): :meth:`clean` is True for such a
    window; for the others (a bad row or a candidate inside), run
    :func:`check_bar_arrays` on the window: it raises the scan's exact error, or passes.
    """

    def __init__(self, values: np.ndarray) -> None:
        suspect = outlier_candidates(values) | _failing_rows(values)
        self.counts = np.concatenate([[0], np.cumsum(suspect)])

    def clean(self, first: np.ndarray, end: np.ndarray) -> np.ndarray:
        """True where the window ``values[first:end]`` surely passes (element-wise)."""
        return np.asarray(self.counts[end] == self.counts[first])


def _failing_rows(values: np.ndarray) -> np.ndarray:
    """The rows failing any of :func:`_row_checks`, column by column (the same tests as
    there; a row-wise reduction of 5 values is slow on long histories)."""
    open_, high, low, close, volume = (values[:, k] for k in range(5))
    failing = ~(
        np.isfinite(open_)
        & np.isfinite(high)
        & np.isfinite(low)
        & np.isfinite(close)
        & np.isfinite(volume)
    )
    failing |= (open_ <= 0) | (high <= 0) | (low <= 0) | (close <= 0) | (volume < 0)
    failing |= high < low
    failing |= (open_ > high) | (open_ < low) | (close > high) | (close < low)
    return failing


def _row_checks(values: np.ndarray) -> Iterator[tuple[str, Any]]:
    """The row checks of :func:`check_bar_arrays`, in order: what each rejects, its mask
    (a bool array, one value per row).

    A generator: a caller that stops at the first failing check computes no more.
    """
    yield "a missing (NaN) or infinite value", ~np.isfinite(values).all(axis=1)
    prices = values[:, :4]
    yield "a non-positive price", (prices <= 0).any(axis=1)
    yield "a negative volume", values[:, 4] < 0
    high, low = prices[:, 1], prices[:, 2]
    yield "high below low", high < low
    outside = (
        (prices[:, 0] > high) | (prices[:, 0] < low) | (prices[:, 3] > high) | (prices[:, 3] < low)
    )
    yield "open or close outside the high-low range", outside


class _BadRows:
    """Raises the data error of the first bad row of a check (dates and values at hand)."""

    def __init__(self, values: np.ndarray, dates: pd.DatetimeIndex, start: int, symbol: str):
        self.values = values
        self.dates = dates
        self.start = start
        self.symbol = symbol

    def when(self, position: int) -> Any:
        return self.dates[self.start + position].date()

    def row(self, position: int) -> dict[str, float]:
        return {name: float(v) for name, v in zip(BAR_COLUMNS, self.values[position], strict=True)}

    def check(self, mask: Any, what: str) -> None:
        if mask.any():
            positions = np.flatnonzero(mask)
            when = self.when(int(positions[0]))
            raise data_error(
                self.symbol,
                f"{what} on {when} ({len(positions)} bad row(s) in the bars used)",
                "Correct or drop these rows in the source data, or exclude the symbol; "
                "an earlier as_of or a shorter lookback may avoid them.",
                date=str(when),
                bad_rows=len(positions),
                row=self.row(int(positions[0])),
            )


def _outlier_error(outliers: list[Outlier], bad: _BadRows) -> ScanError:
    """The data error for the first of ``outliers`` (sorted by position)."""
    first = outliers[0]
    symbol = bad.symbol
    when = bad.when(first.position)
    rows = len({o.position for o in outliers})
    if first.kind == "volume":
        what = "a volume spike"
    elif first.next is None:
        what = "a last-bar price a power of ten away from the previous close"
    elif first.previous is None:
        what = "a first-bar price a power of ten away from the next close"
    else:
        what = "an isolated price that jumps and reverts (a decimal shift?)"
    suggestion = (
        "Correct or drop this row in the source data, or exclude the symbol; an as_of "
        f"before {when}, or one late enough that the lookback window starts after it, "
        "avoids it."
    )
    if first.next is None:
        suggestion += " If the move is real, the check passes once the next bar exists."
    elif first.previous is None:
        suggestion += " A longer lookback checks the bar against both its neighbours."
    return data_error(
        symbol,
        f"{what} on {when}: {first.describe()} "
        f"({rows} bar(s) with an isolated outlier in the bars used)",
        suggestion,
        date=str(when),
        bad_rows=rows,
        row=bad.row(first.position),
        column=first.column,
        value=first.value,
        previous=first.previous,
        next=first.next,
        ratio=first.ratio,
        kind=first.kind,
    )
