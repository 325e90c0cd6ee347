"""The information coefficient of replayed scans: per-date rank correlations and their summary.

:func:`information_coefficient`, :func:`ic_counts` and :func:`ic_summary`.  Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from technic_nb.core.scoring import SUBSCORES
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
    status_horizons,
)
from technic_nb.research.evaluation.stats import (
    adjusted_p_values,
    newey_west_tstat,
    normal_p,
    overlap_lags,
    resolve_spacing,
)

__all__ = ["FACTORS", "ic_counts", "ic_summary", "information_coefficient"]

#: The factors evaluated by default: the TechRating and the six subscores.
FACTORS: tuple[str, ...] = ("tech_rating", *SUBSCORES)


def information_coefficient(
    panel: pd.DataFrame,
    returns: pd.DataFrame,
    factors: Iterable[str] = FACTORS,
    horizons: Iterable[int] | None = None,
    column: str = "fwd",
    min_obs: int = 5,
) -> pd.DataFrame:
    """The Spearman rank IC of each factor with each forward return, per date.

    Per date, the pairs where the factor or the return is NaN are left out; the
    others are ranked (average ranks for ties) and the IC is the Pearson
    correlation of the ranks, exactly ``scipy.stats.spearmanr`` of those pairs.
    A date with fewer than ``min_obs`` pairs, or whose factor or returns are all
    equal, gives NaN.  :func:`ic_counts` gives the number of pairs.

    Args:
        panel: the replay panel.
        returns: :func:`forward_returns` of the panel (indexed like it).
        factors: panel columns to evaluate (a single name is accepted).
        horizons: horizons to use; default every ``{column}_{h}d`` in ``returns``.
        column: ``"fwd"`` (raw returns) or ``"excess"`` (minus the benchmark).
        min_obs: fewest usable pairs for an IC.

    Returns:
        A DataFrame indexed by date (every panel date), columns MultiIndex
        ``(factor, horizon)``.
    """
    minimum = check_int("min_obs", min_obs, 2)
    ic, counts = _ic_frames(panel, returns, factors, horizons, column)
    return ic.where(counts >= minimum)


def ic_counts(
    panel: pd.DataFrame,
    returns: pd.DataFrame,
    factors: Iterable[str] = FACTORS,
    horizons: Iterable[int] | None = None,
    column: str = "fwd",
) -> pd.DataFrame:
    """The number of usable (factor, return) pairs behind each IC, per date.

    Same arguments, index and columns as :func:`information_coefficient`; integer counts.
    """
    return _ic_frames(panel, returns, factors, horizons, column)[1]


def _ic_frames(
    panel: pd.DataFrame,
    returns: pd.DataFrame,
    factors: Iterable[str],
    horizons: Iterable[int] | None,
    column: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    index = panel_index(panel)
    returns = aligned(panel, returns)
    names = [factors] if isinstance(factors, str) else list(factors)
    require(panel, names, "panel")
    steps = check_horizons(horizons) if horizons is not None else status_horizons(returns, column)
    codes, dates = date_codes(index)
    ics: dict[tuple[str, int], np.ndarray] = {}
    counts: dict[tuple[str, int], np.ndarray] = {}
    for name in names:
        x = numeric(panel, name)
        for h in steps:
            y = return_column(returns, column, h)
            ics[(name, h)], counts[(name, h)] = _grouped_spearman(x, y, codes, len(dates))
    columns = pd.MultiIndex.from_tuples(list(ics), names=["factor", "horizon"])
    ic = pd.DataFrame(np.column_stack(list(ics.values())), index=dates, columns=columns)
    n = pd.DataFrame(np.column_stack(list(counts.values())), index=dates, columns=columns)
    return ic, n


def _grouped_spearman(
    x: np.ndarray, y: np.ndarray, codes: np.ndarray, groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spearman correlation and pair count per code, over the pairs where both are finite."""
    usable = np.isfinite(x) & np.isfinite(y)
    codes = codes[usable]
    count = np.bincount(codes, minlength=groups)
    if not len(codes):
        return np.full(groups, np.nan), count
    rx = grouped_ranks(x[usable], codes)
    ry = grouped_ranks(y[usable], codes)
    size = np.maximum(count, 1)
    dx = rx - (np.bincount(codes, rx, groups) / size)[codes]
    dy = ry - (np.bincount(codes, ry, groups) / size)[codes]
    sxy = np.bincount(codes, dx * dy, groups)
    sxx = np.bincount(codes, dx * dx, groups)
    syy = np.bincount(codes, dy * dy, groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        ic = sxy / np.sqrt(sxx * syy)
    return ic, count  # 0 / 0 = NaN for a flat factor or flat returns


def ic_summary(
    ic: pd.DataFrame, spacing_bars: float | None = None, hac_lags: int | None = None
) -> pd.DataFrame:
    """One row of IC statistics per (factor, horizon).

    Columns: ``mean``, ``std`` (ddof 1), ``ir`` (``mean / std``), ``positive_share``
    (share of dates with IC > 0), ``n_dates`` (dates with an IC), ``t_stat``
    (plain iid: ``mean / (std / sqrt(n))``), ``nw_lags`` (``hac_lags``, by default
    :func:`overlap_lags` of the horizon), ``nw_t_stat`` (:func:`newey_west_tstat`), ``nw_p_value``
    (two-sided, normal distribution, as statsmodels reports for HAC), and
    ``p_holm`` and ``p_bh``: that p-value adjusted for every test of the table
    (:func:`adjusted_p_values`).  Call a factor significant on the adjusted
    p-values: with 7 factors at 3 horizons, about one of 21 unadjusted p-values
    falls under 0.05 by chance alone.

    Args:
        ic: the output of :func:`information_coefficient`.
        spacing_bars: bars between consecutive replay dates; default estimated
            from the IC's dates by :func:`replay_spacing` (weekdays).
        hac_lags: the Newey-West (Bartlett) lags of every row; None (the default)
            uses ``overlap_lags(horizon, spacing_bars)`` for each horizon, the lags
            matching its overlapping windows.  See
            :func:`~technic_nb.research.evaluation.ic_lag_sensitivity` for how the
            t-statistic moves with the lags.
    """
    fixed = None if hac_lags is None else check_int("hac_lags", hac_lags, 0)
    if not isinstance(ic.columns, pd.MultiIndex) or ic.columns.nlevels != 2:
        raise ValueError(
            "ic must have (factor, horizon) MultiIndex columns: pass the output of "
            "information_coefficient"
        )
    spacing = resolve_spacing(ic.index, spacing_bars)
    rows = {}
    for factor, horizon in ic.columns:
        values = pd.to_numeric(ic[(factor, horizon)], errors="coerce").dropna()
        lags = overlap_lags(int(horizon), spacing) if fixed is None else fixed
        rows[(factor, horizon)] = _ic_row(values, lags)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(list(rows), names=["factor", "horizon"])
    return table.join(adjusted_p_values(table["nw_p_value"]))


def _ic_row(values: pd.Series, lags: int) -> dict[str, float]:
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    std = float(values.std(ddof=1)) if n > 1 else math.nan
    ok = n > 1 and std > 0
    _, _, nw_t = newey_west_tstat(values.to_numpy(), lags)
    return {
        "mean": mean,
        "std": std,
        "ir": mean / std if ok else math.nan,
        "positive_share": float((values > 0).mean()) if n else math.nan,
        "n_dates": n,
        "t_stat": mean / (std / math.sqrt(n)) if ok else math.nan,
        "nw_lags": lags,
        "nw_t_stat": nw_t,
        "nw_p_value": normal_p(nw_t),
    }
