"""The columns of a scan's table, known before the scan runs.

Factor names must not take a built-in column, and a screen may only name
columns the table will have: both are checked when the
:class:`~technic_nb.ScanConfig` is built, against :func:`table_columns`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from technic_nb.core.indicators import IndicatorParams, feature_names, level_names
from technic_nb.core.scoring.params import ScoringParams
from technic_nb.core.scoring.ranking import RATING_COLUMNS
from technic_nb.core.scoring.scale import SUBSCORES
from technic_nb.core.scoring.trade_plan import PLAN_COLUMNS

__all__ = [
    "ERROR_COLUMNS",
    "LEADING_COLUMNS",
    "builtin_columns",
    "factor_columns",
    "table_columns",
]

#: The columns of a scan's error table.
ERROR_COLUMNS = ("symbol", "error_type", "message", "suggestion", "recoverable", "details")

#: The first columns of the ranked table, in this order; the features follow.
LEADING_COLUMNS: tuple[str, ...] = (
    "rank",
    "name",
    "sector",
    "signal",
    "tech_rating",
    "percentile",
    *SUBSCORES,
    "close",
    "entry",
    "stop",
    "target",
    "reward_risk",
    "plan_ok",
)

#: Columns a scan adds besides the indicators and the scoring.
CONTEXT_COLUMNS: tuple[str, ...] = ("last_date", "bars", "close", "volume", "volume_shares")
#: Columns of the scoring besides the subscores and the trade plan.
SCORING_COLUMNS: tuple[str, ...] = (
    "dist_low20_pct",
    *RATING_COLUMNS,
    "rank",
    "percentile",
    "name",
    "sector",
    "reason",
)


def builtin_columns(indicators: IndicatorParams, scoring: ScoringParams) -> list[str]:
    """Every column a scan's table has without factors (user subscores included)."""
    columns = [*CONTEXT_COLUMNS, *feature_names(indicators), *level_names(), *SUBSCORES]
    columns += [extra.name for extra in scoring.user_subscores]
    columns += [*SCORING_COLUMNS, *PLAN_COLUMNS]
    return list(dict.fromkeys(columns))


def factor_columns(factors: Iterable[Any]) -> tuple[list[str], list[str]]:
    """``(columns, prefixes)`` of the factors: the known columns (a factor's name, or
    ``name_<output>`` for declared outputs) and the ``name_`` prefixes of factors
    returning a dict whose keys are not declared."""
    columns: list[str] = []
    prefixes: list[str] = []
    for item in factors:
        declared = item.declared_columns()
        if declared is not None:
            columns.extend(declared)
        else:
            columns.append(item.name)
            prefixes.append(f"{item.name}_")
    return columns, prefixes


def table_columns(
    indicators: IndicatorParams, scoring: ScoringParams, factors: Sequence[Any]
) -> tuple[list[str], list[str]]:
    """``(columns, prefixes)`` a screen may use: built-in and factor columns."""
    columns, prefixes = factor_columns(factors)
    return builtin_columns(indicators, scoring) + columns, prefixes
