"""The trade plan: a stop, an entry and a target read from the chart, for every long or short.

Pure and vectorized over a features table.  ``A`` is ``atr``, ``C`` the last
close; the chart levels (``swing_low``, ``resistance_1`` ...) are those of
:mod:`technic_nb.core.indicators.levels`.  A long (``Strong Long``, ``Long``;
``direction = +1``):

Trigger and entry
    When the nearest resistance lies at most ``trigger_atr`` (0.5) ATRs above
    the close, that level is the ``trigger`` and the entry is a stop-buy just
    above it, ``trigger + entry_atr * A`` (0.1): the trade is taken only once
    the ceiling breaks.  Otherwise the entry is the close and ``trigger`` is NaN.
Stop
    Under the last intact swing low, less a buffer: ``swing_low -
    stop_buffer_atr * A`` (0.25).  The risk ``entry - stop`` is at least
    ``min_stop_atr`` ATRs (1): a swing low closer than that moves the stop down
    to the floor.  A swing low so far that the risk exceeds ``max_stop_atr``
    ATRs (3) keeps its stop, and the setup is ``extended``: the price ran too far
    from its last support for a trade worth taking.  No stop is ever moved to the
    cap, so stops do not pile up there.
Target, by ``target_kind``
    * ``"resistance"``: the nearest resistance at least the minimum distance
      above the entry, ``max(min_target_r * risk, min_target_atr * A)`` (1 R and
      1.5 ATR).  Closer levels are hurdles on the way, not the target.
    * ``"measured"``: when no resistance lies that far (the stock is at or near
      its 52-week high, with blue sky above), the measured move of its base:
      ``base_high + (base_high - base_low)``, if that is at least the minimum
      distance and at most ``max_target_atr`` ATRs (8) above the entry.
    * ``"r_multiple"``: otherwise (no usable measured move, or the only
      resistance far enough lies beyond ``max_target_atr``), ``entry +
      max(target_rr * risk, minimum distance)`` (2 R).
``reward_risk``
    ``(target - entry) / (entry - stop)``.
``plan_ok`` and ``plan_note``
    A plan passes when it is not extended and ``reward_risk >=
    min_reward_risk`` (1.5).  ``plan_note`` says why a plan fails (empty when it
    passes), e.g. ``"reward/risk 1.12 < 1.5: resistance 104.20 is near"``.

A short (``Strong Short``, ``Short``; ``direction = -1``) is the mirror:
``swing_high`` plus the buffer for the stop, ``support_1`` .. ``support_4``
and ``low52w`` for the trigger (a stop-sell just under a support within
``trigger_atr``) and the target, ``base_low - (base_high - base_low)`` for the
measured move.  A target at or below 0 leaves no plan: ``plan_note`` says so.

``target_fixed`` is the fixed-multiple target ``entry + target_rr * risk``
(mirrored for shorts, NaN at or below 0), kept so that both targets can be
walked (:meth:`~technic_nb.ReplayResult.trades`).  ``risk_atr`` is the risk in
ATRs.

Why these rules (measured on the 505 stocks of ``us_equities_daily``): the
earlier plan targeted the nearest rolling high above the entry with no minimum
distance, and clamped every stop at 3 ATRs.  The breakout subscore favours a
close near the 20-day high, so the best-rated stocks got the smallest targets:
at 142 month-ends the top-20 longs had a median reward/risk of 0.16, and 88.8%
of their stops sat at the cap.  ``docs/trade-plan.md`` gives the figures of
these rules.

The defaults agree with each other: a resistance target is at least 1 R away,
a measured move at least the minimum distance, an R-multiple target 2 R;
``min_reward_risk`` 1.5 lets each kind pass.  ``Neutral`` and missing signals
get no plan (NaN prices, ``direction = 0``, ``plan_ok`` False, empty
``target_kind``); so do rows with an unknown close or ATR.  A features table
without the level columns gets the floor stop and an R-multiple target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.indicators.levels import LEVEL_COUNT
from technic_nb.core.scoring.params import DEFAULT_PARAMS, ScoringParams

__all__ = ["PLAN_COLUMNS", "TARGET_KINDS", "trade_plan"]

#: The trade-plan columns.
PLAN_COLUMNS: tuple[str, ...] = (
    "entry",
    "stop",
    "target",
    "reward_risk",
    "direction",
    "target_kind",
    "plan_ok",
    "plan_note",
    "trigger",
    "risk_atr",
    "extended",
    "target_fixed",
)
#: The values of ``target_kind`` for a plan (``""`` without a plan).
TARGET_KINDS: tuple[str, ...] = ("resistance", "measured", "r_multiple")

_PRICES = ("entry", "stop", "target", "reward_risk", "trigger", "risk_atr", "target_fixed")
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


class _Side:
    """The levels of one side, oriented so that the trade profits upwards.

    A short is planned as a long on negated prices: its supports become
    resistances above ``-C``, its swing high a swing low under ``-C``.  Every
    rule is then written once, for longs.
    """

    def __init__(self, features: pd.DataFrame, sign: int) -> None:
        up = "resistance" if sign > 0 else "support"
        self.close = sign * _num(features, "close")
        down = "support" if sign > 0 else "resistance"
        swing = "swing_low" if sign > 0 else "swing_high"
        floors = [_num(features, swing)]
        floors += [_num(features, f"{down}_{k}") for k in range(1, LEVEL_COUNT + 1)]
        self.floors = sign * np.column_stack(floors)
        ceilings = [_num(features, f"{up}_{k}") for k in range(1, LEVEL_COUNT + 1)]
        ceilings.append(_num(features, "high52w" if sign > 0 else "low52w"))
        self.ceilings = sign * np.column_stack(ceilings)
        base_top = _num(features, "base_high" if sign > 0 else "base_low")
        base_bottom = _num(features, "base_low" if sign > 0 else "base_high")
        self.base_top = sign * base_top
        self.base_bottom = sign * base_bottom


def _nearest_at_least(ceilings: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Per row, the smallest of ``ceilings`` that is ``>= floor``, or NaN."""
    with np.errstate(invalid="ignore"):
        usable = ceilings >= floor[:, None]
    return np.where(usable, ceilings, np.inf).min(axis=1, initial=np.inf)


def _plan_one_side(side: _Side, atr: np.ndarray, p: ScoringParams) -> dict[str, np.ndarray]:
    """The plan of every row, on the side's oriented prices (see :class:`_Side`)."""
    c, a = side.close, atr
    with np.errstate(invalid="ignore"):
        # the nearest level strictly above the close
        above = np.where(side.ceilings > c[:, None], side.ceilings, np.inf).min(axis=1)
        trigger = np.where(above - c <= p.trigger_atr * a, above, np.nan)
        entry = np.where(np.isnan(trigger), c, trigger + p.entry_atr * a)

        # the nearest chart stop leaving at least the floor's risk, else the floor
        risks = entry[:, None] - (side.floors - p.stop_buffer_atr * a[:, None])
        risks = np.where(risks >= p.min_stop_atr * a[:, None], risks, np.inf)
        risk = risks.min(axis=1)
        risk = np.where(np.isfinite(risk), risk, p.min_stop_atr * a)
        stop = entry - risk
        extended = risk > p.max_stop_atr * a

        minimum = np.maximum(p.min_target_r * risk, p.min_target_atr * a)
        reach = p.max_target_atr * a
        resistance = _nearest_at_least(side.ceilings, entry + minimum)
        has_resistance = np.isfinite(resistance)
        in_reach = has_resistance & (resistance - entry <= reach)
        measured = side.base_top + (side.base_top - side.base_bottom)
        measured_ok = ~has_resistance & (measured - entry >= minimum) & (measured - entry <= reach)
        multiple = entry + np.maximum(p.target_rr * risk, minimum)
        target = np.where(in_reach, resistance, np.where(measured_ok, measured, multiple))
        kind = np.where(in_reach, "resistance", np.where(measured_ok, "measured", "r_multiple"))
        return {
            "entry": entry,
            "stop": stop,
            "target": target,
            "reward_risk": (target - entry) / risk,
            "trigger": trigger,
            "risk_atr": risk / a,
            "target_fixed": entry + p.target_rr * risk,
            "extended": extended,
            "kind": kind.astype(object),
        }


def _oriented(plan: dict[str, np.ndarray], sign: int) -> dict[str, np.ndarray]:
    """The prices of a plan made on oriented prices, back in real prices."""
    out = dict(plan)
    for name in ("entry", "stop", "target", "trigger", "target_fixed"):
        out[name] = sign * plan[name]
    if sign < 0:
        with np.errstate(invalid="ignore"):
            for name in ("target", "target_fixed"):
                out[name] = np.where(out[name] > 0, out[name], np.nan)
            out["reward_risk"] = np.where(out["target"] > 0, plan["reward_risk"], np.nan)
    return out


def _notes(
    plan: dict[str, np.ndarray], planned: np.ndarray, ok: np.ndarray, p: ScoringParams
) -> np.ndarray:
    """Why each planned row fails (``""`` for a passing or unplanned row)."""
    notes = np.full(len(ok), "", dtype=object)
    for row in np.flatnonzero(planned & ~ok):
        if plan["extended"][row]:
            notes[row] = (
                f"extended: the stop is {plan['risk_atr'][row]:.1f} ATR away "
                f"(max_stop_atr {p.max_stop_atr:g})"
            )
        elif not np.isfinite(plan["target"][row]):
            notes[row] = "no target: the target would be at or below 0"
        else:
            note = f"reward/risk {plan['reward_risk'][row]:.2f} < {p.min_reward_risk:g}"
            if plan["kind"][row] == "resistance":
                note += f": resistance {plan['target'][row]:.2f} is near"
            notes[row] = note
    return notes


def trade_plan(
    features: pd.DataFrame,
    signal: pd.Series | Sequence[Any],
    params: ScoringParams = DEFAULT_PARAMS,
) -> pd.DataFrame:
    """Trigger, entry, stop, target and reward/risk for the direction of each signal.

    ``signal`` is aligned on the index of ``features`` (a Series by label, any
    other sequence by position); a long signal gets a long plan, a short signal
    a short one, anything else none.  Returns a frame with the index of
    ``features`` and the columns :data:`PLAN_COLUMNS`: ``direction`` (int: +1
    long, -1 short, 0 none), ``target_kind`` (one of :data:`TARGET_KINDS`, ``""``
    without a plan), ``plan_ok`` and ``extended`` (bool), ``plan_note`` (text),
    the prices and ``reward_risk`` / ``risk_atr`` (float).  The rules are in the
    module documentation.
    """
    direction = _directions(_aligned_signal(signal, features.index))
    close = _num(features, "close")
    atr = _num(features, "atr")
    with np.errstate(invalid="ignore"):
        usable = (close > 0) & (atr > 0)
    long_plan = _oriented(_plan_one_side(_Side(features, +1), atr, params), +1)
    short_plan = _oriented(_plan_one_side(_Side(features, -1), atr, params), -1)
    is_long = (direction == 1) & usable
    is_short = (direction == -1) & usable
    planned = is_long | is_short
    merged = {
        name: np.where(is_long, long_plan[name], np.where(is_short, short_plan[name], np.nan))
        for name in _PRICES
    }
    merged["kind"] = np.where(is_long, long_plan["kind"], short_plan["kind"])
    merged["extended"] = planned & np.where(is_long, long_plan["extended"], short_plan["extended"])
    with np.errstate(invalid="ignore"):
        ok = planned & ~merged["extended"] & (merged["reward_risk"] >= params.min_reward_risk)
    columns: dict[str, Any] = {name: merged[name] for name in _PRICES}
    columns["direction"] = np.where(planned, direction, 0).astype("int64")
    columns["target_kind"] = np.where(planned, merged["kind"], "").astype(object)
    columns["plan_ok"] = ok
    columns["plan_note"] = _notes(merged, planned, ok, params)
    columns["extended"] = merged["extended"]
    frame = pd.DataFrame(columns, index=features.index)
    return frame[list(PLAN_COLUMNS)]
