"""Neutralised views of a factor: within sectors, and net of other exposures.

A rating can predict returns only because it leans on a sector that did well, or on
last month's return.  Two views take those out:

Sector-neutral IC (:func:`sector_ic`)
    Per date and sector, the Spearman IC of the factor with the forward return over
    the rows where both are finite (exactly ``scipy.stats.spearmanr``).  Sectors with
    fewer than ``min_obs`` pairs that date, or a flat factor or return, are left out;
    the date's IC is the average of the others weighted by their number of pairs::

        IC(d) = sum_s n(d, s) IC(d, s) / sum_s n(d, s)

    NaN when no sector qualifies.  Rows without a sector count nowhere.
    :func:`sector_quantile_returns` forms the quantiles within each sector and date
    (the labels of :func:`~technic_nb.research.evaluation.quantile_returns`), then
    averages the forward returns of each quantile over every sector of the date.

Residual IC (:func:`residual_ic`)
    Per date, over the rows where the factor and every exposure are finite: each is
    replaced by its rank scaled to ``[0, 1]`` (``(r - 1) / (n - 1)``, average ranks
    for ties); the factor's scaled rank is regressed on the exposures' with OLS and a
    constant (``numpy.linalg.lstsq``); the residual is what the factor says beyond
    the exposures, and its Spearman IC with the forward return is the residual IC.
    Also per date: the regression's ``R^2`` and the Spearman correlation of the factor
    with each exposure.  When the factor is (numerically) a linear function of the
    exposures' ranks (``R^2 > 1 - 1e-9``) the residual is set to 0, so the residual IC
    is NaN (a flat variable has no rank correlation), never noise.  Dates with fewer
    than ``max(min_obs, len(exposures) + 2)`` rows give NaN.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

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
from technic_nb.research.evaluation.groups import (
    QuantileReport,
    _quantile_labels,
    _quantile_report,
)
from technic_nb.research.evaluation.ic import FACTORS, _grouped_spearman, ic_summary
from technic_nb.research.evaluation.stats import resolve_spacing

__all__ = [
    "ResidualIC",
    "residual_ic",
    "residual_ic_summary",
    "sector_ic",
    "sector_quantile_returns",
]

#: R^2 above ``1 - _EXACT`` counts as an exact fit (the residual is set to 0).
_EXACT = 1e-9


def sector_ic(
    panel: pd.DataFrame,
    returns: pd.DataFrame,
    factors: Iterable[str] = FACTORS,
    horizons: Iterable[int] | None = None,
    column: str = "fwd",
    sector: str = "sector",
    min_obs: int = 5,
) -> pd.DataFrame:
    """The sector-neutral Spearman IC per date (rule in the module docstring).

    Args:
        panel: the replay panel (the factor columns and ``sector``).
        returns: :func:`forward_returns` of the panel.
        factors: panel columns (a single name is accepted).
        horizons: default every ``{column}_{h}d`` of ``returns``.
        column: ``"fwd"`` or ``"excess"``.
        sector: the column naming each row's sector.
        min_obs: fewest pairs for a sector to count at a date (>= 2).

    Returns:
        Like :func:`~technic_nb.research.evaluation.information_coefficient`: indexed
        by date, ``(factor, horizon)`` columns.
    """
    minimum = check_int("min_obs", min_obs, 2)
    index = panel_index(panel)
    returns = aligned(panel, returns)
    names = [factors] if isinstance(factors, str) else list(factors)
    require(panel, [*names, sector], "panel")
    steps = check_horizons(horizons) if horizons is not None else status_horizons(returns, column)
    codes, dates = date_codes(index)
    sectors, labels = pd.factorize(panel[sector].astype(object))
    has = sectors >= 0
    n_sectors = max(len(labels), 1)
    groups = (codes * n_sectors + sectors)[has]
    n_groups = len(dates) * n_sectors
    owner = np.arange(n_groups) // n_sectors
    out: dict[tuple[str, int], np.ndarray] = {}
    for name in names:
        x = numeric(panel, name)[has]
        for h in steps:
            y = return_column(returns, column, h)[has]
            ic, count = _grouped_spearman(x, y, groups, n_groups)
            used = (count >= minimum) & np.isfinite(ic)
            weight = np.bincount(owner[used], count[used], len(dates))
            total = np.bincount(owner[used], (count * ic)[used], len(dates))
            with np.errstate(divide="ignore", invalid="ignore"):
                out[(name, h)] = np.where(weight > 0, total / weight, np.nan)
    columns = pd.MultiIndex.from_tuples(list(out), names=["factor", "horizon"])
    values = np.column_stack(list(out.values())) if out else np.empty((len(dates), 0))
    return pd.DataFrame(values, index=dates, columns=columns)


def sector_quantile_returns(
    panel: pd.DataFrame,
    returns: pd.DataFrame,
    factor: str = "tech_rating",
    horizon: int = 21,
    quantiles: int = 5,
    column: str = "fwd",
    sector: str = "sector",
    min_obs: int | None = None,
    spacing_bars: float | None = None,
) -> QuantileReport:
    """Mean forward return per factor quantile formed within each sector and date.

    Per date and sector, the rows with a finite factor and return get quantile labels
    ``1..q`` (1 = lowest; ties share a label) when the sector has at least ``min_obs``
    of them (default ``quantiles``; sectors with fewer are left out that date); the
    mean return of quantile ``k`` at a date is over every labelled row of every
    sector.  The spread, its Newey-West t and the cumulative return are those of
    :func:`~technic_nb.research.evaluation.quantile_returns`.
    """
    q = check_int("quantiles", quantiles, 2)
    h = check_int("horizon", horizon, 1)
    minimum = q if min_obs is None else check_int("min_obs", min_obs, 2)
    index = panel_index(panel)
    returns = aligned(panel, returns)
    require(panel, [factor, sector], "panel")
    x, y = numeric(panel, factor), return_column(returns, column, h)
    codes, dates = date_codes(index)
    sectors, labels = pd.factorize(panel[sector].astype(object))
    usable = np.isfinite(x) & np.isfinite(y) & (sectors >= 0)
    groups = codes[usable] * max(len(labels), 1) + sectors[usable]
    _, dense = np.unique(groups, return_inverse=True)
    size = np.bincount(dense)[dense]
    keep = size >= minimum
    quantile = _quantile_labels(x[usable][keep], dense[keep], q)
    frame = pd.DataFrame(
        {"date": dates[codes[usable][keep]], "quantile": quantile, "ret": y[usable][keep]}
    )
    grouped = frame.dropna(subset=["quantile"]).groupby(["date", "quantile"])["ret"]
    columns = pd.Index(range(1, q + 1), name="quantile")
    by_date = grouped.mean().unstack("quantile").reindex(index=dates, columns=columns)
    sizes = grouped.size().unstack("quantile").reindex(index=dates, columns=columns)
    counts = sizes.fillna(0).astype(np.int64)
    spacing = resolve_spacing(dates, spacing_bars)
    return _quantile_report(factor, h, q, column, by_date, counts, spacing)


@dataclass(frozen=True, eq=False)
class ResidualIC:
    """The IC of a factor net of exposures (see :func:`residual_ic`).

    Attributes:
        factor: the factor column.
        exposures: the exposure columns.
        ic: the residual's Spearman IC per date, columns ``(f"{factor}_resid",
            horizon)`` (the shape of ``information_coefficient``, for ``ic_summary``).
        r_squared: per date, the R^2 of the factor's scaled rank on the exposures'.
        exposure_corr: per date (rows) and exposure (columns), the Spearman
            correlation of the factor with the exposure.
        counts: per date, the rows in the regression.
    """

    factor: str
    exposures: tuple[str, ...]
    ic: pd.DataFrame
    r_squared: pd.Series
    exposure_corr: pd.DataFrame
    counts: pd.Series


def residual_ic(
    panel: pd.DataFrame,
    returns: pd.DataFrame,
    factor: str = "tech_rating",
    exposures: Iterable[str] = ("ret_21d_pct", "rvol20_pct"),
    horizons: Iterable[int] | None = None,
    column: str = "fwd",
    min_obs: int = 10,
) -> ResidualIC:
    """The IC of ``factor`` net of ``exposures`` per date (rule in the module docstring).

    Args:
        panel: a frame indexed like the returns with the factor and exposure columns.
        returns: :func:`forward_returns` of the panel.
        factor: the factor column.
        exposures: the columns to take out (at least one; not the factor).
        horizons: default every ``{column}_{h}d`` of ``returns``.
        column: ``"fwd"`` or ``"excess"``.
        min_obs: fewest rows for a date's regression and IC.
    """
    names = [exposures] if isinstance(exposures, str) else list(exposures)
    if not names or factor in names:
        raise ValueError(
            f"exposures={names!r} is invalid: pass at least one column, not the factor itself"
        )
    index = panel_index(panel)
    returns = aligned(panel, returns)
    require(panel, [factor, *names], "panel")
    minimum = max(check_int("min_obs", min_obs, 3), len(names) + 2)
    steps = check_horizons(horizons) if horizons is not None else status_horizons(returns, column)
    codes, dates = date_codes(index)
    x = numeric(panel, factor)
    z = np.column_stack([numeric(panel, n) for n in names])
    usable = np.isfinite(x) & np.isfinite(z).all(axis=1)
    count = np.bincount(codes[usable], minlength=len(dates))
    residual, r2 = _residuals(x, z, codes, usable, count, minimum)
    ic = {}
    for h in steps:
        y = return_column(returns, column, h)
        values, pairs = _grouped_spearman(residual, y, codes, len(dates))
        ic[(f"{factor}_resid", h)] = np.where(pairs >= minimum, values, np.nan)
    corr = {}
    for j, name in enumerate(names):
        values, _ = _grouped_spearman(np.where(usable, x, np.nan), z[:, j], codes, len(dates))
        corr[name] = np.where(count >= minimum, values, np.nan)
    columns = pd.MultiIndex.from_tuples(list(ic), names=["factor", "horizon"])
    return ResidualIC(
        factor=factor,
        exposures=tuple(names),
        ic=pd.DataFrame(np.column_stack(list(ic.values())), index=dates, columns=columns),
        r_squared=pd.Series(r2, index=dates, name="r_squared"),
        exposure_corr=pd.DataFrame(corr, index=dates, columns=names),
        counts=pd.Series(count, index=dates, name="rows"),
    )


def residual_ic_summary(residual: ResidualIC, spacing_bars: float | None = None) -> pd.DataFrame:
    """:func:`~technic_nb.research.evaluation.ic_summary` of the residual IC, with the
    mean ``r_squared`` and the mean correlation of the factor with each exposure
    (``corr_{exposure}``) on every row."""
    table = ic_summary(residual.ic, spacing_bars)
    table["r_squared"] = float(residual.r_squared.mean())
    for name in residual.exposures:
        table[f"corr_{name}"] = float(residual.exposure_corr[name].mean())
    return table


def _scaled_ranks(values: np.ndarray, codes: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Average ranks within each code scaled to ``[0, 1]``."""
    ranks = grouped_ranks(values, codes)
    n = count[codes]
    return np.where(n > 1, (ranks - 1.0) / np.maximum(n - 1, 1), 0.0)


def _residuals(
    x: np.ndarray,
    z: np.ndarray,
    codes: np.ndarray,
    usable: np.ndarray,
    count: np.ndarray,
    minimum: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the OLS residual of the factor's scaled rank on the exposures' (NaN
    outside the regressions); per date, the R^2."""
    residual = np.full(len(x), np.nan)
    r2 = np.full(len(count), np.nan)
    rows = np.flatnonzero(usable)
    c = codes[rows]
    y = _scaled_ranks(x[rows], c, count)
    design = np.column_stack(
        [np.ones(len(rows))] + [_scaled_ranks(z[rows, j], c, count) for j in range(z.shape[1])]
    )
    order = np.argsort(c, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(c, minlength=len(count)))]
    for d in np.flatnonzero(count >= minimum):
        part = order[bounds[d] : bounds[d + 1]]
        target, matrix = y[part], design[part]
        beta = np.linalg.lstsq(matrix, target, rcond=None)[0]
        error = target - matrix @ beta
        total = float(((target - target.mean()) ** 2).sum())
        if total <= 0:
            continue
        r2[d] = 1.0 - float((error**2).sum()) / total
        if r2[d] > 1.0 - _EXACT:
            error = np.zeros_like(error)
        residual[rows[part]] = error
    return residual, r2
