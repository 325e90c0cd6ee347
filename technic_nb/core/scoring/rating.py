"""The TechRating of each row, and its signal.

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
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from technic_nb.core.scoring.frame import check_frame, numbers, require
from technic_nb.core.scoring.params import DEFAULT_PARAMS, ScoringParams
from technic_nb.core.scoring.scale import SUBSCORE_LIMIT, SUBSCORES

__all__ = ["SIGNALS", "risk_factor", "signals", "tech_rating"]


#: The signal categories, best to worst.
SIGNALS: tuple[str, ...] = ("Strong Long", "Long", "Neutral", "Short", "Strong Short")


def risk_factor(features: pd.DataFrame, params: ScoringParams = DEFAULT_PARAMS) -> pd.Series:
    """``risk_floor + (1 - risk_floor) * clip(1 - atr_pct / atr_pct_cap, 0, 1)`` per row."""
    atr_pct = numbers(features, "atr_pct")
    calm = (1.0 - atr_pct / params.atr_pct_cap).clip(lower=0.0, upper=1.0)
    return params.risk_floor + (1.0 - params.risk_floor) * calm


def tech_rating(
    subs: pd.DataFrame, features: pd.DataFrame, params: ScoringParams = DEFAULT_PARAMS
) -> pd.Series:
    """The TechRating of every row, in [-100, 100] (see the module documentation).

    ``subs`` is the output of :func:`subscores`; ``features`` supplies
    ``atr_pct`` (aligned on the index of ``subs``).  NaN when a subscore with a
    weight above 0, or ``atr_pct``, is unknown.
    """
    check_frame(subs, "tech_rating")
    check_frame(features, "tech_rating")
    require(features, ("atr_pct",), "tech_rating")
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
    rating: pd.Series, subs: pd.DataFrame, params: ScoringParams = DEFAULT_PARAMS
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
