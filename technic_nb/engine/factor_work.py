"""User factors inside the workers: one cache entry per symbol and factor.

A scan's job carries its factors with their code keys
(:meth:`~technic_nb.Factor.code_key`, computed in the scan's process, where a
notebook-defined function's source is readable).  For each symbol the worker
takes every factor's value from its ``joblib.Memory`` entry
(:func:`technic_nb.engine.cache.cached.factor_entry`) or computes it on the bars the scan
used (the window kept in the symbol's features entry, so adding a factor to a
finished scan reads no file and fetches nothing) and stores it.  Editing a
factor changes its key: that factor alone is computed again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from technic_nb.core.errors import ScanError
from technic_nb.engine.outcomes import Columns, FactorValue, Failure
from technic_nb.rules.factors import Factor, compute_factors

__all__ = ["FACTOR_VERSION", "FactorSet", "FactorValues", "factor_values"]

#: Bump when a cached factor value changes meaning.
FACTOR_VERSION = "2"


@dataclass(frozen=True)
class FactorSet:
    """The factors of a scan, their code keys, and the column names they must not take."""

    items: tuple[tuple[Factor, str], ...] = ()
    reserved: frozenset[str] = frozenset()

    @classmethod
    def of(cls, factors: tuple[Factor, ...], reserved: frozenset[str]) -> FactorSet:
        """Key every factor (here, in the scan's process)."""
        return cls(tuple((item, item.code_key()) for item in factors), reserved)

    def __bool__(self) -> bool:
        return bool(self.items)


@dataclass(frozen=True)
class FactorValues:
    """The factor columns of one symbol and its factor errors."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: tuple[ScanError, ...] = ()
    computed: int = 0


def compute_one(
    item: Factor, window: pd.DataFrame, symbol: str, reserved: frozenset[str]
) -> FactorValue:
    values, errors = compute_factors(window, [item], symbol, reserved=reserved)
    return Failure(errors[0]) if errors else Columns(values)


def factor_values(
    symbol: str,
    bars_key: str,
    lookback: int,
    factors: FactorSet,
    cache: Any,
    window: Callable[[], pd.DataFrame | None],
    notes: list[str],
    peek_only: bool = False,
) -> FactorValues | None:
    """Every factor of ``factors`` for one symbol: cached, or computed on ``window()``.

    ``window()`` gives the bars the scan used (None when they are not at hand).
    With ``peek_only`` nothing is computed: None when a factor is not cached.
    A cache entry found unreadable (removed, to be recomputed) is told in ``notes``,
    whatever is returned.
    """
    values: dict[str, Any] = {}
    errors: list[ScanError] = []
    warnings = notes
    computed = 0
    frame: pd.DataFrame | None = None
    for item, code_key in factors.items:
        key = (bars_key, code_key, lookback, FACTOR_VERSION)
        value = cache.factor.peek(key, FactorValue, warnings.append) if cache is not None else None
        if value is None:
            if peek_only:
                return None
            if frame is None:
                frame = window()
                if frame is None:
                    return None
            value = compute_one(item, frame, symbol, factors.reserved)
            computed += 1
            if cache is not None:
                cache.factor.get(key, lambda value=value: value, FactorValue, warnings.append)
        if isinstance(value, Columns):
            values.update(value.values)
        else:
            errors.append(value.error)
    return FactorValues(values, tuple(errors), computed)
