"""Weekly bars built from daily bars.

This module is pure: it reads a daily bars frame (tz-naive ``DatetimeIndex``
named ``date``, ascending and unique, float64 columns ``open, high, low, close,
volume``) and returns a new frame.  No I/O, no state.

Rules of :func:`weekly_bars`
----------------------------
* **Weeks end on Friday** (pandas ``W-FRI`` periods): a week runs from Saturday
  to Friday, so a Saturday or Sunday bar (if a source has one) belongs to the
  week of the *following* Friday.
* Each week with at least one daily bar gives one row:
  ``open`` = open of its first daily bar, ``high`` = max of the highs,
  ``low`` = min of the lows, ``close`` = close of its last daily bar,
  ``volume`` = sum of the volumes.  Weeks without bars (market closed the whole
  week) give no row.
* **The row is indexed by the date of the last daily bar of the week**, not by
  the Friday.  A week whose Friday is a holiday is indexed by its Thursday.
* **The last week may be partial**: it holds only the daily bars given.  As of
  a Wednesday, the current week is built from Monday to Wednesday and indexed
  by that Wednesday; its close is Wednesday's close.  So weekly values as of a
  date never use a bar after that date, and every earlier week is identical
  to the one built from the full history.
* ``drop_partial=True`` removes the last week unless it is known to be
  complete, which is when its last daily bar is a Friday (the end of the
  week).  Without a trading calendar a week whose Friday is a holiday cannot be
  told from a week still in progress, so such a week is dropped as long as it
  is the last one, and kept as soon as a bar of a later week exists.  Every
  week before the last is complete as far as the daily bars go.
* **The first week may be cut** when the daily bars are a window (the last 300
  bars of a scan) that starts mid-week: it then holds only the days from the
  window's start.  ``drop_partial_first=True`` removes the first week unless
  its first daily bar is a Monday (a week starting on a Tuesday after a Monday
  holiday is therefore dropped too: one week lost, never a truncated one kept).
  :func:`technic_nb.rules.factors.run.compute_factors` uses it for weekly factors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["WEEKLY_ANCHOR", "weekly_bars"]

#: The pandas period frequency of a week: weeks end on Friday.
WEEKLY_ANCHOR = "W-FRI"

_COLUMNS = ("open", "high", "low", "close", "volume")
_MONDAY = 0
_FRIDAY = 4


def _check_daily(daily: object) -> pd.DataFrame:
    """Return ``daily`` if it is a frame of daily bars, else raise a precise error."""
    if not isinstance(daily, pd.DataFrame):
        raise TypeError(
            f"weekly_bars: daily must be a pandas DataFrame, got {type(daily).__name__}"
        )
    missing = [name for name in _COLUMNS if name not in daily.columns]
    if missing:
        raise ValueError(
            f"weekly_bars: daily bars need columns open, high, low, close, volume; "
            f"missing {', '.join(missing)} in {list(map(str, daily.columns))}"
        )
    index = daily.index
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(f"weekly_bars: daily bars need a DatetimeIndex, got {type(index).__name__}")
    if index.tz is not None:
        raise ValueError(f"weekly_bars: daily bars need a tz-naive index, got tz={index.tz}")
    if len(index) > 1 and not (np.diff(index.asi8) > 0).all():
        raise ValueError("weekly_bars: the daily index must be strictly ascending (unique dates)")
    return daily


def weekly_bars(
    daily: pd.DataFrame, drop_partial: bool = False, *, drop_partial_first: bool = False
) -> pd.DataFrame:
    """Aggregate daily bars into weeks ending Friday (see the module rules).

    Args:
        daily: daily bars, tz-naive ``DatetimeIndex`` (strictly ascending) and
            the columns ``open, high, low, close, volume`` (other columns are
            ignored).
        drop_partial: drop the last week unless its last daily bar is a Friday.
        drop_partial_first: drop the first week unless its first daily bar is
            a Monday (for a window of daily bars that may start mid-week).

    Returns:
        A float64 frame with the columns ``open, high, low, close, volume`` and
        a ``DatetimeIndex`` named ``date`` holding the date of the last daily
        bar of each week (same dtype as the daily index).  Empty daily bars give
        an empty frame with these columns.

    Raises:
        TypeError: ``daily`` is not a frame with a ``DatetimeIndex``.
        ValueError: a column is missing, the index is tz-aware or not strictly
            ascending.
    """
    daily = _check_daily(daily)
    index = daily.index
    if len(index) == 0:
        empty = pd.DataFrame(
            {name: np.array([], dtype=np.float64) for name in _COLUMNS},
            index=index[:0].rename("date"),
        )
        return empty

    weeks = index.to_period(WEEKLY_ANCHOR).asi8
    # Weeks are contiguous because dates are ascending: a new week starts where the
    # period number changes.
    starts = np.flatnonzero(np.r_[True, weeks[1:] != weeks[:-1]])
    ends = np.r_[starts[1:], len(weeks)] - 1

    def column(name: str) -> np.ndarray:
        return daily[name].to_numpy(dtype=np.float64)

    values = {
        "open": column("open")[starts],
        "high": np.maximum.reduceat(column("high"), starts),
        "low": np.minimum.reduceat(column("low"), starts),
        "close": column("close")[ends],
        "volume": np.add.reduceat(column("volume"), starts),
    }
    out = pd.DataFrame(values, index=index[ends].rename("date"), columns=list(_COLUMNS))
    if drop_partial and index[-1].day_of_week != _FRIDAY:
        out = out.iloc[:-1]
    if drop_partial_first and index[0].day_of_week != _MONDAY and len(out):
        out = out.iloc[1:]
    return out
