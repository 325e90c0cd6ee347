"""Figures of the replay statistics of :mod:`technic_nb.research.evaluation` (no widgets).

* :func:`plot_ic` - one factor's IC per date (bars) with its rolling mean (line).
* :func:`plot_quantile_returns` - the mean forward return of each quantile.
* :func:`plot_cumulative_spread` - the cumulative top-minus-bottom return.
* :func:`plot_r_distribution` - the histogram of the R multiples of walked trades.

Each returns a plain ``matplotlib.figure.Figure`` with one axes (no pyplot
state, nothing is shown): return it as the last expression of a notebook cell
to display it, or call ``savefig``.  Returns are drawn in percent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from technic_nb.display.charts import _new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from technic_nb.research.evaluation import QuantileReport

__all__ = [
    "plot_cumulative_spread",
    "plot_ic",
    "plot_quantile_returns",
    "plot_r_distribution",
]

_UP = "#1a7f37"
_DOWN = "#b42318"
_LINE = "#1f2937"
_GRID_COLOUR = "#e5e7eb"


def _empty(fig: Figure, text: str) -> Figure:
    ax = fig.axes[0]
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def plot_ic(
    ic: pd.DataFrame,
    factor: str,
    horizon: int,
    rolling: int = 6,
    *,
    figsize: tuple[float, float] = (10.0, 4.0),
) -> Figure:
    """One factor's IC per date: a bar per date and the rolling mean as a line.

    Bars are green for a positive IC and red for a negative one; dates without
    an IC have no bar.  The line is the mean over the last ``rolling`` dates
    with an IC (fewer at the start).  One axes: one bar container, the rolling
    line and the zero line.

    Args:
        ic: the output of :func:`~technic_nb.research.evaluation.information_coefficient`.
        factor: the factor (first column level).
        horizon: the horizon (second column level).
        rolling: the window of the rolling mean, in dates.
        figsize: the figure size in inches.

    Raises:
        ValueError: ``(factor, horizon)`` is not a column of ``ic``, or ``rolling < 1``.
    """
    if (factor, horizon) not in ic.columns:
        raise ValueError(
            f"ic has no column ({factor!r}, {horizon!r}); it has {list(ic.columns)[:8]}"
        )
    if isinstance(rolling, bool) or not isinstance(rolling, int) or rolling < 1:
        raise ValueError(f"rolling={rolling!r} is invalid: pass a number of dates >= 1")
    values = pd.to_numeric(ic[(factor, horizon)], errors="coerce").dropna()
    fig = _new_figure(figsize)
    ax = fig.add_subplot(1, 1, 1)
    if values.empty:
        return _empty(fig, f"no IC for {factor} at {horizon} bars")
    width = _bar_width(values.index)
    colours = np.where(values.to_numpy() >= 0, _UP, _DOWN)
    ax.bar(values.index, values.to_numpy(), width=width, color=colours, alpha=0.55, label="IC")
    mean = values.rolling(rolling, min_periods=1).mean()
    ax.plot(mean.index, mean.to_numpy(), color=_LINE, linewidth=1.6, label=f"{rolling}-date mean")
    ax.axhline(0.0, color="#6b7280", linewidth=0.8)
    ax.set_title(f"Rank IC of {factor}, {horizon}-bar forward return (mean {values.mean():+.3f})")
    ax.set_ylabel("Spearman IC")
    ax.grid(axis="y", color=_GRID_COLOUR, linewidth=0.8)
    ax.legend(loc="upper left", frameon=False)
    return fig


def _bar_width(dates: pd.Index) -> float:
    """Bar width in days: 80 % of the typical gap between dates."""
    if len(dates) < 2:
        return 5.0
    gaps = np.diff(pd.DatetimeIndex(dates).asi8) / 86_400e9
    return float(max(np.median(gaps) * 0.8, 0.5))


def plot_quantile_returns(
    report: QuantileReport, *, figsize: tuple[float, float] = (7.0, 4.0)
) -> Figure:
    """The mean forward return of each factor quantile (1 = lowest factor), in percent.

    One axes with one bar per quantile, labelled with its value; the title gives
    the mean spread and its Newey-West t-statistic.

    Args:
        report: the output of :func:`~technic_nb.research.evaluation.quantile_returns`.
        figsize: the figure size in inches.
    """
    means = report.summary["mean_return"] * 100.0
    fig = _new_figure(figsize)
    ax = fig.add_subplot(1, 1, 1)
    if means.isna().all():
        return _empty(fig, "no quantile returns")
    labels = [str(q) for q in means.index]
    heights = means.fillna(0.0).to_numpy()
    bars = ax.bar(labels, heights, color=np.where(heights >= 0, _UP, _DOWN), alpha=0.75)
    ax.bar_label(bars, labels=[f"{v:+.2f}%" for v in heights], padding=2, fontsize=8)
    ax.axhline(0.0, color="#6b7280", linewidth=0.8)
    ax.set_xlabel(f"{report.factor} quantile (1 = lowest)")
    ax.set_ylabel(f"mean {report.horizon}-bar {report.column} return (%)")
    ax.set_title(
        f"Top - bottom: {report.spread_mean * 100:+.2f}% per date, "
        f"NW t = {report.spread_t:.2f} ({report.nw_lags} lags)"
    )
    ax.grid(axis="y", color=_GRID_COLOUR, linewidth=0.8)
    return fig


def plot_cumulative_spread(
    report: QuantileReport, *, figsize: tuple[float, float] = (10.0, 4.0)
) -> Figure:
    """The cumulative return of the top-minus-bottom spread over time, in percent.

    One axes with one line (``report.cumulative``, the average of the
    ``report.paths`` interleaved non-overlapping paths) and the zero line.

    Args:
        report: the output of :func:`~technic_nb.research.evaluation.quantile_returns`.
        figsize: the figure size in inches.
    """
    path = report.cumulative * 100.0
    fig = _new_figure(figsize)
    ax = fig.add_subplot(1, 1, 1)
    if path.empty:
        return _empty(fig, "no spread")
    ax.plot(path.index, path.to_numpy(), color=_LINE, linewidth=1.6)
    ax.axhline(0.0, color="#6b7280", linewidth=0.8)
    ax.set_ylabel("cumulative return (%)")
    ax.set_title(
        f"{report.factor}: Q{report.quantiles} - Q1, {report.horizon}-bar returns "
        f"({report.paths} interleaved path{'s' if report.paths != 1 else ''})"
    )
    ax.grid(color=_GRID_COLOUR, linewidth=0.8)
    return fig


def plot_r_distribution(
    trades: pd.DataFrame, bins: int = 30, *, figsize: tuple[float, float] = (8.0, 4.0)
) -> Figure:
    """The histogram of the R multiples of the filled trades.

    One axes: the histogram and three vertical lines, at -1 R (a stop at the
    stop price), 0 R and the mean R (the expectancy).

    Args:
        trades: the output of :func:`~technic_nb.research.evaluation.walk_trade_plans`.
        bins: the number of histogram bins.
        figsize: the figure size in inches.
    """
    if "r_multiple" not in trades.columns:
        raise ValueError("trades has no r_multiple column: pass the output of walk_trade_plans")
    r = pd.to_numeric(trades["r_multiple"], errors="coerce").dropna()
    fig = _new_figure(figsize)
    ax = fig.add_subplot(1, 1, 1)
    if r.empty:
        return _empty(fig, "no filled trades")
    ax.hist(r.to_numpy(), bins=bins, color="#60a5fa", edgecolor="white")
    ax.axvline(-1.0, color=_DOWN, linewidth=1.0, linestyle="--", label="-1 R")
    ax.axvline(0.0, color="#6b7280", linewidth=0.8, label="0 R")
    ax.axvline(float(r.mean()), color=_LINE, linewidth=1.6, label=f"mean {r.mean():+.2f} R")
    ax.set_xlabel("R multiple")
    ax.set_ylabel("trades")
    ax.set_title(f"{len(r)} filled trades, win rate {(r > 0).mean():.0%}")
    ax.legend(frameon=False)
    ax.grid(axis="y", color=_GRID_COLOUR, linewidth=0.8)
    return fig
