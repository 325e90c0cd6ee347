"""Newey-West statistics of overlapping forward windows, and the spacing of replay dates.

:func:`newey_west_tstat`, :func:`overlap_lags`, :func:`replay_spacing` and the helpers
that the IC and quantile reports share.  Pure: no I/O (statsmodels and scipy are
imported when first needed).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.research.evaluation.common import check_int, check_spacing, to_ns

__all__ = [
    "adjusted_p_values",
    "newey_west_tstat",
    "normal_p",
    "overlap_lags",
    "replay_spacing",
    "resolve_spacing",
]


def overlap_lags(horizon: int, spacing_bars: float) -> int:
    """The Newey-West lags matching overlapping forward windows.

    Consecutive replay dates ``spacing_bars`` apart with ``horizon``-bar returns
    share windows with the next ``ceil(horizon / spacing) - 1`` dates, so that is
    the number of lags: ``max(0, ceil(horizon / spacing_bars) - 1)``.

    Args:
        horizon: the forward-return horizon in bars.
        spacing_bars: the (median) number of bars between consecutive replay dates.
    """
    h = check_int("horizon", horizon, 1)
    spacing = check_spacing(spacing_bars)
    return max(0, math.ceil(h / spacing) - 1)


def replay_spacing(dates: Iterable[Any], calendar: Iterable[Any] | None = None) -> float:
    """The median number of trading bars between consecutive replay dates.

    Args:
        dates: the replay dates (duplicates are ignored, order does not matter).
        calendar: the trading dates (e.g. the benchmark's index); bars after one
            replay date up to and including the next are counted.  Without it,
            weekdays are counted (holidays make that an overestimate by a bar or so).

    Raises:
        ValueError: fewer than two distinct dates.
    """
    days = np.unique(to_ns(list(dates), "dates"))
    if len(days) < 2:
        raise ValueError(
            f"replay_spacing needs at least two distinct dates, got {len(days)}: "
            "pass spacing_bars yourself"
        )
    if calendar is None:
        as_days = days.view("datetime64[ns]").astype("datetime64[D]")
        steps = np.busday_count(as_days[:-1], as_days[1:])
    else:
        trading = np.unique(to_ns(list(calendar), "calendar"))
        steps = np.diff(np.searchsorted(trading, days, side="right"))
    return float(np.median(steps))


def resolve_spacing(dates: pd.Index, spacing_bars: float | None) -> float:
    """``spacing_bars`` checked, or estimated from ``dates`` (weekdays; 1 for a single date)."""
    if spacing_bars is not None:
        return check_spacing(spacing_bars)
    distinct = pd.Index(dates).dropna().unique()
    if len(distinct) < 2:
        return 1.0  # a single date: nothing overlaps
    return max(replay_spacing(distinct), 1.0)


def newey_west_tstat(series: Iterable[float], lags: int) -> tuple[float, float, float]:
    """The mean of a series with its Newey-West standard error and t-statistic.

    An OLS of the series on a constant with statsmodels'
    ``cov_type="HAC"``, the Bartlett kernel and ``maxlags=lags``.  The small-sample
    correction ``n / (n - 1)`` is used (``use_correction=True``), so with
    ``lags=0`` the t-statistic equals the plain iid one, ``mean / (std(ddof=1) /
    sqrt(n))``.  In formulas, with ``e_t = x_t - mean`` and
    ``g_j = sum_t e_t e_{t-j} / n``::

        se^2 = (g_0 + 2 sum_{j=1..L} (1 - j / (L + 1)) g_j) / (n - 1)

    NaN values are dropped first (the remaining values are treated as
    consecutive).

    Args:
        series: the values (e.g. the IC per date).
        lags: the Bartlett lags ``L`` (see :func:`overlap_lags`).

    Returns:
        ``(mean, se, t)``; ``se`` and ``t`` are NaN with fewer than two values,
        and ``t`` is NaN when ``se`` is 0.
    """
    lag = check_int("lags", lags, 0)
    if isinstance(series, pd.Series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = np.asarray(series if isinstance(series, np.ndarray) else list(series), dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan, math.nan
    if np.ptp(values) == 0:
        return mean, 0.0, math.nan
    from statsmodels.regression.linear_model import OLS

    fit = OLS(values, np.ones((len(values), 1))).fit(
        cov_type="HAC", cov_kwds={"maxlags": lag, "kernel": "bartlett", "use_correction": True}
    )
    se = float(np.sqrt(fit.cov_params()[0, 0]))
    t = mean / se if se > 0 else math.nan
    return mean, se, t


def normal_p(t: float) -> float:
    """The two-sided p-value of ``t`` under the standard normal (NaN for a NaN ``t``)."""
    from scipy.stats import norm

    return float(2.0 * norm.sf(abs(t))) if math.isfinite(t) else math.nan


def adjusted_p_values(p_values: pd.Series) -> pd.DataFrame:
    """Holm and Benjamini-Hochberg adjustments of several tests listed together.

    ``p_holm`` controls the family-wise error rate (the chance of any false
    positive), ``p_bh`` the false discovery rate; both from statsmodels'
    ``multipletests`` over the p-values that are known (Holm's step-down is computed
    here, equal to ``multipletests(method="holm")``: that one runs a full garbage
    collection on every call, 0.1 s with a replay in memory).  A NaN p-value (a test
    that could not be run) stays NaN and does not count as a test.

    Returns:
        A frame with the index of ``p_values`` and the columns ``p_holm`` and ``p_bh``.
    """
    from statsmodels.stats.multitest import multipletests

    values = pd.to_numeric(p_values, errors="coerce")
    out = pd.DataFrame({"p_holm": np.nan, "p_bh": np.nan}, index=values.index)
    known = values.notna().to_numpy()
    if known.any():
        tested = values.to_numpy()[known]
        out.loc[known, "p_holm"] = _holm(tested)
        out.loc[known, "p_bh"] = multipletests(tested, method="fdr_bh")[1]
    return out


def _holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment: the i-th smallest of n p-values times ``n - i``
    (i from 0), made non-decreasing in that order and capped at 1."""
    order = np.argsort(p_values, kind="stable")
    n = len(p_values)
    stepped = np.maximum.accumulate(p_values[order] * np.arange(n, 0, -1))
    out = np.empty(n)
    out[order] = np.minimum(stepped, 1.0)
    return out
