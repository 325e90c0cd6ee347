"""The result of a scan."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from pandas.io.formats.style import Styler

__all__ = ["ScanResult"]


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
    #: ``reader(symbol) -> bars`` (:class:`~technic_nb.engine.bars.ScanBars`)
    bars_reader: Callable[[str], pd.DataFrame] | None = field(
        default=None, repr=False, compare=False
    )

    def __iter__(self):
        """Unpack as ``table, status`` like :func:`~technic_nb.run_scan`."""
        return iter((self.table, self.status))

    def __repr__(self) -> str:
        return (
            f"ScanResult({len(self.table)} ranked, {len(self.errors)} errors, "
            f"cancelled={self.cancelled}, status={self.status!r})"
        )

    def styled(self, top: int | None = None, columns: Sequence[str] | None = None) -> Styler:
        """The ranked table as a pandas ``Styler``: signal colours, formatted numbers.

        Longs are green (dark for Strong Long), shorts red, Neutral grey.  ``top``
        keeps the best rows only; ``columns`` picks the columns (default: rank,
        name, sector, signal, TechRating, subscores, trade plan and a few
        indicators).
        """
        from technic_nb.display.tables import style_table

        return style_table(self.table, top=top, columns=columns)

    def bars(self, symbol: str) -> pd.DataFrame:
        """The daily bars of ``symbol`` this scan used.

        Read back through the scan's checkpoint cache, which keeps the bars each
        symbol was computed from; a symbol the cache no longer holds is read
        from the scan's source in the same date window (same ``as_of``) and
        trimmed to the same ``lookback_days``.  Indicators computed from them
        match the table's row.

        Raises:
            ValueError: when the result has no config (it was not made by a scan).
            ScanError: when the source has no bars for ``symbol``.
        """
        if self.bars_reader is None:
            raise ValueError("this ScanResult has no config, so its bars cannot be read")
        return self.bars_reader(symbol)

    def plot(self, symbol: str, **kwargs: Any) -> Figure:
        """Chart ``symbol`` with the bars this scan used: price, SMAs, volume, RSI, MACD.

        The bars come from :meth:`bars`; the trade plan of the symbol's row
        (entry, stop, target) is drawn when it has one.  Keyword arguments go
        to :func:`technic_nb.display.charts.plot_symbol`.

        Raises:
            ValueError: when the result has no config.
            ScanError: when the source has no bars for ``symbol``.
        """
        from technic_nb.display.charts import plot_symbol

        bars = self.bars(symbol)
        symbol = str(symbol).strip().upper()
        row = self.table.loc[symbol] if symbol in self.table.index else None
        kwargs.setdefault("params", self.config.indicators)
        return plot_symbol(bars, row, symbol=symbol, **kwargs)

    def plot_sectors(self, **kwargs: Any) -> Figure:
        """The TechRating distribution of each sector (box and points per sector)."""
        from technic_nb.display.charts import plot_sector_scores

        return plot_sector_scores(self.table, **kwargs)

    def _repr_html_(self) -> str:
        """Status line, the styled top 10 and the error summary (notebook display)."""
        import html

        from technic_nb.display.tables import errors_html, style_table

        colour = "#92400e" if self.cancelled else "#065f46"
        parts = [f"<p style='color:{colour};font-weight:600'>{html.escape(self.status)}</p>"]
        if len(self.table):
            shown = min(10, len(self.table))
            caption = f"Top {shown} of {len(self.table)} ranked (every row: result.table)"
            parts.append(style_table(self.table, top=shown, caption=caption).to_html())
        else:
            parts.append("<p>No ranked symbols.</p>")
        parts.append(errors_html(self.errors, max_rows=10))
        if self.warnings:
            items = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings[:10])
            parts.append(f"<p>Warnings:</p><ul>{items}</ul>")
        return "<div class='technic-nb-result'>" + "".join(parts) + "</div>"
