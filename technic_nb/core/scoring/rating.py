"""Scoring: subscores, TechRating, signals, trade plans, ranking and filters.

Pure functions over a table of per-symbol features (one row per symbol, index =
symbol), vectorized over the whole table.  No I/O, no state.

Input columns
-------------
The features of :mod:`technic_nb.core.indicators` (percent columns are percents:
``2.5`` means 2.5 %).  Scoring reads ``close``, ``sma20``, ``sma50``, ``sma200``,
``rsi``, ``macd_hist``, ``ret_1d_pct``, ``ret_5d_pct``, ``ret_21d_pct``,
``ret_63d_pct``, ``volume_spike``, ``rvol20_pct``, ``atr_pct``,
``dist_high20_pct`` (or ``high20``) and ``low_recent`` (or ``dist_low20_pct``);
the trade plan reads ``close``, ``atr``, ``low_swing``, ``low_recent``,
``high20`` (and ``high_swing`` when present); the filters read ``close``,
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

TechRating
----------
On a fixed scale of -100 .. 100 for any weights, so the signal thresholds do not
depend on the weights (``w`` = :class:`ScoringWeights`)::

    raw         = sum(w[s] * subscore[s])                        (subscores with w[s] > 0)
    risk_factor = risk_floor + (1 - risk_floor) * clip(1 - atr_pct / atr_pct_cap, 0, 1)
    tech_rating = 100 * raw * risk_factor / (3 * sum(w))

With the defaults (``risk_floor`` 0.7, ``atr_pct_cap`` 8) an ATR of 0 % keeps the
full score, 2 % keeps 92.5 %, 4 % keeps 85 % and 8 % or more keeps 70 %.  (The
scanner this product descends from used ``1 - 50 * ATR`` with ATR as a fraction,
which is ``atr_pct_cap = 2`` here: every stock with an ATR above 2 % got the same
factor, so the cap is wider.)  The factor only shrinks the magnitude, it never
changes the sign.  With the default design the reachable range is about
-85 .. 85 because ``volatility`` and ``oscillator`` stop below 3.

Signals
-------
==================  =================================================================
signal              condition (checked top to bottom; defaults in brackets)
==================  =================================================================
``Strong Long``     ``tech_rating >= strong_rating`` [55] and ``trend >= strong_min_trend``
                    [2] and ``momentum >= strong_min_momentum`` [1]
``Long``            ``tech_rating >= long_rating`` [30] and ``trend >= long_min_trend`` [0]
``Strong Short``    ``tech_rating <= -strong_rating`` and ``trend <= -strong_min_trend``
                    and ``momentum <= -strong_min_momentum``
``Short``           ``tech_rating <= -long_rating`` and ``trend <= -long_min_trend``
``Neutral``         otherwise
(missing)           ``tech_rating`` is NaN
==================  =================================================================

The signal column is a pandas ``Categorical`` with the ordered categories
``Strong Long, Long, Neutral, Short, Strong Short`` (:data:`SIGNALS`).

Trade plan
----------
``A`` = ``atr``, ``C`` = ``close``.  Long (``Strong Long``, ``Long``;
``direction = +1``)::

    stop   = min(low_swing, low_recent, C - stop_atr * A)             (unknown lows skipped)
    stop   = clip(stop, C - max_stop_atr * A, C - min_stop_atr * A)
    entry  = C + entry_atr * A
    target = entry + target_rr * (entry - stop)
    reward_risk = (target - entry) / (entry - stop)

Short (``Strong Short``, ``Short``; ``direction = -1``), the mirror with highs::

    stop   = max(high_swing, high20, C + stop_atr * A)                (high_swing if present)
    stop   = clip(stop, C + min_stop_atr * A, C + max_stop_atr * A)
    entry  = C - entry_atr * A
    target = entry - target_rr * (stop - entry)
    reward_risk = (entry - target) / (stop - entry)

Defaults: ``stop_atr`` 1.5, ``min_stop_atr`` 0.5, ``max_stop_atr`` 3,
``entry_atr`` 0.1, ``target_rr`` 2.  ``low_swing`` (10-bar low) is never below
``low_recent`` (20-bar low), so when both are known the long stop starts from
the 20-bar low, the exact mirror of the short stop's 20-bar high (``high20``);
there is no 10-bar swing-high feature, and ``high_swing`` is used only if a
features table has it.  The lower clamp (``min_stop_atr``) binds only when
``stop_atr < min_stop_atr``.  ``Neutral`` and missing signals get no plan
(NaN prices, ``direction = 0``); so do rows with an unknown close or ATR.  A
short target at or below 0 is reported as NaN (with a NaN ``reward_risk``).

Ranking
-------
:func:`score_table` returns the features, ``dist_low20_pct``, the subscores,
``tech_rating``, ``signal``, the trade plan, ``rank`` and ``percentile``.  The
feature ``volume`` (shares traded on the last bar) becomes ``volume_shares``
there, because ``volume`` is the volume subscore.

Rows are sorted by ``tech_rating`` descending, ties broken by the symbol (index
label as text, ascending), and numbered ``rank`` = 1, 2, ... (1 = best).
``percentile`` = ``100 * (rows rated strictly lower) / (rated rows - 1)``: 100
for the best, 0 for the worst, equal for equal ratings, 100 when a single row is
rated.  Rows whose ``tech_rating`` is NaN are kept, go last (in symbol order) and
have NaN ``rank`` and ``percentile``.

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

Filters
-------
:func:`apply_filters` keeps a row when ``close >= min_price``,
``dollar_volume20 >= min_dollar_volume`` and ``bars >= min_bars``; an unknown
value fails its test.  Rejected rows carry a ``reason`` naming every failed
test, joined by ``"; "``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.scoring.params import (
    DEFAULT_PARAMS,
    SUBSCORE_LIMIT,
    SUBSCORES,
    ScoringParams,
    ScoringWeights,
    _invalid,
    _is_number,
)
from technic_nb.core.scoring.trade_plan import PLAN_COLUMNS, trade_plan

__all__ = [
    "PLAN_COLUMNS",
    "SIGNALS",
    "SUBSCORES",
    "ScoringParams",
    "ScoringWeights",
    "apply_filters",
    "rank_table",
    "risk_factor",
    "score_frame",
    "score_table",
    "signals",
    "subscores",
    "tech_rating",
    "trade_plan",
]

#: The signal categories, best to worst.
SIGNALS: tuple[str, ...] = ("Strong Long", "Long", "Neutral", "Short", "Strong Short")


_DEFAULT_PARAMS = DEFAULT_PARAMS


# -- column access --------------------------------------------------------------


def _check_frame(features: Any, what: str) -> None:
    if not isinstance(features, pd.DataFrame):
        raise TypeError(
            f"{what}: features must be a pandas DataFrame, got {type(features).__name__}"
        )


def _require(features: pd.DataFrame, names: tuple[str, ...], what: str) -> None:
    if len(features) == 0:
        return
    missing = [name for name in names if name not in features.columns]
    if missing:
        raise ValueError(
            f"{what}: the features table has no column(s) {', '.join(missing)}; "
            f"found {list(map(str, features.columns))}"
        )


def _num(features: pd.DataFrame, name: str) -> pd.Series:
    """A column as float64 with NaN for non-numeric and infinite values."""
    if name not in features.columns:
        return pd.Series(np.nan, index=features.index, dtype="float64", name=name)
    values = pd.to_numeric(features[name], errors="coerce").astype("float64")
    return values.where(np.isfinite(values))


def _distance(features: pd.DataFrame, column: str, level: str) -> pd.Series:
    """``column`` when present, else (and where it is NaN) ``100 * (close / level - 1)``."""
    computed = 100.0 * (_num(features, "close") / _num(features, level) - 1.0)
    computed = computed.where(np.isfinite(computed))
    if column in features.columns:
        return _num(features, column).fillna(computed)
    return computed


def _dist_high20(features: pd.DataFrame) -> pd.Series:
    """``100 * (close / high20 - 1)``: distance below the 20-day high, in % (<= 0)."""
    return _distance(features, "dist_high20_pct", "high20")


def _dist_low20(features: pd.DataFrame) -> pd.Series:
    """``100 * (close / low_recent - 1)``: distance above the 20-day low, in % (>= 0)."""
    return _distance(features, "dist_low20_pct", "low_recent")


def _has_either(features: pd.DataFrame, a: str, b: str, what: str) -> None:
    if len(features) and a not in features.columns and b not in features.columns:
        raise ValueError(f"{what}: the features table needs a column {a} or {b}")


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


# -- subscores ------------------------------------------------------------------


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
    close = _num(features, "close")
    sma20, sma50, sma200 = (_num(features, name) for name in ("sma20", "sma50", "sma200"))
    return _sum_known(_sign(close - sma50), _sign(sma20 - sma50), _sign(sma50 - sma200))


def _momentum_points(features: pd.DataFrame, p: ScoringParams) -> pd.Series:
    """The 21- and 63-day return points plus the sign of the MACD histogram."""
    return _sum_known(
        _beyond(_num(features, "ret_21d_pct"), p.mom_ret21_pct),
        _beyond(_num(features, "ret_63d_pct"), p.mom_ret63_pct),
        _sign(_num(features, "macd_hist")),
    )


def _volume_points(features: pd.DataFrame, p: ScoringParams) -> pd.Series:
    """The volume-spike grade, signed by the direction of the day (``ret_1d_pct``)."""
    intensity = _levels(
        _num(features, "volume_spike"),
        [
            lambda x: x >= p.spike_extreme,
            lambda x: x >= p.spike_strong,
            lambda x: x >= p.spike_mild,
            lambda x: x < p.volume_dry,
        ],
        [3.0, 2.0, 1.0, -1.0],
    )
    return _sign(_num(features, "ret_1d_pct")) * intensity


def _volatility_points(features: pd.DataFrame, trend: pd.Series, p: ScoringParams) -> pd.Series:
    """+1 for calm, -1 for wild prices (``rvol20_pct``), signed by the trend's direction."""
    calm = _levels(
        _num(features, "rvol20_pct"),
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
        _num(features, "rsi"),
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
        _dist_high20(features), [lambda x: x >= -at, lambda x: x >= -near], [2.0, 1.0]
    )
    near_low = _levels(_dist_low20(features), [lambda x: x <= at, lambda x: x <= near], [2.0, 1.0])
    return _sum_known(
        near_high - near_low, _beyond(_num(features, "ret_5d_pct"), p.thrust_ret5_pct)
    )


def subscores(features: pd.DataFrame, params: ScoringParams = _DEFAULT_PARAMS) -> pd.DataFrame:
    """The six subscores of every row (see the module documentation for the points).

    Returns a float64 frame with the index of ``features`` and the columns
    :data:`SUBSCORES`, each in [-3, 3] (NaN when no condition is known).
    """
    _check_frame(features, "subscores")
    _require(features, SUBSCORE_INPUTS, "subscores")
    _has_either(features, "dist_high20_pct", "high20", "subscores")
    _has_either(features, "dist_low20_pct", "low_recent", "subscores")
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


# -- rating and signals -----------------------------------------------------------


def risk_factor(features: pd.DataFrame, params: ScoringParams = _DEFAULT_PARAMS) -> pd.Series:
    """``risk_floor + (1 - risk_floor) * clip(1 - atr_pct / atr_pct_cap, 0, 1)`` per row."""
    atr_pct = _num(features, "atr_pct")
    calm = (1.0 - atr_pct / params.atr_pct_cap).clip(lower=0.0, upper=1.0)
    return params.risk_floor + (1.0 - params.risk_floor) * calm


def tech_rating(
    subs: pd.DataFrame, features: pd.DataFrame, params: ScoringParams = _DEFAULT_PARAMS
) -> pd.Series:
    """The TechRating of every row, in [-100, 100] (see the module documentation).

    ``subs`` is the output of :func:`subscores`; ``features`` supplies
    ``atr_pct`` (aligned on the index of ``subs``).  NaN when a subscore with a
    weight above 0, or ``atr_pct``, is unknown.
    """
    _check_frame(subs, "tech_rating")
    _check_frame(features, "tech_rating")
    _require(features, ("atr_pct",), "tech_rating")
    weights = params.weights
    raw = pd.Series(0.0, index=subs.index)
    for name in SUBSCORES:
        weight = getattr(weights, name)
        if weight > 0:
            raw = raw + weight * subs[name].astype("float64")
    for extra in params.user_subscores:
        if extra.weight > 0:
            raw = raw + extra.weight * subs[extra.name].astype("float64")
    factor = risk_factor(features, params).reindex(subs.index)
    rating = raw * factor * (100.0 / (SUBSCORE_LIMIT * params.total_weight))
    return rating.clip(lower=-100.0, upper=100.0).rename("tech_rating")


def signals(
    rating: pd.Series, subs: pd.DataFrame, params: ScoringParams = _DEFAULT_PARAMS
) -> pd.Series:
    """The signal of every row: a ``Categorical`` over :data:`SIGNALS` (NaN rating -> missing)."""
    p = params
    r = pd.to_numeric(rating, errors="coerce").astype("float64").to_numpy()
    trend = subs["trend"].reindex(rating.index).to_numpy(dtype="float64")
    momentum = subs["momentum"].reindex(rating.index).to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        strong_long = (r >= p.strong_rating) & (trend >= p.strong_min_trend)
        strong_long &= momentum >= p.strong_min_momentum
        long = (r >= p.long_rating) & (trend >= p.long_min_trend)
        strong_short = (r <= -p.strong_rating) & (trend <= -p.strong_min_trend)
        strong_short &= momentum <= -p.strong_min_momentum
        short = (r <= -p.long_rating) & (trend <= -p.long_min_trend)
    labels = np.select(
        [strong_long, long, strong_short, short],
        ["Strong Long", "Long", "Strong Short", "Short"],
        default="Neutral",
    ).astype(object)
    labels[np.isnan(r)] = None
    values = pd.Categorical(labels, categories=list(SIGNALS), ordered=True)
    return pd.Series(values, index=rating.index, name="signal")


# -- trade plan -----------------------------------------------------------------


# -- table ----------------------------------------------------------------------


def _rank(rating: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row order (positions), rank and percentile, both aligned on the given order."""
    values = rating.to_numpy(dtype="float64")
    keys = pd.DataFrame(
        {"neg": -values, "symbol": [str(label) for label in rating.index]},
    )
    order = keys.sort_values(["neg", "symbol"], na_position="last", kind="mergesort").index
    order = order.to_numpy()
    rated = ~np.isnan(values)
    count = int(rated.sum())
    rank = np.full(len(values), np.nan)
    percentile = np.full(len(values), np.nan)
    if count:
        # the rated rows come first in ``order``
        rank[order[:count]] = np.arange(1, count + 1, dtype="float64")
        scored = values[rated]
        below = np.searchsorted(np.sort(scored), scored, side="left")
        percentile[rated] = 100.0 * below / (count - 1) if count > 1 else 100.0
    return order, rank, percentile


_OUTPUT_COLUMNS = frozenset(
    {*SUBSCORES, "tech_rating", "signal", *PLAN_COLUMNS, "rank", "percentile"}
)


def _renamed_inputs(columns: pd.Index) -> dict[Any, str]:
    """Input columns that share a name with an output column, and their new names."""
    renamed = {}
    for name in columns:
        if name in _OUTPUT_COLUMNS:
            renamed[name] = "volume_shares" if name == "volume" else f"{name}_input"
    return renamed


def score_table(features: pd.DataFrame, params: ScoringParams = _DEFAULT_PARAMS) -> pd.DataFrame:
    """Score, signal, plan and rank every row of ``features``: :func:`rank_table` of
    :func:`score_frame`.

    Returns ``features`` plus the columns ``dist_low20_pct`` (if absent),
    :data:`SUBSCORES`, ``tech_rating``, ``signal``, :data:`PLAN_COLUMNS`,
    ``rank`` (1 = best; ties broken by symbol) and ``percentile`` (0 .. 100,
    100 = best), sorted by rank.  Rows with a NaN ``tech_rating`` come last with
    NaN ``rank`` and ``percentile``.  The index must be unique (one row per
    symbol).  The feature ``volume`` (shares traded on the last bar) is renamed
    ``volume_shares`` because ``volume`` is the volume subscore; any other
    features column named like an output column is renamed ``<name>_input``.
    """
    return rank_table(score_frame(features, params))


def score_frame(features: pd.DataFrame, params: ScoringParams = _DEFAULT_PARAMS) -> pd.DataFrame:
    """Every column of :func:`score_table` but ``rank`` and ``percentile``, rows unsorted.

    Row by row: each row's values depend on that row alone, except a user
    subscore mapped by a cross-sectional rank (taken over the table, or within
    each date of a (date, symbol) table).  User subscores get their own columns.
    """
    _check_frame(features, "score_table")
    if not features.index.is_unique:
        duplicated = sorted({str(s) for s in features.index[features.index.duplicated()]})
        raise ValueError(f"score_table: duplicated symbol(s) in the features index: {duplicated}")
    subs = subscores(features, params)
    rating = tech_rating(subs, features, params)
    signal = signals(rating, subs, params)
    plan = trade_plan(features, signal, params)

    out = features.rename(columns=_renamed_inputs(features.columns))
    if "dist_low20_pct" not in out.columns:
        out["dist_low20_pct"] = _dist_low20(features)
    for name in subs.columns:
        out[name] = subs[name]
    out["tech_rating"] = rating
    out["signal"] = signal
    for name in PLAN_COLUMNS:
        out[name] = plan[name]
    return out


def rank_table(scored: pd.DataFrame) -> pd.DataFrame:
    """``scored`` (from :func:`score_frame`) with ``rank`` and ``percentile``, sorted by rank."""
    order, rank, percentile = _rank(scored["tech_rating"])
    out = scored.copy()
    out["rank"] = rank
    out["percentile"] = percentile
    return out.iloc[order]


# -- filters --------------------------------------------------------------------


def _failures(values: np.ndarray, minimum: float, label: str, limit: str, fmt: str) -> list[str]:
    out = []
    for value in values:
        if np.isnan(value):
            out.append(f"{label} unknown")
        elif value < minimum:
            out.append(f"{label} {value:{fmt}} < {limit} {minimum:{fmt}}")
        else:
            out.append("")
    return out


def apply_filters(
    features: pd.DataFrame, min_price: float, min_dollar_volume: float, min_bars: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``features`` into the rows that pass the liquidity filters and the rest.

    A row passes when ``close >= min_price``, ``dollar_volume20 >=
    min_dollar_volume`` and ``bars >= min_bars`` (an unknown value fails).
    Returns ``(kept, rejected)``: ``kept`` holds the passing rows unchanged,
    ``rejected`` the others plus a ``reason`` column naming every failed test,
    e.g. ``"close 0.85 < min_price 1.00; bars 120 < min_bars 200"``.
    """
    _check_frame(features, "apply_filters")
    for name, value in (("min_price", min_price), ("min_dollar_volume", min_dollar_volume)):
        if not _is_number(value) or not math.isfinite(float(value)) or value < 0:
            raise _invalid("apply_filters", name, value, "a finite number >= 0")
    if isinstance(min_bars, bool | np.bool_) or not isinstance(min_bars, int | np.integer):
        raise _invalid("apply_filters", "min_bars", min_bars, "an integer >= 0")
    if min_bars < 0:
        raise _invalid("apply_filters", "min_bars", min_bars, "an integer >= 0")
    _require(features, ("close", "dollar_volume20", "bars"), "apply_filters")

    checks = (
        _failures(
            _num(features, "close").to_numpy(), float(min_price), "close", "min_price", ",.2f"
        ),
        _failures(
            _num(features, "dollar_volume20").to_numpy(),
            float(min_dollar_volume),
            "dollar_volume20",
            "min_dollar_volume",
            ",.0f",
        ),
        _failures(_num(features, "bars").to_numpy(), float(min_bars), "bars", "min_bars", ".0f"),
    )
    reasons = ["; ".join(part for part in parts if part) for parts in zip(*checks, strict=True)]
    failed = np.array([bool(reason) for reason in reasons], dtype=bool)
    kept = features.loc[~failed].copy()
    rejected = features.loc[failed].copy()
    rejected["reason"] = pd.Series(
        [reason for reason in reasons if reason], index=rejected.index, dtype=object
    )
    return kept, rejected
