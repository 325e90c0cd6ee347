"""The trade plan: entry, stop and a target read from the chart, for every long or short row.

Pure and vectorized over a features table.  ``A`` = ``atr``, ``C`` = ``close``.

Long (``Strong Long``, ``Long``; ``direction = +1``)::

    stop   = min(low_swing, low_recent, C - stop_atr * A)             (unknown lows skipped)
    stop   = clip(stop, C - max_stop_atr * A, C - min_stop_atr * A)
    entry  = C + entry_atr * A
    resistance = the nearest of high20 (20-bar high) and high52w (252-bar high) that is
                 above the entry and at most max_target_atr * A above it
    target = resistance if there is one, else entry + target_atr * A
    reward_risk = (target - entry) / (entry - stop)

So the stop is the recent swing low, kept between ``min_stop_atr`` and
``max_stop_atr`` ATRs below the close (an ATR stop when no low lies in that
range), and the target is the next ceiling on the chart.  A stock at its
highs has no ceiling above it: its target is ``target_atr`` ATRs away
(``target_kind`` says which rule gave the target: ``"resistance"`` or
``"atr"``).  A ceiling just above the entry gives a small reward: such plans
get ``reward_risk`` below ``min_reward_risk`` and ``plan_ok = False``.

Short (``Strong Short``, ``Short``; ``direction = -1``), the mirror with highs and
supports::

    stop   = max(high_swing, high20, C + stop_atr * A)                (high_swing if present)
    stop   = clip(stop, C + min_stop_atr * A, C + max_stop_atr * A)
    entry  = C - entry_atr * A
    support = the nearest of low_recent (20-bar low) and low52w (252-bar low) below the
              entry and at most max_target_atr * A below it
    target = support if there is one, else entry - target_atr * A   (NaN at or below 0)
    reward_risk = (entry - target) / (stop - entry)

``target_fixed`` is the earlier fixed-multiple target, ``entry + target_rr *
(entry - stop)`` (mirrored for shorts), kept so that both plans can be
evaluated (:meth:`~technic_nb.ReplayResult.trades`).  Defaults: ``stop_atr`` 1.5,
``min_stop_atr`` 0.5, ``max_stop_atr`` 3, ``entry_atr`` 0.1, ``target_atr`` 3,
``max_target_atr`` 8, ``min_reward_risk`` 1.5, ``target_rr`` 2.  ``Neutral``
and missing signals get no plan (NaN prices, ``direction = 0``, ``plan_ok``
False); so do rows with an unknown close or ATR.  Without ``high52w`` /
``low52w`` columns only the 20-bar levels are resistances.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.scoring.params import DEFAULT_PARAMS, ScoringParams

__all__ = ["PLAN_COLUMNS", "trade_plan"]

#: The trade-plan columns.
PLAN_COLUMNS: tuple[str, ...] = (
    "entry",
    "stop",
    "target",
    "reward_risk",
    "direction",
    "target_kind",
    "plan_ok",
    "target_fixed",
)
_PRICES = ("entry", "stop", "target", "reward_risk", "target_fixed")
_LONG = frozenset({"Strong Long", "Long"})
_SHORT = frozenset({"Strong Short", "Short"})


def _num(features: pd.DataFrame, name: str) -> np.ndarray:
    if name not in features.columns:
        return np.full(len(features), np.nan)
    return pd.to_numeric(features[name], errors="coerce").to_numpy(dtype="float64")


def _directions(signal: pd.Series) -> np.ndarray:
    text = pd.Series(signal).astype(object).to_numpy()
    is_long = np.array([value in _LONG for value in text], dtype=bool)
    is_short = np.array([value in _SHORT for value in text], dtype=bool)
    return np.where(is_long, 1, np.where(is_short, -1, 0)).astype("int64")


def _aligned_signal(signal: pd.Series | Sequence[Any], index: pd.Index) -> pd.Series:
    """``signal`` aligned on ``index`` (a Series by label, any other sequence by position)."""
    if isinstance(signal, pd.Series):
        return signal.reindex(index)
    return pd.Series(list(signal), index=index, dtype=object)


def _nearest(
    levels: list[np.ndarray], entry: np.ndarray, reach: np.ndarray, up: bool
) -> np.ndarray:
    """The nearest level beyond ``entry`` (above when ``up``) within ``reach``, or NaN."""
    stacked = np.column_stack(levels)
    with np.errstate(invalid="ignore"):
        gap = stacked - entry[:, None] if up else entry[:, None] - stacked
        usable = (gap > 0) & (gap <= reach[:, None])
    gaps = np.where(usable, gap, np.inf)
    best = np.argmin(gaps, axis=1)
    found = np.isfinite(gaps[np.arange(len(entry)), best])
    return np.where(found, stacked[np.arange(len(entry)), best], np.nan)


def _long_plan(features: pd.DataFrame, c: np.ndarray, a: np.ndarray, p: ScoringParams) -> dict:
    lows = np.column_stack([_num(features, "low_swing"), _num(features, "low_recent")])
    with np.errstate(invalid="ignore"):
        stop = np.fmin(c - p.stop_atr * a, np.fmin.reduce(lows, axis=1))
        stop = np.clip(stop, c - p.max_stop_atr * a, c - p.min_stop_atr * a)
        entry = c + p.entry_atr * a
        levels = [_num(features, "high20"), _num(features, "high52w")]
        resistance = _nearest(levels, entry, p.max_target_atr * a, up=True)
        target = np.where(np.isnan(resistance), entry + p.target_atr * a, resistance)
        risk = entry - stop
        return {
            "entry": entry,
            "stop": stop,
            "target": target,
            "reward_risk": (target - entry) / risk,
            "target_fixed": entry + p.target_rr * risk,
            "resistance": ~np.isnan(resistance),
        }


def _short_plan(features: pd.DataFrame, c: np.ndarray, a: np.ndarray, p: ScoringParams) -> dict:
    highs = [_num(features, "high20")]
    if "high_swing" in features.columns:
        highs.append(_num(features, "high_swing"))
    with np.errstate(invalid="ignore"):
        stop = np.fmax(c + p.stop_atr * a, np.fmax.reduce(np.column_stack(highs), axis=1))
        stop = np.clip(stop, c + p.min_stop_atr * a, c + p.max_stop_atr * a)
        entry = c - p.entry_atr * a
        levels = [_num(features, "low_recent"), _num(features, "low52w")]
        support = _nearest(levels, entry, p.max_target_atr * a, up=False)
        target = np.where(np.isnan(support), entry - p.target_atr * a, support)
        target = np.where(target > 0, target, np.nan)
        risk = stop - entry
        fixed = entry - p.target_rr * risk
        return {
            "entry": entry,
            "stop": stop,
            "target": target,
            "reward_risk": (entry - target) / risk,
            "target_fixed": np.where(fixed > 0, fixed, np.nan),
            "resistance": ~np.isnan(support),
        }


def trade_plan(
    features: pd.DataFrame, signal: pd.Series, params: ScoringParams = DEFAULT_PARAMS
) -> pd.DataFrame:
    """Entry, stop, chart target and reward/risk for the direction of each signal.

    Returns a frame with the index of ``features`` and the columns
    :data:`PLAN_COLUMNS` (``direction`` int: +1 long, -1 short, 0 none;
    ``target_kind`` ``"resistance"``, ``"atr"`` or ``""``; ``plan_ok`` True when
    ``reward_risk >= min_reward_risk``).  See the module documentation.
    """
    direction = _directions(_aligned_signal(signal, features.index))
    close = _num(features, "close")
    atr = _num(features, "atr")
    with np.errstate(invalid="ignore"):
        usable = (close > 0) & (atr > 0)
    long_plan = _long_plan(features, close, atr, params)
    short_plan = _short_plan(features, close, atr, params)
    is_long = (direction == 1) & usable
    is_short = (direction == -1) & usable
    columns: dict[str, Any] = {
        name: np.where(is_long, long_plan[name], np.where(is_short, short_plan[name], np.nan))
        for name in _PRICES
    }
    columns["direction"] = np.where(usable, direction, 0).astype("int64")
    chart = np.where(is_long, long_plan["resistance"], short_plan["resistance"])
    kind = np.where(chart, "resistance", "atr")
    columns["target_kind"] = np.where(is_long | is_short, kind, "")
    with np.errstate(invalid="ignore"):
        columns["plan_ok"] = (is_long | is_short) & (
            columns["reward_risk"] >= params.min_reward_risk
        )
    frame = pd.DataFrame(columns, index=features.index)
    return frame[list(PLAN_COLUMNS)]
