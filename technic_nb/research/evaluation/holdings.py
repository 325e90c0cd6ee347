"""What each ranked row would have earned if held from its replay date to the next one.

The holding rule shared by the portfolios (:mod:`~technic_nb.research.evaluation.portfolios`)
and the survivorship measure (:mod:`~technic_nb.research.evaluation.survivorship`).
Pure: no I/O.

Holding periods
---------------
The replay dates ``d_0 < d_1 < ... < d_m`` make ``m`` holding periods: bought at
``d_t``, held to ``d_{t+1}``; the last date has no holding period.  A row of the
panel at ``d_t`` earns, close to close over its symbol's own bars::

    ret = close[end] / close[anchor] - 1

where ``anchor`` is the row's anchor bar (its last bar on or before ``last_date``,
else on or before ``d_t``; see :mod:`technic_nb.research.evaluation`) and ``end``
the symbol's last bar on or before ``d_{t+1}``.  ``status`` says how:

===============  ===============================================================================
status           meaning
===============  ===============================================================================
``ok``           the symbol has bars after ``end`` or a bar on ``d_{t+1}``: held the whole period
``stopped``      the symbol's last bar is before ``d_{t+1}``: it stopped trading during the
                 period; ``ret`` runs to that last bar and the position is cash (0 % return)
                 for the rest of the period
``bad_bar``      a bad bar (:func:`~technic_nb.research.evaluation.find_bad_bars`) lies
                 between ``anchor`` and ``end``, both included: the path cannot be trusted,
                 ``ret`` is NaN and the row is dropped for the period
``no_bars``      no bar on or before the anchor date, or no bars at all: NaN, dropped
``no_period``    the row is at the last replay date (or at no replay date): NaN
===============  ===============================================================================

A symbol that misses the bar of ``d_{t+1}`` but trades later is ``ok`` (valued at
its last close before ``d_{t+1}``).  Replay dates after the data's last bar would make
every symbol look ``stopped``: replay only dates the data covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.research.evaluation.common import (
    NAT,
    anchor_dates,
    bar_arrays,
    panel_index,
    row_groups,
    scan_dates,
    symbol_bad_bars,
    to_dates,
    to_ns,
)

__all__ = [
    "HOLDING_STATUSES",
    "benchmark_period_returns",
    "holding_returns",
    "period_dates",
    "universe_returns",
]

#: The values of the ``status`` column of :func:`holding_returns`.
HOLDING_STATUSES: tuple[str, ...] = ("ok", "stopped", "bad_bar", "no_bars", "no_period")


def period_dates(dates: Iterable[Any]) -> pd.DatetimeIndex:
    """The replay dates as a sorted DatetimeIndex of distinct midnight dates (at least two)."""
    days = np.unique(to_ns(list(dates), "dates"))
    if (days == NAT).any():
        raise ValueError("dates holds a missing date (NaT): pass the replay dates")
    if len(days) < 2:
        raise ValueError(
            f"holding periods need at least two replay dates, got {len(days)}: replay more dates"
        )
    return to_dates(days).rename("date")


def holding_returns(
    index: pd.MultiIndex | pd.DataFrame,
    bars: Mapping[str, pd.DataFrame],
    dates: Iterable[Any],
    bad_bars: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Each row's return from its replay date to the next replay date.

    Args:
        index: the panel's ``(date, symbol)`` MultiIndex, or the panel (its
            ``last_date`` column then sets the anchor).
        bars: each symbol's daily bars (``close`` is used).
        dates: the replay dates (every date of the panel should be one).
        bad_bars: per symbol, the mask of
            :func:`~technic_nb.research.evaluation.find_bad_bars` (computed here
            for the symbols it lacks).

    Returns:
        A DataFrame indexed like ``index``: ``period`` (the position ``t`` of the
        row's date among ``dates``; -1 for the last date or a date not among them),
        ``ret`` (fraction), ``status`` (a categorical of :data:`HOLDING_STATUSES`,
        see the module's table) and ``end_date`` (the date of the bar ``ret`` ends on).
    """
    mi = panel_index(index, "index")
    days = period_dates(dates)
    day_ns = np.asarray(days.asi8, dtype=np.int64)
    row_day = scan_dates(mi, "the panel")
    anchors = anchor_dates(index, mi)
    pos = np.searchsorted(day_ns, row_day)
    on_date = (pos < len(day_ns)) & (day_ns[np.minimum(pos, len(day_ns) - 1)] == row_day)
    period = np.where(on_date & (pos < len(day_ns) - 1), pos, -1)
    next_ns = np.where(period >= 0, day_ns[np.minimum(period + 1, len(day_ns) - 1)], NAT)
    n = len(mi)
    ret = np.full(n, np.nan)
    status = np.where(period >= 0, "no_bars", "no_period").astype(object)
    ends = np.full(n, NAT, dtype=np.int64)
    for symbol, rows in row_groups(mi.get_level_values(1)).items():
        frame = bars.get(symbol)
        rows = rows[period[rows] >= 0]
        if frame is None or not len(frame) or not len(rows):
            continue
        bar_dates, (close,) = bar_arrays(symbol, frame, ("close",))
        seen = symbol_bad_bars(symbol, frame, bad_bars)
        start = np.searchsorted(bar_dates, anchors[rows], side="right") - 1
        found = start >= 0
        rows, start = rows[found], start[found]
        end = np.searchsorted(bar_dates, next_ns[rows], side="right") - 1
        bad = seen[end + 1] > seen[start]
        stopped = (end == len(bar_dates) - 1) & (bar_dates[-1] < next_ns[rows])
        status[rows] = np.where(bad, "bad_bar", np.where(stopped, "stopped", "ok"))
        kept = rows[~bad]
        ret[kept] = close[end[~bad]] / close[start[~bad]] - 1.0
        ends[kept] = bar_dates[end[~bad]]
    return pd.DataFrame(
        {
            "period": period,
            "ret": ret,
            "status": pd.Categorical(status, categories=HOLDING_STATUSES),
            "end_date": to_dates(ends),
        },
        index=mi,
    )


def universe_returns(holding: pd.DataFrame, dates: Iterable[Any]) -> pd.Series:
    """The equal-weighted universe's return per holding period, without costs.

    The mean ``ret`` of every row of the period's start date that has one (rows with
    the status ``bad_bar`` or ``no_bars`` are left out and the others reweighted;
    ``stopped`` rows count with their return to the last bar, then cash).  A period
    without any such row returns 0 (cash).

    Args:
        holding: the output of :func:`holding_returns`.
        dates: the replay dates given to it.

    Returns:
        A Series indexed by period ``0 .. len(dates) - 2``, named ``universe``.
    """
    days = period_dates(dates)
    periods = np.asarray(holding["period"], dtype=np.int64)
    ret = np.asarray(holding["ret"], dtype=np.float64)
    usable = (periods >= 0) & np.isfinite(ret)
    count = np.bincount(periods[usable], minlength=len(days) - 1)
    total = np.bincount(periods[usable], weights=ret[usable], minlength=len(days) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return pd.Series(mean, index=pd.RangeIndex(len(days) - 1, name="period"), name="universe")


def benchmark_period_returns(benchmark: pd.Series | None, dates: Iterable[Any]) -> pd.Series:
    """The benchmark's return per holding period: ``B(d_{t+1}) / B(d_t) - 1``, with
    ``B(t)`` its close on or before ``t`` (NaN without a benchmark or before its first close).

    Returns:
        A Series indexed by period ``0 .. len(dates) - 2``, named ``benchmark``.
    """
    days = period_dates(dates)
    index = pd.RangeIndex(len(days) - 1, name="period")
    if benchmark is None:
        return pd.Series(np.nan, index=index, name="benchmark")
    if not isinstance(benchmark, pd.Series) or not isinstance(benchmark.index, pd.DatetimeIndex):
        raise ValueError("benchmark must be a Series of closes indexed by date (DatetimeIndex)")
    closes = benchmark.astype(np.float64).dropna().sort_index()
    closes = closes[~closes.index.duplicated(keep="last")]
    bench_ns = to_ns(closes.index, "benchmark dates")
    pos = np.searchsorted(bench_ns, np.asarray(days.asi8), side="right") - 1
    values = np.where(pos >= 0, closes.to_numpy()[np.maximum(pos, 0)], np.nan)
    return pd.Series(values[1:] / values[:-1] - 1.0, index=index, name="benchmark")
