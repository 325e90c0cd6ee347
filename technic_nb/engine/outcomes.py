"""The typed values a run passes around: what an entry holds, and a symbol's outcome.

A features entry of the checkpoint cache holds :class:`Features` or a
:class:`Failure`; a factor entry :class:`Columns` or a :class:`Failure`.  A worker
task returns a :class:`TaskResult` of :class:`SymbolOutcome` s.  Errors stay
:class:`~technic_nb.ScanError` objects all the way to the error table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from technic_nb.core.errors import ScanError
from technic_nb.sources.base import BarsArrays

__all__ = [
    "Columns",
    "Computed",
    "FactorValue",
    "Failure",
    "Features",
    "Recoverable",
    "SymbolOutcome",
    "TaskResult",
    "Unfinished",
]


@dataclass(frozen=True, slots=True)
class Features:
    """A symbol's indicator row at the window's end, and the bars it was computed from
    (kept so that factors added later are computed without reading the bars again)."""

    row: dict[str, Any]
    window: BarsArrays | None = None


@dataclass(frozen=True, slots=True)
class Columns:
    """One factor's columns for a symbol."""

    values: dict[str, float]


@dataclass(frozen=True, slots=True)
class Failure:
    """A permanent failure (a symbol's, or one factor's for a symbol), as it is stored."""

    error: ScanError


#: What a features entry holds.
Computed = Features | Failure
#: What a factor entry holds.
FactorValue = Columns | Failure


@dataclass(frozen=True, slots=True)
class SymbolOutcome:
    """What a scan learned about one symbol: its feature row or its error.

    Attributes:
        symbol: the symbol.
        features: the indicator row (None when the symbol failed).
        error: its failure (None when ok).
        from_cache: True when it was read from the checkpoint cache.
        warnings: notes for ``result.warnings`` (a damaged cache entry recomputed).
        factor_errors: the errors of its user factors (the symbol keeps its row).
        factors_computed: factor values computed now (the others came from the cache).
    """

    symbol: str
    features: dict[str, Any] | None = None
    error: ScanError | None = None
    from_cache: bool = False
    warnings: tuple[str, ...] = ()
    factor_errors: tuple[ScanError, ...] = ()
    factors_computed: int = 0

    @property
    def ok(self) -> bool:
        """True when the symbol has features."""
        return self.error is None

    @classmethod
    def of(
        cls, symbol: str, value: Computed, from_cache: bool, warnings: tuple[str, ...] = ()
    ) -> SymbolOutcome:
        """The outcome held by (or about to be stored in) a features entry."""
        if isinstance(value, Features):
            return cls(symbol, features=value.row, from_cache=from_cache, warnings=warnings)
        return cls(symbol, error=value.error, from_cache=from_cache, warnings=warnings)

    @classmethod
    def failed(cls, symbol: str, error: ScanError, warnings: tuple[str, ...] = ()) -> SymbolOutcome:
        """The outcome of a failure that is not cached."""
        return cls(symbol, error=error, warnings=warnings)


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What one worker task returns: the outcomes it finished, the symbols it did not
    finish (cancelled, or not in the cache when it only read back), and notes for
    ``result.warnings`` that belong to no outcome (an unreadable entry of a symbol
    that is computed again)."""

    outcomes: tuple[Any, ...]  # SymbolOutcome for a scan
    unfinished: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


class Unfinished(Exception):
    """Raised by a symbol's work cut short by the scan's cancel: the symbol is not done."""


class Recoverable(Exception):
    """A failure that must not be cached (a give-up, a garbled answer, a bug)."""

    def __init__(self, error: ScanError) -> None:
        super().__init__(error.message)
        self.error = error
