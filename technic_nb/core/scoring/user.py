"""User subscores: map a factor column to the -3..3 subscore scale.

A :class:`UserSubscore` turns a column of the result table (typically a factor
column) into an extra subscore of the TechRating, next to the built-in ones of
:data:`technic_nb.core.scoring.SUBSCORES`, with its own weight::

    UserSubscore("squeeze", "bollinger_width", by_thresholds([(0.05, 0), (0.10, -1)], below=2))
    UserSubscore("trend_strength", "adx_adx", by_rank(), weight=2.0)

This module is pure: no I/O, no state.

Mappers
-------
:func:`thresholds` (and :func:`by_thresholds`, its reusable form): ``levels =
[(x1, p1), (x2, p2), ...]`` with ``x1 < x2 < ...``.  A value ``v`` scores the
points of the **last threshold it reaches**, edges inclusive: ``p_i`` when
``x_i <= v < x_{i+1}`` (``p_last`` when ``v >= x_last``), and ``below`` (default
0) when ``v < x1``.  NaN scores NaN; ``+inf`` scores ``p_last``, ``-inf``
scores ``below``.  Points are any numbers in [-3, 3] (they need not be
monotone, so zones such as RSI bands can be written).

:func:`cross_sectional_rank` (and :func:`by_rank`): the percentile rank of each
value among the known values of the column (the table is one date, so this is
a per-date rank), mapped linearly to -3..3: ``score = -3 + 6 * (r - 1) / (n -
1)`` with ``r`` the rank (1 = smallest when ``ascending=True``, so larger values
score higher; 1 = largest when ``ascending=False``) and ``n`` the count of
known values.  Ties share the mean of their ranks (``method="average"``), so
equal values score the same.  NaN and +-inf are unknown: they score NaN and do
not count in ``n``.  A single known value scores 0.

:meth:`UserSubscore.score` applies the mapper to the column and clips the
result to [-3, 3]; NaN stays NaN (an unknown subscore).
"""

from __future__ import annotations

import difflib
import keyword
import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.errors import config_error
from technic_nb.core.scoring.scale import SUBSCORE_LIMIT, SUBSCORES

__all__ = [
    "RankMapper",
    "ThresholdMapper",
    "UserSubscore",
    "by_rank",
    "by_thresholds",
    "cross_sectional_rank",
    "thresholds",
]


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _check_levels(levels: Any, below: Any, owner: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Validated thresholds, points and ``below``."""
    allowed = (
        "a non-empty list of (threshold, points) pairs with finite, strictly increasing "
        f"thresholds and points from -{SUBSCORE_LIMIT:g} to {SUBSCORE_LIMIT:g}"
    )
    if isinstance(levels, str | bytes) or not isinstance(levels, Iterable):
        raise config_error("levels", levels, allowed, owner=owner)
    pairs = list(levels)
    if not pairs:
        raise config_error("levels", levels, allowed, owner=owner)
    xs: list[float] = []
    ps: list[float] = []
    for index, pair in enumerate(pairs):
        if isinstance(pair, str | bytes) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise config_error(f"levels[{index}]", pair, "a (threshold, points) pair", owner=owner)
        x, p = pair
        if not _real(x) or not math.isfinite(float(x)):
            raise config_error(f"levels[{index}][0]", x, "a finite number (threshold)", owner=owner)
        if not _real(p) or not -SUBSCORE_LIMIT <= float(p) <= SUBSCORE_LIMIT:
            raise config_error(
                f"levels[{index}][1]",
                p,
                f"a number from -{SUBSCORE_LIMIT:g} to {SUBSCORE_LIMIT:g} (points)",
                owner=owner,
            )
        if xs and not float(x) > xs[-1]:
            raise config_error(
                "levels",
                pairs,
                f"{allowed} (threshold {x!r} does not exceed the previous {xs[-1]!r})",
                owner=owner,
            )
        xs.append(float(x))
        ps.append(float(p))
    if not _real(below) or not -SUBSCORE_LIMIT <= float(below) <= SUBSCORE_LIMIT:
        raise config_error(
            "below", below, f"a number from -{SUBSCORE_LIMIT:g} to {SUBSCORE_LIMIT:g}", owner=owner
        )
    return np.asarray(xs), np.asarray(ps), float(below)


def _as_series(column: Any, owner: str) -> pd.Series:
    if isinstance(column, pd.Series):
        series = column
    elif isinstance(column, np.ndarray | list | tuple):
        series = pd.Series(column)
    else:
        raise TypeError(f"{owner}: column must be a pandas Series, got {type(column).__name__}")
    try:
        return pd.Series(
            series.to_numpy(dtype=np.float64, na_value=np.nan),
            index=series.index,
            name=series.name,
        )
    except (TypeError, ValueError):
        raise TypeError(
            f"{owner}: column {series.name!r} must hold numbers, got dtype {series.dtype}"
        ) from None


def thresholds(
    column: pd.Series, levels: Iterable[tuple[float, float]], *, below: float = 0.0
) -> pd.Series:
    """Points by thresholds (edges inclusive, see the module docs).

    Args:
        column: the values (a numeric Series).
        levels: ``[(x1, p1), (x2, p2), ...]``, thresholds strictly increasing,
            points in [-3, 3]; ``v >= x_i`` (and below the next threshold)
            scores ``p_i``.
        below: points of values below ``x1`` (in [-3, 3]).

    Returns:
        A float Series with the column's index and name; NaN where the value is NaN.

    Raises:
        ScanError: a ``config_error`` for invalid ``levels`` or ``below``.
        TypeError: ``column`` is not a numeric Series.
    """
    xs, ps, low = _check_levels(levels, below, "thresholds")
    return _apply_thresholds(_as_series(column, "thresholds"), xs, ps, low)


def _apply_thresholds(values: pd.Series, xs: np.ndarray, ps: np.ndarray, below: float) -> pd.Series:
    x = values.to_numpy()
    # searchsorted(side="right") - 1 is the last threshold <= x (edges inclusive).
    position = np.searchsorted(xs, x, side="right") - 1
    points = np.where(position >= 0, ps[np.clip(position, 0, len(ps) - 1)], below)
    points = np.where(np.isnan(x), np.nan, points)
    return pd.Series(points, index=values.index, name=values.name, dtype=np.float64)


def cross_sectional_rank(column: pd.Series, ascending: bool = True) -> pd.Series:
    """The percentile rank of each value mapped linearly to -3..3 (see the module docs).

    Args:
        column: the values of one table (one date), a numeric Series.
        ascending: True scores the largest value +3 and the smallest -3;
            False the reverse.

    Returns:
        A float Series with the column's index and name; NaN for NaN and +-inf.

    Raises:
        ScanError: a ``config_error`` when ``ascending`` is not a bool.
        TypeError: ``column`` is not a numeric Series.
    """
    if not isinstance(ascending, bool | np.bool_):
        raise config_error("ascending", ascending, "True or False", owner="cross_sectional_rank")
    values = _as_series(column, "cross_sectional_rank")
    known = values.where(np.isfinite(values.to_numpy()))
    ranks = known.rank(method="average", ascending=bool(ascending))
    count = int(known.notna().sum())
    if count <= 1:
        score = pd.Series(0.0, index=values.index).where(known.notna())
    else:
        score = -SUBSCORE_LIMIT + 2 * SUBSCORE_LIMIT * (ranks - 1.0) / (count - 1)
    return pd.Series(score.to_numpy(dtype=np.float64), index=values.index, name=values.name)


@dataclass(frozen=True)
class ThresholdMapper:
    """:func:`thresholds` with its levels bound and validated (a picklable mapper)."""

    levels: tuple[tuple[float, float], ...]
    below: float = 0.0

    def __post_init__(self) -> None:
        xs, ps, below = _check_levels(self.levels, self.below, "by_thresholds")
        object.__setattr__(self, "levels", tuple(zip(xs.tolist(), ps.tolist(), strict=True)))
        object.__setattr__(self, "below", below)

    def __call__(self, column: pd.Series) -> pd.Series:
        xs = np.array([x for x, _ in self.levels])
        ps = np.array([p for _, p in self.levels])
        return _apply_thresholds(_as_series(column, "thresholds"), xs, ps, self.below)


@dataclass(frozen=True)
class RankMapper:
    """:func:`cross_sectional_rank` with ``ascending`` bound (a picklable mapper)."""

    ascending: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.ascending, bool | np.bool_):
            raise config_error("ascending", self.ascending, "True or False", owner="by_rank")
        object.__setattr__(self, "ascending", bool(self.ascending))

    def __call__(self, column: pd.Series) -> pd.Series:
        return cross_sectional_rank(column, self.ascending)


def by_thresholds(levels: Iterable[tuple[float, float]], *, below: float = 0.0) -> ThresholdMapper:
    """A mapper applying :func:`thresholds` with these levels (validated now)."""
    return ThresholdMapper(levels, below)  # type: ignore[arg-type]  # validated, made a tuple


def by_rank(ascending: bool = True) -> RankMapper:
    """A mapper applying :func:`cross_sectional_rank` (validated now)."""
    return RankMapper(ascending)


@dataclass(frozen=True)
class UserSubscore:
    """An extra subscore of the TechRating computed from a table column.

    Attributes:
        name: the subscore's name (its column in the table): an ASCII
            identifier, not a keyword, not starting with ``_``, and not a
            built-in subscore (:data:`~technic_nb.core.scoring.SUBSCORES`).
        column: the table column it reads (e.g. ``"bollinger_width"``).
        mapper: ``mapper(values) -> points``: a callable taking the column as
            a float Series and returning a Series (same index) or array of the
            same length; :func:`by_thresholds` and :func:`by_rank` build the
            usual ones.
        weight: its weight in the TechRating, a finite number >= 0, on the
            same scale as :class:`~technic_nb.ScoringWeights`.

    Every field is validated on construction (a ``config_error``
    :class:`~technic_nb.ScanError` naming the field, the value and what is
    allowed).
    """

    name: str
    column: str
    mapper: Callable[[pd.Series], Any]
    weight: float = 1.0

    def __post_init__(self) -> None:
        owner = "UserSubscore"
        name = self.name
        if (
            not isinstance(name, str)
            or not name.isascii()
            or not name.isidentifier()
            or name.startswith("_")
            or "__" in name
            or name in SUBSCORES
        ):
            raise config_error(
                "name",
                name,
                "an ASCII identifier not starting with '_', without '__', and not a built-in "
                f"subscore ({', '.join(SUBSCORES)})",
                owner=owner,
            )
        if keyword.iskeyword(name):
            raise config_error("name", name, "an identifier that is not a keyword", owner=owner)
        if not isinstance(self.column, str) or not self.column:
            raise config_error(
                "column", self.column, "a column name (a non-empty string)", owner=owner
            )
        if not callable(self.mapper):
            raise config_error(
                "mapper", self.mapper, "a callable values -> points, e.g. by_rank()", owner=owner
            )
        weight = self.weight
        if not _real(weight) or not math.isfinite(float(weight)) or float(weight) < 0:
            raise config_error("weight", weight, "a finite number >= 0", owner=owner)
        object.__setattr__(self, "weight", float(weight))

    def score(self, table: pd.DataFrame) -> pd.Series:
        """The subscore of every row: ``clip(mapper(table[column]), -3, 3)``, NaN kept.

        Returns:
            A float Series named :attr:`name` with the table's index.

        Raises:
            ScanError: a ``config_error`` when the column is missing (naming
                close matches).
            TypeError: the column is not numeric, or the mapper returns
                something not aligned with the table.
        """
        if self.column not in table.columns:
            matches = difflib.get_close_matches(self.column, [str(c) for c in table.columns])
            hint = f" (close matches: {', '.join(matches)})" if matches else ""
            raise config_error(
                "column", self.column, f"a column of the table{hint}", owner="UserSubscore"
            )
        values = _as_series(table[self.column], f"UserSubscore {self.name!r}")
        result = self.mapper(values)
        if isinstance(result, pd.Series):
            if not result.index.equals(table.index):
                raise TypeError(
                    f"UserSubscore {self.name!r}: the mapper returned a Series whose index is "
                    "not the table's index"
                )
            points = result.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            points = np.asarray(result, dtype=np.float64)
            if points.shape != (len(table),):
                raise TypeError(
                    f"UserSubscore {self.name!r}: the mapper must return {len(table)} values, "
                    f"got shape {points.shape}"
                )
        clipped = np.clip(points, -SUBSCORE_LIMIT, SUBSCORE_LIMIT)
        return pd.Series(clipped, index=table.index, name=self.name, dtype=np.float64)
