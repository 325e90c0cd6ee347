"""Trade plans walked through the following bars, all plans at once (array code).

The rules are those of :mod:`technic_nb.research.evaluation.trades` (its module
docstring): entry by a stop order within ``entry_window`` bars, then the first bar
that touches the stop or the target (stop gap, stop, target gap, target, in that
order), a timeout after ``max_days`` bars or an open trade when the bars run out,
and ``"bad_bar"`` when a rejected bar lies on the path from the anchor bar to the
bar that decides the outcome.

Every symbol's bars are laid end to end; the entry window and the holding window
of each plan are read as rows of a 2-D gather (``plans x window`` bars, in blocks
of :data:`BLOCK` plans), and the first matching bar of each row is found with
``argmax``.  The prices returned are the bars' own values or the plan's levels
(nothing is computed from them), so the walks are those of a bar-by-bar loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd

from technic_nb.research.evaluation.common import NAT, bar_arrays, row_groups, symbol_bad_bars

__all__ = ["OUTCOMES", "BarStore", "Walks", "walk_plans"]

#: The outcomes of a walk (:func:`~technic_nb.research.evaluation.walk_trade_plans`).
OUTCOMES: tuple[str, ...] = (
    "no_plan",
    "no_bars",
    "bad_bar",
    "pending",
    "no_fill",
    "stop_gap",
    "stop",
    "target_gap",
    "target",
    "timeout",
    "open",
)
(NO_PLAN, NO_BARS, BAD_BAR, PENDING, NO_FILL, STOP_GAP, STOP, TARGET_GAP, TARGET, TIMEOUT, OPEN) = (
    range(len(OUTCOMES))
)
#: Plans walked per block (bounds the memory of the gathers: BLOCK x max_days bars).
BLOCK = 8192
_PRICE_COLUMNS = ("open", "high", "low", "close")


class Walks(NamedTuple):
    """Per plan: outcome code (a position in :data:`OUTCOMES`), fill and exit bars
    (-1: none), prices (NaN: none) and dates (int64 ns, ``NAT``: none)."""

    outcome: np.ndarray
    fill: np.ndarray
    fill_price: np.ndarray
    exit: np.ndarray
    exit_price: np.ndarray
    fill_ns: np.ndarray
    exit_ns: np.ndarray

    def outcomes(self) -> pd.Categorical:
        """The outcomes as a categorical of :data:`OUTCOMES`."""
        return pd.Categorical.from_codes(self.outcome, categories=OUTCOMES)


class SymbolBars(NamedTuple):
    """One symbol's bars as arrays: dates (int64 ns), ``open, high, low, close`` and
    the bad-bar counts of :func:`~technic_nb.research.evaluation.common.symbol_bad_bars`."""

    dates: np.ndarray
    prices: list[np.ndarray]
    seen: np.ndarray


class BarStore:
    """Each symbol's bars read into arrays once (the structure checked then), for the
    walks and the excursions of the same plans."""

    def __init__(
        self, bars: Mapping[str, pd.DataFrame], bad_bars: Mapping[str, np.ndarray] | None
    ) -> None:
        self.bars = bars
        self.bad_bars = bad_bars
        self._read: dict[str, SymbolBars | None] = {}

    def get(self, symbol: str) -> SymbolBars | None:
        """The symbol's arrays (None without bars)."""
        if symbol not in self._read:
            frame = self.bars.get(symbol)
            if frame is None or not len(frame):
                self._read[symbol] = None
            else:
                dates, prices = bar_arrays(symbol, frame, _PRICE_COLUMNS)
                seen = symbol_bad_bars(symbol, frame, self.bad_bars)
                self._read[symbol] = SymbolBars(dates, prices, seen)
        return self._read[symbol]


class _Bars(NamedTuple):
    """Every symbol's bars end to end, and per walked plan its offsets."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    dates: np.ndarray
    seen: np.ndarray


def walk_plans(
    symbols: pd.Index,
    anchors: np.ndarray,
    side: np.ndarray,
    entry: np.ndarray,
    stop: np.ndarray,
    target: np.ndarray,
    usable: np.ndarray,
    store: BarStore,
    days: int,
    window: int,
) -> Walks:
    """Walk every usable plan (``side`` +1 long, -1 short) from the bar on or before its
    anchor (int64 ns) over its symbol's bars; the others are ``"no_plan"``, and those
    without an anchor bar ``"no_bars"``."""
    n = len(side)
    out = Walks(
        np.where(usable, NO_BARS, NO_PLAN).astype(np.int8),
        np.full(n, -1, dtype=np.int64),
        np.full(n, np.nan),
        np.full(n, -1, dtype=np.int64),
        np.full(n, np.nan),
        np.full(n, NAT, dtype=np.int64),
        np.full(n, NAT, dtype=np.int64),
    )
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("rows", "anchor", "base", "last", "sb")}
    columns: list[list[np.ndarray]] = [[] for _ in range(6)]
    bars_at = seen_at = 0
    for symbol, members in row_groups(symbols).items():
        read = store.get(symbol)
        if read is None:
            continue
        dates, prices, seen = read
        positions = np.searchsorted(dates, anchors[members], side="right") - 1
        ok = (positions >= 0) & usable[members]
        k = int(ok.sum())
        parts["rows"].append(members[ok])
        parts["anchor"].append(positions[ok])
        parts["base"].append(np.full(k, bars_at, dtype=np.int64))
        parts["last"].append(np.full(k, len(dates) - 1, dtype=np.int64))
        parts["sb"].append(np.full(k, seen_at, dtype=np.int64))
        for column, values in zip(columns, [*prices, dates, seen], strict=True):
            column.append(values)
        bars_at += len(dates)
        seen_at += len(seen)
    if not parts["rows"]:
        return out
    joined = _Bars(*(np.concatenate(column) for column in columns))
    rows, anchor, base, last, sb = (np.concatenate(parts[k]) for k in parts)
    for at in range(0, len(rows), BLOCK):
        part = slice(at, at + BLOCK)
        r = rows[part]
        _walk_block(
            out,
            r,
            anchor[part],
            base[part],
            last[part],
            sb[part],
            (side[r] > 0, entry[r], stop[r], target[r]),
            joined,
            days,
            window,
        )
    return out


def _first(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: whether any value is True, and the column of the first True."""
    return np.asarray(matrix.any(axis=1)), np.asarray(matrix.argmax(axis=1))


def _walk_block(
    out: Walks,
    rows: np.ndarray,
    anchor: np.ndarray,
    base: np.ndarray,
    last: np.ndarray,
    sb: np.ndarray,
    levels: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    b: _Bars,
    days: int,
    window: int,
) -> None:
    """Walk one block of plans (all with an anchor bar and usable levels) into ``out``."""
    long, entry, stop, target = levels
    # 1. the entry: the first bar of anchor+1 .. min(anchor + window, last) that reaches it
    first = anchor + 1
    stop_at = np.minimum(anchor + window, last)
    bar = first[:, None] + np.arange(window)
    at = base[:, None] + np.minimum(bar, last[:, None])
    crossed = np.where(long[:, None], b.high[at] >= entry[:, None], b.low[at] <= entry[:, None])
    hit, column = _first(crossed & (bar <= stop_at[:, None]))
    decided = np.where(anchor + window > last, last, anchor + window)  # no fill: the last bar read
    code = np.where(anchor + window > last, PENDING, NO_FILL).astype(np.int8)
    fill = first + column
    # 2. from the fill bar on: the first bar touching the stop or the target
    h = np.flatnonzero(hit)
    f, bh, lh, lg = fill[h], base[h], last[h], long[h]
    opened = b.open[bh + f]
    fill_price = np.where(lg, np.maximum(opened, entry[h]), np.minimum(opened, entry[h]))
    end = np.minimum(f + days - 1, lh)
    bar = f[:, None] + np.arange(days)
    at = bh[:, None] + np.minimum(bar, lh[:, None])
    low, high = b.low[at], b.high[at]
    s, t = stop[h][:, None], target[h][:, None]
    touched = np.where(lg[:, None], (low <= s) | (high >= t), (high >= s) | (low <= t))
    exited, column = _first(touched & (bar <= end[:, None]))
    exit_bar = f + column
    price, how = _exit_on(lg, stop[h], target[h], b, bh + exit_bar, exit_bar == f)
    timeout = ~exited & (f + days - 1 <= lh)
    exit_bar = np.where(exited, exit_bar, np.where(timeout, end, lh))
    code[h] = np.where(exited, how, np.where(timeout, TIMEOUT, OPEN))
    decided[h] = exit_bar
    price = np.where(exited, price, b.close[bh + exit_bar])
    # 4. a bad bar from the anchor bar to the deciding bar: no outcome
    bad = b.seen[sb + decided + 1] > b.seen[sb + anchor]
    code[bad] = BAD_BAR
    out.outcome[rows] = code
    good = ~bad[h]
    kept, fills, exits = rows[h[good]], f[good], exit_bar[good]
    out.fill[kept] = fills
    out.exit[kept] = exits
    out.fill_price[kept] = fill_price[good]
    out.exit_price[kept] = price[good]
    out.fill_ns[kept] = b.dates[bh[good] + fills]
    out.exit_ns[kept] = b.dates[bh[good] + exits]


def _exit_on(
    long: np.ndarray,
    stop: np.ndarray,
    target: np.ndarray,
    b: _Bars,
    at: np.ndarray,
    fill_bar: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Exit price and outcome code on a bar that touches the stop or the target
    (rule 2; a short's rules are the long ones on prices times -1)."""
    sign = np.where(long, 1.0, -1.0)
    opened = b.open[at]
    o, s, t = sign * opened, sign * stop, sign * target
    adverse = np.where(long, sign * b.low[at], sign * b.high[at])
    gap = ~fill_bar & (o <= s)
    stopped = ~gap & (adverse <= s)
    target_gap = ~gap & ~stopped & (o >= t)
    price = np.select([gap, stopped, target_gap], [opened, stop, opened], target)
    how = np.select([gap, stopped, target_gap], [STOP_GAP, STOP, TARGET_GAP], TARGET)
    return price, how


def excursions(
    symbols: np.ndarray,
    fill_ns: np.ndarray,
    exit_ns: np.ndarray,
    fill: np.ndarray,
    risk: np.ndarray,
    store: BarStore,
) -> tuple[np.ndarray, np.ndarray]:
    """MAE and MFE in R of filled long trades: ``(min low - fill) / risk`` and
    ``(max high - fill) / risk`` over the bars from the fill to the exit (both
    included; NaN for rows whose ``fill_ns`` is ``NAT``)."""
    mae = np.full(len(symbols), np.nan)
    mfe = np.full(len(symbols), np.nan)
    filled = np.flatnonzero(fill_ns != NAT)
    for symbol, rows in row_groups(symbols[filled]).items():
        read = store.get(symbol)
        if read is None:
            raise KeyError(symbol)
        dates, (_, high, low, _) = read.dates, read.prices
        members = filled[rows]
        first = np.searchsorted(dates, fill_ns[members])
        last = np.searchsorted(dates, exit_ns[members])
        bar = first[:, None] + np.arange(int((last - first).max()) + 1)
        inside = bar <= last[:, None]
        at = np.minimum(bar, last[:, None])
        lowest = np.where(inside, low[at], np.inf).min(axis=1)
        highest = np.where(inside, high[at], -np.inf).max(axis=1)
        mae[members] = (lowest - fill[members]) / risk[members]
        mfe[members] = (highest - fill[members]) / risk[members]
    return mae, mfe
