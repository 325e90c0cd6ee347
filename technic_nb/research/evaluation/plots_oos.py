"""The figure of a weighting sweep: in-sample against out-of-sample (no widgets).

:func:`plot_sweep` returns a plain ``matplotlib.figure.Figure`` with one axes (no
pyplot state, nothing is shown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from technic_nb.display.charts import _new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_sweep"]


def plot_sweep(sweep: Any, *, figsize: tuple[float, float] = (7.0, 5.0)) -> Figure:
    """One point per weighting: its training mean (x) against its test mean (y).

    The chosen weighting (best in sample) is a red star; the dashed diagonal is
    "out of sample = in sample", the grey lines are 0.  Points far under the
    diagonal on the right are choices whose in-sample figure was luck.

    Args:
        sweep: a :class:`~technic_nb.research.evaluation.out_of_sample.SweepResult`
            (the output of ``result.sweep(...)``).
        figsize: the figure size in inches.
    """
    table = sweep.table
    x = table["train_mean"].to_numpy(dtype=np.float64)
    y = table["test_mean"].to_numpy(dtype=np.float64)
    fig = _new_figure(figsize)
    ax = fig.add_subplot(1, 1, 1)
    known = np.isfinite(x) & np.isfinite(y)
    if not known.any():
        ax.text(0.5, 0.5, "no weighting has both figures", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    others = known & ~table["chosen"].to_numpy(dtype=bool)
    ax.scatter(x[others], y[others], s=22, color="#60a5fa", label="weightings")
    best = sweep.chosen_index
    ax.scatter([x[best]], [y[best]], s=160, marker="*", color="#b42318", zorder=3, label="chosen")
    low = float(min(x[known].min(), y[known].min(), 0.0))
    high = float(max(x[known].max(), y[known].max(), 0.0))
    ax.plot([low, high], [low, high], linestyle="--", color="#6b7280", linewidth=0.8)
    ax.axhline(0.0, color="#9ca3af", linewidth=0.6)
    ax.axvline(0.0, color="#9ca3af", linewidth=0.6)
    what = "mean IC" if sweep.objective == "ic" else "mean net excess of the top N"
    ax.set_xlabel(f"in sample: {what} ({len(sweep.train_dates)} dates)")
    ax.set_ylabel(f"out of sample: {what} ({len(sweep.test_dates)} dates)")
    ax.set_title(
        f"{len(table)} weightings, {sweep.horizon}-bar horizon; deflated Sharpe "
        f"probability of the chosen {sweep.deflated.probability:.2f}"
    )
    ax.legend(frameon=False, loc="best")
    ax.grid(color="#e5e7eb", linewidth=0.8)
    return fig
