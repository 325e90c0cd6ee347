"""The TechRating of many feature rows at once, with numpy, for the live table.

The scan's scoring (:mod:`technic_nb.core.scoring`) is pandas, with a fixed cost of
about 10 ms per call whatever the number of rows: fine once per scan, too much
twice a second while a scan runs.  :func:`estimate_ratings` computes the same
filters, subscores and rating with numpy over plain arrays (about 1.5 us per
row, no fixed cost to speak of), term by term as :mod:`technic_nb.core.scoring`
does, NaN and infinite values included.  The live table's signals still come
from :func:`technic_nb.core.scoring.signals` (for the rows that enter it only).

Keep it in step with :mod:`technic_nb.core.scoring`: ``tests/test_live_top.py``
checks that the live table equals the top of the scan's final table, value for
value, on the demo market and on rows with missing and infinite values.  It
covers the built-in subscores only: a configuration with user subscores or a
screen is rated by the scan's own functions (:func:`estimable`).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.scoring import SUBSCORE_INPUTS
from technic_nb.core.scoring.params import SUBSCORE_LIMIT, SUBSCORES
from technic_nb.engine.config import ScanConfig

__all__ = ["estimable", "estimate_ratings"]

#: What the estimate reads: the subscores' inputs, then the filters' and trade plan's.
_COLUMNS = (
    *SUBSCORE_INPUTS,
    "atr_pct",
    "dist_high20_pct",
    "high20",
    "dist_low20_pct",
    "low_recent",
    "dollar_volume20",
    "bars",
)


def estimable(config: ScanConfig) -> bool:
    """True when the estimate covers the configuration's rating (built-in subscores only)."""
    params = config.scoring
    return not getattr(params, "user_subscores", ()) and getattr(config, "screen", None) is None


def _column(rows: Sequence[dict[str, Any]], name: str) -> np.ndarray:
    """Column ``name`` as float64: NaN where missing, not a number or infinite."""
    values = [row.get(name) for row in rows]
    try:
        array = np.array(values, dtype="float64")
    except (TypeError, ValueError):
        array = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
            dtype="float64"
        )
    array[~np.isfinite(array)] = np.nan
    return array


def _columns(rows: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Every input column as float64 (NaN where missing, not a number or infinite): one
    C-level pass per row when the rows share their keys and hold numbers, else column by
    column."""
    present = [name for name in _COLUMNS if rows and name in rows[0]]
    if len(present) > 1:
        getter = operator.itemgetter(*present)
        try:
            table = np.array([getter(row) for row in rows], dtype="float64")
        except (KeyError, TypeError, ValueError):  # rows that differ, or a value not a number
            pass
        else:
            table[~np.isfinite(table)] = np.nan
            nan = np.full(len(rows), np.nan)
            columns = dict(zip(present, table.T, strict=True))
            return {name: columns.get(name, nan) for name in _COLUMNS}
    return {name: _column(rows, name) for name in _COLUMNS}


def _known_sum(*terms: np.ndarray) -> np.ndarray:
    """The sum of the known terms; NaN where every term is unknown."""
    stacked = np.vstack(terms)
    known = ~np.isnan(stacked)
    total = np.where(known, stacked, 0.0).sum(axis=0)
    return np.where(known.any(axis=0), total, np.nan)


def _beyond(x: np.ndarray, threshold: float) -> np.ndarray:
    out = np.where(x > threshold, 1.0, np.where(x < -threshold, -1.0, 0.0))
    return np.where(np.isnan(x), np.nan, out)


def _levels(x: np.ndarray, conditions: list[np.ndarray], points: list[float]) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        out = np.select(conditions, points, default=0.0)
    return np.where(np.isnan(x), np.nan, out)


def _distance(c: dict[str, np.ndarray], column: str, level: str) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        computed = 100.0 * (c["close"] / c[level] - 1.0)
    computed[~np.isfinite(computed)] = np.nan
    given = c[column]
    return np.where(np.isnan(given), computed, given)


def _subscores(c: dict[str, np.ndarray], p: Any) -> dict[str, np.ndarray]:
    """The six subscores, as :func:`technic_nb.core.scoring.subscores` computes them."""
    sign = np.sign
    trend = _known_sum(
        sign(c["close"] - c["sma50"]), sign(c["sma20"] - c["sma50"]), sign(c["sma50"] - c["sma200"])
    )
    momentum = _known_sum(
        _beyond(c["ret_21d_pct"], p.mom_ret21_pct),
        _beyond(c["ret_63d_pct"], p.mom_ret63_pct),
        sign(c["macd_hist"]),
    )
    spike = c["volume_spike"]
    grade = _levels(
        spike,
        [
            spike >= p.spike_extreme,
            spike >= p.spike_strong,
            spike >= p.spike_mild,
            spike < p.volume_dry,
        ],
        [3.0, 2.0, 1.0, -1.0],
    )
    rvol = c["rvol20_pct"]
    calm = _levels(rvol, [rvol <= p.calm_rvol_pct, rvol >= p.wild_rvol_pct], [1.0, -1.0])
    rsi = c["rsi"]
    oscillator = _levels(
        rsi,
        [
            rsi > p.rsi_overbought,
            rsi > p.rsi_strong,
            rsi > p.rsi_bull,
            rsi < 100.0 - p.rsi_overbought,
            rsi < 100.0 - p.rsi_strong,
            rsi < 100.0 - p.rsi_bull,
        ],
        [1.0, 2.0, 1.0, -1.0, -2.0, -1.0],
    )
    high = _distance(c, "dist_high20_pct", "high20")
    low = _distance(c, "dist_low20_pct", "low_recent")
    at, near = p.breakout_at_pct, p.breakout_near_pct
    near_high = _levels(high, [high >= -at, high >= -near], [2.0, 1.0])
    near_low = _levels(low, [low <= at, low <= near], [2.0, 1.0])
    breakout = _known_sum(near_high - near_low, _beyond(c["ret_5d_pct"], p.thrust_ret5_pct))
    raw = {
        "trend": trend,
        "momentum": momentum,
        "volume": sign(c["ret_1d_pct"]) * grade,
        "volatility": sign(trend) * calm,
        "oscillator": oscillator,
        "breakout": breakout,
    }
    return {name: np.clip(v, -SUBSCORE_LIMIT, SUBSCORE_LIMIT) for name, v in raw.items()}


def estimate_ratings(
    rows: Sequence[dict[str, Any]], config: ScanConfig
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(ratings, passed, subscores)`` of feature ``rows``: the TechRating as the scan
    computes it (NaN when unknown), whether each row passes the liquidity filters, and
    the six subscores."""
    c = _columns(rows)
    with np.errstate(invalid="ignore"):
        passed = (
            (c["close"] >= config.min_price)
            & (c["dollar_volume20"] >= config.min_dollar_volume)
            & (c["bars"] >= config.min_bars)
        )
        p = config.scoring
        subs = _subscores(c, p)
        raw = np.zeros(len(rows))
        for name in SUBSCORES:
            weight = getattr(p.weights, name)
            if weight > 0:
                raw = raw + weight * subs[name]
        calm = np.clip(1.0 - c["atr_pct"] / p.atr_pct_cap, 0.0, 1.0)
        factor = p.risk_floor + (1.0 - p.risk_floor) * calm
        rating = raw * factor * (100.0 / (SUBSCORE_LIMIT * p.total_weight))
    return np.clip(rating, -100.0, 100.0), passed, subs
