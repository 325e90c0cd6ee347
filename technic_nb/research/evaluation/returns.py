"""Forward returns of replayed scans, and why rows lack one.

:func:`forward_returns` and :func:`dropped_summary`; the anchor, the formulas and the
statuses are described in :mod:`technic_nb.research.evaluation`.  Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from technic_nb.research.evaluation.common import (
    NAT,
    anchor_dates,
    bar_arrays,
    check_horizons,
    panel_index,
    row_groups,
    scan_dates,
    status_horizons,
    symbol_bad_bars,
    to_dates,
    to_ns,
)

__all__ = ["HORIZONS", "STATUSES", "dropped_summary", "forward_returns"]

#: The default forward-return horizons, in trading bars.
HORIZONS: tuple[int, ...] = (5, 21, 63)
#: The values of the ``status_{h}d`` columns of :func:`forward_returns`.
STATUSES: tuple[str, ...] = ("ok", "delisted", "no_future", "no_bars", "bad_bar")


def forward_returns(
    index: pd.MultiIndex | pd.DataFrame,
    bars: Mapping[str, pd.DataFrame],
    horizons: Iterable[int] = HORIZONS,
    benchmark: pd.Series | None = None,
    data_end: Any = None,
    bad_bars: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Close-to-close forward returns of every panel row over its symbol's own bars.

    See :mod:`technic_nb.research.evaluation` for the anchor, the formulas and the statuses.

    Args:
        index: the panel's ``(date, symbol)`` MultiIndex, or the panel itself (its
            ``last_date`` column, when present, then sets the anchor).
        bars: each symbol's daily bars (``close`` is used), including the dates
            after the scan dates.
        horizons: horizons in trading bars of the symbol.
        benchmark: benchmark closes for the ``excess_{h}d`` columns (NaN without).
        data_end: the dataset's last date; default the latest date over all bars
            and the benchmark.  It separates ``delisted`` from ``no_future``.
        bad_bars: per symbol, the bool mask of its bars that the scan's checks
            reject (:func:`~technic_nb.research.evaluation.common.find_bad_bars`);
            the masks of the symbols it lacks (all, by default) are computed here.

    Returns:
        A DataFrame indexed like ``index`` with, per horizon, ``fwd_{h}d``,
        ``excess_{h}d`` and ``status_{h}d`` (a categorical of :data:`STATUSES`),
        then ``anchor_date`` (the anchor bar's date, NaT without one).

    Raises:
        ValueError: a malformed index, horizon, benchmark, ``data_end`` or
            ``bad_bars`` mask, or bars that are unsorted or lack a ``close`` column
            (bad values in the bars are bad bars, status ``bad_bar``).
    """
    steps = check_horizons(horizons)
    mi = panel_index(index, "index")
    anchors = anchor_dates(index, mi)
    bench = _benchmark_arrays(benchmark)
    end_ns = _data_end_ns(bars, benchmark, data_end)
    fwd, status, ends, start = _forward_arrays(mi, anchors, bars, steps, end_ns, bad_bars)
    columns: dict[str, Any] = {}
    for h in steps:
        columns[f"fwd_{h}d"] = fwd[h]
        columns[f"excess_{h}d"] = _excess(fwd[h], start, ends[h], bench)
        columns[f"status_{h}d"] = status[h]
    columns["anchor_date"] = to_dates(start)
    return pd.DataFrame(columns, index=mi)


class _Forward(NamedTuple):
    """Per horizon, the forward returns, statuses and end dates; the anchor dates."""

    fwd: dict[int, np.ndarray]
    status: dict[int, pd.Categorical]
    ends: dict[int, np.ndarray]
    start: np.ndarray


def _forward_arrays(
    mi: pd.MultiIndex,
    anchors: np.ndarray,
    bars: Mapping[str, pd.DataFrame],
    steps: tuple[int, ...],
    end_ns: int,
    bad_bars: Mapping[str, np.ndarray] | None,
) -> _Forward:
    """The forward returns of every row (see :func:`forward_returns`).

    Each symbol's anchor bar is found on its own bars; then every symbol's closes,
    dates and bad-bar counts are laid end to end so that each horizon is one
    vectorised step over all rows (the same arithmetic as symbol by symbol).
    """
    n = len(mi)
    fwd = {h: np.full(n, np.nan) for h in steps}
    status = {h: np.full(n, _NO_BARS, dtype=np.int8) for h in steps}
    ends = {h: np.full(n, NAT, dtype=np.int64) for h in steps}
    start = np.full(n, NAT, dtype=np.int64)
    parts = _Concatenated()
    for symbol, rows in row_groups(mi.get_level_values(1)).items():
        frame = bars.get(symbol)
        if frame is None or not len(frame):
            continue
        dates, (close,) = bar_arrays(symbol, frame, ("close",))
        seen = symbol_bad_bars(symbol, frame, bad_bars)
        pos = np.searchsorted(dates, anchors[rows], side="right") - 1
        found = pos >= 0
        parts.add(rows[found], pos[found], dates, close, seen, bool(dates[-1] < end_ns))
    if not parts.rows:
        return _Forward(fwd, _categoricals(status), ends, start)
    rows, pos, last, delisted, bar_at, seen_at, dates, close, seen = parts.arrays()
    start[rows] = dates[bar_at + pos]
    for h in steps:
        full = pos + h <= last
        stop = np.minimum(pos + h, last)
        bad = seen[seen_at + stop + 1] > seen[seen_at + pos]  # a bad bar on the way
        kept = (full | delisted) & ~bad
        fwd[h][rows[kept]] = (
            close[bar_at[kept] + stop[kept]] / close[bar_at[kept] + pos[kept]] - 1.0
        )
        ends[h][rows[kept]] = dates[bar_at[kept] + stop[kept]]
        reached = np.where(full, _OK, np.where(delisted, _DELISTED, _NO_FUTURE))
        status[h][rows] = np.where(bad, _BAD_BAR, reached)
    return _Forward(fwd, _categoricals(status), ends, start)


_OK, _DELISTED, _NO_FUTURE, _NO_BARS, _BAD_BAR = range(len(STATUSES))


def _categoricals(codes: dict[int, np.ndarray]) -> dict[int, Any]:
    """The status codes (positions in :data:`STATUSES`) as categoricals."""
    return {h: pd.Categorical.from_codes(c, categories=STATUSES) for h, c in codes.items()}


class _Concatenated:
    """Every symbol's rows and bars laid end to end (offsets into the joined arrays)."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.pos: list[np.ndarray] = []
        self.last: list[np.ndarray] = []
        self.delisted: list[np.ndarray] = []
        self.bar_at: list[np.ndarray] = []
        self.seen_at: list[np.ndarray] = []
        self.dates: list[np.ndarray] = []
        self.close: list[np.ndarray] = []
        self.seen: list[np.ndarray] = []
        self._bars = 0
        self._seen = 0

    def add(
        self,
        rows: np.ndarray,
        pos: np.ndarray,
        dates: np.ndarray,
        close: np.ndarray,
        seen: np.ndarray,
        delisted: bool,
    ) -> None:
        k = len(rows)
        self.rows.append(rows)
        self.pos.append(pos)
        self.last.append(np.full(k, len(dates) - 1, dtype=np.int64))
        self.delisted.append(np.full(k, delisted))
        self.bar_at.append(np.full(k, self._bars, dtype=np.int64))
        self.seen_at.append(np.full(k, self._seen, dtype=np.int64))
        self.dates.append(dates)
        self.close.append(close)
        self.seen.append(seen)
        self._bars += len(dates)
        self._seen += len(seen)

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(
            np.concatenate(getattr(self, name))
            for name in (
                "rows",
                "pos",
                "last",
                "delisted",
                "bar_at",
                "seen_at",
                "dates",
                "close",
                "seen",
            )
        )


def _excess(
    fwd: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    bench: tuple[np.ndarray, np.ndarray] | None,
) -> np.ndarray:
    if bench is None:
        return np.full(len(fwd), np.nan)
    dates, closes = bench
    market = _value_at(dates, closes, end) / _value_at(dates, closes, start) - 1.0
    return fwd - market


def _benchmark_arrays(benchmark: pd.Series | None) -> tuple[np.ndarray, np.ndarray] | None:
    if benchmark is None:
        return None
    if not isinstance(benchmark, pd.Series) or not isinstance(benchmark.index, pd.DatetimeIndex):
        raise ValueError("benchmark must be a Series of closes indexed by date (DatetimeIndex)")
    closes = benchmark.astype(np.float64).dropna().sort_index()
    closes = closes[~closes.index.duplicated(keep="last")]
    return to_ns(closes.index, "benchmark dates"), closes.to_numpy()


def _value_at(dates: np.ndarray, values: np.ndarray, when: np.ndarray) -> np.ndarray:
    """The value on or before each of ``when`` (NaN before the first date or for NaT)."""
    pos = np.searchsorted(dates, when, side="right") - 1
    valid = (pos >= 0) & (when != NAT)
    return np.where(valid, values[np.clip(pos, 0, None)], np.nan)


def _last_bar_ns(bars: Mapping[str, pd.DataFrame], benchmark: pd.Series | None) -> int:
    last = NAT
    for frame in bars.values():
        if isinstance(frame, pd.DataFrame) and len(frame.index):
            last = max(last, int(to_ns([frame.index.max()], "bar dates")[0]))
    if benchmark is not None and len(benchmark.index):
        last = max(last, int(to_ns([benchmark.index.max()], "benchmark dates")[0]))
    return last


def _data_end_ns(
    bars: Mapping[str, pd.DataFrame], benchmark: pd.Series | None, data_end: Any
) -> int:
    last = _last_bar_ns(bars, benchmark)
    if data_end is None:
        return last
    end = int(to_ns([pd.Timestamp(data_end)], "data_end")[0])
    if end < last:
        raise ValueError(
            f"data_end={data_end!r} is before the last bar "
            f"({to_dates(np.array([last]))[0].date()}): data_end is the dataset's last date, "
            "on or after every bar (or leave it None)"
        )
    return end


def dropped_summary(returns: pd.DataFrame) -> pd.DataFrame:
    """How many rows lack a forward return, and why, per date and horizon.

    Args:
        returns: the output of :func:`forward_returns`.

    Returns:
        A DataFrame indexed by ``(date, horizon)`` with the columns ``rows``,
        one count per status of :data:`STATUSES` and ``missing`` (rows with a NaN
        return: ``no_future + no_bars + bad_bar``; ``delisted`` rows keep their return).
    """
    mi = panel_index(returns, "returns")
    dates = to_dates(scan_dates(mi, "returns"))
    parts = []
    for h in status_horizons(returns):
        status = pd.Categorical(returns[f"status_{h}d"].astype(object), categories=STATUSES)
        frame = pd.DataFrame({"date": dates, "status": status})
        counts = frame.groupby(["date", "status"], observed=False).size().unstack("status")
        counts = counts.reindex(columns=list(STATUSES), fill_value=0).astype(np.int64)
        counts.columns = pd.Index(list(STATUSES))
        counts.insert(0, "rows", counts.sum(axis=1))
        counts["missing"] = counts["no_future"] + counts["no_bars"] + counts["bad_bar"]
        counts["horizon"] = h
        parts.append(counts.reset_index().set_index(["date", "horizon"]))
    return pd.concat(parts).sort_index()
