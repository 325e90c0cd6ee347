"""Out-of-sample checks of a choice among weightings: train/test sweeps and walk-forward.

Choosing the weighting with the best in-sample objective and reporting that
figure overstates it: the best of many trials is partly luck.  These functions
take the per-date objective of every weighting
(:func:`~technic_nb.research.evaluation.rescoring.weighting_objectives`), choose
on training dates only, and report the choice on dates it never saw.

Rules
-----
* Per-date statistics: a weighting's figure on a set of dates is the mean of its
  per-date objective there, with a Newey-West t (:func:`newey_west_tstat`, lags
  :func:`overlap_lags` of the horizon and the spacing unless ``hac_lags`` is given).
  Dates whose objective is NaN are left out.
* The chosen weighting is the one with the highest training mean (the first on a
  tie); ``train_rank`` / ``test_rank`` rank the means, 1 = best (NaN last).
* Purging: the forward window of a date ``d`` runs from ``d`` to
  :func:`window_ends` ``(d)``, the date of the ``h``-th trading bar after it.  A
  training date is dropped when its window reaches the test span, i.e. when
  ``d <= end(last test date)`` and ``end(d) >= first test date``: a training
  date before the test span is kept only when its window ends strictly before
  the first test date (and one after the test span only when it starts after
  the last test window ends).
* Walk-forward (:func:`walk_forward_folds`): the first ``min_train`` dates only
  train; the other dates are cut into ``folds`` consecutive test blocks of
  near-equal size; fold k trains on every date before its block, purged as above,
  and tests on the block.  The out-of-sample series strings the chosen
  weightings' test-block values together (each date once).
* Selection bias: the chosen weighting's training series gets the deflated Sharpe
  ratio (:mod:`~technic_nb.research.evaluation.deflated`) with ``N`` = every
  weighting tried and the Sharpe ratio per date (mean / std of the per-date IC or
  net excess).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from technic_nb.core.scoring import ScoringWeights
from technic_nb.research.evaluation.common import check_int, to_ns
from technic_nb.research.evaluation.deflated import DeflatedSharpe, deflated_sharpe, sharpe_ratio
from technic_nb.research.evaluation.stats import adjusted_p_values, newey_west_tstat, normal_p

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "SweepResult",
    "WalkForwardResult",
    "purged_training",
    "sweep_weightings",
    "walk_forward_folds",
    "walk_forward_weightings",
    "window_ends",
]

_FAR = np.iinfo(np.int64).max  # the end of a window that runs past the data


def window_ends(dates: Any, horizon: int, calendar: Any = None) -> np.ndarray:
    """The date (int64 ns) of the ``horizon``-th trading bar after each date.

    With ``calendar`` (trading dates, e.g. the benchmark's), the count starts at the
    last calendar bar on or before the date; a window running past the calendar ends
    at the far future (so it reaches everything after).  Without it, weekdays count.
    """
    h = check_int("horizon", horizon, 1)
    days = to_ns(dates, "dates")
    if calendar is None:
        as_days = days.view("datetime64[ns]").astype("datetime64[D]")
        ends = np.busday_offset(as_days, h, roll="backward")
        return ends.astype("datetime64[ns]").view(np.int64)
    bars = np.unique(to_ns(calendar, "calendar"))
    position = np.searchsorted(bars, days, side="right") - 1 + h
    inside = (position >= 0) & (position < len(bars))
    return np.where(inside, bars[np.clip(position, 0, len(bars) - 1)], _FAR)


def purged_training(
    dates: np.ndarray, ends: np.ndarray, train: np.ndarray, test: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, dropped)`` positions of the ``train`` positions, purged against ``test``.

    ``dates`` and ``ends`` are int64 ns per date (:func:`window_ends`); ``train`` and
    ``test`` are positions into them.  See the module documentation for the rule.
    """
    train, test = np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)
    if not len(test):
        return train, train[:0]
    first, last_end = dates[test].min(), ends[test].max()
    reaches = (dates[train] <= last_end) & (ends[train] >= first)
    return train[~reaches], train[reaches]


def walk_forward_folds(
    dates: np.ndarray, ends: np.ndarray, folds: int, min_train: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Expanding-window folds over ascending dates: ``(train, dropped, test)`` positions.

    Raises:
        ValueError: fewer than ``min_train + folds`` dates, or a fold left with fewer
            than 2 training dates after purging.
    """
    k = check_int("folds", folds, 1)
    m = check_int("min_train", min_train, 2)
    n = len(dates)
    if n < m + k:
        raise ValueError(
            f"{n} dates cannot make {k} test blocks after min_train={m} training dates: "
            "pass fewer folds or a smaller min_train"
        )
    out = []
    for block in np.array_split(np.arange(m, n), k):
        kept, dropped = purged_training(dates, ends, np.arange(block[0]), block)
        if len(kept) < 2:
            raise ValueError(
                f"the fold testing from {pd.Timestamp(dates[block[0]]).date()} keeps "
                f"{len(kept)} training dates after purging {len(dropped)}: raise min_train "
                "or shorten the horizon"
            )
        out.append((kept, dropped, block))
    return out


@dataclass(frozen=True, eq=False)
class SweepResult:
    """The weightings scored on training dates and on test dates.

    Attributes:
        table: one row per weighting (index ``weighting``, its position in the list):
            the six weights, ``train_mean`` / ``test_mean`` (mean per-date objective),
            ``train_t`` / ``test_t`` (Newey-West t), ``train_p`` / ``test_p``
            (two-sided normal p-value) with ``*_p_holm`` / ``*_p_bh`` (adjusted over
            the weightings), ``train_sharpe`` (mean / std per date), ``train_rank``,
            ``test_rank`` (1 = best), ``turnover`` (mean top-N turnover on the test
            dates; NaN for the IC) and ``chosen`` (True for the chosen one).
        chosen: the weighting with the best training mean.
        chosen_index: its row in ``table``.
        warning: the selection-bias warning (size of the luck, deflated Sharpe).
        dropped_dates: training dates purged because their window reaches the test span.
        train_dates, test_dates: the dates used.
        series: the per-date objective, dates x weightings.
        deflated: the deflated Sharpe ratio of the chosen training series.
        objective, horizon, nw_lags: the settings.
    """

    table: pd.DataFrame
    chosen: ScoringWeights
    chosen_index: int
    warning: str
    dropped_dates: pd.DatetimeIndex
    train_dates: pd.DatetimeIndex
    test_dates: pd.DatetimeIndex
    series: pd.DataFrame
    deflated: DeflatedSharpe
    objective: str
    horizon: int
    nw_lags: int

    def __repr__(self) -> str:
        return (
            f"SweepResult({len(self.table)} weightings, objective={self.objective!r}, "
            f"horizon={self.horizon}, {len(self.train_dates)} training and "
            f"{len(self.test_dates)} test dates: {self.warning})"
        )

    def plot(self, *, figsize: tuple[float, float] = (7.0, 5.0)) -> Figure:
        """In-sample against out-of-sample objective of each weighting, the chosen marked."""
        from technic_nb.research.evaluation.plots_oos import plot_sweep

        return plot_sweep(self, figsize=figsize)


@dataclass(frozen=True, eq=False)
class WalkForwardResult:
    """Expanding-window walk-forward of the choice among weightings.

    Attributes:
        folds: one row per fold (index ``fold``, from 1): ``train_start``,
            ``train_end``, ``n_train``, ``purged`` (training dates dropped),
            ``test_start``, ``test_end``, ``n_test``, ``chosen`` (the weighting's
            position), its six weights, ``in_sample_mean``, ``in_sample_t``,
            ``out_of_sample_mean``, ``out_of_sample_t`` (Newey-West), ``test_rank``
            (its rank among the weightings on the test block, 1 = best) and ``dsr``
            (deflated Sharpe probability of its in-sample series).
        summary: rows ``in_sample`` (mean of the folds' in-sample means; its t is
            NaN because the training windows overlap) and ``out_of_sample`` (the
            strung test blocks): ``mean``, ``nw_t``, ``nw_p``, ``n_dates``.
        warning: in-sample against out-of-sample, in words.
        series: the out-of-sample per-date objective of the chosen weightings.
        objective, horizon, nw_lags: the settings.
    """

    folds: pd.DataFrame
    summary: pd.DataFrame
    warning: str
    series: pd.Series
    objective: str
    horizon: int
    nw_lags: int

    def __repr__(self) -> str:
        return (
            f"WalkForwardResult({len(self.folds)} folds, objective={self.objective!r}, "
            f"horizon={self.horizon}: {self.warning})"
        )


def _figures(values: np.ndarray, lags: int) -> tuple[float, float]:
    mean, _, t = newey_west_tstat(values, lags)
    return mean, t


def _means(block: np.ndarray) -> np.ndarray:
    """Column means over the finite values (NaN for a column without one)."""
    known = np.isfinite(block)
    count = known.sum(axis=0)
    total = np.where(known, block, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _ranks(means: np.ndarray) -> np.ndarray:
    return pd.Series(-means).rank(method="min", na_option="bottom").to_numpy()


def sweep_weightings(
    series: pd.DataFrame,
    weightings: Sequence[ScoringWeights],
    train: np.ndarray,
    test: np.ndarray,
    dropped: np.ndarray,
    *,
    objective: str,
    horizon: int,
    lags: int,
    turnover: pd.DataFrame | None = None,
) -> SweepResult:
    """The :class:`SweepResult` of per-date objectives ``series`` (dates x weightings),
    choosing on the ``train`` positions (already purged) and testing on ``test``."""
    values = series.to_numpy(dtype=np.float64)
    rows = []
    for column in range(values.shape[1]):
        train_mean, train_t = _figures(values[train, column], lags)
        test_mean, test_t = _figures(values[test, column], lags)
        rows.append(
            {
                **weightings[column].as_dict(),
                "train_mean": train_mean,
                "train_t": train_t,
                "train_p": normal_p(train_t),
                "train_sharpe": sharpe_ratio(values[train, column]),
                "test_mean": test_mean,
                "test_t": test_t,
                "test_p": normal_p(test_t),
            }
        )
    table = pd.DataFrame(rows, index=pd.RangeIndex(len(rows), name="weighting"))
    for side in ("train", "test"):
        adjusted = adjusted_p_values(table[f"{side}_p"])
        table[f"{side}_p_holm"] = adjusted["p_holm"]
        table[f"{side}_p_bh"] = adjusted["p_bh"]
    table["train_rank"] = _ranks(table["train_mean"].to_numpy())
    table["test_rank"] = _ranks(table["test_mean"].to_numpy())
    shares = values[test] * np.nan if turnover is None else turnover.to_numpy()[test]
    table["turnover"] = _means(shares)
    best = int(np.argmin(table["train_rank"].to_numpy()))
    table["chosen"] = table.index == best
    deflated = deflated_sharpe(values[train, best], table["train_sharpe"].to_numpy())
    dates = pd.DatetimeIndex(series.index)
    warning = _sweep_warning(table, best, deflated)
    return SweepResult(
        table=table,
        chosen=weightings[best],
        chosen_index=best,
        warning=warning,
        dropped_dates=dates[dropped],
        train_dates=dates[train],
        test_dates=dates[test],
        series=series,
        deflated=deflated,
        objective=objective,
        horizon=horizon,
        nw_lags=lags,
    )


def _sweep_warning(table: pd.DataFrame, best: int, deflated: DeflatedSharpe) -> str:
    n = len(table)
    row = table.iloc[best]
    return (
        f"the best of {n} weightings has an in-sample Sharpe of {deflated.sharpe:.3f} per "
        f"period; {n} trials under the null would give {deflated.expected_max:.3f} by chance; "
        f"deflated Sharpe probability {deflated.probability:.3f}. Out of sample it scored "
        f"{row['test_mean']:.4f} (NW t {row['test_t']:.2f}) against {row['train_mean']:.4f} "
        f"in sample, rank {row['test_rank']:.0f} of {n}."
    )


def walk_forward_weightings(
    series: pd.DataFrame,
    weightings: Sequence[ScoringWeights],
    folds: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    objective: str,
    horizon: int,
    lags: int,
) -> WalkForwardResult:
    """The :class:`WalkForwardResult` of per-date objectives over the given folds
    (:func:`walk_forward_folds`)."""
    values = series.to_numpy(dtype=np.float64)
    dates = pd.DatetimeIndex(series.index)
    rows, pieces = [], []
    for train, dropped, test in folds:
        best = int(np.argmin(_ranks(_means(values[train]))))
        in_mean, in_t = _figures(values[train, best], lags)
        out_mean, out_t = _figures(values[test, best], lags)
        sharpes = [sharpe_ratio(values[train, column]) for column in range(values.shape[1])]
        rows.append(
            {
                "train_start": dates[train[0]],
                "train_end": dates[train[-1]],
                "n_train": len(train),
                "purged": len(dropped),
                "test_start": dates[test[0]],
                "test_end": dates[test[-1]],
                "n_test": len(test),
                "chosen": best,
                **weightings[best].as_dict(),
                "in_sample_mean": in_mean,
                "in_sample_t": in_t,
                "out_of_sample_mean": out_mean,
                "out_of_sample_t": out_t,
                "test_rank": float(_ranks(_means(values[test]))[best]),
                "dsr": deflated_sharpe(values[train, best], sharpes).probability,
            }
        )
        pieces.append(pd.Series(values[test, best], index=dates[test]))
    table = pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1, name="fold"))
    oos = pd.concat(pieces).rename("out_of_sample")
    mean, _, t = newey_west_tstat(oos, lags)
    summary = pd.DataFrame(
        {
            "mean": [float(table["in_sample_mean"].mean()), mean],
            "nw_t": [math.nan, t],
            "nw_p": [math.nan, normal_p(t)],
            "n_dates": [int(table["n_train"].sum()), int(oos.notna().sum())],
        },
        index=pd.Index(["in_sample", "out_of_sample"], name="sample"),
    )
    warning = (
        f"each of {len(folds)} folds chose the best of {len(weightings)} weightings in sample "
        f"(mean {summary.loc['in_sample', 'mean']:.4f}); out of sample the chosen ones scored "
        f"{mean:.4f} (NW t {t:.2f}) over {summary.loc['out_of_sample', 'n_dates']} dates"
    )
    return WalkForwardResult(table, summary, warning, oos, objective, horizon, lags)
