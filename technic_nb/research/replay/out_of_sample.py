"""Out-of-sample checks of rescoring choices on a :class:`~technic_nb.ReplayResult`.

:meth:`ReplayOutOfSample.sweep` scores many weightings of the TechRating on
training dates and on later (or earlier) test dates; :meth:`ReplayOutOfSample.walk_forward`
chooses again at every fold of an expanding window.  The weightings are re-scored
from the panel's subscores (:func:`~technic_nb.research.evaluation.rescoring.rescored_ratings`,
equal to ``rescore(...).panel["tech_rating"]``); the rules are in
:mod:`technic_nb.research.evaluation.out_of_sample` and
:mod:`technic_nb.research.evaluation.rescoring`.  Forward windows are counted on
the benchmark's trading days (weekdays without a benchmark).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.research.evaluation import out_of_sample as oos
from technic_nb.research.evaluation import rescoring
from technic_nb.research.evaluation.common import to_ns
from technic_nb.research.evaluation.stats import overlap_lags
from technic_nb.research.replay.parts import ReplayParts

__all__ = ["ReplayOutOfSample"]


class ReplayOutOfSample(ReplayParts):
    """Train/test sweeps and walk-forward of weightings (mixed into ``ReplayResult``)."""

    def sweep(
        self,
        weightings: Iterable[Any],
        *,
        train: tuple[Any, Any],
        test: tuple[Any, Any],
        horizon: int | None = None,
        objective: str = "ic",
        top_n: int = 20,
        cost_bps: float = 10.0,
        hac_lags: int | None = None,
    ) -> oos.SweepResult:
        """Each weighting's objective on the training dates and on the test dates.

        Args:
            weightings: ``ScoringWeights`` or dicts (see
                :func:`~technic_nb.research.evaluation.rescoring.weight_grid`; at most 500).
            train, test: ``(start, end)`` date spans (both ends included) that must
                not overlap; training dates whose forward window reaches the test
                span are purged (``dropped_dates``).
            horizon: the forward-return horizon (default: the middle replayed one).
            objective: ``"ic"`` (per-date rank IC of the rating with ``fwd_{h}d``) or
                ``"top_n"`` (per-date excess of the top ``top_n`` over the ranked
                universe minus ``2 * turnover * cost_bps / 10000``).
            top_n, cost_bps: the list size and the cost per side in basis points.
            hac_lags: Newey-West lags (default ``overlap_lags(horizon, spacing)``).

        Raises:
            ValueError: overlapping or empty spans, bad weightings or settings.
        """
        h, lags, chosen, series, turnover = self._objectives(
            weightings, horizon, objective, top_n, cost_bps, hac_lags
        )
        dates = to_ns(series.index, "dates")
        train_at = _span_positions(dates, train, "train")
        test_at = _span_positions(dates, test, "test")
        (a, b), (c, d) = (_bounds(train), _bounds(test))
        if a <= d and c <= b:
            raise ValueError(
                f"the train span {_span_text(train)} and the test span {_span_text(test)} "
                "overlap: pick spans that do not share dates"
            )
        ends = oos.window_ends(series.index, h, self._calendar())
        kept, dropped = oos.purged_training(dates, ends, train_at, test_at)
        if len(kept) < 2:
            raise ValueError(
                f"only {len(kept)} training dates remain after purging {len(dropped)} whose "
                f"{h}-bar window reaches the test span: widen the train span"
            )
        return oos.sweep_weightings(
            series,
            chosen,
            kept,
            test_at,
            dropped,
            objective=objective,
            horizon=h,
            lags=lags,
            turnover=turnover if objective == "top_n" else None,
        )

    def walk_forward(
        self,
        weightings: Iterable[Any],
        *,
        folds: int = 5,
        horizon: int | None = None,
        objective: str = "ic",
        min_train: int = 24,
        top_n: int = 20,
        cost_bps: float = 10.0,
        hac_lags: int | None = None,
    ) -> oos.WalkForwardResult:
        """Expanding-window walk-forward: choose the best weighting on every date before
        each test block (purged), score it on the block.

        The dates are those with an objective for some weighting (the last dates, whose
        forward window runs past the data, are left out); the first ``min_train`` only
        train, the rest form ``folds`` consecutive test blocks.  Other arguments as
        :meth:`sweep`.
        """
        h, lags, chosen, series, _ = self._objectives(
            weightings, horizon, objective, top_n, cost_bps, hac_lags
        )
        series = series[np.isfinite(series.to_numpy()).any(axis=1)]
        ends = oos.window_ends(series.index, h, self._calendar())
        plan = oos.walk_forward_folds(to_ns(series.index, "dates"), ends, folds, min_train)
        return oos.walk_forward_weightings(
            series, chosen, plan, objective=objective, horizon=h, lags=lags
        )

    def _objectives(
        self,
        weightings: Iterable[Any],
        horizon: int | None,
        objective: str,
        top_n: int,
        cost_bps: float,
        hac_lags: int | None,
    ) -> tuple[int, int, list[Any], pd.DataFrame, pd.DataFrame]:
        chosen = rescoring.as_weightings(weightings)
        h = self._horizon(horizon)
        if hac_lags is None:
            lags = overlap_lags(h, self.spacing)
        elif isinstance(hac_lags, bool) or not isinstance(hac_lags, int) or hac_lags < 0:
            raise ValueError(f"hac_lags={hac_lags!r} is invalid: pass an integer >= 0 or None")
        else:
            lags = hac_lags
        panel = self.panel
        if panel.empty:
            raise ValueError("the replay ranked no rows: nothing to sweep")
        ratings = rescoring.rescored_ratings(panel, self.config.scoring, chosen)
        series, turnover = rescoring.weighting_objectives(
            panel, self.returns, ratings, h, objective, top_n, cost_bps
        )
        return h, lags, chosen, series, turnover

    def _calendar(self) -> pd.Index | None:
        return self.benchmark.index if self.benchmark is not None else None


def _span_text(span: Any) -> str:
    return f"{pd.Timestamp(span[0]).date()} .. {pd.Timestamp(span[1]).date()}"


def _bounds(span: Any, name: str = "span") -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` as timestamps (ValueError unless two dates with start <= end)."""
    try:
        start, end = (pd.Timestamp(span[0]), pd.Timestamp(span[1]))
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(
            f"{name}={span!r} is invalid: pass a (start, end) pair of dates, e.g. "
            "('2006-01-01', '2012-12-31')"
        ) from exc
    if len(span) != 2 or pd.isna(start) or pd.isna(end) or start > end:
        raise ValueError(f"{name}={span!r} is invalid: pass (start, end) dates with start <= end")
    return start, end


def _span_positions(dates: np.ndarray, span: Any, name: str) -> np.ndarray:
    """Positions of the dates inside ``span = (start, end)`` (ValueError when none)."""
    start, end = _bounds(span, name)
    inside = np.flatnonzero((dates >= start.value) & (dates <= end.value))
    if not len(inside):
        first, last = (pd.Timestamp(dates[0]).date(), pd.Timestamp(dates[-1]).date())
        raise ValueError(
            f"no replay date falls in the {name} span {_span_text(span)}; the dates run "
            f"from {first} to {last}"
        )
    return inside
