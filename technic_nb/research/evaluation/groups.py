"""Forward returns by group: factor quantiles and signals, and the alphalens export.

:func:`quantile_returns` (:class:`QuantileReport`), :func:`signal_stats` and
:func:`to_alphalens`, which uses the same quantile labels.  Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from technic_nb.core.scoring import SIGNALS
from technic_nb.research.evaluation.common import (
    aligned,
    check_horizons,
    check_int,
    date_codes,
    grouped_ranks,
    numeric,
    panel_index,
    require,
    return_column,
    scan_dates,
    to_dates,
)
from technic_nb.research.evaluation.returns import HORIZONS
from technic_nb.research.evaluation.stats import (
    adjusted_p_values,
    newey_west_tstat,
    normal_p,
    overlap_lags,
    resolve_spacing,
)

__all__ = ["QuantileReport", "quantile_returns", "signal_stats", "to_alphalens"]


# -- quantiles -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class QuantileReport:
    """Forward returns by factor quantile (see :func:`quantile_returns`).

    Attributes:
        factor: the factor column.
        horizon: the horizon in bars.
        quantiles: the number of quantiles.
        column: ``"fwd"`` or ``"excess"``.
        by_date: mean return per date (rows) and quantile (columns ``1..q``,
            1 = lowest factor); NaN for an empty quantile.
        counts: the number of rows behind each ``by_date`` value.
        summary: per quantile, ``mean_return`` (mean of ``by_date`` over dates),
            ``std``, ``n_dates`` and ``mean_count``.
        spread: top minus bottom (``by_date[q] - by_date[1]``) per date.
        spread_mean: the mean spread.
        spread_se: its Newey-West standard error.
        spread_t: its Newey-West t-statistic.
        nw_lags: the Newey-West lags (:func:`overlap_lags`).
        paths: ``k = nw_lags + 1``, the interleaved paths of ``cumulative``.
        spacing_bars: bars between consecutive replay dates used.
        cumulative: the cumulative return of the spread per date (see
            :func:`quantile_returns`).
    """

    factor: str
    horizon: int
    quantiles: int
    column: str
    by_date: pd.DataFrame
    counts: pd.DataFrame
    summary: pd.DataFrame
    spread: pd.Series
    spread_mean: float
    spread_se: float
    spread_t: float
    nw_lags: int
    paths: int
    spacing_bars: float
    cumulative: pd.Series


def quantile_returns(
    panel: pd.DataFrame,
    returns: pd.DataFrame,
    factor: str = "tech_rating",
    horizon: int = 21,
    quantiles: int = 5,
    column: str = "fwd",
    spacing_bars: float | None = None,
) -> QuantileReport:
    """Mean forward return per factor quantile, and the top-minus-bottom spread.

    Per date, the rows with a finite factor and return are split into
    ``quantiles`` groups by rank (1 = lowest factor; ties share a quantile, see
    :mod:`technic_nb.research.evaluation`).  The spread is the top quantile's mean return minus
    the bottom one's; its mean gets a Newey-West t-statistic with
    ``overlap_lags(horizon, spacing_bars)`` lags.

    Cumulative spread: with ``k = ceil(horizon / spacing_bars)`` (at least 1)
    the dates are dealt into ``k`` interleaved paths (date ``i`` goes to path
    ``i mod k``); the forward windows within a path do not overlap (for evenly
    spaced dates), so each path compounds its spreads, ``prod(1 + spread)``.
    ``cumulative`` at a date is the average of the ``k`` paths' growth over the
    dates up to it, minus 1 (a portfolio split in ``k`` equal tranches, each
    rebalanced every ``k``-th date).  A NaN spread counts as 0 (flat).  Each
    value is indexed by the date the position was opened; it is realized
    ``horizon`` bars later.

    Args:
        panel: the replay panel.
        returns: :func:`forward_returns` of the panel.
        factor: the factor column.
        horizon: the horizon (a ``{column}_{horizon}d`` column of ``returns``).
        quantiles: the number of quantiles (>= 2).
        column: ``"fwd"`` or ``"excess"``.
        spacing_bars: bars between consecutive replay dates; default estimated
            from the panel dates by :func:`replay_spacing` (weekdays).
    """
    q = check_int("quantiles", quantiles, 2)
    h = check_int("horizon", horizon, 1)
    index = panel_index(panel)
    returns = aligned(panel, returns)
    require(panel, [factor], "panel")
    x, y = numeric(panel, factor), return_column(returns, column, h)
    codes, dates = date_codes(index)
    by_date, counts = _quantile_means(x, y, codes, dates, q)
    spacing = resolve_spacing(dates, spacing_bars)
    return _quantile_report(factor, h, q, column, by_date, counts, spacing)


def _quantile_means(
    x: np.ndarray, y: np.ndarray, codes: np.ndarray, dates: pd.DatetimeIndex, q: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean return and row count per date (rows) and quantile (columns ``1..q``)."""
    usable = np.isfinite(x) & np.isfinite(y)
    labels = _quantile_labels(x[usable], codes[usable], q)
    frame = pd.DataFrame({"date": dates[codes[usable]], "quantile": labels, "ret": y[usable]})
    grouped = frame.dropna(subset=["quantile"]).groupby(["date", "quantile"])["ret"]
    columns = pd.Index(range(1, q + 1), name="quantile")
    by_date = grouped.mean().unstack("quantile").reindex(index=dates, columns=columns)
    sizes = grouped.size().unstack("quantile").reindex(index=dates, columns=columns)
    counts = sizes.fillna(0).astype(np.int64)
    return by_date, counts


def _quantile_report(
    factor: str,
    h: int,
    q: int,
    column: str,
    by_date: pd.DataFrame,
    counts: pd.DataFrame,
    spacing: float,
) -> QuantileReport:
    """The report of :func:`quantile_returns`: summary, spread and its statistics."""
    lags = overlap_lags(h, spacing)
    spread = (by_date[q] - by_date[1]).rename("spread")
    mean, se, t = newey_west_tstat(spread.to_numpy(), lags)
    summary = pd.DataFrame(
        {
            "mean_return": by_date.mean(),
            "std": by_date.std(ddof=1),
            "n_dates": by_date.notna().sum(),
            "mean_count": counts.where(counts > 0).mean(),
        }
    )
    return QuantileReport(
        factor=factor,
        horizon=h,
        quantiles=q,
        column=column,
        by_date=by_date,
        counts=counts,
        summary=summary,
        spread=spread,
        spread_mean=mean,
        spread_se=se,
        spread_t=t,
        nw_lags=lags,
        paths=lags + 1,
        spacing_bars=spacing,
        cumulative=_interleaved_cumulative(spread, lags + 1),
    )


def _quantile_labels(values: np.ndarray, codes: np.ndarray, quantiles: int) -> np.ndarray:
    """Per-code quantile labels 1..q from average ranks (see
    :mod:`technic_nb.research.evaluation`)."""
    ranks = grouped_ranks(values, codes)
    n = np.bincount(codes)[codes]
    twice = np.rint(2.0 * (ranks - 1.0)).astype(np.int64)  # 2 (r - 1): average ranks are k/2
    denominator = 2 * np.maximum(n - 1, 1)
    labels = np.maximum(1, -(-(twice * quantiles) // denominator)).astype(np.float64)
    labels[n < 2] = np.nan
    return labels


def _interleaved_cumulative(spread: pd.Series, paths: int) -> pd.Series:
    """The average of ``paths`` interleaved compounding paths, minus 1."""
    growth = 1.0 + spread.fillna(0.0).to_numpy(dtype=np.float64)
    slot = np.arange(len(growth)) % paths
    total = np.zeros(len(growth))
    for j in range(paths):
        total += np.cumprod(np.where(slot == j, growth, 1.0))
    return pd.Series(total / paths - 1.0, index=spread.index, name="cumulative")


# -- signals ---------------------------------------------------------------------------


def signal_stats(
    panel: pd.DataFrame,
    returns: pd.DataFrame,
    horizon: int = 21,
    column: str = "fwd",
    hac_lags: int | None = None,
    spacing_bars: float | None = None,
) -> pd.DataFrame:
    """Forward returns by signal, per date, then over the dates.

    Per date and signal, over the signal's rows with a finite return: the mean
    return ``m_d``, the share of positive returns, and the excess
    ``m_d - u_d`` where ``u_d`` is the mean return of every row of that date
    with a finite return (all signals, and rows without one: the ranked
    universe).  A date where the signal has no such row is left out of its
    statistics.  Then one row per signal (Strong Long, Long, Neutral, Short,
    Strong Short):

    * ``n_rows`` - rows of the signal with a finite return; ``excluded`` - rows of
      the signal whose return is NaN (left out of everything else).
    * ``n_dates`` - dates with at least one such row.
    * ``mean`` - the mean over dates of ``m_d`` (raw: negative is good for shorts).
    * ``hit_rate`` - the mean over dates of the share of the signal's rows whose
      return is above 0 (for the short signals a *low* hit rate is good).
    * ``excess`` - the mean over dates of ``m_d - u_d``: what the signal added to
      an equal-weight position in the ranked universe (negative is good for shorts).
    * ``nw_lags``, ``nw_t``, ``p`` - the Newey-West t-statistic of ``excess``
      (:func:`~technic_nb.research.evaluation.newey_west_tstat` over the dates in
      order, ``hac_lags`` lags) and its two-sided normal p-value; ``p_holm`` and
      ``p_bh`` - that p adjusted over the signals listed
      (:func:`~technic_nb.research.evaluation.adjusted_p_values`).
    * ``top6_share`` - the share of the signal's rows (``n_rows + excluded``: where
      it fires, with or without a return) coming from its 6 busiest dates (1.0
      with 6 dates or fewer).  Concentration: a signal that fires
      mostly in a few market-wide episodes (e.g. Strong Short in a crash) has
      about as many independent observations as episodes, whatever ``n_rows``
      says; with evenly spread rows it is about ``6 / n_dates``.

    Args:
        panel: the replay panel (``signal`` column).
        returns: :func:`forward_returns` of the panel.
        horizon: the horizon in bars.
        column: ``"fwd"`` or ``"excess"``.
        hac_lags: the Newey-West lags; default ``overlap_lags(horizon, spacing_bars)``.
        spacing_bars: bars between consecutive replay dates; default estimated
            from the panel dates by :func:`replay_spacing` (weekdays).
    """
    h = check_int("horizon", horizon, 1)
    index = panel_index(panel)
    returns = aligned(panel, returns)
    require(panel, ["signal"], "panel")
    y = return_column(returns, column, h)
    codes, dates = date_codes(index)
    if hac_lags is None:
        lags = overlap_lags(h, resolve_spacing(dates, spacing_bars))
    else:
        lags = check_int("hac_lags", hac_lags, 0)
    usable = np.isfinite(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        universe = np.bincount(codes[usable], y[usable], len(dates)) / np.bincount(
            codes[usable], minlength=len(dates)
        )
    signal = panel["signal"].astype(object).to_numpy()
    rows = {}
    for name in SIGNALS:
        mine = signal == name
        rows[name] = _signal_row(y[mine & usable], codes[mine & usable], universe, lags)
        rows[name]["excluded"] = int((mine & ~usable).sum())
        busiest = np.sort(np.bincount(codes[mine]))[::-1][:6].sum()
        rows[name]["top6_share"] = busiest / mine.sum() if mine.any() else math.nan
    table = pd.DataFrame.from_dict(rows, orient="index")
    table = table[[*_SIGNAL_COLUMNS]].join(adjusted_p_values(table["p"]))
    table["top6_share"] = [rows[name]["top6_share"] for name in SIGNALS]
    table.index.name = "signal"
    return table


_SIGNAL_COLUMNS = (
    "n_rows", "excluded", "n_dates", "mean", "hit_rate", "excess", "nw_lags", "nw_t", "p"
)  # fmt: skip


def _signal_row(
    values: np.ndarray, codes: np.ndarray, universe: np.ndarray, lags: int
) -> dict[str, float]:
    """The statistics of one signal from its rows' returns and date codes."""
    sizes = np.bincount(codes, minlength=len(universe))
    present = sizes > 0
    n = sizes[present]
    means = np.bincount(codes, values, len(universe))[present] / n
    hits = np.bincount(codes, values > 0, len(universe))[present] / n
    _, _, t = newey_west_tstat(means - universe[present], lags)
    return {
        "n_rows": len(values),
        "n_dates": len(n),
        "mean": float(means.mean()) if len(n) else math.nan,
        "hit_rate": float(hits.mean()) if len(n) else math.nan,
        "excess": float((means - universe[present]).mean()) if len(n) else math.nan,
        "nw_lags": lags,
        "nw_t": t,
        "p": normal_p(t),
    }


# -- alphalens -------------------------------------------------------------------------


def to_alphalens(
    panel: pd.DataFrame,
    returns: pd.DataFrame,
    factor: str = "tech_rating",
    horizons: Iterable[int] = HORIZONS,
    quantiles: int = 5,
) -> pd.DataFrame:
    """The panel in alphalens' ``factor_data`` format (alphalens is not imported).

    The result is indexed by ``(date, asset)`` with one forward-return column per
    horizon named ``"{h}D"`` (the raw ``fwd_{h}d``), then ``factor`` and
    ``factor_quantile`` (1..quantiles per date, from the same rule as
    :func:`quantile_returns`: equal to ``alphalens.utils.quantize_factor`` for
    distinct factor values).  Like alphalens' own cleaning, a row is dropped when
    its factor or *any* of its returns is NaN; quantiles are computed on the
    remaining rows, and a date left with a single row is dropped too (it has no
    quantile).  The number dropped is in ``attrs["dropped"]`` and per reason in
    ``attrs["dropped_reasons"]`` (``nan_factor``, ``nan_return``,
    ``single_row_date``; a row counts under its first reason).

    The date level has no ``freq``: alphalens then reports per replay date
    instead of reindexing to a daily calendar.

    Args:
        panel: the replay panel.
        returns: :func:`forward_returns` of the panel.
        factor: the factor column.
        horizons: the horizons to include.
        quantiles: the number of quantiles.
    """
    q = check_int("quantiles", quantiles, 2)
    steps = check_horizons(horizons)
    index = panel_index(panel)
    returns = aligned(panel, returns)
    require(panel, [factor], "panel")
    x = numeric(panel, factor)
    ys = {f"{h}D": return_column(returns, "fwd", h) for h in steps}
    nan_factor = ~np.isfinite(x)
    nan_return = ~nan_factor & ~np.logical_and.reduce([np.isfinite(y) for y in ys.values()])
    keep = ~nan_factor & ~nan_return
    codes, _ = date_codes(index)
    labels = np.full(len(x), np.nan)
    labels[keep] = _quantile_labels(x[keep], codes[keep], q)
    single = keep & np.isnan(labels)
    keep &= ~single
    dates = to_dates(scan_dates(index, "the panel"))[keep]
    assets = np.asarray(index.get_level_values(1), dtype=object)[keep]
    data = pd.DataFrame(
        {**{name: y[keep] for name, y in ys.items()}, "factor": x[keep]},
        index=pd.MultiIndex.from_arrays([dates, assets], names=["date", "asset"]),
    )
    data["factor_quantile"] = labels[keep].astype(np.int64)
    data.attrs["dropped_reasons"] = {
        "nan_factor": int(nan_factor.sum()),
        "nan_return": int(nan_return.sum()),
        "single_row_date": int(single.sum()),
    }
    data.attrs["dropped"] = int(len(x) - keep.sum())
    return data
