"""The statistics of per-period portfolio returns: :func:`performance_summary`.

One row per return series, over its periods with a value (pure: no I/O).

``cumulative = prod(1 + x) - 1``; ``annual_return = (1 + cumulative)^(P / n) - 1``
with ``P = 252 / spacing_bars`` periods a year and ``n`` periods; ``annual_vol =
std(x, ddof=1) * sqrt(P)``; ``sharpe = mean(x) / std(x) * sqrt(P)`` (a zero risk-free
rate; for an excess row it is the information ratio); ``max_drawdown`` the worst fall
of ``prod(1 + x)`` from its running peak (the start, 1, counts as a peak);
``hit_rate`` the share of periods with ``x > 0``; ``mean_turnover`` (portfolio rows);
``mean`` per period, its Newey-West ``nw_t_stat`` (``hac_lags`` lags, default 0: the
holding periods do not overlap), the normal two-sided ``p_value``, and ``p_holm`` and
``p_bh`` over every row of the table (:func:`adjusted_p_values`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from technic_nb.research.evaluation.stats import adjusted_p_values, newey_west_tstat, normal_p

__all__ = ["SUMMARY_COLUMNS", "performance_summary"]

#: The columns of the summaries (:func:`performance_summary`).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "periods",
    "cumulative",
    "annual_return",
    "annual_vol",
    "sharpe",
    "max_drawdown",
    "hit_rate",
    "mean_turnover",
    "mean",
    "nw_t_stat",
    "p_value",
    "p_holm",
    "p_bh",
)


def performance_summary(
    series: dict[str, pd.Series],
    periods_per_year: float,
    hac_lags: int = 0,
    turnover: dict[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """The statistics of several per-period return series (see the module's Summary).

    Args:
        series: name -> returns per period (fractions; NaN periods are left out).
        periods_per_year: ``P``, e.g. ``252 / spacing_bars``.
        hac_lags: the Newey-West lags of ``nw_t_stat``.
        turnover: name -> one-sided turnover per period, for ``mean_turnover``.

    Returns:
        One row per series (in the given order), the columns :data:`SUMMARY_COLUMNS`;
        ``p_holm`` and ``p_bh`` adjust the p-values of every row together.
    """
    rows = {}
    for name, values in series.items():
        x = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=np.float64)
        n = len(x)
        equity = np.cumprod(1.0 + x)
        peak = np.maximum.accumulate(np.r_[1.0, equity])[1:]
        std = float(x.std(ddof=1)) if n > 1 else math.nan
        mean, _, t = newey_west_tstat(x, hac_lags)
        cumulative = float(equity[-1] - 1.0) if n else math.nan
        moved = turnover.get(name) if turnover else None
        rows[name] = {
            "periods": n,
            "cumulative": cumulative,
            "annual_return": (
                (1.0 + cumulative) ** (periods_per_year / n) - 1.0
                if n and cumulative > -1.0
                else math.nan
            ),
            "annual_vol": std * math.sqrt(periods_per_year),
            "sharpe": mean / std * math.sqrt(periods_per_year) if std > 0 else math.nan,
            "max_drawdown": float((equity / peak - 1.0).min()) if n else math.nan,
            "hit_rate": float((x > 0).mean()) if n else math.nan,
            "mean_turnover": float(moved.mean()) if moved is not None else math.nan,
            "mean": mean,
            "nw_t_stat": t,
            "p_value": normal_p(t),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out = out.join(adjusted_p_values(out["p_value"])) if len(out) else out
    return out.reindex(columns=list(SUMMARY_COLUMNS))
