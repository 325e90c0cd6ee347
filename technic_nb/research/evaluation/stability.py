"""Is the IC stable?  Its t-statistic under other lags, by year and regime, over time.

:func:`hansen_hodrick_tstat`, :func:`ic_lag_sensitivity`, :func:`ic_by_group`,
:func:`rolling_ic`, :func:`ic_decay` and :func:`replay_regimes`.  Pure: no I/O.

Every statistic is per date first (the IC of a date, from
:func:`~technic_nb.research.evaluation.information_coefficient`), then a mean over
dates with a heteroskedasticity and autocorrelation consistent (HAC) t-statistic.

Long-run variance of the mean
-----------------------------
With ``e_t = x_t - mean`` over the ``n`` values of a series and
``g_j = sum_t e_t e_{t-j} / n``, the variance of the mean with ``L`` lags is::

    se^2 = (g_0 + 2 sum_{j=1..L} w_j g_j) / (n - 1)

(statsmodels' OLS on a constant, ``cov_type="HAC"``, ``use_correction=True``).

* Newey-West: Bartlett weights ``w_j = 1 - j / (L + 1)``
  (:func:`~technic_nb.research.evaluation.newey_west_tstat`); never negative.
* Hansen-Hodrick: uniform (truncated) weights ``w_j = 1`` with
  ``L = h / spacing - 1`` lags (rounded up: ``overlap_lags(h, spacing)``), the
  exact autocovariances of an MA(L) error that ``h``-bar returns sampled every
  ``spacing`` bars produce (statsmodels' ``kernel="uniform"``).  It can be
  negative; then the standard error and t are NaN, with a note.

The lags chosen change the t-statistic; :func:`ic_lag_sensitivity` shows by how much.

Groups of dates
---------------
:func:`ic_by_group` splits the dates by a label (the year, the market regime of
:func:`replay_regimes`) and tests each group's mean IC.  Within a group the dates
are taken in order as if consecutive: for a regime whose dates are scattered this
overstates the overlap (a conservative t).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.regime import market_regime
from technic_nb.research.evaluation.common import check_int
from technic_nb.research.evaluation.ic import ic_summary
from technic_nb.research.evaluation.stats import (
    adjusted_p_values,
    newey_west_tstat,
    normal_p,
    overlap_lags,
    resolve_spacing,
)

__all__ = [
    "NEGATIVE_VARIANCE",
    "hansen_hodrick_tstat",
    "ic_by_group",
    "ic_decay",
    "ic_lag_sensitivity",
    "replay_regimes",
    "rolling_ic",
]

#: The note of a Hansen-Hodrick variance below 0 (its t-statistic is NaN).
NEGATIVE_VARIANCE = "Hansen-Hodrick variance < 0: t undefined (use Newey-West)"


def _values(series: Iterable[float]) -> np.ndarray:
    if isinstance(series, pd.Series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = np.asarray(series if isinstance(series, np.ndarray) else list(series), dtype=float)
    return values[np.isfinite(values)]


def hansen_hodrick_tstat(series: Iterable[float], lags: int) -> tuple[float, float, float, str]:
    """The mean of a series with its Hansen-Hodrick standard error and t-statistic.

    The uniform-kernel (truncated) HAC variance of the module documentation:
    ``se^2 = (g_0 + 2 sum_{j=1..L} g_j) / (n - 1)``, from statsmodels' OLS on a
    constant with ``cov_type="HAC"``, ``kernel="uniform"``, ``maxlags=lags`` and
    ``use_correction=True``.  With ``lags=0`` it equals the plain iid t.  NaN
    values are dropped first.

    Args:
        series: the values (e.g. the IC per date).
        lags: the lags ``L`` (for ``h``-bar returns every ``spacing`` bars:
            ``overlap_lags(h, spacing)``).

    Returns:
        ``(mean, se, t, note)``: ``se`` and ``t`` are NaN with fewer than two
        values, and when the variance is below 0 (``note`` is then
        :data:`NEGATIVE_VARIANCE`; otherwise ``""``).
    """
    lag = check_int("lags", lags, 0)
    values = _values(series)
    if len(values) == 0:
        return math.nan, math.nan, math.nan, ""
    mean = float(values.mean())
    if len(values) < 2 or np.ptp(values) == 0:
        return mean, (math.nan if len(values) < 2 else 0.0), math.nan, ""
    from statsmodels.regression.linear_model import OLS

    fit = OLS(values, np.ones((len(values), 1))).fit(
        cov_type="HAC", cov_kwds={"maxlags": lag, "kernel": "uniform", "use_correction": True}
    )
    variance = float(np.asarray(fit.cov_params())[0, 0])
    if not variance > 0:
        return mean, math.nan, math.nan, NEGATIVE_VARIANCE
    se = math.sqrt(variance)
    return mean, se, mean / se, ""


def _column(ic: pd.DataFrame, factor: str, horizon: int) -> pd.Series:
    if not isinstance(ic.columns, pd.MultiIndex) or (factor, horizon) not in ic.columns:
        raise ValueError(
            f"ic has no column ({factor!r}, {horizon!r}): pass the output of "
            f"information_coefficient with that factor and horizon; it has {list(ic.columns)[:8]}"
        )
    return pd.to_numeric(ic[(factor, horizon)], errors="coerce")


def _factors(ic: pd.DataFrame, horizon: int) -> list[str]:
    multi = isinstance(ic.columns, pd.MultiIndex)
    names = [f for f, h in ic.columns if h == horizon] if multi else []
    if not names:
        raise ValueError(
            f"ic has no column at horizon {horizon!r}: pass the output of "
            "information_coefficient with that horizon"
        )
    return list(dict.fromkeys(names))


def ic_lag_sensitivity(
    ic: pd.DataFrame,
    horizon: int,
    lags: Iterable[int] = (0, 1, 2, 4, 8),
    spacing_bars: float | None = None,
) -> pd.DataFrame:
    """How the t-statistic of the mean IC moves with the HAC lags.

    One row per factor of ``ic`` at ``horizon``: ``mean`` (mean IC), ``n_dates``,
    ``t_lag{L}`` - the Newey-West (Bartlett) t with ``L`` lags for each of
    ``lags`` (``t_lag0`` is the plain iid t), ``hh_lags`` (``overlap_lags(horizon,
    spacing_bars)``: ``h / spacing - 1`` rounded up), ``t_hh`` - the
    Hansen-Hodrick t with those lags (:func:`hansen_hodrick_tstat`; NaN when its
    variance is below 0) and ``note`` (why ``t_hh`` is NaN, else ``""``).

    Args:
        ic: the output of :func:`~technic_nb.research.evaluation.information_coefficient`.
        horizon: the horizon of the columns to use.
        lags: the Bartlett lags to show (integers >= 0).
        spacing_bars: bars between consecutive replay dates; default estimated
            from the IC's dates by :func:`replay_spacing` (weekdays).
    """
    steps = [check_int("lag", lag, 0) for lag in lags]
    h = check_int("horizon", horizon, 1)
    hh = overlap_lags(h, resolve_spacing(ic.index, spacing_bars))
    rows = {}
    for factor in _factors(ic, h):
        values = _column(ic, factor, h).dropna().to_numpy()
        row: dict[str, Any] = {"mean": float(values.mean()) if len(values) else math.nan}
        row["n_dates"] = len(values)
        for lag in steps:
            row[f"t_lag{lag}"] = newey_west_tstat(values, lag)[2]
        _, _, t, note = hansen_hodrick_tstat(values, hh)
        row.update({"hh_lags": hh, "t_hh": t, "note": note})
        rows[factor] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "factor"
    return table


def ic_by_group(
    ic: pd.DataFrame,
    groups: pd.Series,
    horizon: int,
    hac_lags: int | None = None,
    spacing_bars: float | None = None,
) -> pd.DataFrame:
    """The mean IC of each factor within each group of dates, with its t-statistic.

    One row per ``(factor, group)``: ``mean`` (mean IC over the group's dates with
    an IC), ``n_dates``, ``nw_lags``, ``nw_t_stat`` (Newey-West over the group's
    dates in order, see the module documentation), ``p_value`` (two-sided,
    normal), ``p_holm`` and ``p_bh`` (adjusted over every row of the table).

    Args:
        ic: the output of :func:`~technic_nb.research.evaluation.information_coefficient`.
        groups: the group label of each date (indexed by date; a date without a
            label is left out).
        horizon: the horizon of the columns to use.
        hac_lags: the Newey-West lags; default ``overlap_lags(horizon, spacing_bars)``.
        spacing_bars: bars between consecutive replay dates; default estimated
            from the IC's dates by :func:`replay_spacing` (weekdays).
    """
    h = check_int("horizon", horizon, 1)
    if hac_lags is None:
        lags = overlap_lags(h, resolve_spacing(ic.index, spacing_bars))
    else:
        lags = check_int("hac_lags", hac_lags, 0)
    labels = pd.Series(groups).reindex(ic.index)
    if labels.isna().all():
        raise ValueError(
            "groups labels none of the IC's dates: index groups by the same dates as ic"
        )
    rows = {}
    for factor in _factors(ic, h):
        values = _column(ic, factor, h)
        for label, members in values.groupby(labels.to_numpy(), sort=True):
            mean, _, t = newey_west_tstat(members.to_numpy(), lags)
            rows[(factor, label)] = {
                "mean": mean,
                "n_dates": int(members.notna().sum()),
                "nw_lags": lags,
                "nw_t_stat": t,
                "p_value": normal_p(t),
            }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(list(rows), names=["factor", "group"])
    return table.join(adjusted_p_values(table["p_value"]))


def rolling_ic(
    ic: pd.DataFrame, factor: str, horizon: int, window: int = 12, min_periods: int | None = None
) -> pd.Series:
    """The mean IC over the last ``window`` replay dates, at every date.

    The mean of the ICs present among the ``window`` dates ending at each date;
    NaN when fewer than ``min_periods`` (default ``window``) are present (so at
    the start, and at the end where the longer horizons have no return yet).

    Args:
        ic: the output of :func:`~technic_nb.research.evaluation.information_coefficient`.
        factor: the factor.
        horizon: the horizon.
        window: the window in replay dates (>= 1).
        min_periods: the fewest ICs for a value (1..window).
    """
    size = check_int("window", window, 1)
    least = size if min_periods is None else check_int("min_periods", min_periods, 1)
    if least > size:
        raise ValueError(f"min_periods={least} is invalid: pass at most window={size}")
    values = _column(ic, factor, horizon)
    out = values.rolling(size, min_periods=least).mean()
    return out.rename(f"{factor} {horizon}d IC, {size}-date mean")


def ic_decay(
    ic: pd.DataFrame,
    factor: str,
    spacing_bars: float | None = None,
    hac_lags: int | None = None,
) -> pd.DataFrame:
    """The mean IC of one factor at each horizon of ``ic``: how fast the signal decays.

    One row per horizon (ascending): ``mean``, ``n_dates``, ``nw_lags``
    (``overlap_lags`` of that horizon unless ``hac_lags``), ``nw_t_stat``,
    ``p_value`` and ``p_holm`` / ``p_bh`` adjusted over the horizons listed (the
    rows of :func:`~technic_nb.research.evaluation.ic_summary`).

    Args:
        ic: the output of :func:`~technic_nb.research.evaluation.information_coefficient`.
        factor: the factor.
        spacing_bars: bars between consecutive replay dates; default estimated
            from the IC's dates by :func:`replay_spacing` (weekdays).
        hac_lags: one Newey-West lag count for every horizon.
    """
    if not isinstance(ic.columns, pd.MultiIndex) or factor not in ic.columns.get_level_values(0):
        raise ValueError(f"ic has no column of the factor {factor!r}: pass it in factors")
    mine = ic.loc[:, [c for c in ic.columns if c[0] == factor]]
    summary = ic_summary(mine, spacing_bars, hac_lags).loc[factor].sort_index()
    summary = summary.rename(columns={"nw_p_value": "p_value"})
    return summary[["mean", "n_dates", "nw_lags", "nw_t_stat", "p_value", "p_holm", "p_bh"]]


def replay_regimes(dates: Iterable[Any], benchmark: pd.Series) -> pd.DataFrame:
    """The market regime at each date, from the benchmark's closes up to that date.

    :func:`technic_nb.core.regime.market_regime` of the closes dated on or before
    each date (the date's own close included, as a scan as of that date sees it;
    nothing after it): ``label`` (``"up/normal"``...), ``trend``, ``volatility``
    and the numbers behind them (``bars``, ``close``, ``sma50``, ``sma200``,
    ``vol20_pct``, ``vol60_pct``, ``vol_ratio``).  Too few closes give ``"unknown"``.

    Args:
        dates: the replay dates.
        benchmark: the benchmark's closes indexed by date.

    Returns:
        A DataFrame indexed by date (``date``, ascending, each date once).
    """
    if not isinstance(benchmark, pd.Series) or not isinstance(benchmark.index, pd.DatetimeIndex):
        raise ValueError(
            "benchmark must be a Series of closes indexed by date: the replay has no "
            "benchmark; set config.benchmark (e.g. 'SPY') and replay again"
        )
    closes = benchmark.sort_index()
    days = pd.DatetimeIndex(sorted({pd.Timestamp(d) for d in dates}), name="date")
    ends = np.searchsorted(closes.index.to_numpy(), days.to_numpy(), side="right")
    rows = [market_regime(closes.iloc[:end]).as_dict() for end in ends]
    frame = pd.DataFrame(rows, index=days)
    first = ["label", "trend", "volatility"]
    return frame[[*first, *(c for c in frame.columns if c not in first)]]
