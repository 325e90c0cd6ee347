"""The array walk of trade plans against a plain bar-by-bar loop of the same rules.

The loop below is written from the rules of :mod:`technic_nb.research.evaluation.trades`
(one plan at a time, ``for`` over the bars); the array code walks every plan at once
in blocks.  On random bars (gaps, bad bars, delisted symbols) and random long and short
plans, both must give the same outcome, bars and prices, exactly, whatever the block
size; and the excursions of :func:`evaluate_plans` must be the plain min and max.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from technic_nb.research.evaluation import walk_trade_plans, walks
from technic_nb.research.evaluation.common import find_bad_bars
from technic_nb.research.evaluation.walks import BarStore, excursions

CAL = pd.bdate_range("2020-01-01", periods=160)


def _bars(rng: np.random.Generator, symbols: list[str]) -> dict[str, pd.DataFrame]:
    bars = {}
    for k, symbol in enumerate(symbols):
        n = 160 - 30 * (k % 3)  # some symbols stop early (delisted)
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
        open_ = close * np.exp(rng.normal(0, 0.02, n))
        high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.03, n))
        low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.03, n))
        frame = pd.DataFrame(
            {"open": open_, "high": high, "low": low, "close": close, "volume": 1e6},
            index=pd.DatetimeIndex(CAL[:n], name="date"),
        )
        if k % 4 == 1:  # a bad bar somewhere
            frame.iloc[int(rng.integers(20, n - 5)), 3] = np.nan
        bars[symbol] = frame
    return bars


def _panel(rng: np.random.Generator, symbols: list[str], n: int) -> pd.DataFrame:
    days = rng.integers(0, 158, n)
    names = rng.choice([*symbols, "NONE"], n)
    side = rng.choice([1.0, -1.0, 0.0], n, p=[0.5, 0.4, 0.1])
    entry = rng.uniform(30, 80, n)
    risk = rng.uniform(0.5, 6, n)
    stop = entry - side * risk
    target = entry + side * risk * rng.uniform(0.5, 3, n)
    stop[rng.random(n) < 0.05] = np.nan
    index = pd.MultiIndex.from_arrays([CAL[days], names], names=["date", "symbol"])
    panel = pd.DataFrame(
        {"direction": side, "entry": entry, "stop": stop, "target": target, "rank": 1},
        index=index,
    )
    return panel


def _loop_walk(frame: pd.DataFrame | None, bad: np.ndarray | None, anchor_day, plan, days, window):
    """(outcome, fill bar, fill price, exit bar, exit price) by the rules, bar by bar."""
    side, entry, stop, target = plan
    if side not in (1, -1):
        return None
    ok = (stop < entry < target) if side > 0 else (target < entry < stop)
    if not (ok and math.isfinite(entry + stop + target)):
        return ("no_plan", -1, math.nan, -1, math.nan)
    if frame is None:
        return ("no_bars", -1, math.nan, -1, math.nan)
    o, h, lo, c = (frame[k].to_numpy() for k in ("open", "high", "low", "close"))
    last = len(c) - 1
    anchor = int(frame.index.searchsorted(anchor_day, side="right")) - 1
    if anchor < 0:
        return ("no_bars", -1, math.nan, -1, math.nan)
    s = 1.0 if side > 0 else -1.0
    fill = None
    for bar in range(anchor + 1, min(anchor + window, last) + 1):
        if (h[bar] >= entry) if side > 0 else (lo[bar] <= entry):
            fill = bar
            break
    if fill is None:
        decided = last if anchor + window > last else anchor + window
        out = ("pending" if anchor + window > last else "no_fill", -1, math.nan, -1, math.nan)
    else:
        price = max(o[fill], entry) if side > 0 else min(o[fill], entry)
        out = None
        for bar in range(fill, min(fill + days - 1, last) + 1):
            adverse, favour = (lo[bar], h[bar]) if side > 0 else (h[bar], lo[bar])
            if s * adverse <= s * stop or s * favour >= s * target:
                if bar != fill and s * o[bar] <= s * stop:
                    out = ("stop_gap", fill, price, bar, o[bar])
                elif s * adverse <= s * stop:
                    out = ("stop", fill, price, bar, stop)
                elif s * o[bar] >= s * target:
                    out = ("target_gap", fill, price, bar, o[bar])
                else:
                    out = ("target", fill, price, bar, target)
                break
        if out is None:
            end = min(fill + days - 1, last)
            name = "timeout" if fill + days - 1 <= last else "open"
            out = (name, fill, price, end, c[end])
        decided = out[3]
    if bad[anchor : decided + 1].any():
        return ("bad_bar", -1, math.nan, -1, math.nan)
    return out


@pytest.mark.parametrize("block", [3, 64, walks.BLOCK])
def test_array_walk_equals_a_bar_by_bar_loop(monkeypatch, block) -> None:
    monkeypatch.setattr(walks, "BLOCK", block)
    rng = np.random.default_rng(11)
    symbols = [f"S{k}" for k in range(9)]
    bars = _bars(rng, symbols)
    masks = find_bad_bars(bars)
    panel = _panel(rng, symbols, 400)
    trades = walk_trade_plans(panel, bars, max_days=20, entry_window=3)
    chosen = panel[panel["direction"] != 0]
    assert len(trades) == len(chosen)
    levels = chosen[["direction", "entry", "stop", "target"]]
    for row, ((day, symbol), plan) in zip(trades.itertuples(), levels.iterrows(), strict=True):
        frame = bars.get(symbol)
        want = _loop_walk(frame, masks.get(symbol), day, tuple(plan), 20, 3)
        assert row.outcome == want[0], (day, symbol, tuple(plan))
        if want[1] < 0:
            assert pd.isna(row.fill_date) and np.isnan(row.fill_price) and pd.isna(row.bars_held)
            continue
        assert row.fill_date == frame.index[want[1]] and row.fill_price == want[2]
        assert row.exit_date == frame.index[want[3]] and row.exit_price == want[4]
        assert row.bars_held == want[3] - want[1] + 1
    seen = set(trades["outcome"].astype(str))
    assert seen >= {"no_plan", "no_bars", "bad_bar", "pending", "no_fill", "stop_gap", "stop"}
    assert seen >= {"target_gap", "target", "timeout"}


def test_excursions_are_the_min_low_and_max_high_from_fill_to_exit() -> None:
    rng = np.random.default_rng(5)
    bars = _bars(rng, ["A", "B"])
    symbols = np.array(["A", "B", "A", "B"], dtype=object)
    fills = np.array([CAL[3].value, CAL[10].value, pd.NaT.value, CAL[40].value], dtype=np.int64)
    exits = np.array([CAL[9].value, CAL[10].value, pd.NaT.value, CAL[70].value], dtype=np.int64)
    price = np.array([50.0, 51.0, np.nan, 49.0])
    risk = np.array([2.0, 1.5, np.nan, 3.0])
    mae, mfe = excursions(symbols, fills, exits, price, risk, BarStore(bars, None))
    for k, span in enumerate([(3, 9), (10, 10), None, (40, 70)]):
        if span is None:  # no fill
            assert np.isnan(mae[k]) and np.isnan(mfe[k])
            continue
        a, b = span
        frame = bars[symbols[k]].iloc[a : b + 1]
        assert mae[k] == (frame["low"].min() - price[k]) / risk[k]
        assert mfe[k] == (frame["high"].max() - price[k]) / risk[k]
