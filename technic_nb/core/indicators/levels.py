"""Chart levels at the last bar: swing pivots, resistances, supports and the base.

The trade plan (:mod:`technic_nb.core.scoring.trade_plan`) reads its stop, its
trigger and its target from these levels, the way a chart reader would.  All of
them are computed over the last ``high_window`` bars (252 by default), from the
highs and lows only, at the last bar (there is no per-bar series of them).

Pivots
    Bar ``i`` is a *pivot high* when its high is the highest of the ``2n + 1``
    bars from ``i - n`` to ``i + n`` (ties count), a *pivot low* when its low is
    the lowest of them; ``n`` is ``pivot_bars`` (3).  A pivot is *confirmed*
    once the ``n`` bars after it exist, so the last ``n`` bars are never pivots:
    nothing here looks past the last bar.

``swing_low``
    The low of the last confirmed pivot low that no later low has undercut (a
    later equal low leaves it intact).  Such pivots form the staircase of higher
    lows under the price; the last one is the highest, the nearest support a
    stop goes under.  When no pivot low is intact (the lowest low of the window
    is among its first or last ``n`` bars) it is the lowest low of the window.
``swing_high``
    The mirror: the high of the last confirmed pivot high that no later high
    has exceeded, else the window's highest high (the short's stop level).
``resistance_1`` .. ``resistance_4``
    The four nearest distinct levels above the last close, ascending.  A level
    is a confirmed pivot high, the highest high of the window, or an edge (top
    or bottom) of a congestion zone.  Levels closer together than
    :data:`MERGE_ATR` ATRs count once (the nearer one is kept).  NaN where fewer
    levels exist.
``support_1`` .. ``support_4``
    The mirror below the last close, descending: pivot lows, the window's
    lowest low and congestion edges.
``base_high``, ``base_low``
    The highest high and lowest low of the last ``base_window`` bars (40): the
    base a measured move is taken from.

A *congestion zone* is a stretch of at least ``congestion_bars`` (10)
consecutive bars whose highs and lows all fit within :data:`CONGESTION_ATR`
ATRs (2, the ATR of the last bar); overlapping stretches merge into one zone.
Prices that moved sideways for two weeks or more left supply and demand at the
zone's edges.

Levels need the ATR for merging and congestion; with an unknown ATR only pivots
and the window's extremes are levels, unmerged.
"""

from __future__ import annotations

import math

import numpy as np
import talib

__all__ = [
    "CONGESTION_ATR",
    "LEVEL_COUNT",
    "MERGE_ATR",
    "chart_levels",
    "level_names",
    "pivot_positions",
]

#: How many resistances and supports are kept, each side.
LEVEL_COUNT = 4
#: Levels closer than this many ATRs count as one.
MERGE_ATR = 0.25
#: The widest range, in ATRs, of the bars of a congestion zone.
CONGESTION_ATR = 2.0

_NAN = float("nan")


def level_names() -> list[str]:
    """The columns :func:`chart_levels` returns, in order."""
    return [
        "swing_low",
        "swing_high",
        *(f"resistance_{k}" for k in range(1, LEVEL_COUNT + 1)),
        *(f"support_{k}" for k in range(1, LEVEL_COUNT + 1)),
        "base_high",
        "base_low",
    ]


def pivot_positions(
    high: np.ndarray, low: np.ndarray, pivot_bars: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the confirmed pivot highs and pivot lows of ``high`` / ``low``.

    A position ``i`` is returned when ``i - n >= 0``, ``i + n < len`` and its
    value is the extreme of the ``2n + 1`` values around it (``n =
    pivot_bars``).  Both arrays are ascending.
    """
    n = pivot_bars
    span = 2 * n + 1
    if len(high) < span:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty
    centers = np.arange(n, len(high) - n)
    # talib's rolling extremes end at a bar: the window ending at i + n is centred on i
    highest = talib.MAX(high, timeperiod=span)[span - 1 :]
    lowest = talib.MIN(low, timeperiod=span)[span - 1 :]
    return centers[high[centers] >= highest], centers[low[centers] <= lowest]


def _stretch_ranges(high: np.ndarray, low: np.ndarray, bars: int) -> np.ndarray:
    """``ranges[j]``: highest high minus lowest low of the ``bars`` bars from ``j`` on."""
    if len(high) < bars:
        return np.empty(0)
    return (
        talib.MAX(high, timeperiod=bars)[bars - 1 :] - talib.MIN(low, timeperiod=bars)[bars - 1 :]
    )


def _congestion_edges(
    ranges: np.ndarray, high: np.ndarray, low: np.ndarray, bars: int, width: float
) -> np.ndarray:
    """Top and bottom of every congestion zone (see the module documentation), from the
    ranges of the ``bars``-bar stretches of ``high`` / ``low`` (:func:`_stretch_ranges`)."""
    if not width > 0 or len(high) < bars:
        return np.empty(0)
    tight = np.flatnonzero(ranges <= width)
    if not len(tight):
        return np.empty(0)
    # Stretches starting less than ``bars`` apart overlap and merge; the merged zones
    # [first, end) are then disjoint and ascending, so one reduceat reads them all.
    gaps = np.flatnonzero(tight[1:] - tight[:-1] >= bars)
    bounds = np.empty(2 * len(gaps) + 2, dtype=np.intp)
    bounds[0] = tight[0]
    bounds[2::2] = tight[gaps + 1]
    bounds[1:-1:2] = tight[gaps] + bars
    bounds[-1] = tight[-1] + bars
    tops = np.maximum.reduceat(np.append(high, -math.inf), bounds)[::2]
    bottoms = np.minimum.reduceat(np.append(low, math.inf), bounds)[::2]
    return np.concatenate([tops, bottoms])


def _nearest_distinct(levels: np.ndarray, merge: float, count: int) -> list[float]:
    """The first ``count`` of ``levels`` (sorted nearest first), merging close ones."""
    kept: list[float] = []
    for value in levels:
        if kept and abs(value - kept[-1]) < merge:
            continue
        kept.append(float(value))
        if len(kept) == count:
            break
    return kept + [_NAN] * (count - len(kept))


def _last_intact(
    values: np.ndarray, positions: np.ndarray, later_extreme: np.ndarray
) -> float | None:
    """The value at the last of ``positions`` not beaten by ``later_extreme``, or None."""
    intact = positions[values[positions] <= later_extreme[positions]]
    return float(values[intact[-1]]) if len(intact) else None


def chart_levels(
    high: np.ndarray,
    low: np.ndarray,
    close: float,
    atr: float,
    *,
    window: int,
    pivot_bars: int,
    congestion_bars: int,
    base_window: int,
) -> dict[str, float]:
    """The levels of the module documentation at the last bar, keyed by :func:`level_names`.

    ``high`` and ``low`` are the whole history (float64, oldest first, at least
    one bar); only the last ``window`` bars are read.
    """
    high = high[-window:]
    low = low[-window:]
    pivot_highs, pivot_lows = pivot_positions(high, low, pivot_bars)

    # min of the lows after each bar (inf after the last), max of the highs likewise
    low_after = np.append(np.minimum.accumulate(low[::-1])[::-1][1:], math.inf)
    high_after = np.append(np.maximum.accumulate(high[::-1])[::-1][1:], -math.inf)
    swing_low = _last_intact(low, pivot_lows, low_after)
    swing_high = _last_intact(-high, pivot_highs, -high_after)
    return _levels(
        high,
        low,
        close,
        atr,
        (pivot_highs, pivot_lows),
        (swing_low, None if swing_high is None else -swing_high),
        _stretch_ranges(high, low, congestion_bars),
        congestion_bars,
        base_window,
    )


def _levels(
    high: np.ndarray,
    low: np.ndarray,
    close: float,
    atr: float,
    pivots: tuple[np.ndarray, np.ndarray],
    swings: tuple[float | None, float | None],
    ranges: np.ndarray,
    congestion_bars: int,
    base_window: int,
) -> dict[str, float]:
    """The levels of the window ``high`` / ``low`` from its pivots (highs, lows), its
    intact swings (low, high; None: none intact) and its stretch ranges."""
    pivot_highs, pivot_lows = pivots
    out: dict[str, float] = {}
    swing_low, swing_high = swings
    out["swing_low"] = float(low.min()) if swing_low is None else swing_low
    out["swing_high"] = float(high.max()) if swing_high is None else swing_high

    usable_atr = math.isfinite(atr) and atr > 0
    merge = MERGE_ATR * atr if usable_atr else 0.0
    edges = (
        _congestion_edges(ranges, high, low, congestion_bars, CONGESTION_ATR * atr)
        if usable_atr
        else np.empty(0)
    )
    above = np.concatenate([high[pivot_highs], [high.max()], edges])
    above = np.sort(above[above > close])
    below = np.concatenate([low[pivot_lows], [low.min()], edges])
    below = -np.sort(-below[below < close])
    for k, value in enumerate(_nearest_distinct(above, merge, LEVEL_COUNT), start=1):
        out[f"resistance_{k}"] = value
    for k, value in enumerate(_nearest_distinct(below, merge, LEVEL_COUNT), start=1):
        out[f"support_{k}"] = value

    out["base_high"] = float(high[-base_window:].max())
    out["base_low"] = float(low[-base_window:].min())
    return out
