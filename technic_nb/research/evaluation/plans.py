"""Do the trade plans of the best-rated stocks beat the same plans elsewhere?

:func:`evaluate_plans` walks the long plans of the top ``N`` long signals of each
replay date (:func:`~technic_nb.research.evaluation.walk_trade_plans`) against
the same plan rules on three baselines, after costs, with per-date statistics.
Pure: no I/O.

Groups (every one walks long plans made by the same rules,
:func:`~technic_nb.core.scoring.trade_plan`, with the replay's scoring params):

``top``
    The ``top_n`` best-ranked rows of each date whose signal is ``Long`` or
    ``Strong Long`` (so their plan passes): the plans the scan shows.
``all``
    Every ranked row of each date whose long plan passes, whatever its rating.
``bottom``
    The ``top_n`` worst-ranked rows of each date whose long plan passes.
``random``
    Per date, as many rows as ``top`` has there, drawn without replacement from
    the rows whose long plan passes (``numpy.random.default_rng(seed)``, dates in
    order): same dates, same count, no rating.

Costs: ``cost_bps`` per side on the traded price.  A filled trade's net R is
``r_multiple - cost * (fill_price + exit_price) / (entry - stop)`` and its net
return ``exit_price / fill_price - 1 - 2 * cost`` (``cost = cost_bps / 1e4``).

Statistics are per date, never over pooled rows: each date's mean net R (and net
return) over its filled trades, then the mean of those means over the dates
with a trade, with a Newey-West t-statistic of ``hac_lags`` lags (by default
:func:`~technic_nb.research.evaluation.overlap_lags` of ``max_days`` at the
replay's spacing: trades held up to 63 bars overlap the next two month-ends).
``top`` is compared with each baseline by the per-date difference of mean net R
(dates where both traded), with Holm-adjusted p-values over the three tests.

Walk outcomes that carry no R (``no_plan``, ``bad_bar``, ``no_bars``,
``pending``, ``no_fill``) are counted per group in ``dropped``, with the plans
that could not be made.  MAE and MFE are the worst and best excursion against
the fill, in R, from the fill bar to the exit bar (both included; the stop bar's
low counts, so a stopped trade's MAE is at most -1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.scoring import ScoringParams, trade_plan
from technic_nb.research.evaluation.common import (
    check_int,
    panel_index,
    require,
)
from technic_nb.research.evaluation.stats import (
    adjusted_p_values,
    newey_west_tstat,
    normal_p,
    overlap_lags,
    resolve_spacing,
)
from technic_nb.research.evaluation.trades import walk_rows
from technic_nb.research.evaluation.walks import BarStore, excursions

__all__ = ["PLAN_GROUPS", "PlanEvaluation", "evaluate_plans"]

#: The groups of :func:`evaluate_plans`: the plans shown, then the three baselines.
PLAN_GROUPS: tuple[str, ...] = ("top", "all", "bottom", "random")

_LONG_SIGNALS = ("Long", "Strong Long")
_NO_R = ("no_plan", "bad_bar", "no_bars", "pending", "no_fill")


@dataclass(frozen=True)
class PlanEvaluation:
    """What :func:`evaluate_plans` found.

    Attributes:
        trades: every walked plan: the columns of
            :func:`~technic_nb.research.evaluation.walk_trade_plans` plus
            ``group``, ``target_kind``, ``reward_risk``, ``r_net``, ``return_net``,
            ``mae_r`` and ``mfe_r``.
        per_date: the mean net R of each date (rows) and group (columns).
        summary: one row per group: ``dates`` (with a filled trade), ``plans``,
            ``fills``, ``mean_r_net`` (mean of the per-date means), ``nw_t_stat``,
            ``p_value``, ``mean_return_net_pct``, ``win_rate`` (per-date mean of
            the share of trades with net R > 0), ``bars_to_target`` and
            ``bars_to_stop`` (medians), ``median_mae_r``, ``median_mfe_r``.
        versus: ``top`` against each baseline: ``dates``, ``mean_diff_r``,
            ``nw_t_stat``, ``p_value`` and ``p_holm``.
        shown: the plans of ``top``: the quantiles of their reward/risk, the share
            of each target kind, and the share of Strong Long ratings whose plan
            passes (over every date).
        dropped: per group, the plans with no R and why (one column per reason).
        hac_lags: the Newey-West lags used.
        cost_bps: the cost per side.
    """

    trades: pd.DataFrame
    per_date: pd.DataFrame
    summary: pd.DataFrame
    versus: pd.DataFrame
    shown: pd.Series
    dropped: pd.DataFrame
    hac_lags: int
    cost_bps: float

    def __repr__(self) -> str:
        top = self.summary.loc["top"]
        return (
            f"PlanEvaluation(top: {int(top['fills'])} trades on {int(top['dates'])} dates, "
            f"mean net R {top['mean_r_net']:+.3f} (t {top['nw_t_stat']:.2f}), "
            f"cost {self.cost_bps:g} bps/side, HAC lags {self.hac_lags})"
        )


def _long_plans(panel: pd.DataFrame, params: ScoringParams) -> pd.DataFrame:
    """The long plan of every row, by the plan rules, whatever its signal."""
    plans = trade_plan(panel, ["Long"] * len(panel), params)
    plans["rank"] = pd.to_numeric(panel["rank"], errors="coerce").to_numpy()
    if "last_date" in panel.columns:  # the walks start at the symbol's last bar
        plans["last_date"] = panel["last_date"].to_numpy()
    return plans


def _choose(
    panel: pd.DataFrame, plans: pd.DataFrame, top_n: int, seed: int
) -> dict[str, pd.DataFrame]:
    """The rows of each group (see the module documentation)."""
    ranked = plans["rank"].notna()
    passing = plans[ranked & plans["plan_ok"]]
    signal = panel["signal"].astype(object)
    shown = plans[ranked & signal.isin(_LONG_SIGNALS).to_numpy()]
    top = shown.sort_values("rank").groupby(level="date", sort=True).head(top_n)
    bottom = passing.sort_values("rank", ascending=False).groupby(level="date").head(top_n)
    rng = np.random.default_rng(seed)
    wanted = top.groupby(level="date").size()
    picks = []
    for day, rows in passing.groupby(level="date", sort=True):
        count = min(int(wanted.get(day, 0)), len(rows))
        if count:
            picks.append(rows.iloc[np.sort(rng.choice(len(rows), size=count, replace=False))])
    random = pd.concat(picks) if picks else passing.iloc[:0]
    return {"top": top, "all": passing, "bottom": bottom, "random": random}


def _excursions(trades: pd.DataFrame, store: BarStore) -> tuple[Any, Any]:
    """MAE and MFE in R of each filled long trade (NaN without a fill)."""
    return excursions(
        trades["symbol"].to_numpy(dtype=object),
        trades["fill_date"].to_numpy(dtype="datetime64[ns]").view("int64"),
        trades["exit_date"].to_numpy(dtype="datetime64[ns]").view("int64"),
        trades["fill_price"].to_numpy(dtype="float64"),
        (trades["entry"] - trades["stop"]).to_numpy(dtype="float64"),
        store,
    )


def _per_date(trades: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per date (rows) and group (columns), the mean of ``column`` over filled trades."""
    filled = trades[trades[column].notna()]
    means = filled.groupby(["date", "group"], observed=True)[column].mean().unstack("group")
    return means.reindex(columns=list(PLAN_GROUPS))


def _median_bars(trades: pd.DataFrame, outcomes: tuple[str, ...]) -> float:
    held = trades.loc[trades["outcome"].astype(object).isin(outcomes), "bars_held"]
    values = pd.to_numeric(held, errors="coerce").dropna()
    return float(values.median()) if len(values) else math.nan


def _summary(trades: pd.DataFrame, per_date: pd.DataFrame, lags: int) -> pd.DataFrame:
    returns = _per_date(trades, "return_net")
    won = (trades["r_net"] > 0).astype("float64").where(trades["r_net"].notna())
    wins = _per_date(trades.assign(win=won), "win")  # 1.0 / 0.0 / NaN: a numeric mean
    rows = {}
    for group in PLAN_GROUPS:
        mine = trades[trades["group"] == group]
        series = per_date[group].dropna()
        mean, _, t = newey_west_tstat(series.to_numpy(), lags)
        rows[group] = {
            "dates": len(series),
            "plans": len(mine),
            "fills": int(mine["r_net"].notna().sum()),
            "mean_r_net": mean,
            "nw_t_stat": t,
            "p_value": normal_p(t),
            "mean_return_net_pct": 100.0 * float(returns[group].mean()),
            "win_rate": float(wins[group].mean()),
            "bars_to_target": _median_bars(mine, ("target", "target_gap")),
            "bars_to_stop": _median_bars(mine, ("stop", "stop_gap")),
            "median_mae_r": float(mine["mae_r"].median()),
            "median_mfe_r": float(mine["mfe_r"].median()),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _versus(per_date: pd.DataFrame, lags: int) -> pd.DataFrame:
    rows = {}
    for baseline in PLAN_GROUPS[1:]:
        diff = (per_date["top"] - per_date[baseline]).dropna()
        mean, _, t = newey_west_tstat(diff.to_numpy(), lags)
        rows[f"top - {baseline}"] = {
            "dates": len(diff),
            "mean_diff_r": mean,
            "nw_t_stat": t,
            "p_value": normal_p(t),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out["p_holm"] = adjusted_p_values(out["p_value"])["p_holm"]
    return out


def _shown(panel: pd.DataFrame, top: pd.DataFrame) -> pd.Series:
    values: dict[str, float] = {}
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        values[f"reward_risk_q{int(q * 100):02d}"] = float(top["reward_risk"].quantile(q))
    kinds = top["target_kind"].astype(object).value_counts(normalize=True)
    for kind in ("resistance", "measured", "r_multiple"):
        values[f"share_{kind}"] = float(kinds.get(kind, 0.0))
    rated = panel.get("rating_signal", panel["signal"]).astype(object)
    strong = panel[(rated == "Strong Long").to_numpy()]
    values["strong_long_ratings"] = float(len(strong))
    values["strong_long_passing"] = float(strong["plan_ok"].mean()) if len(strong) else math.nan
    return pd.Series(values, name="shown")


def evaluate_plans(
    panel: pd.DataFrame,
    bars: Mapping[str, pd.DataFrame],
    *,
    params: ScoringParams | None = None,
    top_n: int = 20,
    max_days: int = 63,
    cost_bps: float = 10.0,
    seed: int = 0,
    hac_lags: int | None = None,
    spacing_bars: float | None = None,
    bad_bars: Mapping[str, np.ndarray] | None = None,
) -> PlanEvaluation:
    """The plans of the top ``top_n`` long signals against the three baselines.

    Args:
        panel: the replay panel (``rank``, ``signal``, ``plan_ok`` and the
            features the plan reads; index ``(date, symbol)``).
        bars: each symbol's daily bars.
        params: the scoring params the plans are made with (the replay's).
        top_n: the plans per date of ``top`` and ``bottom``.
        max_days: the most bars a trade is held.
        cost_bps: the cost per side, in basis points.
        seed: the seed of the ``random`` baseline.
        hac_lags: the Newey-West lags (default: the overlap of ``max_days``).
        spacing_bars: the bars between replay dates (default: from the dates).
        bad_bars: per symbol, the bars the scan's checks reject (computed when
            missing); a walk crossing one counts as ``bad_bar``.

    Raises:
        ValueError: a malformed argument.
    """
    n = check_int("top_n", top_n, 1)
    days = check_int("max_days", max_days, 1)
    if not isinstance(cost_bps, int | float) or not math.isfinite(cost_bps) or cost_bps < 0:
        raise ValueError(f"cost_bps={cost_bps!r} is invalid: cost_bps must be a number >= 0")
    index = panel_index(panel)
    require(panel, ["rank", "signal", "plan_ok"], "panel")
    dates = index.get_level_values(0)
    lags = (
        check_int("hac_lags", hac_lags, 0)
        if hac_lags is not None
        else overlap_lags(days, resolve_spacing(dates, spacing_bars))
    )
    plans = _long_plans(panel, params or ScoringParams())
    groups = _choose(panel, plans, n, seed)
    cost = float(cost_bps) / 1e4
    # every group's plans walked in one pass (each symbol's bars read once; a walk
    # depends on its own row only), in the order of the groups
    chosen = pd.concat(list(groups.values()))
    store = BarStore(bars, bad_bars)
    trades = walk_rows(chosen, store, max_days=days)
    trades["group"] = np.repeat(list(groups), [len(rows) for rows in groups.values()])
    trades["target_kind"] = chosen["target_kind"].to_numpy()
    trades["reward_risk"] = chosen["reward_risk"].to_numpy()
    risk = trades["entry"] - trades["stop"]
    trades["r_net"] = (
        trades["r_multiple"] - cost * (trades["fill_price"] + trades["exit_price"]) / risk
    )
    trades["return_net"] = trades["exit_price"] / trades["fill_price"] - 1.0 - 2.0 * cost
    trades["mae_r"], trades["mfe_r"] = _excursions(trades, store)
    trades["group"] = pd.Categorical(trades["group"], categories=list(PLAN_GROUPS))
    per_date = _per_date(trades, "r_net")
    outcome = trades["outcome"].astype(object)
    dropped = (
        trades[outcome.isin(_NO_R)]
        .assign(reason=outcome)
        .groupby(["group", "reason"], observed=True)
        .size()
        .unstack("reason", fill_value=0)
        .reindex(index=list(PLAN_GROUPS), columns=list(_NO_R), fill_value=0)
    )
    return PlanEvaluation(
        trades=trades,
        per_date=per_date,
        summary=_summary(trades, per_date, lags),
        versus=_versus(per_date, lags),
        shown=_shown(panel, groups["top"]),
        dropped=dropped,
        hac_lags=lags,
        cost_bps=float(cost_bps),
    )
