"""Isolated outliers in daily bars: values that break no OHLC rule but cannot be right.

:func:`technic_nb.core.bars.check_bar_values` rejects bars with NaN, non-positive prices,
``high < low`` or an open or close outside ``[low, high]``.  Some bad rows pass all of
that: a low divided by ten (``o=53.69 h=54.25 l=5.3498 c=54.02``), a whole bar off by
a power of ten, a volume a thousand times its neighbours'.  One such bar inside a scan
window gives an ATR several times too large, a false 52-week low, a trade plan built
on them.  This module finds them; it never changes a value.

The rule (thresholds are module constants; they were chosen by measuring the 505
symbols of ``us_equities_daily``, 2005-2017, see ``tests/test_outliers.py``):

**Price, inner bars** (a bar with a bar on each side).  The reference is the close
of the bar before and the close of the bar after.  ``open``, ``high``, ``low`` or
``close`` of bar ``t`` is an outlier when it is at least :data:`PRICE_JUMP` (8) times
above *both* neighbouring closes, or at least 8 times below both (a jump and a
revert), while those two closes agree within :data:`NEIGHBOUR_AGREEMENT` (2x).  In
the real data the listed decimal shifts are 9.4x to 101x away from both neighbours;
the largest jump-and-revert not listed as a data error is XL's low on 2015-08-24
(6.8x), and the wide bars of the 2008 crash and the Flash Crash are 3.5x at most.  A
level shift that does not revert (a split, a real crash such as AIG -61% on
2008-09-15) is never flagged: the bar agrees with one of its neighbours.

**Price, first and last bar** (one neighbour only).  A jump that does not revert
cannot be told from a real move, so only the signature of a decimal error is used:
a value is an outlier when its ratio to the neighbouring close (the previous close
for the last bar, the next close for the first bar) is within a factor
:data:`POWER_OF_TEN_TOLERANCE` (1.25) of 10, 100, 1000... in either direction
(8-12.5x, 80-125x, ...), and that close agrees within 2x with the close one bar
further in.  So a last bar whose close (or whole bar) was shifted by a decimal is
reported before the next bar shows it reverting; the price of that is that a real
move of -87.5% to -92% (or +700% to +1150%) on the last bar is reported too, until
the next bar exists and the inner-bar rule takes over.  Other large edge jumps
(a collapse of -95%, say) are not flagged.

**Volume, inner bars**: a volume at least :data:`VOLUME_SPIKE` (100) times the median
volume of the up to :data:`VOLUME_SIDE_BARS` (5) bars before it *and* of the up to 5
bars after it, both medians positive and agreeing within :data:`VOLUME_AGREEMENT`
(5x).  Real event days (index changes, mergers, earnings) reach 33x in the real data
(AJG 2016-05-27); the one day beyond 50x is ES 2012-04-09 (398.6 million shares,
105x, 30 times the stock's second-largest day in 13 years), which is reported.  The
synthetic :class:`~technic_nb.DemoSource` market models news days up to 78.5x (20,000
symbols, 5 years); 100x keeps its symbols clean.  The last bar's volume is never
flagged: one-sided, real days reach 90-4000x the days before them (BRK.B's index
inclusion 2010-02-01, the first full days of GOOG 2014-04-03 and UA 2016-04-08), and
a spike on the last bar is what ``volume_spike`` is meant to show; a bad last volume
is reported once the next bar exists.  The first bar has no bar before it and is not
checked either.

**Low volumes are not flagged**, zero included.  ``check_bar_values`` accepts a volume
of 0; the real data has 261 symbols with volume 0 on 2010-04-26, and 15 nonzero days
at 1/50 or less of the volume on both sides (10 of them on 2009-06-10).  Such a day
lowers a 20-bar mean volume (``dollar_volume20``, the ``volume_spike`` baseline) by
about 1/20 at most and cannot make a confident signal, whereas flagging it would drop
those symbols from every scan whose 300-bar window contains that day.  A huge volume
is different: inside the last 20 bars it multiplies ``dollar_volume20`` (a liquidity
filter passes) and the ``volume_spike`` baseline.

Fewer than 3 bars: nothing is checked.  Values are expected to have passed the basic
checks (finite, prices > 0, volume >= 0); NaNs compare false and are not reported.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "NEIGHBOUR_AGREEMENT",
    "POWER_OF_TEN_TOLERANCE",
    "PRICE_JUMP",
    "VOLUME_AGREEMENT",
    "VOLUME_SIDE_BARS",
    "VOLUME_SPIKE",
    "Outlier",
    "find_isolated_outliers",
    "find_outliers_in_values",
    "outlier_candidates",
]

#: An inner price at least this many times above (or below) both neighbouring closes.
PRICE_JUMP = 8.0
#: The neighbouring closes (or, at an edge, the close and the next one in) agree within this.
NEIGHBOUR_AGREEMENT = 2.0
#: At the first and last bar: how close to a power of ten the jump must be (ratio, both ways).
POWER_OF_TEN_TOLERANCE = 1.25
#: An inner volume at least this many times the median volume on each side.
VOLUME_SPIKE = 100.0
#: How many bars on each side make the median volume (fewer near the window's edges).
#: 3 to 5: the volume screen relies on it (see ``_volume_outliers``).
VOLUME_SIDE_BARS = 5
#: The two side medians agree within this factor (the neighbourhood is normal).
VOLUME_AGREEMENT = 5.0

_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
_PRICE_COLUMNS = _COLUMNS[:4]
_CLOSE = 3
_VOLUME = 4
_LOG_TOLERANCE = math.log10(POWER_OF_TEN_TOLERANCE)
#: The smallest edge jump that can be near a power of ten (10 / 1.25 = 8).
_EDGE_FLOOR = 10 / POWER_OF_TEN_TOLERANCE
#: The smallest jump from the previous close that the inner or the last-bar rule can flag.
_SCREEN_JUMP = min(PRICE_JUMP, _EDGE_FLOOR)

OutlierKind = Literal["price", "volume"]


@dataclass(frozen=True, slots=True)
class Outlier:
    """One isolated outlier.

    Attributes:
        date: the bar's date (``None`` when found by :func:`find_outliers_in_values`).
        column: ``"open"``, ``"high"``, ``"low"``, ``"close"`` or ``"volume"``.
        value: the suspect value.
        previous: the reference before it: the previous close (price) or the median
            volume of the bars before it (volume); ``None`` for the first bar.
        next: the reference after it: the next close or the median volume of the bars
            after it; ``None`` for the last bar.
        ratio: ``value`` divided by the nearer reference (the smaller jump), so > 1 for
            a jump up and < 1 for a jump down.
        kind: ``"price"`` or ``"volume"``.
        position: the bar's row number in the bars given.
    """

    date: dt.date | None
    column: str
    value: float
    previous: float | None
    next: float | None
    ratio: float
    kind: OutlierKind
    position: int

    def describe(self) -> str:
        """One line naming the value, its neighbours and the jump, for an error message."""
        factor = self.ratio if self.ratio >= 1 else 1 / self.ratio
        jump = f"{factor:.3g}x {'above' if self.ratio >= 1 else 'below'}"
        if self.kind == "volume":
            return (
                f"volume {self.value:,.0f} is {jump} the median volume of the bars before "
                f"({self.previous:,.0f}) and after ({self.next:,.0f})"
            )
        sides = []
        if self.previous is not None:
            sides.append(f"the previous close {self.previous:.6g}")
        if self.next is not None:
            sides.append(f"the next close {self.next:.6g}")
        return f"{self.column} {self.value:.6g} is {jump} {' and '.join(sides)}"


def find_isolated_outliers(bars: pd.DataFrame) -> list[Outlier]:
    """The isolated price and volume outliers of ``bars``, in date order.

    Args:
        bars: normalized bars (``DatetimeIndex``; columns ``open, high, low, close,
            volume``), usually the exact window a scan uses.

    Returns:
        One :class:`Outlier` per suspect value (a bar may give several), sorted by
        position, prices before volume within a bar.  Empty for clean bars.
    """
    values = (
        bars.to_numpy(dtype="float64")
        if tuple(bars.columns) == _COLUMNS
        else bars.loc[:, list(_COLUMNS)].to_numpy(dtype="float64")
    )
    found = find_outliers_in_values(values)
    if not found:
        return []
    index = bars.index
    return [
        Outlier(
            pd.Timestamp(index[o.position]).date(),
            o.column,
            o.value,
            o.previous,
            o.next,
            o.ratio,
            o.kind,
            o.position,
        )
        for o in found
    ]


def find_outliers_in_values(values: np.ndarray, *, ohlc_checked: bool = False) -> list[Outlier]:
    """:func:`find_isolated_outliers` on an ``(n, 5)`` float array (O, H, L, C, V).

    This is the fast path :func:`technic_nb.core.bars.check_bar_values` uses on every
    symbol of a scan: a few whole-array comparisons screen the bars, and the exact
    rule only runs where the screen finds a candidate.

    Args:
        values: rows of open, high, low, close, volume.
        ohlc_checked: True when every row is known to have ``low <= open, close <= high``
            (``check_bar_values`` has just checked it).  The price screen then only
            compares the high and the low with the previous close, which is enough.
            With False (the default) the exact price rule runs on every bar.

    Returns:
        The outliers, sorted by position (prices before volume within a bar); their
        ``date`` is ``None`` and ``position`` is the row.
    """
    n = len(values)
    if n < 3:
        return []
    found = _edge_outliers(values, 0, 1, 2)
    if not ohlc_checked or _price_screen(values):
        found += _inner_price_outliers(values)
        found += _edge_outliers(values, n - 1, n - 2, n - 3)
    found += _volume_outliers(values)
    if len(found) > 1:
        found.sort(key=lambda o: (o.position, o.kind == "volume"))
    return found


#: How much looser than the rules :func:`outlier_candidates` is (room for rounding).
_CANDIDATE_MARGIN = 0.9


def outlier_candidates(values: np.ndarray) -> np.ndarray:
    """The bars of a whole history that may hold an isolated outlier in some window.

    A bool mask over the rows of ``values`` (open, high, low, close, volume; any rows,
    invalid ones included) with this guarantee: for any window ``values[a:b]`` whose
    rows pass the row checks of :func:`technic_nb.core.bars.check_bar_values`,
    ``find_outliers_in_values(values[a:b], ohlc_checked=True)`` is empty when no row
    of ``a .. b - 1`` is marked.  So a replay checks each symbol's history once and
    runs the exact rule only on the windows holding a marked bar (running counts of
    the marks).

    Why each rule needs a mark (prices in a valid row lie within ``[low, high]``, and
    every condition here is the rule's own necessary condition loosened by
    :data:`_CANDIDATE_MARGIN`):

    * the inner rule and the last-bar rule flag a price at least 8x above or below the
      previous close: the bar's high or low is that far from it;
    * the first-bar rule flags a price at least 8x from the next close: likewise;
    * the volume rule flags a volume at least 100x the median volume of the (1 to 5)
      bars before it inside the window, which is at least the smallest of them, so at
      least the smallest of the 5 bars before it in the history (a non-finite one
      counts as below any volume); and likewise for the bars after it.
    """
    count = len(values)
    marked = np.zeros(count, dtype=bool)
    if count < 2:
        return marked
    high, low, close = values[:, 1], values[:, 2], values[:, _CLOSE]
    jump = _SCREEN_JUMP * _CANDIDATE_MARGIN
    with np.errstate(invalid="ignore", over="ignore"):
        marked[1:] = (high[1:] >= jump * close[:-1]) | (low[1:] * jump <= close[:-1])
        marked[:-1] |= (high[:-1] >= jump * close[1:]) | (low[:-1] * jump <= close[1:])
        volume = values[:, _VOLUME]
        floor = np.where(np.isfinite(volume), volume, -math.inf)
        before = np.full(count, math.inf)
        after = np.full(count, math.inf)
        for lag in range(1, VOLUME_SIDE_BARS + 1):
            np.minimum(before[lag:], floor[:-lag], out=before[lag:])
            np.minimum(after[:-lag], floor[lag:], out=after[:-lag])
        spike = VOLUME_SPIKE * _CANDIDATE_MARGIN
        marked |= (volume >= spike * before) & (volume >= spike * after)
    return marked


def _price_screen(values: np.ndarray) -> bool:
    """False when no price of bars 1..n-1 can be an outlier (valid OHLC rows only).

    Both the inner rule and the last-bar rule need a price at least
    :data:`_SCREEN_JUMP` (8) times above or below the previous close; in a valid row
    the high and the low are the extremes.
    """
    ratios = values[1:, 1:3] / values[:-1, _CLOSE : _CLOSE + 1]  # high, low over previous close
    return bool(ratios.max() >= _SCREEN_JUMP or ratios.min() * _SCREEN_JUMP <= 1.0)


def _inner_price_outliers(values: np.ndarray) -> list[Outlier]:
    """The inner rule: 8x above or below both neighbouring closes, which agree."""
    close = values[:, _CLOSE]
    before, after = close[:-2], close[2:]
    low = np.minimum(before, after)
    high = np.maximum(before, after)
    inner = values[1:-1, : _CLOSE + 1]
    jumped = (inner >= PRICE_JUMP * high[:, None]) | (inner * PRICE_JUMP <= low[:, None])
    if not jumped.any():
        return []
    found = []
    agree = (high <= NEIGHBOUR_AGREEMENT * low) & (low > 0)
    for row, column in zip(*np.nonzero(jumped & agree[:, None]), strict=True):
        value = float(inner[row, column])
        nearer = float(high[row] if value > high[row] else low[row])
        found.append(
            Outlier(
                None,
                _PRICE_COLUMNS[column],
                value,
                float(before[row]),
                float(after[row]),
                value / nearer,
                "price",
                int(row) + 1,
            )
        )
    return found


def _edge_outliers(values: np.ndarray, edge: int, neighbour: int, further: int) -> list[Outlier]:
    """The edge rule: prices of bar ``edge`` a power of ten away from ``neighbour``'s close.

    ``neighbour``'s close must agree with ``further``'s within :data:`NEIGHBOUR_AGREEMENT`.
    """
    reference = float(values[neighbour, _CLOSE])
    check = float(values[further, _CLOSE])
    if not (
        0 < reference <= NEIGHBOUR_AGREEMENT * check and check <= NEIGHBOUR_AGREEMENT * reference
    ):
        return []
    found = []
    for column in range(_CLOSE + 1):
        value = float(values[edge, column])
        ratio = value / reference
        if not (_EDGE_FLOOR <= ratio < math.inf or 0 < ratio * _EDGE_FLOOR <= 1):
            continue  # the common case (no big jump: no logarithm), or not a valid price
        decades = abs(math.log10(ratio))
        if round(decades) >= 1 and abs(decades - round(decades)) <= _LOG_TOLERANCE:
            previous, following = (reference, None) if edge > neighbour else (None, reference)
            found.append(
                Outlier(
                    None, _PRICE_COLUMNS[column], value, previous, following, ratio, "price", edge
                )
            )
    return found


def _volume_outliers(values: np.ndarray) -> list[Outlier]:
    """The volume rule, on the bars that pass a cheap necessary condition.

    A median of up to 5 values is at least the smallest of any 3 of them (at most 2
    lie above it), so a spike is at least :data:`VOLUME_SPIKE` times the smallest of
    the 3 volumes before it.  Only those bars (a handful at most) get their medians.
    """
    volume = values[:, _VOLUME].copy()  # contiguous: the whole-array steps below are faster
    n = len(volume)
    smallest = np.minimum(volume[:-3], volume[1:-2])  # bar t = i + 3: min of t-3 .. t-1
    np.minimum(smallest, volume[2:-1], out=smallest)
    smallest *= VOLUME_SPIKE
    screened = volume[3:-1] >= smallest[:-1]
    candidates = (np.flatnonzero(screened) + 3).tolist() if screened.any() else []
    if n > 3 and volume[2] >= VOLUME_SPIKE * min(volume[0], volume[1]):
        candidates.insert(0, 2)
    if volume[1] >= VOLUME_SPIKE * volume[0]:
        candidates.insert(0, 1)
    found = []
    for t in candidates:
        value = float(volume[t])
        before = _median(volume[max(0, t - VOLUME_SIDE_BARS) : t].tolist())
        after = _median(volume[t + 1 : t + 1 + VOLUME_SIDE_BARS].tolist())
        larger, smaller = max(before, after), min(before, after)
        if smaller > 0 and value >= VOLUME_SPIKE * larger and larger <= VOLUME_AGREEMENT * smaller:
            found.append(Outlier(None, "volume", value, before, after, value / larger, "volume", t))
    return found


def _median(numbers: list[float]) -> float:
    """The median of a short non-empty list (faster than ``np.median`` for 5 values)."""
    ordered = sorted(numbers)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
