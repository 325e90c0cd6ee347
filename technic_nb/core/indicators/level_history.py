"""The chart levels at the end of many windows of one history, computed together.

:class:`LevelHistory` gives, for windows of at least ``high_window`` bars of one
history, what :func:`~technic_nb.core.indicators.chart_levels` gives on each (bit for
bit), with what the windows share found once:

* **pivots**: a pivot of a window is a pivot of the history between the window's
  ``pivot_bars``-th bar and its ``pivot_bars``-th last (its ``2n + 1`` bars are the
  same bars), so the history's pivots are found once and each window takes a slice;
* **swings**: a pivot low is intact at the window's last bar when no bar up to it
  undercuts it, so for each pivot the first bar that undercuts it (exceeds it, for a
  pivot high) is found once (:func:`_breaks`);
* **congestion zones**: the range of every ``congestion_bars`` stretch is computed
  once; each window compares its stretches with its own ``2 x ATR`` (one 2-D
  comparison for all windows), merges them into zones, and reads each zone's top and
  bottom from sparse tables of running extremes (max and min are exact);
* **resistances and supports**: every window's candidate levels (its pivots, its
  extreme, its zone edges) are sorted in one ``lexsort`` by window then price, and
  merged as ``chart_levels`` merges them.

The windows must hold finite bars; bars outside them may be anything.
"""

from __future__ import annotations

import numpy as np

from technic_nb.core.indicators.levels import (
    CONGESTION_ATR,
    LEVEL_COUNT,
    MERGE_ATR,
    _nearest_distinct,
)
from technic_nb.core.indicators.params import IndicatorParams

__all__ = ["LevelHistory"]


def _rolling(table: list[np.ndarray], width: int, reduce: np.ufunc) -> np.ndarray:
    """``reduce`` over ``values[i:i + width]`` at every ``i <= len - width``, from the
    sparse table of ``values`` (:func:`_sparse_table`; max and min are exact)."""
    count = len(table[0]) - width + 1
    if count <= 0:
        return np.empty(0)
    k = width.bit_length() - 1
    row = table[k]
    return np.asarray(reduce(row[:count], row[width - 2**k : width - 2**k + count]))


def _sparse_table(values: np.ndarray, reduce: np.ufunc) -> list[np.ndarray]:
    """``table[k][i]``: ``reduce`` over ``values[i:i + 2**k]``."""
    table = [values]
    while 2 ** len(table) <= len(values):
        previous, half = table[-1], 2 ** (len(table) - 1)
        table.append(reduce(previous[:-half], previous[half:]))
    return table


def _range_query(
    table: list[np.ndarray], reduce: np.ufunc, starts: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """``reduce`` over ``values[starts[i]:ends[i]]`` (each range non-empty)."""
    out = np.empty(len(starts))
    lengths = ends - starts
    levels = np.floor(np.log2(lengths)).astype(np.intp)
    for k in np.unique(levels).tolist():
        at = levels == k
        row = table[k]
        out[at] = reduce(row[starts[at]], row[ends[at] - 2**k])
    return out


def _breaks(values: np.ndarray, positions: np.ndarray, higher: bool) -> np.ndarray:
    """For each of ``positions``, the first later bar strictly above its value
    (``higher``) or strictly below it; ``len(values)`` when none.

    Binary lifting over a sparse table of running minima: each position advances by
    the largest blocks holding nothing below its value.  A NaN counts as a break, so
    the answer is exact for any window of finite bars (a NaN after it only moves a
    break that lies beyond the window's end anyway).
    """
    signed = -values if higher else values
    count = len(signed)
    levels = _sparse_table(signed, np.minimum)
    reference = signed[positions]
    reach = positions + 1
    for k in range(len(levels) - 1, -1, -1):
        size = 2**k
        inside = reach + size <= count
        blocks = levels[k][np.where(inside, reach, 0)]
        reach = np.where(inside & (blocks >= reference), reach + size, reach)
    return reach


def _segments(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The concatenated ranges ``starts[i] .. stops[i] - 1``, and the ``i`` of each."""
    counts = stops - starts
    owner = np.repeat(np.arange(len(starts)), counts)
    offsets = np.cumsum(counts) - counts
    return np.arange(counts.sum()) - np.repeat(offsets - starts, counts), owner


class LevelHistory:
    """:func:`~technic_nb.core.indicators.chart_levels` at the end of many windows of one
    history (each window at least ``high_window`` bars; see the module)."""

    def __init__(self, high: np.ndarray, low: np.ndarray, params: IndicatorParams) -> None:
        self.high = high
        self.low = low
        self.window = params.high_window
        self.n = n = params.pivot_bars
        self.bars = params.congestion_bars
        self.highest = _sparse_table(high, np.maximum)
        self.lowest = _sparse_table(low, np.minimum)
        centers = np.arange(n, len(high) - n)
        highest = _rolling(self.highest, 2 * n + 1, np.maximum)
        lowest = _rolling(self.lowest, 2 * n + 1, np.minimum)
        self.pivot_highs = centers[high[centers] >= highest[: len(centers)]]
        self.pivot_lows = centers[low[centers] <= lowest[: len(centers)]]
        # for each pivot, the first bar that breaks it (exceeds its high, undercuts its low)
        self.high_breaks = _breaks(high, self.pivot_highs, True)
        self.low_breaks = _breaks(low, self.pivot_lows, False)
        # ranges[j]: highest high minus lowest low of the stretch of ``bars`` bars from j
        self.ranges = _rolling(self.highest, self.bars, np.maximum) - _rolling(
            self.lowest, self.bars, np.minimum
        )

    def columns(
        self,
        ends: np.ndarray,
        closes: np.ndarray,
        atrs: np.ndarray,
        window_high: np.ndarray,
        window_low: np.ndarray,
        base_high: np.ndarray,
        base_low: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """The levels of the windows of the last ``high_window`` bars before each of
        ``ends``, given each window's last close, ATR, highest high and lowest low (of
        the ``high_window`` bars) and the base's (``base_window`` bars)."""
        starts = ends - self.window
        count = len(ends)
        usable = np.isfinite(atrs) & (atrs > 0)
        out: dict[str, np.ndarray] = {}
        pivots = {}
        for name, positions, breaks, values, extreme in (
            ("swing_high", self.pivot_highs, self.high_breaks, self.high, window_high),
            ("swing_low", self.pivot_lows, self.low_breaks, self.low, window_low),
        ):
            first = np.searchsorted(positions, starts + self.n)
            stop = np.searchsorted(positions, ends - self.n)
            taken, owner = _segments(first, stop)
            # the last pivot of each window that no bar up to its end breaks
            intact = breaks[taken] >= ends[owner]
            kept, holder = taken[intact], owner[intact]
            last = np.append(holder[1:] != holder[:-1], True) if len(holder) else holder
            swings = extreme.copy()
            swings[holder[last]] = values[positions[kept[last]]]
            out[name] = swings
            pivots[name] = (values[positions[taken]], owner)
        tops, bottoms, zone_owner = self._zones(starts, atrs, usable)
        merge = np.where(usable, MERGE_ATR * atrs, 0.0).tolist()
        every = np.arange(count)
        for side, (levels, owner), extreme in (
            ("resistance", pivots["swing_high"], window_high),
            ("support", pivots["swing_low"], window_low),
        ):
            values = np.concatenate([levels, extreme, tops, bottoms])
            owners = np.concatenate([owner, every, zone_owner, zone_owner])
            if side == "resistance":
                keep = values > closes[owners]
                order = np.lexsort((values[keep], owners[keep]))
            else:
                keep = values < closes[owners]
                order = np.lexsort((-values[keep], owners[keep]))
            ranked = values[keep][order].tolist()
            bounds = np.searchsorted(owners[keep][order], np.arange(count + 1)).tolist()
            table = np.array(
                [
                    _nearest_distinct(ranked[bounds[i] : bounds[i + 1]], merge[i], LEVEL_COUNT)
                    for i in range(count)
                ],
                dtype=np.float64,
            ).reshape(count, LEVEL_COUNT)
            for k in range(LEVEL_COUNT):
                out[f"{side}_{k + 1}"] = table[:, k]
        out["base_high"] = base_high
        out["base_low"] = base_low
        return out

    def _zones(
        self, starts: np.ndarray, atrs: np.ndarray, usable: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top, bottom and window of every congestion zone of every window."""
        bars = self.bars
        width = CONGESTION_ATR * atrs
        rows = self.ranges[starts[:, None] + np.arange(self.window - bars + 1)]
        tight = (rows <= width[:, None]) & usable[:, None]
        owner, position = np.nonzero(tight)
        if not len(owner):
            empty = np.empty(0)
            return empty, empty, np.empty(0, dtype=np.intp)
        opens = np.ones(len(owner), dtype=bool)
        opens[1:] = (owner[1:] != owner[:-1]) | (position[1:] - position[:-1] >= bars)
        closes = np.append(opens[1:], True)
        zone = owner[opens]
        first = starts[zone] + position[opens]
        stop = starts[zone] + position[closes] + bars
        tops = _range_query(self.highest, np.maximum, first, stop)
        bottoms = _range_query(self.lowest, np.minimum, first, stop)
        return tops, bottoms, zone
