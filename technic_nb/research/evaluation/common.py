"""Shared checks and array helpers of the replay statistics (:mod:`technic_nb.research.evaluation`).

Argument checks, the panel's ``(date, symbol)`` index, dates as int64 nanoseconds, the
anchor dates, bar arrays and their bad bars, the alignment of ``returns`` with the panel
and the per-date average ranks.  Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.bars import rejected_rows

__all__ = [
    "NAT",
    "aligned",
    "anchor_dates",
    "bad_bar_mask",
    "bar_arrays",
    "check_horizons",
    "check_int",
    "check_spacing",
    "date_codes",
    "find_bad_bars",
    "grouped_ranks",
    "numeric",
    "panel_index",
    "require",
    "return_column",
    "row_groups",
    "scan_dates",
    "status_horizons",
    "symbol_bad_bars",
    "to_dates",
    "to_ns",
]

#: NaT as int64 nanoseconds.
NAT = np.iinfo(np.int64).min


# -- argument checks -------------------------------------------------------------------


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int; a ValueError naming ``name`` unless it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}={value!r} is invalid: pass an integer >= {minimum}")
    return int(value)


def check_horizons(horizons: Iterable[int]) -> tuple[int, ...]:
    """The horizons as a tuple of distinct integers >= 1 (ValueError otherwise)."""
    values = tuple(horizons)
    if not values:
        raise ValueError("horizons is empty: pass at least one horizon in bars, e.g. (5, 21, 63)")
    checked = tuple(check_int("horizon", h, 1) for h in values)
    if len(set(checked)) != len(checked):
        raise ValueError(f"horizons={values!r} repeats a horizon: pass each horizon once")
    return checked


def check_spacing(spacing_bars: Any) -> float:
    """``spacing_bars`` as a finite float > 0 (ValueError otherwise)."""
    try:
        value = float(spacing_bars)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"spacing_bars={spacing_bars!r} is invalid: pass the (median) number of trading "
            "bars between consecutive replay dates, a number > 0 (see replay_spacing)"
        )
    return value


# -- the panel and its dates -----------------------------------------------------------


def panel_index(data: pd.DataFrame | pd.MultiIndex, what: str = "panel") -> pd.MultiIndex:
    """The ``(date, symbol)`` MultiIndex of ``data`` (ValueError naming ``what`` otherwise)."""
    index = data if isinstance(data, pd.Index) else getattr(data, "index", None)
    if not isinstance(index, pd.MultiIndex) or index.nlevels != 2:
        raise ValueError(
            f"{what} must be indexed by a (date, symbol) MultiIndex; got "
            f"{type(index).__name__}: set it with .set_index(['date', 'symbol'])"
        )
    return index


def to_ns(values: Any, what: str) -> np.ndarray:
    """Dates as int64 nanoseconds since the epoch (NaT -> ``NAT``)."""
    try:
        dates = pd.DatetimeIndex(values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must hold dates (datetime64 values): {exc}") from exc
    if dates.tz is not None:
        raise ValueError(
            f"{what} is timezone-aware ({dates.tz}): use tz-naive dates (.tz_localize(None))"
        )
    return np.asarray(dates.as_unit("ns").asi8, dtype=np.int64)


def to_dates(ns: np.ndarray) -> pd.DatetimeIndex:
    """int64 nanoseconds back to dates (``NAT`` -> NaT)."""
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]"))


def scan_dates(index: pd.MultiIndex, what: str) -> np.ndarray:
    """The date level as int64 nanoseconds (ValueError when a date is missing)."""
    dates = to_ns(index.get_level_values(0), f"the date level of {what}")
    if (dates == NAT).any():
        raise ValueError(f"the date level of {what} has missing dates (NaT): drop those rows")
    return dates


def anchor_dates(data: pd.DataFrame | pd.MultiIndex, index: pd.MultiIndex) -> np.ndarray:
    """``last_date`` where the panel has it, else the scan date (int64 ns)."""
    dates = scan_dates(index, "the panel")
    if not isinstance(data, pd.DataFrame) or "last_date" not in data.columns:
        return dates
    last = to_ns(data["last_date"], "panel['last_date']")
    given = last != NAT
    late = given & (last > dates)
    if late.any():
        row = index[int(np.flatnonzero(late)[0])]
        raise ValueError(
            f"panel['last_date'] is after the scan date in {int(late.sum())} rows (first: {row}): "
            "last_date must be the symbol's last bar on or before the scan date"
        )
    return np.where(given, last, dates)


def row_groups(symbols: pd.Index | np.ndarray) -> dict[Any, np.ndarray]:
    """Row positions per symbol (rows with a missing symbol are in no group)."""
    keys = np.asarray(symbols, dtype=object)
    return pd.Series(np.arange(len(keys))).groupby(keys, sort=False).indices


def bar_arrays(
    symbol: Any, frame: pd.DataFrame, columns: Sequence[str]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Bar dates (int64 ns) and the float arrays of ``columns``, the structure checked.

    The values are not checked here: a bar with a missing or non-positive price is a
    bad bar (:func:`bad_bar_mask`), which no forward path may cross.
    """
    what = _check_bars_frame(symbol, frame, columns)
    arrays = [frame[c].to_numpy(dtype=np.float64) for c in columns]
    return to_ns(frame.index, what), arrays


def _check_bars_frame(symbol: Any, frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """ValueError unless ``frame`` is a DataFrame of ascending unique dates with ``columns``."""
    what = f"bars[{symbol!r}]"
    if not isinstance(frame, pd.DataFrame) or not isinstance(frame.index, pd.DatetimeIndex):
        raise ValueError(f"{what} must be a DataFrame with a DatetimeIndex of bar dates")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the columns {missing}: bars need {list(columns)}")
    if not (frame.index.is_monotonic_increasing and frame.index.is_unique):
        raise ValueError(
            f"{what} dates are not ascending and unique: sort them "
            "(.sort_index()) and drop duplicate dates"
        )
    return what


def bad_bar_mask(symbol: Any, frame: pd.DataFrame) -> np.ndarray:
    """The bars of ``frame`` that the scan's bar checks reject, as a bool array.

    :func:`technic_nb.core.bars.rejected_rows` over the whole history: a missing or
    non-positive price, a negative volume, ``high < low``, an open or close outside
    ``[low, high]``, an isolated price or volume outlier.  Only ``close`` is required:
    a missing ``open``, ``high`` or ``low`` column is taken as the close, and without a
    ``volume`` column no volume is checked.
    """
    _check_bars_frame(symbol, frame, ("close",))
    n = len(frame)
    close = frame["close"].to_numpy(dtype=np.float64)
    prices = [
        frame[c].to_numpy(dtype=np.float64) if c in frame.columns else close
        for c in ("open", "high", "low")
    ]
    volume = frame["volume"].to_numpy(dtype=np.float64) if "volume" in frame.columns else np.ones(n)
    return rejected_rows(np.column_stack([*prices, close, volume]))


def find_bad_bars(bars: Mapping[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """Per symbol, :func:`bad_bar_mask` of its bars (symbols without bars are left out).

    Compute it once and pass it to :func:`~technic_nb.research.evaluation.forward_returns`
    and :func:`~technic_nb.research.evaluation.walk_trade_plans` (``bad_bars=``) to
    check each history only once.
    """
    return {
        symbol: bad_bar_mask(symbol, frame)
        for symbol, frame in bars.items()
        if not isinstance(frame, pd.DataFrame) or len(frame)
    }


def symbol_bad_bars(
    symbol: Any, frame: pd.DataFrame, bad_bars: Mapping[str, np.ndarray] | None
) -> np.ndarray:
    """The bad bars of ``symbol`` as cumulative counts: ``seen[j]`` bad bars among the
    first ``j``, so bars ``a..b`` (both included) hold one when ``seen[b + 1] > seen[a]``.

    The mask comes from ``bad_bars`` when it has the symbol, else from :func:`bad_bar_mask`.
    """
    given = None if bad_bars is None else bad_bars.get(symbol)
    if given is None:
        mask = bad_bar_mask(symbol, frame)
    else:
        mask = np.asarray(given)
        if mask.dtype != np.bool_ or mask.shape != (len(frame),):
            raise ValueError(
                f"bad_bars[{symbol!r}] must be a bool array with one value per bar "
                f"({len(frame)}); got {mask.dtype} of shape {mask.shape}: pass find_bad_bars(bars)"
            )
    seen = np.zeros(len(mask) + 1, dtype=np.int64)
    np.cumsum(mask, out=seen[1:])
    return seen


# -- returns next to the panel ---------------------------------------------------------


def status_horizons(returns: pd.DataFrame, prefix: str = "status") -> list[int]:
    """The sorted horizons ``h`` of the ``{prefix}_{h}d`` columns (ValueError when none)."""
    found = []
    for column in returns.columns:
        name = str(column)
        if name.startswith(f"{prefix}_") and name.endswith("d"):
            middle = name[len(prefix) + 1 : -1]
            if middle.isdigit():
                found.append(int(middle))
    if not found:
        raise ValueError(
            f"returns has no {prefix}_{{h}}d columns (got {list(returns.columns)[:8]}): "
            "pass the output of forward_returns"
        )
    return sorted(found)


def aligned(panel: pd.DataFrame, returns: pd.DataFrame) -> pd.DataFrame:
    """``returns`` in the row order of ``panel``."""
    index = panel_index(panel)
    panel_index(returns, "returns")
    if returns.index.equals(index):
        return returns
    if not index.is_unique or not returns.index.is_unique:
        raise ValueError(
            "returns is not indexed like panel and one of them repeats (date, symbol) pairs: "
            "compute returns with forward_returns(panel.index, ...)"
        )
    absent = index.difference(returns.index)
    if len(absent):
        raise ValueError(
            f"returns lacks {len(absent)} of the panel's rows (first: {absent[0]}): "
            "compute returns with forward_returns(panel.index, ...)"
        )
    return returns.reindex(index)


def require(frame: pd.DataFrame, names: Iterable[str], what: str) -> None:
    """Raise a ValueError naming ``what`` when ``frame`` lacks one of the columns ``names``."""
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} lacks the columns {missing}; it has {list(frame.columns)[:12]}"
            + ("..." if len(frame.columns) > 12 else "")
        )


def numeric(frame: pd.DataFrame, name: str) -> np.ndarray:
    """The column ``name`` as float64 (values that are not numbers become NaN)."""
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def return_column(returns: pd.DataFrame, column: str, horizon: int) -> np.ndarray:
    """The ``{column}_{horizon}d`` returns (``column`` is ``fwd`` or ``excess``) as float64."""
    if column not in ("fwd", "excess"):
        raise ValueError(f"column={column!r} is invalid: pass 'fwd' or 'excess'")
    name = f"{column}_{horizon}d"
    require(returns, [name], "returns")
    return numeric(returns, name)


def date_codes(index: pd.MultiIndex) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Per row, the position of its date among the sorted distinct dates; those dates."""
    codes, uniques = pd.factorize(to_dates(scan_dates(index, "the panel")), sort=True)
    return codes.astype(np.int64), pd.DatetimeIndex(uniques, name="date")


def grouped_ranks(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Average ranks (1 = lowest) of finite ``values`` within each code (ties share a rank)."""
    by_value = np.argsort(values)  # equal values end up adjacent, whatever their order
    group = codes[by_value]
    narrow = np.int16 if len(group) and group.max() < np.iinfo(np.int16).max else np.int64
    order = by_value[np.argsort(group.astype(narrow, copy=False), kind="stable")]  # radix sort
    v, c = values[order], codes[order]
    n = len(v)
    if not n:
        return np.empty(0)
    new_group = np.r_[True, c[1:] != c[:-1]]
    new_run = new_group | np.r_[True, v[1:] != v[:-1]]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    run_end = np.r_[run_start[1:], n] - 1
    # positions within the group are 0-based: a run [a, b] has the average rank (a + b) / 2 + 1
    average = (run_start + run_end) / 2.0 + 1.0 - group_start[run_start]
    ranks = np.empty(n)
    ranks[order] = average[run_id]
    return ranks
