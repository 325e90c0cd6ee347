"""Scoring: the six subscores, and the points of user subscores.

Scoring: subscores, TechRating, signals, trade plans, ranking and filters.

Pure functions over a table of per-symbol features (one row per symbol, index =
symbol), vectorized over the whole table.  No I/O, no state.

Input columns
-------------
The features of :mod:`technic_nb.core.indicators` (percent columns are percents:
``2.5`` means 2.5 %).  Scoring reads ``close``, ``sma20``, ``sma50``, ``sma200``,
``rsi``, ``macd_hist``, ``ret_1d_pct``, ``ret_5d_pct``, ``ret_21d_pct``,
``ret_63d_pct``, ``volume_spike``, ``rvol20_pct``, ``atr_pct``,
``dist_high20_pct`` (or ``high20``) and ``low_recent`` (or ``dist_low20_pct``);
the trade plan reads ``close``, ``atr``, ``high52w``, ``low52w`` and the chart
levels (``swing_low``, ``resistance_1`` ..., any of them may be missing); the
filters read ``close``,
``dollar_volume20`` and ``bars``.  A missing column raises ``ValueError``; a
NaN or infinite value means "unknown" (see *Missing values*).

The 20-day low is not an indicator column; it is derived here from
``low_recent`` (the 20-bar minimum low), exactly like ``dist_high20_pct``::

    dist_low20_pct = 100 * (close / low_recent - 1)        (>= 0; 0 at a new low)

Subscores
---------
Six subscores, each a sum of +-1 / +-2 / +-3 points, clipped to [-3, 3].  Every
condition is used once, in one subscore only.  Each bullish condition has an
exact bearish mirror, so a mirror-image bearish setup scores exactly the negated
subscores (see *Symmetry*).  ``sign(x)`` is +1, 0 or -1.

==============  ==========================================================  ========
subscore        points (defaults of :class:`ScoringParams` in brackets)     range
==============  ==========================================================  ========
``trend``       ``sign(close - sma50)`` + ``sign(sma20 - sma50)``           -3 .. 3
                + ``sign(sma50 - sma200)``
``momentum``    +1 if ``ret_21d_pct > mom_ret21_pct`` [2], -1 if            -3 .. 3
                ``ret_21d_pct < -mom_ret21_pct``; +1 if
                ``ret_63d_pct > mom_ret63_pct`` [5], -1 if
                ``ret_63d_pct < -mom_ret63_pct``; + ``sign(macd_hist)``
``volume``      ``sign(ret_1d_pct) * g``: ``g`` = 3 if                      -3 .. 3
                ``volume_spike >= spike_extreme`` [2.0], 2 if
                ``>= spike_strong`` [1.5], 1 if ``>= spike_mild`` [1.2],
                -1 if ``< volume_dry`` [0.7], else 0
``volatility``  ``sign(trend) * c``: ``c`` = +1 if                          -1 .. 1
                ``rvol20_pct <= calm_rvol_pct`` [25], -1 if
                ``rvol20_pct >= wild_rvol_pct`` [60], else 0
``oscillator``  RSI zones: +1 if ``rsi > rsi_overbought`` [70];             -2 .. 2
                +2 if ``rsi_strong < rsi <= rsi_overbought`` [60, 70];
                +1 if ``rsi_bull < rsi <= rsi_strong`` [55, 60];
                0 if ``100 - rsi_bull <= rsi <= rsi_bull`` [45, 55];
                mirrored below 50: -1 in [40, 45), -2 in [30, 40),
                -1 below 30
``breakout``    20-day high: +2 if ``dist_high20_pct >= -breakout_at_pct``  -3 .. 3
                [1], else +1 if ``>= -breakout_near_pct`` [3];
                20-day low: -2 if ``dist_low20_pct <= breakout_at_pct``,
                else -1 if ``<= breakout_near_pct``; thrust: +1 if
                ``ret_5d_pct > thrust_ret5_pct`` [2], -1 if
                ``ret_5d_pct < -thrust_ret5_pct``
==============  ==========================================================  ========

Design notes:

* RSI is used only by ``oscillator``; ``momentum`` measures rates of change
  (21- and 63-day returns) and acceleration (MACD histogram).  The oscillator
  rewards a firm RSI and gives back a point when RSI is overbought (> 70) or
  oversold (< 30), where moves are stretched.
* The distance to the 20-day high (and low) is used only by ``breakout``; the
  1-day return only by ``volume`` (as the direction of the day); the 5-day
  return only by ``breakout``.
* ``volume`` is direction-aware: a spike on an up day is bullish, on a down day
  bearish.  Thin volume (``volume_spike < volume_dry``) is a non-confirmation of
  the day's move: -1 on an up day (a rally without buyers), +1 on a down day
  (selling drying up).  ``volume_dry = 0`` switches that rule off.
* ``volatility`` is symmetric by construction: calm prices confirm whichever
  direction the trend has (+1 for an up trend, -1 for a down trend), wild
  prices count against it.  It borrows only the sign of ``trend`` as its
  direction; the points measure volatility alone.  It uses the realized close-to-close
  volatility ``rvol20_pct``, not ATR %, because ATR % already sets the risk
  factor of the TechRating; a flat trend (``trend == 0``) gives 0.
* A stock sitting at its 20-day high and near its 20-day low at once (a tight
  range) gets the difference of the two proximity points.

Missing values
--------------
A condition whose inputs are unknown (NaN) gives no points.  A subscore is NaN
only when none of its conditions is known (``volume``, ``volatility`` and
``oscillator`` have a single condition).  ``tech_rating`` is NaN when a subscore
with a weight above 0 is NaN or ``atr_pct`` is unknown.  So a rating needs
about 50 bars (SMA 50); with fewer than 200 bars ``trend`` simply has no SMA 200
point, with fewer than 64 ``momentum`` no 63-day point.  A trend or momentum
condition of a signal fails when that subscore is NaN.

Symmetry
--------
The mirror image of a features row reflects every price level about the close
(``sma -> 2 * close - sma``), swaps the distances to the 20-day high and low
(``dist_high20_pct -> -dist_low20_pct`` and ``dist_low20_pct ->
-dist_high20_pct``), negates every return and MACD value, maps ``rsi -> 100 -
rsi``, and keeps close, volume, ATR and volatility.  Its subscores and
``tech_rating`` are exactly the negated ones and its signal is the mirrored one
(``Strong Long <-> Strong Short``, ``Long <-> Short``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.scoring.frame import (
    check_frame,
    dist_high20,
    dist_low20,
    has_either,
    numbers,
    require,
)
from technic_nb.core.scoring.params import DEFAULT_PARAMS, ScoringParams
from technic_nb.core.scoring.scale import SUBSCORE_LIMIT, SUBSCORES

__all__ = ["SUBSCORES", "SUBSCORE_INPUTS", "subscores"]


#: The feature columns the six built-in subscores read.
SUBSCORE_INPUTS = (
    "close",
    "sma20",
    "sma50",
    "sma200",
    "rsi",
    "macd_hist",
    "ret_1d_pct",
    "ret_5d_pct",
    "ret_21d_pct",
    "ret_63d_pct",
    "volume_spike",
    "rvol20_pct",
)


def _sign(values: pd.Series) -> pd.Series:
    return pd.Series(np.sign(values.to_numpy()), index=values.index, dtype="float64")


def _beyond(values: pd.Series, threshold: float) -> pd.Series:
    """+1 above ``threshold``, -1 below ``-threshold``, 0 between, NaN if unknown."""
    x = values.to_numpy()
    out = np.where(x > threshold, 1.0, np.where(x < -threshold, -1.0, 0.0))
    return pd.Series(np.where(np.isnan(x), np.nan, out), index=values.index)


def _levels(
    values: pd.Series,
    conditions: Sequence[Callable[[np.ndarray], np.ndarray]],
    points: Sequence[float],
) -> pd.Series:
    """The points of the first true condition (0 if none), NaN where ``values`` is NaN."""
    x = values.to_numpy()
    out = np.select([cond(x) for cond in conditions], points, default=0.0)
    return pd.Series(np.where(np.isnan(x), np.nan, out), index=values.index)


def _sum_known(*terms: pd.Series) -> pd.Series:
    """Sum of the known terms; NaN when every term is unknown."""
    return pd.concat(terms, axis=1).sum(axis=1, min_count=1)


def _trend_points(features: pd.DataFrame) -> pd.Series:
    """``sign(close - sma50) + sign(sma20 - sma50) + sign(sma50 - sma200)``."""
    close = numbers(features, "close")
    sma20, sma50, sma200 = (numbers(features, name) for name in ("sma20", "sma50", "sma200"))
    return _sum_known(_sign(close - sma50), _sign(sma20 - sma50), _sign(sma50 - sma200))


def _momentum_points(features: pd.DataFrame, p: ScoringParams) -> pd.Series:
    """The 21- and 63-day return points plus the sign of the MACD histogram."""
    return _sum_known(
        _beyond(numbers(features, "ret_21d_pct"), p.mom_ret21_pct),
        _beyond(numbers(features, "ret_63d_pct"), p.mom_ret63_pct),
        _sign(numbers(features, "macd_hist")),
    )


def _volume_points(features: pd.DataFrame, p: ScoringParams) -> pd.Series:
    """The volume-spike grade, signed by the direction of the day (``ret_1d_pct``)."""
    intensity = _levels(
        numbers(features, "volume_spike"),
        [
            lambda x: x >= p.spike_extreme,
            lambda x: x >= p.spike_strong,
            lambda x: x >= p.spike_mild,
            lambda x: x < p.volume_dry,
        ],
        [3.0, 2.0, 1.0, -1.0],
    )
    return _sign(numbers(features, "ret_1d_pct")) * intensity


def _volatility_points(features: pd.DataFrame, trend: pd.Series, p: ScoringParams) -> pd.Series:
    """+1 for calm, -1 for wild prices (``rvol20_pct``), signed by the trend's direction."""
    calm = _levels(
        numbers(features, "rvol20_pct"),
        [lambda x: x <= p.calm_rvol_pct, lambda x: x >= p.wild_rvol_pct],
        [1.0, -1.0],
    )
    return _sign(trend) * calm


def _oscillator_points(features: pd.DataFrame, p: ScoringParams) -> pd.Series:
    """The points of the RSI zone (mirrored as ``100 - level`` below 50)."""
    low_bull, low_strong, oversold = (
        100.0 - p.rsi_bull,
        100.0 - p.rsi_strong,
        100.0 - p.rsi_overbought,
    )
    return _levels(
        numbers(features, "rsi"),
        [
            lambda x: x > p.rsi_overbought,
            lambda x: x > p.rsi_strong,
            lambda x: x > p.rsi_bull,
            lambda x: x < oversold,
            lambda x: x < low_strong,
            lambda x: x < low_bull,
        ],
        [1.0, 2.0, 1.0, -1.0, -2.0, -1.0],
    )


def _breakout_points(features: pd.DataFrame, p: ScoringParams) -> pd.Series:
    """Proximity to the 20-day high minus proximity to the 20-day low, plus the 5-day thrust."""
    at, near = p.breakout_at_pct, p.breakout_near_pct
    near_high = _levels(
        dist_high20(features), [lambda x: x >= -at, lambda x: x >= -near], [2.0, 1.0]
    )
    near_low = _levels(dist_low20(features), [lambda x: x <= at, lambda x: x <= near], [2.0, 1.0])
    return _sum_known(
        near_high - near_low, _beyond(numbers(features, "ret_5d_pct"), p.thrust_ret5_pct)
    )


def subscores(features: pd.DataFrame, params: ScoringParams = DEFAULT_PARAMS) -> pd.DataFrame:
    """The six subscores of every row (see the module documentation for the points).

    Returns a float64 frame with the index of ``features`` and the columns
    :data:`SUBSCORES`, each in [-3, 3] (NaN when no condition is known).
    """
    check_frame(features, "subscores")
    require(features, SUBSCORE_INPUTS, "subscores")
    has_either(features, "dist_high20_pct", "high20", "subscores")
    has_either(features, "dist_low20_pct", "low_recent", "subscores")
    trend = _trend_points(features)
    out = pd.DataFrame(
        {
            "trend": trend,
            "momentum": _momentum_points(features, params),
            "volume": _volume_points(features, params),
            "volatility": _volatility_points(features, trend, params),
            "oscillator": _oscillator_points(features, params),
            "breakout": _breakout_points(features, params),
        },
        index=features.index,
        dtype="float64",
    )
    out = out.clip(lower=-SUBSCORE_LIMIT, upper=SUBSCORE_LIMIT)
    for extra in params.user_subscores:
        out[extra.name] = _user_points(features, extra)
    return out


def _user_points(features: pd.DataFrame, extra: Any) -> pd.Series:
    """A user subscore's points; per date when the table holds several dates (a replay
    panel: a cross-sectional rank is taken within each date)."""
    if isinstance(features.index, pd.MultiIndex) and "date" in features.index.names:
        parts = [extra.score(group) for _, group in features.groupby(level="date", sort=False)]
        points = pd.concat(parts) if parts else pd.Series(dtype="float64")
        return points.reindex(features.index).astype("float64")
    return extra.score(features).astype("float64")
