"""Figures of the stability of the IC (:mod:`technic_nb.research.evaluation.stability`).

* :func:`plot_rolling_ic` - the rolling mean IC over time.
* :func:`plot_ic_decay` - the mean IC at each horizon, with its t-statistic.

Each returns a plain ``matplotlib.figure.Figure`` with one axes (no pyplot state,
nothing is shown), like :mod:`technic_nb.research.evaluation.plots`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from technic_nb.display.charts import _new_figure
from technic_nb.research.evaluation.plots import _DOWN, _GRID_COLOUR, _LINE, _UP, _empty

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_ic_decay", "plot_rolling_ic"]


def plot_rolling_ic(rolling: pd.Series, *, figsize: tuple[float, float] = (10.0, 4.0)) -> Figure:
    """The rolling mean IC over time: one line, the zero line, and the overall mean.

    Args:
        rolling: the output of :func:`~technic_nb.research.evaluation.rolling_ic`
            (its name is the title).
        figsize: the figure size in inches.
    """
    if not isinstance(rolling, pd.Series):
        raise ValueError("rolling must be a Series: pass the output of rolling_ic")
    values = pd.to_numeric(rolling, errors="coerce")
    fig = _new_figure(figsize)
    ax = fig.add_subplot(1, 1, 1)
    if values.dropna().empty:
        return _empty(fig, "no rolling IC (fewer dates than the window?)")
    ax.plot(values.index, values.to_numpy(), color=_LINE, linewidth=1.6, label="rolling mean")
    ax.axhline(0.0, color="#6b7280", linewidth=0.8)
    mean = float(values.mean())
    ax.axhline(mean, color=_UP if mean >= 0 else _DOWN, linewidth=1.0, linestyle="--",
               label=f"mean of the line {mean:+.3f}")  # fmt: skip
    ax.set_title(str(rolling.name or "rolling IC"))
    ax.set_ylabel("Spearman IC")
    ax.grid(color=_GRID_COLOUR, linewidth=0.8)
    ax.legend(loc="upper left", frameon=False)
    return fig


def plot_ic_decay(
    decay: pd.DataFrame, factor: str = "", *, figsize: tuple[float, float] = (8.0, 4.0)
) -> Figure:
    """The mean IC at each horizon (one bar per horizon, labelled with its NW t).

    Args:
        decay: the output of :func:`~technic_nb.research.evaluation.ic_decay`.
        factor: the factor's name, for the title.
        figsize: the figure size in inches.
    """
    missing = {"mean", "nw_t_stat"} - set(decay.columns)
    if missing:
        raise ValueError(f"decay lacks the columns {sorted(missing)}: pass the output of ic_decay")
    fig = _new_figure(figsize)
    ax = fig.add_subplot(1, 1, 1)
    if decay["mean"].isna().all():
        return _empty(fig, "no IC at any horizon")
    heights = decay["mean"].fillna(0.0).to_numpy(dtype=np.float64)
    labels = [str(h) for h in decay.index]
    bars = ax.bar(labels, heights, color=np.where(heights >= 0, _UP, _DOWN), alpha=0.75)
    ax.bar_label(bars, labels=[f"t {t:.1f}" for t in decay["nw_t_stat"]], padding=2, fontsize=8)
    ax.axhline(0.0, color="#6b7280", linewidth=0.8)
    ax.set_xlabel("horizon (bars)")
    ax.set_ylabel("mean Spearman IC")
    ax.set_title(f"IC decay{f' of {factor}' if factor else ''} (labels: Newey-West t)")
    ax.grid(axis="y", color=_GRID_COLOUR, linewidth=0.8)
    return fig
