"""A replay's feature rows as one block of numbers per symbol.

A symbol replayed at 140 dates has 140 rows of ~45 numbers.  Kept as dicts
they cost more to store, ship from the workers and turn into a frame than
computing them; :class:`RowBlock` keeps them as one float64 array with the
dates and column names beside it (and the rows' ``last_date`` texts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["RowBlock"]

#: The one text column of a features row.
TEXT_COLUMN = "last_date"


@dataclass(frozen=True)
class RowBlock:
    """Feature rows of one symbol: ``values[i]`` is the row at ``dates[i]`` (ISO, ascending).

    Attributes:
        dates: ISO dates, ascending.
        columns: the numeric columns, in the order of the rows' keys.
        values: ``len(dates) x len(columns)`` float64.
        last_dates: each row's ``last_date`` (its last bar's ISO date).
    """

    dates: tuple[str, ...]
    columns: tuple[str, ...]
    values: np.ndarray
    last_dates: tuple[str, ...]

    @classmethod
    def empty(cls) -> RowBlock:
        """No rows."""
        return cls((), (), np.empty((0, 0)), ())

    @classmethod
    def from_rows(cls, rows: Mapping[str, Mapping[str, Any]]) -> RowBlock:
        """A block of ``{iso date: features dict}`` (every dict with the same keys)."""
        if not rows:
            return cls.empty()
        dates = tuple(sorted(rows))
        first = rows[dates[0]]
        columns = tuple(k for k in first if k != TEXT_COLUMN)
        values = np.array([[rows[d].get(c, np.nan) for c in columns] for d in dates], dtype=float)
        last = tuple(str(rows[d].get(TEXT_COLUMN, "")) for d in dates)
        return cls(dates, columns, values.reshape(len(dates), len(columns)), last)

    def __len__(self) -> int:
        return len(self.dates)

    def merged(self, other: RowBlock) -> RowBlock:
        """This block's rows and ``other``'s (other's win on a shared date), by date."""
        if not len(other):
            return self
        if not len(self):
            return other
        columns = tuple(dict.fromkeys((*self.columns, *other.columns)))
        rows = {d: i for i, d in enumerate(self.dates)}
        for i, d in enumerate(other.dates):
            rows[d] = len(self.dates) + i
        stacked = np.vstack([self.aligned(columns), other.aligned(columns)])
        last = self.last_dates + other.last_dates
        dates = tuple(sorted(rows))
        order = [rows[d] for d in dates]
        return RowBlock(dates, columns, stacked[order], tuple(last[i] for i in order))

    def aligned(self, columns: Sequence[str]) -> np.ndarray:
        """The values with ``columns`` in that order (NaN where this block has none)."""
        if tuple(columns) == self.columns:
            return self.values
        out = np.full((len(self.dates), len(columns)), np.nan)
        where = {c: i for i, c in enumerate(self.columns)}
        for j, column in enumerate(columns):
            if column in where:
                out[:, j] = self.values[:, where[column]]
        return out

    def take(self, dates: Iterable[str]) -> RowBlock:
        """The rows at ``dates`` that the block has, in date order."""
        where = {d: i for i, d in enumerate(self.dates)}
        picked = sorted(where[d] for d in set(dates) if d in where)
        return RowBlock(
            tuple(self.dates[i] for i in picked),
            self.columns,
            self.values[picked],
            tuple(self.last_dates[i] for i in picked),
        )

    def with_columns(self, extra: Mapping[str, Mapping[str, float]]) -> RowBlock:
        """This block with more columns: ``extra[column][iso date]`` (NaN where absent)."""
        if not extra:
            return self
        added = np.array(
            [[extra[c].get(d, np.nan) for c in extra] for d in self.dates], dtype=float
        ).reshape(len(self.dates), len(extra))
        return RowBlock(
            self.dates,
            self.columns + tuple(extra),
            np.hstack([self.values, added]),
            self.last_dates,
        )
