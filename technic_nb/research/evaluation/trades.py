"""The scan's trade plans walked bar by bar through the following bars, and their R summary.

:func:`walk_trade_plans` and :func:`r_summary`.  Pure: no I/O.

The rules of :func:`walk_trade_plans`, for a plan anchored at a scan date (see
:mod:`technic_nb.research.evaluation`) and a long (a short mirrors them: highs and lows
swap, ``>=`` and ``<=`` swap):

0. A plan with a missing ``entry``, ``stop`` or ``target``, or with its levels in
   the wrong order (a long needs ``stop < entry < target``, a short
   ``target < entry < stop``), is not walked: ``"no_plan"``.  The fixed target of a
   short whose ``entry - 2R`` is at or below 0, for one, is NaN.
1. Entry is a stop order at ``entry``: the first of the ``entry_window`` bars
   after the anchor whose high is ``>= entry`` fills at ``max(open, entry)``
   (short: low ``<= entry``, fill at ``min(open, entry)``): a gap fills at the
   open.  No such bar: ``"no_fill"``; the bars end before the window does:
   ``"pending"``; no anchor bar (or no bars): ``"no_bars"``.
2. From the fill bar on (included), on each bar, first match wins:

   a. the bar opens at or below the stop (not checked on the fill bar): exit
      at the open, ``"stop_gap"``;
   b. the low reaches the stop (``low <= stop``; also when the high reaches
      the target in the same bar: the stop is assumed hit first): exit at
      the stop, ``"stop"``;
   c. the bar opens at or above the target: exit at the open,
      ``"target_gap"`` (on the fill bar this means a fill at the open and an
      exit at the same price, R = 0);
   d. the high reaches the target: exit at the target, ``"target"``.

3. No exit within ``max_days`` bars (the fill bar is bar 1): exit at the
   close of bar ``max_days``, ``"timeout"``.  The bars run out first
   (delisted or end of data): marked at the last close, ``"open"``.
4. The walk's path runs from the anchor bar to the bar that decides its outcome
   (the exit bar; the last bar of the entry window for ``"no_fill"``; the last
   bar for ``"pending"`` and ``"open"``), both included.  When a bad bar (a bar
   the scan's bar checks reject, see :mod:`technic_nb.research.evaluation`) lies
   on it, the walk would cross that bar before its outcome is known:
   ``"bad_bar"``, with no fill, no exit and no R.  A bad bar after the exit
   changes nothing.

A row without a fill (``"no_plan"``, ``"no_bars"``, ``"bad_bar"``, ``"pending"``,
``"no_fill"``) has NaT and NaN fill and exit columns, no ``bars_held`` and a NaN
``r_multiple``.

``r_multiple = (exit_price - fill_price) / (entry - stop)`` (the same formula
for shorts, where both differences are negative), so a fill at the entry and
an exit at the stop is exactly -1, and a gap through the stop is worse than
-1.  ``bars_held`` counts the bars from the fill bar to the exit bar, both
included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd

from technic_nb.research.evaluation.common import (
    anchor_dates,
    check_int,
    numeric,
    panel_index,
    require,
    scan_dates,
    to_dates,
)
from technic_nb.research.evaluation.stats import (
    newey_west_tstat,
    normal_p,
    overlap_lags,
    resolve_spacing,
)
from technic_nb.research.evaluation.walks import OUTCOMES, BarStore, Walks, walk_plans

__all__ = ["OUTCOMES", "TRADE_COLUMNS", "r_summary", "walk_trade_plans"]

#: The columns of :func:`walk_trade_plans`.
TRADE_COLUMNS: tuple[str, ...] = (
    "date",
    "symbol",
    "direction",
    "entry",
    "stop",
    "target",
    "fill_date",
    "fill_price",
    "exit_date",
    "exit_price",
    "outcome",
    "bars_held",
    "r_multiple",
)

#: The outcomes of rows with no walk to count (left out of ``r_summary``'s ``trades``).
_UNWALKED = ("no_plan", "bad_bar")


class _Levels(NamedTuple):
    """The chosen rows' plan columns as given (float64; direction +1 or -1)."""

    direction: np.ndarray
    entry: np.ndarray
    stop: np.ndarray
    target: np.ndarray


def walk_trade_plans(
    panel: pd.DataFrame,
    bars: Mapping[str, pd.DataFrame],
    top_n: int | None = None,
    max_days: int = 63,
    entry_window: int = 5,
    bad_bars: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Walk each long or short trade plan of the panel through the following bars.

    Rows with ``direction`` +1 or -1 (and ``rank <= top_n`` when given) are walked
    over the bars after their anchor by the rules of this module's docstring; a
    plan with missing or misordered levels is kept as ``"no_plan"``, never walked.

    Args:
        panel: the replay panel (``direction``, ``entry``, ``stop``, ``target``;
            ``rank`` with ``top_n``).
        bars: each symbol's daily bars (``open, high, low, close``).
        top_n: only the rows with ``rank <= top_n``.
        max_days: the most bars a position is held.
        entry_window: the bars after the anchor in which the entry may fill.
        bad_bars: per symbol, the bool mask of its bars that the scan's checks
            reject (:func:`~technic_nb.research.evaluation.common.find_bad_bars`);
            the masks of the symbols it lacks (all, by default) are computed here.

    Returns:
        One row per chosen plan, columns :data:`TRADE_COLUMNS` (``outcome`` a
        categorical of :data:`OUTCOMES`, ``bars_held`` nullable integers).

    Raises:
        ValueError: a malformed argument, ``bad_bars`` mask or bars (unsorted, or
            without ``open, high, low, close``; bad values are bad bars).
    """
    return walk_rows(panel, BarStore(bars, bad_bars), top_n, max_days, entry_window)


def walk_rows(
    panel: pd.DataFrame,
    store: BarStore,
    top_n: int | None = None,
    max_days: int = 63,
    entry_window: int = 5,
) -> pd.DataFrame:
    """:func:`walk_trade_plans` over bars already read into ``store``."""
    days = check_int("max_days", max_days, 1)
    window = check_int("entry_window", entry_window, 1)
    index = panel_index(panel)
    require(panel, ["direction", "entry", "stop", "target"], "panel")
    direction = numeric(panel, "direction")
    rows = _plan_rows(panel, direction, top_n)
    levels = _Levels(
        direction[rows],
        numeric(panel, "entry")[rows],
        numeric(panel, "stop")[rows],
        numeric(panel, "target")[rows],
    )
    anchors = anchor_dates(panel, index)[rows]
    symbols = index.get_level_values(1)[rows]
    walks = walk_plans(symbols, anchors, *levels, _usable(levels), store, days, window)
    return _trade_frame(index, rows, levels, walks)


def _plan_rows(panel: pd.DataFrame, direction: np.ndarray, top_n: int | None) -> np.ndarray:
    """Positions of the rows to walk: a long or short plan (with ``rank <= top_n``)."""
    chosen = (direction == 1) | (direction == -1)
    if top_n is not None:
        require(panel, ["rank"], "panel")
        chosen &= numeric(panel, "rank") <= check_int("top_n", top_n, 1)
    return np.flatnonzero(chosen)


def _usable(levels: _Levels) -> np.ndarray:
    """The plans that can be walked (rule 0): levels finite and in the side's order."""
    side, entry, stop, target = levels
    # NaN compares false: a missing level fails both orders (and inf is not finite)
    long_ok = (stop < entry) & (entry < target)
    short_ok = (target < entry) & (entry < stop)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(entry + stop + target)
    return np.where(side > 0, long_ok, short_ok) & finite


def _trade_frame(
    index: pd.MultiIndex, rows: np.ndarray, levels: _Levels, walks: Walks
) -> pd.DataFrame:
    filled = walks.fill >= 0
    held = pd.arrays.IntegerArray(np.where(filled, walks.exit - walks.fill + 1, 0), ~filled)
    with np.errstate(divide="ignore", invalid="ignore"):  # rows without a fill: NaN
        r = np.where(
            filled, (walks.exit_price - walks.fill_price) / (levels.entry - levels.stop), np.nan
        )
    frame = pd.DataFrame(
        {
            "date": to_dates(scan_dates(index, "the panel")[rows]),
            "symbol": np.asarray(index.get_level_values(1)[rows], dtype=object),
            "direction": levels.direction.astype(np.int64),
            "entry": levels.entry,
            "stop": levels.stop,
            "target": levels.target,
            "fill_date": to_dates(walks.fill_ns),
            "fill_price": walks.fill_price,
            "exit_date": to_dates(walks.exit_ns),
            "exit_price": walks.exit_price,
            "outcome": walks.outcomes(),
            "bars_held": held,
            "r_multiple": r,
        }
    )
    return frame


def r_summary(
    trades: pd.DataFrame,
    hac_lags: int | None = None,
    *,
    max_days: int = 63,
    spacing_bars: float | None = None,
) -> pd.Series:
    """Summary of walked trade plans in R multiples (an object Series: ints and floats).

    ``trades`` (plans walked to an outcome: every row but those ``"no_plan"``, never
    walked, and ``"bad_bar"``, whose outcome is unknown; both are only counted),
    ``fills`` (plans filled), ``fill_rate`` (``fills / trades``), ``win_rate`` (share
    of filled trades with R > 0), ``mean_r`` (the expectancy), ``median_r`` and
    ``std_r`` (ddof 1) over all filled trades, including those still ``"open"``
    (marked at their last close), ``mean_bars_held``, then per date (the trades'
    own statistics are pooled; these are not): ``dates`` (replay dates with a
    filled trade), ``mean_r_by_date`` (the mean over those dates of each date's
    mean R: every date weighs the same, however many trades it has),
    ``nw_lags``, ``nw_t_by_date`` (its Newey-West t-statistic,
    :func:`~technic_nb.research.evaluation.newey_west_tstat` over the dates in
    order) and ``p_by_date`` (two-sided, normal), then one count per outcome of
    :data:`OUTCOMES`.

    Args:
        trades: the output of :func:`walk_trade_plans` (a trade's date is the
            replay date its plan was made; the fill comes in the next bars).
        hac_lags: the Newey-West lags; default ``overlap_lags(max_days,
            spacing_bars)``: trades held up to ``max_days`` bars overlap the
            trades of the next dates.
        max_days: the ``max_days`` the trades were walked with.
        spacing_bars: bars between consecutive replay dates; default estimated
            from the trades' dates by :func:`replay_spacing` (weekdays).
    """
    require(trades, ["date", "outcome", "r_multiple", "bars_held"], "trades")
    outcome = trades["outcome"].astype(object)
    walked = trades[~outcome.isin(_UNWALKED).to_numpy()]
    r = pd.to_numeric(walked["r_multiple"], errors="coerce").dropna()
    filled = len(r)
    held = pd.to_numeric(walked["bars_held"], errors="coerce").dropna()
    if hac_lags is None:
        days = check_int("max_days", max_days, 1)
        lags = overlap_lags(days, resolve_spacing(pd.Index(trades["date"]), spacing_bars))
    else:
        lags = check_int("hac_lags", hac_lags, 0)
    by_date = r.groupby(walked.loc[r.index, "date"], sort=True).mean()
    _, _, t = newey_west_tstat(by_date.to_numpy(), lags)
    values: dict[str, float] = {
        "trades": len(walked),
        "fills": filled,
        "fill_rate": filled / len(walked) if len(walked) else math.nan,
        "win_rate": float((r > 0).mean()) if filled else math.nan,
        "mean_r": float(r.mean()) if filled else math.nan,
        "median_r": float(r.median()) if filled else math.nan,
        "std_r": float(r.std(ddof=1)) if filled > 1 else math.nan,
        "mean_bars_held": float(held.mean()) if len(held) else math.nan,
        "dates": len(by_date),
        "mean_r_by_date": float(by_date.mean()) if len(by_date) else math.nan,
        "nw_lags": lags,
        "nw_t_by_date": t,
        "p_by_date": normal_p(t),
    }
    outcomes = outcome.value_counts()
    for name in OUTCOMES:
        values[name] = int(outcomes.get(name, 0))
    return pd.Series(values, name="r_summary", dtype=object)
