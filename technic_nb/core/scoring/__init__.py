"""Scoring: subscores, the TechRating, signals, trade plans, ranking and filters.

Pure functions over a table of per-symbol features (one row per symbol, index =
symbol), vectorized over the whole table; no I/O, no state.  The rules of each
part are documented where it is computed: :mod:`~technic_nb.core.scoring.subscores`,
:mod:`~technic_nb.core.scoring.rating` (TechRating and signals),
:mod:`~technic_nb.core.scoring.trade_plan`, :mod:`~technic_nb.core.scoring.ranking`
(ranking and filters) and :mod:`~technic_nb.core.scoring.user` (user subscores).
"""

from technic_nb.core.scoring.params import DEFAULT_PARAMS, ScoringParams, ScoringWeights
from technic_nb.core.scoring.ranking import (
    apply_filters,
    plan_gated,
    rank_table,
    score_frame,
    score_table,
)
from technic_nb.core.scoring.rating import SIGNALS, risk_factor, signals, tech_rating
from technic_nb.core.scoring.scale import SUBSCORE_LIMIT, SUBSCORES
from technic_nb.core.scoring.subscores import SUBSCORE_INPUTS, subscores
from technic_nb.core.scoring.trade_plan import PLAN_COLUMNS, TARGET_KINDS, trade_plan
from technic_nb.core.scoring.user import UserSubscore, by_rank, by_thresholds

__all__ = [
    "DEFAULT_PARAMS",
    "PLAN_COLUMNS",
    "SIGNALS",
    "SUBSCORES",
    "SUBSCORE_INPUTS",
    "SUBSCORE_LIMIT",
    "TARGET_KINDS",
    "ScoringParams",
    "ScoringWeights",
    "UserSubscore",
    "apply_filters",
    "by_rank",
    "by_thresholds",
    "plan_gated",
    "rank_table",
    "risk_factor",
    "score_frame",
    "score_table",
    "signals",
    "subscores",
    "tech_rating",
    "trade_plan",
]
