"""Presentation of scan results: matplotlib figures (no widgets).

* :func:`plot_symbol` - one symbol's chart: price with SMA 20/50/200, the swing
  pivots and the trade plan's trigger, entry, stop and target (labelled in the
  right margin, apart even when the levels are close:
  :mod:`technic_nb.display.levels`), volume, RSI and MACD panes.
* :func:`plot_sector_scores` - the TechRating distribution of each sector.

The styled tables are in :mod:`technic_nb.display.tables` (:func:`style_table`,
:func:`errors_html` and their constants can be imported from here too).

Figures are plain ``matplotlib.figure.Figure`` objects (no pyplot state), so
they are never shown twice in a notebook and never leak between cells; return
one as the last expression of a cell to display it, or call ``savefig``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from technic_nb.core.indicators import IndicatorParams, indicator_series
from technic_nb.display.tables import (
    DISPLAY_COLUMNS,
    SIGNAL_COLOURS,
    errors_html,
    signal_css,
    signed,
    style_table,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "DISPLAY_COLUMNS",
    "SIGNAL_COLOURS",
    "errors_html",
    "plot_sector_scores",
    "plot_symbol",
    "signal_css",
    "style_table",
]

#: Marker colours of the signals in figures (stronger than the table backgrounds).
_POINT_COLOURS: Mapping[str, str] = {
    "Strong Long": "#1a7f37",
    "Long": "#4caf50",
    "Neutral": "#9ca3af",
    "Short": "#ef5350",
    "Strong Short": "#b42318",
}


def _new_figure(figsize: tuple[float, float]) -> Figure:
    """A pyplot-free Figure that a notebook still renders as an image."""
    _enable_notebook_rendering()
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _enable_notebook_rendering() -> None:
    # A Figure made without pyplot is shown as an image only once the inline
    # backend has registered its PNG formatter, which it does when its module is
    # first imported (normally on the first pyplot figure).  Importing it here
    # does the same, and only when inline is the kernel's backend.
    if "IPython" not in sys.modules or "matplotlib_inline.backend_inline" in sys.modules:
        return
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return
    import matplotlib

    try:
        backend = matplotlib.get_backend(auto_select=False)
    except TypeError:  # matplotlib < 3.10
        backend = matplotlib.rcParams["backend"]
    if backend in ("inline", "module://matplotlib_inline.backend_inline"):
        import matplotlib_inline.backend_inline  # noqa: F401


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _plan_levels(
    features_row: Mapping[str, Any] | pd.Series | None,
    trade_plan: Mapping[str, Any] | pd.Series | None,
) -> dict[str, tuple[float, str]]:
    """``label -> (price, style)`` of the plan's trigger, entry, stop and target.

    The target's label names its kind (``target (resistance)``).
    """
    source = trade_plan if trade_plan is not None else features_row
    if source is None or not hasattr(source, "get"):
        return {}
    levels = {}
    for name in ("trigger", "entry", "stop", "target"):
        value = _finite(source.get(name))
        if value is None:
            continue
        label = name
        kind = source.get("target_kind") if name == "target" else None
        if isinstance(kind, str) and kind:
            label = f"target ({kind.replace('_', ' ')})"
        levels[label] = (value, name)
    return levels


#: Colour and line style of each trade-plan level in :func:`plot_symbol`.
_LEVEL_STYLES: Mapping[str, tuple[str, str]] = {
    "trigger": ("#6b7280", "-."),
    "entry": ("#2563eb", "--"),
    "stop": ("#dc2626", ":"),
    "target": ("#16a34a", "--"),
}


def _draw_pivots(ax: Axes, bars: pd.DataFrame, params: IndicatorParams) -> None:
    """Triangles on the confirmed swing pivots of the last ``high_window`` bars, the
    levels the trade plan reads (:mod:`technic_nb.core.indicators.levels`)."""
    from technic_nb.core.indicators import pivot_positions

    recent = bars.iloc[-params.high_window :]
    high = pd.to_numeric(recent["high"], errors="coerce").to_numpy(dtype="float64")
    low = pd.to_numeric(recent["low"], errors="coerce").to_numpy(dtype="float64")
    highs, lows = pivot_positions(high, low, params.pivot_bars)
    x = recent.index
    ax.scatter(
        x[highs], high[highs], marker="v", s=18, color="#b45309", zorder=3, label="pivot high"
    )
    ax.scatter(x[lows], low[lows], marker="^", s=18, color="#0f766e", zorder=3, label="pivot low")


def _draw_price(
    ax: Axes,
    bars: pd.DataFrame,
    close: pd.Series,
    series: pd.DataFrame,
    params: IndicatorParams,
    levels: Mapping[str, tuple[float, str]],
) -> None:
    """The price pane: the close, the SMAs, the swing pivots and the trade-plan levels
    (labelled at the right)."""
    x = bars.index
    ax.plot(x, close, color="#111827", linewidth=1.2, label="close")
    for period, colour in zip(params.sma_periods, ("#2563eb", "#f59e0b", "#7c3aed"), strict=True):
        column = f"sma{period}"
        if column in series.columns:
            ax.plot(x, series[column], color=colour, linewidth=1.0, label=f"SMA {period}")
    if len(bars) and {"high", "low"} <= set(bars.columns):
        _draw_pivots(ax, bars, params)
    for label, (value, style) in levels.items():
        colour, line = _LEVEL_STYLES[style]
        ax.axhline(value, color=colour, linestyle=line, linewidth=1.1, label=label)
    if levels:  # labelled in the right margin, spread apart when levels are close
        from technic_nb.display.levels import LevelLabels

        styled = {
            label: (value, _LEVEL_STYLES[style][0]) for label, (value, style) in levels.items()
        }
        ax.add_artist(LevelLabels(ax, styled))
    ax.set_ylabel("price")
    ax.legend(loc="upper left", fontsize=8, ncol=4, frameon=False)
    ax.grid(alpha=0.3)


def _draw_volume(ax: Axes, bars: pd.DataFrame, close: pd.Series) -> None:
    """The volume pane: green bars on up days (close >= open), red on down days."""
    volume = pd.to_numeric(bars["volume"], errors="coerce")
    opened = pd.to_numeric(bars["open"], errors="coerce") if "open" in bars else close.shift()
    up = (close >= opened).to_numpy()
    colours = np.where(up, "#16a34a", "#dc2626")
    ax.bar(bars.index, volume, color=colours, width=1.0, linewidth=0)
    ax.set_ylabel("volume")
    ax.grid(alpha=0.3)


def _draw_rsi(ax: Axes, x: pd.Index, series: pd.DataFrame, params: IndicatorParams) -> None:
    """The RSI pane, with the 70 and 30 levels."""
    ax.plot(x, series["rsi"], color="#7c3aed", linewidth=1.0)
    for level in (70, 30):
        ax.axhline(level, color="#9ca3af", linestyle="--", linewidth=0.8)
    ax.set_ylim(0, 100)
    ax.set_ylabel(f"RSI {params.rsi_period}")
    ax.grid(alpha=0.3)


def _draw_macd(ax: Axes, x: pd.Index, series: pd.DataFrame) -> None:
    """The MACD pane: the histogram as bars, the MACD and signal lines."""
    hist = series["macd_hist"]
    ax.bar(
        x, hist, color=np.where(hist.fillna(0) >= 0, "#9fd8ae", "#f4a6a6"), width=1.0, linewidth=0
    )
    ax.plot(x, series["macd"], color="#2563eb", linewidth=1.0, label="MACD")
    ax.plot(x, series["macd_signal"], color="#f59e0b", linewidth=1.0, label="signal")
    ax.axhline(0, color="#9ca3af", linewidth=0.8)
    ax.set_ylabel("MACD")
    ax.legend(loc="upper left", fontsize=8, ncol=2, frameon=False)
    ax.grid(alpha=0.3)


def _symbol_title(
    symbol: str | None, features_row: Mapping[str, Any] | pd.Series | None, x: pd.Index
) -> str:
    """``SYMBOL · signal · TechRating +12.3 · last bar YYYY-MM-DD`` (known parts only)."""
    name = symbol
    if name is None and isinstance(features_row, pd.Series) and features_row.name is not None:
        name = str(features_row.name)
    title = [name or "symbol"]
    if features_row is not None and hasattr(features_row, "get"):
        signal = features_row.get("signal")
        if signal is not None and not (isinstance(signal, float) and math.isnan(signal)):
            title.append(str(signal))
        rating = _finite(features_row.get("tech_rating"))
        if rating is not None:
            title.append(f"TechRating {signed(rating, 1)}")
        reward_risk = _finite(features_row.get("reward_risk"))
        if reward_risk is not None:
            title.append(f"reward/risk {reward_risk:.2f}")
        note = features_row.get("plan_note")
        if isinstance(note, str) and note:
            title.append(f"plan fails: {note}")
    if len(x):
        title.append(f"last bar {pd.Timestamp(x[-1]).date().isoformat()}")
    return " · ".join(title)


def plot_symbol(
    bars: pd.DataFrame,
    features_row: Mapping[str, Any] | pd.Series | None = None,
    trade_plan: Mapping[str, Any] | pd.Series | None = None,
    *,
    symbol: str | None = None,
    params: IndicatorParams | None = None,
    figsize: tuple[float, float] = (11.0, 8.5),
) -> Figure:
    """A chart of one symbol: price, volume, RSI and MACD panes (four axes).

    Args:
        bars: daily bars (``open, high, low, close, volume``, date index), e.g.
            the bars the scan used.
        features_row: the symbol's row of the ranked table (or its features);
            its ``signal``, ``tech_rating``, ``reward_risk`` and ``plan_note`` go
            in the title and its plan is drawn when ``trade_plan`` is None.
        trade_plan: ``trigger``, ``entry``, ``stop`` and ``target`` prices to
            draw as horizontal lines, the target labelled with its
            ``target_kind`` (missing or NaN levels are skipped).  The confirmed
            swing pivots the plan reads are marked on the price in any case.
        symbol: the title's symbol (default: the row's name, if any).
        params: the indicator parameters (default: ``IndicatorParams()``).
        figsize: the figure size in inches.
    """
    params = params if params is not None else IndicatorParams()
    series = indicator_series(bars, params)
    close = pd.to_numeric(bars["close"], errors="coerce")
    fig = _new_figure(figsize)
    grid = fig.add_gridspec(4, 1, height_ratios=(3.2, 1.0, 1.0, 1.2))
    ax_price = fig.add_subplot(grid[0])
    ax_volume = fig.add_subplot(grid[1], sharex=ax_price)
    ax_rsi = fig.add_subplot(grid[2], sharex=ax_price)
    ax_macd = fig.add_subplot(grid[3], sharex=ax_price)
    x = bars.index

    _draw_price(ax_price, bars, close, series, params, _plan_levels(features_row, trade_plan))
    _draw_volume(ax_volume, bars, close)
    _draw_rsi(ax_rsi, x, series, params)
    _draw_macd(ax_macd, x, series)
    for ax in (ax_price, ax_volume, ax_rsi):
        ax.tick_params(labelbottom=False)
    ax_price.set_title(_symbol_title(symbol, features_row, x), loc="left", fontsize=11)
    return fig


def _sector_data(table: pd.DataFrame) -> pd.DataFrame:
    """``tech_rating``, ``sector`` and ``signal`` of the rows of ``table`` with a TechRating.

    A missing sector becomes ``(unknown)``, a missing signal column ``Neutral``.
    """
    data = pd.DataFrame(
        {
            "tech_rating": pd.to_numeric(table.get("tech_rating"), errors="coerce")
            if "tech_rating" in table
            else pd.Series(dtype=float),
        },
        index=table.index,
    )
    sectors = table["sector"] if "sector" in table else pd.Series("(unknown)", index=table.index)
    data["sector"] = sectors.astype(object).where(sectors.notna(), "(unknown)").astype(str)
    data["signal"] = table["signal"].astype(str) if "signal" in table else "Neutral"
    return data[np.isfinite(data["tech_rating"].to_numpy(dtype=float))]


def _draw_sector_boxes(ax: Axes, data: pd.DataFrame, order: list[str]) -> None:
    """One horizontal box per sector (in ``order``, bottom to top), without outliers."""
    groups = [data.loc[data["sector"] == s, "tech_rating"].to_numpy() for s in order]
    ax.boxplot(
        groups,
        orientation="horizontal",
        tick_labels=order,
        widths=0.6,
        showfliers=False,
        medianprops={"color": "#111827"},
        boxprops={"color": "#6b7280"},
        whiskerprops={"color": "#6b7280"},
        capprops={"color": "#6b7280"},
    )


def _draw_sector_points(ax: Axes, data: pd.DataFrame, order: list[str]) -> None:
    """Each symbol as a point on its sector's box (jittered, coloured by signal), and a legend."""
    rng = np.random.default_rng(0)
    for position, sector in enumerate(order, start=1):
        rows = data[data["sector"] == sector]
        jitter = rng.uniform(-0.18, 0.18, size=len(rows))
        colours = [_POINT_COLOURS.get(s, "#9ca3af") for s in rows["signal"]]
        ax.scatter(
            rows["tech_rating"],
            position + jitter,
            s=9,
            c=colours,
            alpha=0.7,
            linewidths=0,
        )
    shown = [s for s in _POINT_COLOURS if (data["signal"] == s).any()]
    for signal in shown:  # legend entries only
        ax.scatter([], [], s=12, c=_POINT_COLOURS[signal], label=signal)
    if shown:
        ax.legend(loc="lower right", fontsize=8, frameon=False, title="signal", title_fontsize=8)


def plot_sector_scores(
    table: pd.DataFrame, *, figsize: tuple[float, float] | None = None
) -> Figure:
    """The TechRating distribution of each sector: a box per sector with its points.

    Sectors are sorted by median TechRating (best on top); each point is one
    symbol, coloured by its signal.  Rows without a TechRating are left out and
    a missing sector is shown as ``(unknown)``.  One axes.
    """
    data = _sector_data(table)
    medians = data.groupby("sector")["tech_rating"].median().sort_values()
    order = list(medians.index)  # ascending: the best sector ends on top of the axes
    height = figsize or (10.0, max(3.0, 0.45 * len(order) + 1.5))
    fig = _new_figure(height)
    ax = fig.add_subplot(1, 1, 1)
    if not order:
        ax.text(0.5, 0.5, "no ranked symbols", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    _draw_sector_boxes(ax, data, order)
    _draw_sector_points(ax, data, order)
    ax.axvline(0, color="#9ca3af", linewidth=0.8)
    ax.set_xlim(-100, 100)
    ax.set_xlabel("TechRating")
    ax.set_title(
        f"TechRating by sector ({len(data)} symbols; box = middle half, line = median)",
        loc="left",
        fontsize=11,
    )
    ax.grid(axis="x", alpha=0.3)
    return fig
