"""Reading a features table: checked columns as numbers, and the derived distances.

A missing column raises ``ValueError`` naming it and what needs it; a NaN or
infinite value means "unknown".  The 20-day low is not an indicator column; it
is derived here from ``low_recent`` (the 20-bar minimum low), exactly like
``dist_high20_pct``::

    dist_low20_pct = 100 * (close / low_recent - 1)        (>= 0; 0 at a new low)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "check_frame",
    "dist_high20",
    "dist_low20",
    "distance",
    "has_either",
    "numbers",
    "require",
]


def check_frame(features: Any, what: str) -> None:
    if not isinstance(features, pd.DataFrame):
        raise TypeError(
            f"{what}: features must be a pandas DataFrame, got {type(features).__name__}"
        )


def require(features: pd.DataFrame, names: tuple[str, ...], what: str) -> None:
    if len(features) == 0:
        return
    missing = [name for name in names if name not in features.columns]
    if missing:
        raise ValueError(
            f"{what}: the features table has no column(s) {', '.join(missing)}; "
            f"found {list(map(str, features.columns))}"
        )


def numbers(features: pd.DataFrame, name: str) -> pd.Series:
    """A column as float64 with NaN for non-numeric and infinite values."""
    if name not in features.columns:
        return pd.Series(np.nan, index=features.index, dtype="float64", name=name)
    values = pd.to_numeric(features[name], errors="coerce").astype("float64")
    return values.where(np.isfinite(values))


def distance(features: pd.DataFrame, column: str, level: str) -> pd.Series:
    """``column`` when present, else (and where it is NaN) ``100 * (close / level - 1)``."""
    computed = 100.0 * (numbers(features, "close") / numbers(features, level) - 1.0)
    computed = computed.where(np.isfinite(computed))
    if column in features.columns:
        return numbers(features, column).fillna(computed)
    return computed


def dist_high20(features: pd.DataFrame) -> pd.Series:
    """``100 * (close / high20 - 1)``: distance below the 20-day high, in % (<= 0)."""
    return distance(features, "dist_high20_pct", "high20")


def dist_low20(features: pd.DataFrame) -> pd.Series:
    """``100 * (close / low_recent - 1)``: distance above the 20-day low, in % (>= 0)."""
    return distance(features, "dist_low20_pct", "low_recent")


def has_either(features: pd.DataFrame, a: str, b: str, what: str) -> None:
    if len(features) and a not in features.columns and b not in features.columns:
        raise ValueError(f"{what}: the features table needs a column {a} or {b}")
