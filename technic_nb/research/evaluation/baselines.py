"""Baseline scores from each symbol's own past bars, and the rating compared with them.

A rating is worth something only if it beats what anyone could compute from the
same bars in one line.  :func:`baseline_scores` gives, per ``(date, symbol)`` of a
panel, these reference scores (higher = expected to do better):

=================  ======================================================================
baseline           formula (``t`` = the row's anchor bar, ``c`` = the close)
=================  ======================================================================
``momentum_12_1``  ``c[t - 21] / c[t - 252] - 1``: the 12-month return skipping the last
                   month (windows ``momentum_skip`` and ``momentum_lookback``)
``reversal_1m``    ``-(c[t] / c[t - 21] - 1)``: minus the last month's return
                   (``reversal_window``)
``low_volatility``  ``-std(log(c[k] / c[k - 1]), k = t - 62 .. t)``: minus the sample
                   standard deviation (ddof 1) of the last 63 daily log returns
                   (``volatility_window``); higher = calmer
``random``         a uniform number in ``[0, 1)`` drawn from ``(seed, date, symbol)``
=================  ======================================================================

The anchor bar is the symbol's last bar on or before the row's ``last_date`` (or its
date; see :mod:`technic_nb.research.evaluation`), so a score reads no bar after the
date: look-ahead is impossible by construction.  A score is NaN when the symbol has
too few bars before the anchor (``t - 252 < 0`` for momentum...), has no bars, or when
a *bad bar* lies among the bars the score reads (from the first bar used to the last
one), the rule of the forward returns.  The random score is a hash of the seed, the
date and the symbol (splitmix64), so it does not depend on the order, or on the other
rows, of the panel: the same seed gives the same scores.

:func:`trailing_dollar_volume` and :func:`top_by_date` build a point-in-time
liquidity universe (the top ``n`` symbols of each date by their mean dollar volume over
the bars up to the anchor); :func:`compare_baselines` sets the IC of factors beside the
IC of the baselines.  Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from technic_nb.research.evaluation.common import (
    anchor_dates,
    bar_arrays,
    check_int,
    panel_index,
    row_groups,
    scan_dates,
    symbol_bad_bars,
)
from technic_nb.research.evaluation.ic import ic_summary
from technic_nb.research.evaluation.stats import (
    adjusted_p_values,
    newey_west_tstat,
    normal_p,
)

__all__ = [
    "BASELINES",
    "baseline_scores",
    "compare_baselines",
    "top_by_date",
    "trailing_dollar_volume",
]

#: The baseline scores of :func:`baseline_scores`.
BASELINES: tuple[str, ...] = ("momentum_12_1", "reversal_1m", "low_volatility", "random")

_Filler = Callable[[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray], None]


def baseline_scores(
    panel: pd.DataFrame | pd.MultiIndex,
    bars: Mapping[str, pd.DataFrame],
    names: Iterable[str] = BASELINES,
    *,
    seed: int = 0,
    momentum_lookback: int = 252,
    momentum_skip: int = 21,
    reversal_window: int = 21,
    volatility_window: int = 63,
    bad_bars: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The baseline scores of every row of ``panel`` (formulas in the module docstring).

    Args:
        panel: the replay panel, or its ``(date, symbol)`` index (``last_date`` is used
            when the panel has it).
        bars: each symbol's bars (``close`` is read), the whole history.
        names: the baselines to compute (a subset of :data:`BASELINES`).
        seed: the seed of ``random`` (an integer >= 0).
        momentum_lookback: bars back to the start of the momentum window (252).
        momentum_skip: bars back to its end, the month skipped (21; < lookback).
        reversal_window: bars of the reversal's return (21).
        volatility_window: daily log returns in the volatility (63; >= 2).
        bad_bars: :func:`~technic_nb.research.evaluation.find_bad_bars` of ``bars``
            (computed per symbol when a symbol is missing from it).

    Returns:
        A float DataFrame indexed like ``panel``, one column per name.
    """
    wanted = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in wanted if n not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baselines {unknown}: pick from {list(BASELINES)}")
    lookback = check_int("momentum_lookback", momentum_lookback, 2)
    skip = check_int("momentum_skip", momentum_skip, 0)
    if skip >= lookback:
        raise ValueError(
            f"momentum_skip={skip} must be smaller than momentum_lookback={lookback}: "
            "the skipped month lies inside the lookback"
        )
    reversal = check_int("reversal_window", reversal_window, 1)
    vol = check_int("volatility_window", volatility_window, 2)
    seed = check_int("seed", seed, 0)
    index = panel_index(panel)
    out = {name: np.full(len(index), np.nan) for name in wanted}

    def fill(rows: np.ndarray, pos: np.ndarray, arrays: list[np.ndarray], seen: np.ndarray) -> None:
        close = arrays[0]
        if "momentum_12_1" in out:
            out["momentum_12_1"][rows] = _ratio(close, seen, pos - lookback, pos - skip)
        if "reversal_1m" in out:
            out["reversal_1m"][rows] = -_ratio(close, seen, pos - reversal, pos)
        if "low_volatility" in out:
            out["low_volatility"][rows] = -_volatility(close, seen, pos, vol)

    if set(out) - {"random"}:
        _per_symbol(panel, index, bars, bad_bars, ("close",), fill)
    if "random" in out:
        out["random"] = _random_scores(index, seed)
    return pd.DataFrame(out, index=index, columns=wanted)


def trailing_dollar_volume(
    panel: pd.DataFrame | pd.MultiIndex,
    bars: Mapping[str, pd.DataFrame],
    window: int = 63,
    bad_bars: Mapping[str, np.ndarray] | None = None,
) -> pd.Series:
    """Per row, the mean of ``close * volume`` over the last ``window`` bars up to and
    including the anchor bar (past data only).

    Bad bars in the window are left out of the mean (a day without volume does not
    exclude a stock for ``window`` bars); NaN when the symbol has fewer than ``window``
    bars up to the anchor, no bars, or no clean bar in the window.  The closes are the
    data's (split- and dividend-adjusted ones make old dollar volumes slightly lower).
    """
    size = check_int("window", window, 1)
    index = panel_index(panel)
    out = np.full(len(index), np.nan)

    def fill(rows: np.ndarray, pos: np.ndarray, arrays: list[np.ndarray], seen: np.ndarray) -> None:
        close, volume = arrays
        bad = np.diff(seen).astype(bool)
        value = np.where(bad, 0.0, close * volume)
        value[~np.isfinite(value)] = 0.0
        sums = np.r_[0.0, np.cumsum(value)]
        clean = np.r_[0, np.cumsum(~bad & np.isfinite(close * volume))]
        first = pos - size + 1
        ok = first >= 0
        a, b = np.where(ok, first, 0), np.where(ok, pos + 1, 0)
        n = clean[b] - clean[a]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[rows] = np.where(ok & (n > 0), (sums[b] - sums[a]) / n, np.nan)

    _per_symbol(panel, index, bars, bad_bars, ("close", "volume"), fill)
    return pd.Series(out, index=index, name=f"dollar_volume_{size}")


def top_by_date(values: pd.Series, top_n: int) -> np.ndarray:
    """A bool mask of the rows among the ``top_n`` largest ``values`` of their date.

    ``values`` is indexed by ``(date, symbol)``; NaN values are never kept; ties are
    broken by symbol (alphabetical first).
    """
    n = check_int("top_n", top_n, 1)
    index = panel_index(values, "values")
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    dates = scan_dates(index, "values")
    symbols = index.get_level_values(1).astype(str).to_numpy()
    known = np.isfinite(x)
    order = np.lexsort((symbols, np.where(known, -x, 0.0), ~known, dates))
    d = dates[order]
    start = np.r_[True, d[1:] != d[:-1]]
    first = np.maximum.accumulate(np.where(start, np.arange(len(d)), 0))
    keep = np.zeros(len(x), dtype=bool)
    keep[order] = (np.arange(len(d)) - first < n) & known[order]
    return keep


def compare_baselines(
    ic: pd.DataFrame,
    baselines: Iterable[str] = BASELINES,
    spacing_bars: float | None = None,
    hac_lags: int | None = None,
) -> pd.DataFrame:
    """The IC summary of factors and baselines side by side, and each factor against the
    best baseline.

    The rows are :func:`~technic_nb.research.evaluation.ic_summary` of every
    ``(factor, horizon)`` of ``ic``, with ``p_holm`` and ``p_bh`` adjusted over every row
    of the table (factors and baselines).  Added columns:

    * ``baseline``: True for a baseline's row;
    * ``best_baseline``: at each horizon, the baseline with the highest mean IC (chosen
      after the fact: the strongest competitor, which makes the comparison conservative);
    * ``vs_best_baseline``: for a factor, the mean over dates of ``IC_factor(d) -
      IC_best(d)`` (dates where both are known); ``vs_best_t``: its Newey-West t and
      ``vs_best_p`` its two-sided p-value (NaN on baseline rows).

    Args:
        ic: :func:`~technic_nb.research.evaluation.information_coefficient` of the
            factors and the baselines.
        baselines: the baseline columns of ``ic`` (each must be there).
        spacing_bars: bars between replay dates (the Newey-West lags are
            :func:`overlap_lags` of each horizon); default estimated from the dates.
        hac_lags: the Newey-West lags of every t-statistic instead (an integer >= 0).
    """
    table = ic_summary(ic, spacing_bars)
    names = [baselines] if isinstance(baselines, str) else list(baselines)
    present = set(ic.columns.get_level_values(0))
    missing = [b for b in names if b not in present]
    if missing:
        raise ValueError(
            f"ic has no column for the baselines {missing}: compute the IC of the baselines too"
        )
    if hac_lags is not None:
        table = _with_lags(table, ic, check_int("hac_lags", hac_lags, 0))
    factor = table.index.get_level_values(0)
    table["baseline"] = factor.isin(names)
    extra = {c: np.full(len(table), np.nan) for c in ("vs_best_baseline", "vs_best_t", "vs_best_p")}
    best_names = np.full(len(table), None, dtype=object)
    means = dict(zip(table.index, table["mean"], strict=True))
    best_of = {}
    for horizon in table.index.get_level_values(1).unique():
        rivals = {b: means[(b, horizon)] for b in names if np.isfinite(means[(b, horizon)])}
        if rivals:
            best_of[horizon] = max(rivals, key=lambda b: rivals[b])
    for i, (name, horizon) in enumerate(table.index):
        best = best_of.get(horizon)
        if best is None:
            continue
        best_names[i] = best
        if name in names:
            continue
        diff = ic[(name, horizon)] - ic[(best, horizon)]
        mean, _, t = newey_west_tstat(diff.to_numpy(dtype=float), int(table["nw_lags"].iloc[i]))
        extra["vs_best_baseline"][i], extra["vs_best_t"][i] = mean, t
        extra["vs_best_p"][i] = normal_p(t)
    table["best_baseline"] = best_names
    for column, values in extra.items():
        table[column] = values
    return table


def _with_lags(table: pd.DataFrame, ic: pd.DataFrame, lags: int) -> pd.DataFrame:
    """``table`` with its Newey-West columns recomputed with ``lags`` lags."""
    out = table.drop(columns=["p_holm", "p_bh"])
    for key in out.index:
        values = pd.to_numeric(ic[key], errors="coerce").dropna().to_numpy()
        t = newey_west_tstat(values, lags)[2]
        out.loc[key, ["nw_lags", "nw_t_stat", "nw_p_value"]] = [lags, t, normal_p(t)]
    return out.join(adjusted_p_values(out["nw_p_value"]))


# -- per symbol ------------------------------------------------------------------------


def _per_symbol(
    panel: pd.DataFrame | pd.MultiIndex,
    index: pd.MultiIndex,
    bars: Mapping[str, pd.DataFrame],
    bad_bars: Mapping[str, np.ndarray] | None,
    columns: Sequence[str],
    fill: _Filler,
) -> None:
    """Call ``fill(rows, anchor positions, arrays, bad-bar counts)`` for each symbol with
    bars (anchor position -1: no bar on or before the date)."""
    anchors = anchor_dates(panel, index)
    for symbol, rows in row_groups(index.get_level_values(1)).items():
        frame = bars.get(symbol)
        if frame is None or not len(frame):
            continue
        dates, arrays = bar_arrays(symbol, frame, columns)
        seen = symbol_bad_bars(symbol, frame, bad_bars)
        pos = np.searchsorted(dates, anchors[rows], side="right") - 1
        fill(rows, pos, arrays, seen)


def _clean(seen: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Bars ``first..last`` exist (``first >= 0``) and hold no bad bar."""
    ok = first >= 0
    a, b = np.where(ok, first, 0), np.where(ok, last + 1, 0)
    return ok & (seen[b] == seen[a])


def _ratio(close: np.ndarray, seen: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """``close[last] / close[first] - 1`` where those bars are clean, else NaN."""
    ok = _clean(seen, first, last)
    a, b = np.where(ok, first, 0), np.where(ok, last, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = close[b] / close[a] - 1.0
    return np.where(ok & np.isfinite(value), value, np.nan)


def _volatility(close: np.ndarray, seen: np.ndarray, pos: np.ndarray, window: int) -> np.ndarray:
    """The sample std of the ``window`` log returns ending at bar ``pos``, else NaN."""
    ok = _clean(seen, pos - window, pos)
    out = np.full(len(pos), np.nan)
    if not ok.any():
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.diff(np.log(close))
    windows = np.lib.stride_tricks.sliding_window_view(logs, window)
    out[ok] = windows[pos[ok] - window].std(axis=1, ddof=1)
    out[~np.isfinite(out)] = np.nan
    return out


# -- the random baseline ---------------------------------------------------------------


def _random_scores(index: pd.MultiIndex, seed: int) -> np.ndarray:
    """Uniform ``[0, 1)`` numbers from a splitmix64 hash of (seed, date, symbol)."""
    symbols = np.asarray(index.get_level_values(1).astype(str), dtype=object)
    hashed = pd.util.hash_array(symbols, categorize=True).astype(np.uint64)
    days = scan_dates(index, "the panel").view(np.uint64)
    key = _splitmix(np.full(len(index), seed, dtype=np.uint64))
    mixed = _splitmix(hashed ^ _splitmix(days ^ key))
    return (mixed >> np.uint64(11)).astype(np.float64) * math.ldexp(1.0, -53)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))
