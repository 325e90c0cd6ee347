"""Figures of the portfolios of :mod:`~technic_nb.research.evaluation.portfolios` (no widgets).

:func:`plot_portfolio` - equity curves and drawdowns.  Returns a plain
``matplotlib.figure.Figure`` (no pyplot state, nothing is shown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from technic_nb.display.charts import _new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_portfolio"]

#: The lines drawn: column of ``periods`` -> (label, colour, line style).
_LINES = {
    "net": ("portfolio net", "#1d4ed8", "-"),
    "gross": ("portfolio gross", "#60a5fa", "--"),
    "universe": ("universe (equal weight)", "#6b7280", "-"),
    "benchmark": ("benchmark", "#b45309", "-"),
}
_GRID_COLOUR = "#e5e7eb"


def plot_portfolio(
    periods: pd.DataFrame, title: str = "portfolio", *, figsize: tuple[float, float] = (10.0, 6.0)
) -> Figure:
    """Equity curves (top axes) and drawdowns (bottom axes), in percent.

    Each line of ``net``, ``gross``, ``universe`` and ``benchmark`` (the columns
    present with at least one value) compounds its period returns from 1 at the first
    period's ``start`` (a NaN period counts as flat) and is drawn at the periods'
    ``end`` dates: the top axes shows ``growth - 1``, the bottom one the fall from the
    running peak.

    Args:
        periods: ``PortfolioReport.periods`` (columns ``start``, ``end`` and the returns).
        title: the figure's title.
        figsize: the figure size in inches.

    Raises:
        ValueError: ``periods`` lacks ``start`` or ``end``.
    """
    missing = [c for c in ("start", "end") if c not in periods.columns]
    if missing:
        raise ValueError(f"periods lacks {missing}: pass PortfolioReport.periods")
    fig = _new_figure(figsize)
    ax_equity, ax_drawdown = fig.subplots(2, 1, sharex=True, height_ratios=(2.0, 1.0))
    if periods.empty:
        ax_equity.text(0.5, 0.5, "no holding period", ha="center", transform=ax_equity.transAxes)
        return fig
    x = pd.DatetimeIndex([periods["start"].iloc[0], *periods["end"]])
    for column, (label, colour, style) in _LINES.items():
        if column not in periods.columns or periods[column].isna().all():
            continue
        growth = np.cumprod(np.r_[1.0, 1.0 + periods[column].fillna(0.0).to_numpy(float)])
        drawdown = growth / np.maximum.accumulate(growth) - 1.0
        ax_equity.plot(x, (growth - 1.0) * 100.0, color=colour, linestyle=style, label=label)
        ax_drawdown.plot(x, drawdown * 100.0, color=colour, linestyle=style, label=label)
    ax_equity.axhline(0.0, color="#9ca3af", linewidth=0.8)
    ax_equity.set_ylabel("cumulative return (%)")
    ax_equity.set_title(title)
    ax_equity.legend(loc="upper left", frameon=False)
    ax_drawdown.set_ylabel("drawdown (%)")
    for ax in (ax_equity, ax_drawdown):
        ax.grid(color=_GRID_COLOUR, linewidth=0.8)
    return fig
