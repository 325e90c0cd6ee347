"""The scored table: subscores, TechRating, signal and plan on every row, ranked; filters.

Ranking
-------
:func:`score_table` returns the features, ``dist_low20_pct``, the subscores,
``tech_rating``, ``signal`` (with ``rating_signal`` and ``signal_note``, see
:func:`plan_gated`), the trade plan, ``rank`` and ``percentile``.  The
feature ``volume`` (shares traded on the last bar) becomes ``volume_shares``
there, because ``volume`` is the volume subscore.

Rows are sorted by ``tech_rating`` descending, ties broken by the symbol (index
label as text, ascending), and numbered ``rank`` = 1, 2, ... (1 = best).
``percentile`` = ``100 * (rows rated strictly lower) / (rated rows - 1)``: 100
for the best, 0 for the worst, equal for equal ratings, 100 when a single row is
rated.  Rows whose ``tech_rating`` is NaN are kept, go last (in symbol order) and
have NaN ``rank`` and ``percentile``.

Filters
-------
:func:`apply_filters` keeps a row when ``close >= min_price``,
``dollar_volume20 >= min_dollar_volume`` and ``bars >= min_bars``; an unknown
value fails its test.  Rejected rows carry a ``reason`` naming every failed
test, joined by ``"; "``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.scoring.frame import check_frame, dist_low20, numbers, require
from technic_nb.core.scoring.params import DEFAULT_PARAMS, ScoringParams, _invalid, _is_number
from technic_nb.core.scoring.rating import signals, tech_rating
from technic_nb.core.scoring.scale import SUBSCORES
from technic_nb.core.scoring.subscores import subscores
from technic_nb.core.scoring.trade_plan import PLAN_COLUMNS, trade_plan

__all__ = [
    "RATING_COLUMNS",
    "apply_filters",
    "plan_gated",
    "rank_table",
    "renamed_inputs",
    "score_frame",
    "score_table",
]


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


#: The columns of the rating and the signals (:func:`plan_gated`).
RATING_COLUMNS: tuple[str, ...] = ("tech_rating", "signal", "rating_signal", "signal_note")

_OUTPUT_COLUMNS = frozenset({*SUBSCORES, *RATING_COLUMNS, *PLAN_COLUMNS, "rank", "percentile"})


def renamed_inputs(columns: pd.Index) -> dict[Any, str]:
    """Input columns that share a name with an output column, and their new names."""
    renamed = {}
    for name in columns:
        if name in _OUTPUT_COLUMNS:
            renamed[name] = "volume_shares" if name == "volume" else f"{name}_input"
    return renamed


def score_table(features: pd.DataFrame, params: ScoringParams = DEFAULT_PARAMS) -> pd.DataFrame:
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


def score_frame(features: pd.DataFrame, params: ScoringParams = DEFAULT_PARAMS) -> pd.DataFrame:
    """Every column of :func:`score_table` but ``rank`` and ``percentile``, rows unsorted.

    Row by row: each row's values depend on that row alone, except a user
    subscore mapped by a cross-sectional rank (taken over the table, or within
    each date of a (date, symbol) table).  User subscores get their own columns.
    """
    check_frame(features, "score_table")
    if not features.index.is_unique:
        duplicated = sorted({str(s) for s in features.index[features.index.duplicated()]})
        raise ValueError(f"score_table: duplicated symbol(s) in the features index: {duplicated}")
    subs = subscores(features, params)
    rating = tech_rating(subs, features, params)
    rating_signal = signals(rating, subs, params)
    plan = trade_plan(features, rating_signal, params)
    signal, signal_note = plan_gated(rating_signal, plan, params)

    out = features.rename(columns=renamed_inputs(features.columns))
    if "dist_low20_pct" not in out.columns:
        out["dist_low20_pct"] = dist_low20(features)
    for name in subs.columns:
        out[name] = subs[name]
    out["tech_rating"] = rating
    out["signal"] = signal
    out["rating_signal"] = rating_signal
    out["signal_note"] = signal_note
    for name in PLAN_COLUMNS:
        out[name] = plan[name]
    return out


def plan_gated(
    rating_signal: pd.Series, plan: pd.DataFrame, params: ScoringParams
) -> tuple[pd.Series, pd.Series]:
    """The signals after the plan check, and the note of each downgrade.

    With ``params.signals_need_plan``, a directional signal whose plan fails
    becomes ``Neutral`` and its note reads ``"Strong Long -> Neutral: <plan_note>"``;
    every other row keeps its signal and an empty note.
    """
    failed = (plan["direction"].to_numpy() != 0) & ~plan["plan_ok"].to_numpy(dtype=bool)
    if not params.signals_need_plan:
        failed[:] = False
    signal = rating_signal.copy()
    signal[failed] = "Neutral"
    before = rating_signal.astype(object).to_numpy()
    reasons = plan["plan_note"].to_numpy()
    notes = np.full(len(signal), "", dtype=object)
    for row in np.flatnonzero(failed):
        notes[row] = f"{before[row]} -> Neutral: {reasons[row]}"
    return signal, pd.Series(notes, index=signal.index, name="signal_note")


def rank_table(scored: pd.DataFrame) -> pd.DataFrame:
    """``scored`` (from :func:`score_frame`) with ``rank`` and ``percentile``, sorted by rank."""
    order, rank, percentile = _rank(scored["tech_rating"])
    out = scored.copy()
    out["rank"] = rank
    out["percentile"] = percentile
    return out.iloc[order]


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
    check_frame(features, "apply_filters")
    for name, value in (("min_price", min_price), ("min_dollar_volume", min_dollar_volume)):
        if not _is_number(value) or not math.isfinite(float(value)) or value < 0:
            raise _invalid("apply_filters", name, value, "a finite number >= 0")
    if isinstance(min_bars, bool | np.bool_) or not isinstance(min_bars, int | np.integer):
        raise _invalid("apply_filters", "min_bars", min_bars, "an integer >= 0")
    if min_bars < 0:
        raise _invalid("apply_filters", "min_bars", min_bars, "an integer >= 0")
    require(features, ("close", "dollar_volume20", "bars"), "apply_filters")

    checks = (
        _failures(
            numbers(features, "close").to_numpy(), float(min_price), "close", "min_price", ",.2f"
        ),
        _failures(
            numbers(features, "dollar_volume20").to_numpy(),
            float(min_dollar_volume),
            "dollar_volume20",
            "min_dollar_volume",
            ",.0f",
        ),
        _failures(numbers(features, "bars").to_numpy(), float(min_bars), "bars", "min_bars", ".0f"),
    )
    reasons = ["; ".join(part for part in parts if part) for parts in zip(*checks, strict=True)]
    failed = np.array([bool(reason) for reason in reasons], dtype=bool)
    kept = features.loc[~failed].copy()
    rejected = features.loc[failed].copy()
    rejected["reason"] = pd.Series(
        [reason for reason in reasons if reason], index=rejected.index, dtype=object
    )
    return kept, rejected
