"""Portfolios of the best-scored stocks, rebalanced at each replay date, after costs.

:func:`portfolio_report` and :func:`quantile_portfolios`.  Pure: no I/O.  The
holding rule (period returns, ``stopped``, ``bad_bar``) is the one of
:mod:`~technic_nb.research.evaluation.holdings`.

Selection (per replay date ``d_t``, over the rows of the date with a finite score)
------------------------------------------------------------------------------------
* ``top_n=N``: the ``N`` highest scores (ties by symbol, ascending; for
  ``tech_rating`` that is the panel's ``rank``); every row when the date has fewer.
* ``quantile=k`` of ``quantiles=q``: the rows whose quantile label is ``k``, the
  labels of :func:`~technic_nb.research.evaluation.quantile_returns` (average ranks,
  **1 = lowest score**, ``q`` = highest, ties share a label; ``top_n`` is then ignored).

Weights
-------
``weighting="equal"``: ``1 / n``.  ``weighting="score"``: proportional to the score
shifted to be positive, ``s - lo`` with ``lo = min_d - 0.01 * (max_d - min_d)``, the
minimum and maximum over every row of the date with a score (so the date's lowest
score gets 1 % of the score range and the result does not depend on the score's
unit or origin); equal weights when every score of the date is the same.

A selected row whose period return cannot be trusted (``bad_bar``) or computed
(``no_bars``) is dropped for that period and the others' weights renormalised to
sum to 1; every such row is listed in ``PortfolioReport.dropped`` with its reason.
A period with nothing held is in cash (return 0).  A ``stopped`` position earns its
return to its last bar, then cash.

Returns, drift and costs (per period ``t``, weights ``w``, returns ``r``)
--------------------------------------------------------------------------
::

    gross_t   = sum_i w_i r_i
    drifted_i = w_i (1 + r_i) / (1 + gross_t)     (0 for a stopped position: it is cash)
    traded_t  = sum_i |w_t,i - drifted_{t-1},i|   (over the stocks, not the cash; 1 at t = 0)
    cost_t    = traded_t * cost_bps / 1e4         (each side, buy and sell, pays cost_bps)
    net_t     = gross_t - cost_t
    turnover_t = traded_t / 2                     (one-sided; 0.5 at t = 0)

The cost is charged at the rebalancing, as a fraction of the portfolio's value, and
subtracted from the period's return (the second-order term ``cost_t * gross_t`` is
left out); nothing is charged to sell at the last date.  Drift uses the gross returns.

Comparisons: ``benchmark`` (its close on or before each date, see
:func:`~technic_nb.research.evaluation.holdings.benchmark_period_returns`) and the
equal-weighted ``universe`` of every panel row of the date, same holding rule,
**without costs** (:func:`~technic_nb.research.evaluation.holdings.universe_returns`).
``excess_benchmark = net - benchmark`` and ``excess_universe = net - universe``.

Summary: :func:`~technic_nb.research.evaluation.performance.performance_summary` over
``net``, ``gross``, ``universe``, ``benchmark`` and the two excess series; ``hac_lags``
(default 0: the holding periods do not overlap) sets its Newey-West lags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from technic_nb.research.evaluation.common import check_int, panel_index
from technic_nb.research.evaluation.groups import _quantile_labels
from technic_nb.research.evaluation.holdings import (
    benchmark_period_returns,
    period_dates,
    universe_returns,
)
from technic_nb.research.evaluation.performance import performance_summary
from technic_nb.research.evaluation.stats import resolve_spacing

if TYPE_CHECKING:
    from collections.abc import Iterable

    from matplotlib.figure import Figure

__all__ = [
    "PERIOD_COLUMNS",
    "WEIGHTINGS",
    "PortfolioReport",
    "portfolio_report",
    "quantile_portfolios",
]

#: The weightings of :func:`portfolio_report`.
WEIGHTINGS: tuple[str, ...] = ("equal", "score")
#: The columns of ``PortfolioReport.periods``.
PERIOD_COLUMNS: tuple[str, ...] = (
    "start",
    "end",
    "gross",
    "cost",
    "net",
    "benchmark",
    "universe",
    "excess_benchmark",
    "excess_universe",
    "traded",
    "turnover",
    "holdings",
    "dropped",
    "stopped",
)
_DROPPED = ("bad_bar", "no_bars")


@dataclass(frozen=True, eq=False)
class PortfolioReport:
    """A portfolio rebalanced at each replay date (see :func:`portfolio_report`).

    Attributes:
        periods: one row per holding period ``t`` (index ``period``): ``start`` and
            ``end`` (the replay dates ``d_t`` and ``d_{t+1}``), ``gross``, ``cost``,
            ``net`` (fractions), ``benchmark``, ``universe`` (equal-weighted, no
            costs), ``excess_benchmark`` and ``excess_universe`` (``net`` minus
            each), ``traded`` (``sum |w - drifted|``), ``turnover`` (one-sided,
            ``traded / 2``), ``holdings`` (positions held), ``dropped`` (selected
            rows dropped for the period) and ``stopped`` (positions that stopped
            trading during the period).
        summary: rows ``portfolio net``, ``portfolio gross``, ``universe``,
            ``benchmark``, ``excess vs benchmark``, ``excess vs universe``; the
            columns :data:`~technic_nb.research.evaluation.performance.SUMMARY_COLUMNS`
            (see :mod:`~technic_nb.research.evaluation.performance`).
        dropped: one row per dropped position: ``start``, ``symbol``, ``score``
            and ``reason`` (``bad_bar`` or ``no_bars``).
        score: the score column.
        top_n: the positions per date (None for a quantile portfolio).
        quantile: the quantile held (1 = lowest score) or None.
        quantiles: the number of quantiles.
        weighting: ``"equal"`` or ``"score"``.
        cost_bps: the cost per side, in basis points.
        hac_lags: the Newey-West lags of the t-statistics.
        periods_per_year: ``252 / spacing_bars``.
    """

    periods: pd.DataFrame
    summary: pd.DataFrame
    dropped: pd.DataFrame
    score: str
    top_n: int | None
    quantile: int | None
    quantiles: int
    weighting: str
    cost_bps: float
    hac_lags: int
    periods_per_year: float

    @property
    def label(self) -> str:
        """A short name: ``top 20 by tech_rating`` or ``Q5/5 by tech_rating``."""
        held = f"top {self.top_n}"
        if self.quantile is not None:
            held = f"Q{self.quantile}/{self.quantiles}"
        weights = "" if self.weighting == "equal" else ", score-weighted"
        return f"{held} by {self.score}{weights}"

    def plot(self, *, figsize: tuple[float, float] = (10.0, 6.0)) -> Figure:
        """Equity curves (top axes) and drawdowns (bottom axes) of the portfolio net
        and gross, the universe and the benchmark
        (:func:`~technic_nb.research.evaluation.portfolio_plots.plot_portfolio`)."""
        from technic_nb.research.evaluation.portfolio_plots import plot_portfolio

        return plot_portfolio(self.periods, title=self.label, figsize=figsize)

    def __repr__(self) -> str:
        row = self.summary.loc["excess vs benchmark"]
        net = self.summary.loc["portfolio net"]
        return (
            f"PortfolioReport({self.label}: {len(self.periods)} periods, net "
            f"{net['annual_return']:+.1%}/yr, excess vs benchmark {row['mean']:+.2%} per "
            f"period (t {row['nw_t_stat']:.2f}), turnover {net['mean_turnover']:.0%}, "
            f"cost {self.cost_bps:g} bps/side)"
        )


def _check_args(
    top_n: Any, quantile: Any, quantiles: Any, weighting: Any, cost_bps: Any, hac_lags: Any
) -> tuple[int, float, int]:
    """The checked ``quantiles``, ``cost_bps`` and ``hac_lags``."""
    check_int("top_n", top_n, 1)
    q = check_int("quantiles", quantiles, 2)
    if quantile is not None:
        k = check_int("quantile", quantile, 1)
        if k > q:
            raise ValueError(
                f"quantile={quantile!r} is invalid: pass 1 (lowest score) .. {q} (highest) "
                f"with quantiles={q}"
            )
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting={weighting!r} is invalid: pass one of {list(WEIGHTINGS)}")
    try:
        cost = float(cost_bps)
    except (TypeError, ValueError):
        cost = math.nan
    if isinstance(cost_bps, bool) or not math.isfinite(cost) or cost < 0:
        raise ValueError(
            f"cost_bps={cost_bps!r} is invalid: pass the cost per side in basis points, "
            "a number >= 0 (10 = 0.1 %)"
        )
    lags = 0 if hac_lags is None else check_int("hac_lags", hac_lags, 0)
    return q, cost, lags


def _score_array(holding: pd.DataFrame, score: pd.Series) -> np.ndarray:
    """The score of each row of ``holding`` as float64 (ValueError when misaligned)."""
    if not isinstance(score, pd.Series):
        raise ValueError("score values must be a pandas Series indexed like the panel")
    if not score.index.equals(holding.index):
        if not score.index.is_unique:
            raise ValueError("score values repeat (date, symbol) pairs: index them like the panel")
        score = score.reindex(holding.index)
    return pd.to_numeric(score, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _selected_weights(
    values: np.ndarray,
    period: np.ndarray,
    symbols: np.ndarray,
    top_n: int,
    quantile: int | None,
    quantiles: int,
    weighting: str,
) -> np.ndarray:
    """Each row's raw weight (0 when not selected, before dropping and normalising)."""
    rows = np.flatnonzero((period >= 0) & np.isfinite(values))
    raw = np.zeros(len(values))
    if not len(rows):
        return raw
    v, p = values[rows], period[rows]
    if quantile is None:
        order = np.lexsort((symbols[rows], -v, p))
        first = np.r_[True, p[order][1:] != p[order][:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order)) - start
        chosen = position < top_n
    else:
        chosen = _quantile_labels(v, p, quantiles) == quantile
    if weighting == "equal":
        raw[rows[chosen]] = 1.0
        return raw
    lowest = pd.Series(v).groupby(p).transform("min").to_numpy()
    spread = pd.Series(v).groupby(p).transform("max").to_numpy() - lowest
    shifted = np.where(spread > 0, v - lowest + 0.01 * spread, 1.0)
    raw[rows[chosen]] = shifted[chosen]
    return raw


def _path(
    holding: pd.DataFrame, raw: np.ndarray, values: np.ndarray, n_periods: int, cost_bps: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The portfolio's period rows (gross ... stopped) and its dropped positions."""
    period = np.asarray(holding["period"], dtype=np.int64)
    ret = np.asarray(holding["ret"], dtype=np.float64)
    status = holding["status"].astype(object).to_numpy()
    held = raw > 0
    lost = held & np.isin(status, _DROPPED)
    kept = np.flatnonzero(held & ~lost & np.isfinite(ret))
    symbols, codes = np.unique(holding.index.get_level_values(1)[kept], return_inverse=True)
    total = np.bincount(period[kept], weights=raw[kept], minlength=n_periods)
    weight = np.zeros((n_periods, len(symbols)))
    growth = np.ones((n_periods, len(symbols)))
    cash = np.zeros((n_periods, len(symbols)), dtype=bool)
    weight[period[kept], codes] = raw[kept] / total[period[kept]]
    growth[period[kept], codes] = 1.0 + ret[kept]
    cash[period[kept], codes] = status[kept] == "stopped"
    gross = (weight * (growth - 1.0)).sum(axis=1)
    value = np.where(1.0 + gross > 0, 1.0 + gross, np.nan)
    drifted = np.where(cash, 0.0, weight * growth / value[:, None])
    before = np.vstack([np.zeros((1, len(symbols))), drifted[:-1]])
    traded = np.nansum(np.abs(weight - before), axis=1)  # t = 0 buys from cash: sum w = 1
    cost = traded * cost_bps / 1e4
    frame = pd.DataFrame(
        {
            "gross": gross,
            "cost": cost,
            "net": gross - cost,
            "traded": traded,
            "turnover": traded / 2.0,
            "holdings": (weight > 0).sum(axis=1),
            "dropped": np.bincount(period[lost], minlength=n_periods),
            "stopped": (cash & (weight > 0)).sum(axis=1),
        }
    )
    dates = holding.index.get_level_values(0)[lost]
    dropped = pd.DataFrame(
        {
            "start": pd.DatetimeIndex(dates),
            "symbol": np.asarray(holding.index.get_level_values(1)[lost], dtype=object),
            "score": values[lost],
            "reason": status[lost],
        }
    )
    return frame, dropped


def _periods(
    holding: pd.DataFrame,
    score: pd.Series,
    days: pd.DatetimeIndex,
    benchmark: pd.Series | None,
    selection: tuple[int, int | None, int, str],
    cost_bps: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``periods`` and ``dropped`` frames of one portfolio."""
    values = _score_array(holding, score)
    period = np.asarray(holding["period"], dtype=np.int64)
    symbols = np.asarray(holding.index.get_level_values(1), dtype=str)
    raw = _selected_weights(values, period, symbols, *selection)
    path, dropped = _path(holding, raw, values, len(days) - 1, cost_bps)
    out = pd.DataFrame({"start": days[:-1], "end": days[1:]})
    out.index = pd.RangeIndex(len(out), name="period")
    path.index = out.index
    out = out.join(path[["gross", "cost", "net"]])
    out["benchmark"] = benchmark_period_returns(benchmark, days)
    out["universe"] = universe_returns(holding, days)
    out["excess_benchmark"] = out["net"] - out["benchmark"]
    out["excess_universe"] = out["net"] - out["universe"]
    out = out.join(path[["traded", "turnover", "holdings", "dropped", "stopped"]])
    return out, dropped


def _check_holding(holding: pd.DataFrame) -> None:
    panel_index(holding, "holding")
    missing = [c for c in ("period", "ret", "status") if c not in holding.columns]
    if missing:
        raise ValueError(f"holding lacks the columns {missing}: pass the output of holding_returns")


def portfolio_report(
    holding: pd.DataFrame,
    score: pd.Series,
    dates: Iterable[Any],
    top_n: int = 20,
    *,
    quantile: int | None = None,
    quantiles: int = 5,
    weighting: str = "equal",
    cost_bps: float = 10.0,
    benchmark: pd.Series | None = None,
    hac_lags: int | None = None,
    spacing_bars: float | None = None,
    score_name: str | None = None,
) -> PortfolioReport:
    """The portfolio of the top ``top_n`` (or of one score quantile) at each replay date,
    held to the next date, after costs; against the benchmark and the universe.

    The rules and formulas are in the module's docstring.

    Args:
        holding: :func:`~technic_nb.research.evaluation.holdings.holding_returns` of the panel.
        score: the score of each row, a float Series indexed like ``holding``.
        dates: the replay dates (the periods run from each to the next).
        top_n: the positions per date (>= 1; ignored with ``quantile``).
        quantile: hold the ``quantile``-th of ``quantiles`` groups instead (1 = lowest score).
        quantiles: the number of groups (>= 2).
        weighting: ``"equal"`` or ``"score"`` (proportional to the shifted score).
        cost_bps: the cost per side in basis points (>= 0; default 10).
        benchmark: benchmark closes (its period returns are NaN without).
        hac_lags: Newey-West lags of the t-statistics (default 0).
        spacing_bars: bars between replay dates (for ``P = 252 / spacing_bars``);
            default estimated from ``dates`` (weekdays).
        score_name: the score's name in the report (default ``score.name``).

    Raises:
        ValueError: ``top_n < 1``, ``quantile`` outside ``1..quantiles``, an unknown
            ``weighting``, a negative ``cost_bps``, negative ``hac_lags``, fewer than
            two dates, or ``holding`` not from :func:`holding_returns`.
    """
    q, cost, lags = _check_args(top_n, quantile, quantiles, weighting, cost_bps, hac_lags)
    _check_holding(holding)
    days = period_dates(dates)
    selection = (int(top_n), quantile, q, weighting)
    periods, dropped = _periods(holding, score, days, benchmark, selection, cost)
    per_year = 252.0 / resolve_spacing(days, spacing_bars)
    series = {
        "portfolio net": periods["net"],
        "portfolio gross": periods["gross"],
        "universe": periods["universe"],
        "benchmark": periods["benchmark"],
        "excess vs benchmark": periods["excess_benchmark"],
        "excess vs universe": periods["excess_universe"],
    }
    moved = {"portfolio net": periods["turnover"], "portfolio gross": periods["turnover"]}
    return PortfolioReport(
        periods=periods,
        summary=performance_summary(series, per_year, lags, moved),
        dropped=dropped,
        score=str(score_name if score_name is not None else score.name),
        top_n=None if quantile is not None else int(top_n),
        quantile=quantile,
        quantiles=q,
        weighting=weighting,
        cost_bps=cost,
        hac_lags=lags,
        periods_per_year=per_year,
    )


def quantile_portfolios(
    holding: pd.DataFrame,
    score: pd.Series,
    dates: Iterable[Any],
    quantiles: int = 5,
    *,
    weighting: str = "equal",
    cost_bps: float = 10.0,
    hac_lags: int | None = None,
    spacing_bars: float | None = None,
) -> pd.DataFrame:
    """One portfolio per score quantile (each built by :func:`portfolio_report`), and the
    top-minus-bottom long-short.

    Returns:
        Rows ``Q1`` (lowest score) .. ``Q{q}``, then ``Q{q} - Q1`` (per period the top
        quantile's net return minus the bottom one's: each leg pays its own costs); the
        columns :data:`~technic_nb.research.evaluation.performance.SUMMARY_COLUMNS` of
        the net returns plus ``mean_holdings``.
        ``p_holm`` and ``p_bh`` adjust the ``q + 1`` tests together.
    """
    q, cost, lags = _check_args(1, None, quantiles, weighting, cost_bps, hac_lags)
    _check_holding(holding)
    days = period_dates(dates)
    per_year = 252.0 / resolve_spacing(days, spacing_bars)
    series: dict[str, pd.Series] = {}
    moved: dict[str, pd.Series] = {}
    held: dict[str, float] = {}
    for k in range(1, q + 1):
        periods, _ = _periods(holding, score, days, None, (1, k, q, weighting), cost)
        series[f"Q{k}"], moved[f"Q{k}"] = periods["net"], periods["turnover"]
        held[f"Q{k}"] = float(periods["holdings"].mean())
    spread = f"Q{q} - Q1"
    series[spread] = series[f"Q{q}"] - series["Q1"]
    out = performance_summary(series, per_year, lags, moved)
    out["mean_holdings"] = pd.Series(held)
    out.index.name = "portfolio"
    return out
