"""Research statistics of replayed scans: do the ratings predict anything?

Pure: pandas, numpy, scipy and statsmodels, and the scan's own bar checks
(:mod:`technic_nb.core.bars`); no I/O and no widgets.  The
functions read a *panel* (the scan run at many past dates) and the bars of its
symbols, and answer "did a higher rating come before a higher return?".

Inputs
------
``panel``
    DataFrame with a MultiIndex ``(date, symbol)`` (tz-naive midnight dates,
    string symbols), one row per symbol scanned at that date.  Columns used:
    ``tech_rating``, the subscores (:data:`~technic_nb.core.scoring.SUBSCORES`),
    ``signal``, ``rank`` (1 = best), ``entry``, ``stop``, ``target``,
    ``direction`` (+1 long, -1 short, 0 none) and, when present, ``last_date``.
``bars``
    ``Mapping[str, DataFrame]``: each symbol's own daily bars, a DatetimeIndex
    ascending without duplicates and float columns ``open, high, low, close``
    and ``volume`` (read only to find bad bars), the whole history including
    dates after the scan dates.
``benchmark``
    Optional Series of benchmark closes indexed by date (SPY).

Anchor
------
The *anchor* of a row is the symbol's last bar on or before its ``last_date``
(when the panel has that column and the value is not missing) or else on or
before the scan date.  For a panel made from the same bars both give the same
bar; ``last_date`` only matters when the scan saw staler data than ``bars``.

Forward returns (:func:`forward_returns`)
------------------------------------------
Close to close over ``h`` of the symbol's own bars (fractions, not percent)::

    fwd_{h}d    = close[anchor + h] / close[anchor] - 1
    excess_{h}d = fwd_{h}d - (B(end) / B(anchor date) - 1)

where ``B(t)`` is the benchmark close on or before ``t`` and ``end`` is the date
of the bar the return ends on.  ``status_{h}d`` says what happened:

=============  ==========================================================================
status         meaning
=============  ==========================================================================
``ok``         ``h`` bars follow the anchor
``delisted``   fewer than ``h`` bars follow and the symbol's last bar is before the
               dataset's last date: the return runs to the symbol's last bar and is kept
               (0 when the anchor is the last bar)
``no_future``  fewer than ``h`` bars follow because the data ends: NaN
``no_bars``    no bar on or before the date, or a symbol without bars: NaN
``bad_bar``    a bad bar (below) lies between the anchor bar and the bar the return ends
               on (the symbol's last bar when fewer than ``h`` bars follow), both
               included: NaN, whatever the other statuses would say
=============  ==========================================================================

Every input row is in the output, in the input order.

Bad bars
--------
A *bad bar* is a bar that the scan's own bar checks reject
(:func:`technic_nb.core.bars.rejected_rows`): a missing or non-positive price, a
negative volume, ``high < low``, an open or close outside ``[low, high]``, or an
isolated price or volume outlier (:mod:`technic_nb.core.outliers`, such as a close
shifted by a decimal).  A scan whose window holds one fails for that symbol (an
outlier once a bar follows it in the window), so no forward return or trade walk
crosses one either: they get the status or outcome ``bad_bar`` and no number.  The
bad bars are found once per symbol over its whole history
(:func:`~technic_nb.research.evaluation.common.find_bad_bars`; pass the result as
``bad_bars=`` to check each history once for several calls).  Bars missing ``open``,
``high`` or ``low`` are checked with the close in their place, and bars without
``volume`` without the volume checks.

Statistics
----------
* :func:`information_coefficient` - the Spearman rank correlation of a factor
  with the forward return, per date, over the rows where both are finite.
* :func:`newey_west_tstat` - the mean of a series with a Newey-West (Bartlett)
  standard error; :func:`overlap_lags` - the lags matching overlapping windows.
* :func:`ic_summary`, :func:`quantile_returns`, :func:`signal_stats`.
* :func:`walk_trade_plans` and :func:`r_summary` - the scan's trade plans
  walked bar by bar (rules in :mod:`~technic_nb.research.evaluation.trades`).
* :func:`evaluate_plans` - the plans of the top long signals against the same
  plans on every stock, the bottom and random stocks, after costs, per date
  (:mod:`~technic_nb.research.evaluation.plans`).
* :func:`top_turnover`, :func:`diff_tables` - how the list changes.
* :func:`portfolio_report`, :func:`quantile_portfolios` - top-N and quantile
  portfolios rebalanced at each replay date, after costs, against the benchmark
  and the equal-weighted universe (:mod:`~technic_nb.research.evaluation.portfolios`,
  holding rule in :mod:`~technic_nb.research.evaluation.holdings`).
* :func:`survivorship_drift` - the universe's drift over the benchmark
  (:mod:`~technic_nb.research.evaluation.survivorship`).
* :func:`to_alphalens` - the panel in alphalens' ``factor_data`` format.
* :func:`ic_lag_sensitivity`, :func:`hansen_hodrick_tstat`, :func:`ic_by_group`,
  :func:`rolling_ic`, :func:`ic_decay`, :func:`replay_regimes` - the stability of
  the IC (:mod:`~technic_nb.research.evaluation.stability`).
* :func:`weight_grid`, :func:`rescored_ratings`, :func:`weighting_objectives` - many
  weightings of the TechRating re-scored at once and their per-date IC or top-N
  excess (:mod:`~technic_nb.research.evaluation.rescoring`).
* :func:`sweep_weightings`, :func:`walk_forward_weightings`, :func:`walk_forward_folds`,
  :func:`purged_training` - choosing on training dates, testing on others, purged of
  overlapping forward windows (:mod:`~technic_nb.research.evaluation.out_of_sample`).
* :func:`deflated_sharpe`, :func:`expected_max_sharpe`, :func:`deflated_sharpe_ratio` -
  the selection bias of the best of many trials
  (:mod:`~technic_nb.research.evaluation.deflated`).

Quantiles (ties)
----------------
Quantile labels are computed per date from *average* ranks ``r`` (1 = lowest
factor) over the ``n`` usable rows: ``label = max(1, ceil((r - 1) * q / (n - 1)))``.
For distinct values this is exactly what ``pandas.qcut(x, q, labels=False) + 1``
(and so ``alphalens.utils.quantize_factor``) gives; tied values always share a
label (``qcut`` raises on most ties).  A date with a single usable row has no
label.

Modules
-------
This module re-exports the functions of its private parts:
:mod:`~technic_nb.research.evaluation.returns` (forward returns),
:mod:`~technic_nb.research.evaluation.ic` (information coefficient),
:mod:`~technic_nb.research.evaluation.stats` (Newey-West, replay spacing),
:mod:`~technic_nb.research.evaluation.groups` (quantiles, signals, alphalens),
:mod:`~technic_nb.research.evaluation.trades` (trade plans),
:mod:`~technic_nb.research.evaluation.lists`
(turnover, diffs) and :mod:`~technic_nb.research.evaluation.common` (shared checks).
"""

from __future__ import annotations

from technic_nb.research.evaluation.baselines import (
    BASELINES,
    baseline_scores,
    compare_baselines,
    top_by_date,
    trailing_dollar_volume,
)
from technic_nb.research.evaluation.common import find_bad_bars
from technic_nb.research.evaluation.deflated import (
    DeflatedSharpe,
    deflated_sharpe,
    deflated_sharpe_ratio,
    expected_max_sharpe,
)
from technic_nb.research.evaluation.groups import (
    QuantileReport,
    quantile_returns,
    signal_stats,
    to_alphalens,
)
from technic_nb.research.evaluation.holdings import (
    HOLDING_STATUSES,
    benchmark_period_returns,
    holding_returns,
    universe_returns,
)
from technic_nb.research.evaluation.ic import (
    FACTORS,
    ic_counts,
    ic_summary,
    information_coefficient,
)
from technic_nb.research.evaluation.lists import diff_tables, top_turnover
from technic_nb.research.evaluation.neutral import (
    ResidualIC,
    residual_ic,
    residual_ic_summary,
    sector_ic,
    sector_quantile_returns,
)
from technic_nb.research.evaluation.out_of_sample import (
    SweepResult,
    WalkForwardResult,
    purged_training,
    sweep_weightings,
    walk_forward_folds,
    walk_forward_weightings,
    window_ends,
)
from technic_nb.research.evaluation.performance import performance_summary
from technic_nb.research.evaluation.plans import PLAN_GROUPS, PlanEvaluation, evaluate_plans
from technic_nb.research.evaluation.portfolios import (
    PortfolioReport,
    portfolio_report,
    quantile_portfolios,
)
from technic_nb.research.evaluation.rescoring import (
    rescored_ratings,
    weight_grid,
    weighting_objectives,
)
from technic_nb.research.evaluation.returns import (
    HORIZONS,
    STATUSES,
    dropped_summary,
    forward_returns,
)
from technic_nb.research.evaluation.stability import (
    NEGATIVE_VARIANCE,
    hansen_hodrick_tstat,
    ic_by_group,
    ic_decay,
    ic_lag_sensitivity,
    replay_regimes,
    rolling_ic,
)
from technic_nb.research.evaluation.stats import (
    adjusted_p_values,
    newey_west_tstat,
    overlap_lags,
    replay_spacing,
)
from technic_nb.research.evaluation.survivorship import SurvivorshipReport, survivorship_drift
from technic_nb.research.evaluation.trades import (
    OUTCOMES,
    TRADE_COLUMNS,
    r_summary,
    walk_trade_plans,
)

__all__ = [
    "BASELINES",
    "FACTORS",
    "HOLDING_STATUSES",
    "HORIZONS",
    "NEGATIVE_VARIANCE",
    "OUTCOMES",
    "PLAN_GROUPS",
    "STATUSES",
    "TRADE_COLUMNS",
    "DeflatedSharpe",
    "PlanEvaluation",
    "PortfolioReport",
    "QuantileReport",
    "ResidualIC",
    "SurvivorshipReport",
    "SweepResult",
    "WalkForwardResult",
    "adjusted_p_values",
    "baseline_scores",
    "benchmark_period_returns",
    "compare_baselines",
    "deflated_sharpe",
    "deflated_sharpe_ratio",
    "diff_tables",
    "dropped_summary",
    "evaluate_plans",
    "expected_max_sharpe",
    "find_bad_bars",
    "forward_returns",
    "hansen_hodrick_tstat",
    "holding_returns",
    "ic_by_group",
    "ic_counts",
    "ic_decay",
    "ic_lag_sensitivity",
    "ic_summary",
    "information_coefficient",
    "newey_west_tstat",
    "overlap_lags",
    "performance_summary",
    "portfolio_report",
    "purged_training",
    "quantile_portfolios",
    "quantile_returns",
    "r_summary",
    "replay_regimes",
    "replay_spacing",
    "rescored_ratings",
    "residual_ic",
    "residual_ic_summary",
    "rolling_ic",
    "sector_ic",
    "sector_quantile_returns",
    "signal_stats",
    "survivorship_drift",
    "sweep_weightings",
    "to_alphalens",
    "top_by_date",
    "top_turnover",
    "trailing_dollar_volume",
    "universe_returns",
    "walk_forward_folds",
    "walk_forward_weightings",
    "walk_trade_plans",
    "weight_grid",
    "weighting_objectives",
    "window_ends",
]
