"""The result of a scan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["ERROR_COLUMNS", "ScanResult"]

ERROR_COLUMNS = ("symbol", "error_type", "message", "suggestion", "recoverable", "details")


@dataclass
class ScanResult:
    """Everything a scan produced.

    Attributes:
        table: the ranked table (best first), one row per ranked symbol.
        errors: one row per symbol that failed: ``symbol, error_type, message,
            suggestion, recoverable, details``.
        status: the one-line status text.
        stats: counters and timings (``symbols``, ``done``, ``from_cache``,
            ``computed``, ``failed``, ``filtered``, ``retries``, ``give_ups``,
            ``retry_wait_seconds``, ``elapsed``, ``stage_seconds``...).
        cancelled: True when the scan was cancelled; ``table`` then holds the
            symbols finished so far, ranked among themselves.
        filtered: symbols removed by the filters, with the reason.
        regime: the market regime of the benchmark (or None).
        warnings: notes such as a recovered corrupted cache entry.
        config: the configuration that produced this result.
    """

    table: pd.DataFrame
    errors: pd.DataFrame
    status: str
    stats: dict[str, Any] = field(default_factory=dict)
    cancelled: bool = False
    filtered: pd.DataFrame = field(default_factory=pd.DataFrame)
    regime: Any = None
    warnings: list[str] = field(default_factory=list)
    config: Any = None

    def __iter__(self):
        """Unpack as ``table, status`` like :func:`~technic_nb.run_scan`."""
        return iter((self.table, self.status))

    def __repr__(self) -> str:
        return (
            f"ScanResult({len(self.table)} ranked, {len(self.errors)} errors, "
            f"cancelled={self.cancelled}, status={self.status!r})"
        )
