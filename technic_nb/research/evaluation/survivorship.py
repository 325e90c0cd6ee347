"""How much a universe of today's survivors drifts above the index: :func:`survivorship_drift`.

A universe chosen today (the members of an index now) applied to past dates holds
only the companies that survived: the ones that were dropped, acquired or went
bankrupt in between are missing, and the survivors did better than the index of
the time.  The equal-weighted universe then beats the index by construction; any
strategy that buys from it inherits that drift, so a portfolio's excess over the
benchmark must be read against it (or against the universe itself).  Pure: no I/O.

Two measures, both per date, then the mean over dates with a Newey-West t:

``holding period``
    Per holding period (replay date to the next), the equal-weighted universe's
    return (:func:`~technic_nb.research.evaluation.holdings.universe_returns`, no
    costs) minus the benchmark's.  Lags: ``hac_lags``, default 0 (the periods do not
    overlap).  ``annualised = mean * P`` with ``P = 252 / spacing_bars``.
``{h}-bar forward``
    Per replay date, the mean ``excess_{h}d`` of the rows that have one
    (:func:`~technic_nb.research.evaluation.forward_returns`), then the mean over
    dates.  Lags: ``hac_lags``, default ``overlap_lags(h, spacing_bars)`` (windows of
    consecutive dates overlap when ``h`` exceeds the spacing).
    ``annualised = mean * 252 / h``.

The annualised figures are simple (not compounded) multiples of the mean.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.research.evaluation.common import check_int, date_codes, numeric, require
from technic_nb.research.evaluation.holdings import (
    benchmark_period_returns,
    period_dates,
    universe_returns,
)
from technic_nb.research.evaluation.stats import (
    newey_west_tstat,
    normal_p,
    overlap_lags,
    resolve_spacing,
)

__all__ = ["SurvivorshipReport", "survivorship_drift"]

_NOTE = (
    "The equal-weighted universe's return over the benchmark: the drift that a universe of "
    "today's survivors shows against the index of the time (the stocks that left it are "
    "missing). Any strategy that buys from this universe inherits it, so judge a portfolio's "
    "excess over the benchmark against this drift, or compare it with the universe instead."
)


@dataclass(frozen=True, eq=False)
class SurvivorshipReport:
    """The universe's drift over the benchmark (see :func:`survivorship_drift`).

    Attributes:
        table: rows ``holding period`` and ``{h}-bar forward``; columns ``dates``
            (with a value), ``mean`` (per period, or per ``h`` bars), ``annualised``,
            ``nw_t_stat``, ``p_value`` (normal, two-sided) and ``lags``.
        per_period: universe minus benchmark per holding period (index ``period``,
            plus the ``start`` dates in ``starts``).
        per_date: the mean ``excess_{h}d`` of each replay date.
        starts: the start date of each holding period.
        horizon: ``h``.
        note: what the numbers mean, in plain words.
    """

    table: pd.DataFrame
    per_period: pd.Series
    per_date: pd.Series
    starts: pd.DatetimeIndex
    horizon: int
    note: str

    def __repr__(self) -> str:
        period = self.table.iloc[0]
        forward = self.table.iloc[1]
        return (
            f"SurvivorshipReport(universe - benchmark: {period['mean']:+.2%} per holding "
            f"period (t {period['nw_t_stat']:.2f}), {forward['mean']:+.2%} per "
            f"{self.horizon} bars (t {forward['nw_t_stat']:.2f}))"
        )


def survivorship_drift(
    holding: pd.DataFrame,
    returns: pd.DataFrame,
    dates: Iterable[Any],
    benchmark: pd.Series | None,
    horizon: int = 21,
    hac_lags: int | None = None,
    spacing_bars: float | None = None,
) -> SurvivorshipReport:
    """The equal-weighted universe's return over the benchmark, per holding period and
    at the ``horizon``-bar forward horizon, with Newey-West t-statistics.

    Args:
        holding: :func:`~technic_nb.research.evaluation.holdings.holding_returns` of the panel.
        returns: :func:`~technic_nb.research.evaluation.forward_returns` of the panel
            (its ``excess_{horizon}d`` column is used).
        dates: the replay dates.
        benchmark: the benchmark closes (the holding-period row is NaN without).
        horizon: the forward horizon in bars.
        hac_lags: Newey-West lags of both tests (default: 0 for the holding periods,
            ``overlap_lags(horizon, spacing_bars)`` for the forward returns).
        spacing_bars: bars between replay dates; default estimated from ``dates``.
    """
    h = check_int("horizon", horizon, 1)
    lags = None if hac_lags is None else check_int("hac_lags", hac_lags, 0)
    name = f"excess_{h}d"
    require(returns, [name], "returns")
    days = period_dates(dates)
    spacing = resolve_spacing(days, spacing_bars)
    drift = universe_returns(holding, days) - benchmark_period_returns(benchmark, days)
    codes, uniques = date_codes(returns.index)
    per_date = pd.Series(numeric(returns, name)).groupby(codes).mean()
    per_date.index = uniques[per_date.index.to_numpy()]
    per_date.name = name
    rows = {
        "holding period": _row(drift, 0 if lags is None else lags, 252.0 / spacing),
        f"{h}-bar forward": _row(
            per_date, overlap_lags(h, spacing) if lags is None else lags, 252.0 / h
        ),
    }
    return SurvivorshipReport(
        table=pd.DataFrame.from_dict(rows, orient="index"),
        per_period=drift.rename("universe_minus_benchmark"),
        per_date=per_date,
        starts=days[:-1],
        horizon=h,
        note=_NOTE,
    )


def _row(values: pd.Series, lags: int, per_year: float) -> dict[str, float]:
    x = values.to_numpy(dtype=np.float64, na_value=np.nan)
    mean, _, t = newey_west_tstat(x, lags)
    return {
        "dates": int(np.isfinite(x).sum()),
        "mean": mean,
        "annualised": mean * per_year,
        "nw_t_stat": t,
        "p_value": normal_p(t),
        "lags": lags,
    }
