"""The portfolio views of a :class:`~technic_nb.ReplayResult`: top-N and quantile
portfolios after costs, and the survivorship drift of the universe."""

from __future__ import annotations

import functools

import pandas as pd

from technic_nb.research import evaluation as ev
from technic_nb.research.replay.parts import ReplayParts

__all__ = ["ReplayPortfolios"]


class ReplayPortfolios(ReplayParts):
    """Portfolios rebalanced at each replay date (mixed into :class:`~technic_nb.ReplayResult`).

    The rules (selection, weights, drift, costs, dropped positions) are those of
    :mod:`technic_nb.research.evaluation.portfolios`; the holding rule that of
    :mod:`technic_nb.research.evaluation.holdings`.
    """

    def portfolio(
        self,
        top_n: int = 20,
        *,
        quantile: int | None = None,
        quantiles: int = 5,
        score: str = "tech_rating",
        weighting: str = "equal",
        cost_bps: float = 10.0,
        hac_lags: int | None = None,
    ) -> ev.PortfolioReport:
        """The top ``top_n`` by ``score`` (or its ``quantile``-th of ``quantiles`` groups,
        1 = lowest score) at each replay date, held to the next date, equal- or
        score-weighted, after ``cost_bps`` per side on the turnover; against the
        benchmark and the equal-weighted universe
        (:func:`~technic_nb.research.evaluation.portfolio_report`).  ``.plot()`` draws
        the equity curves and drawdowns."""
        return ev.portfolio_report(
            self._holding_returns,
            self._score_values(score),
            self.dates,
            top_n,
            quantile=quantile,
            quantiles=quantiles,
            weighting=weighting,
            cost_bps=cost_bps,
            benchmark=self.benchmark,
            hac_lags=hac_lags,
            spacing_bars=self.spacing,
            score_name=score,
        )

    def quantile_portfolios(
        self,
        quantiles: int = 5,
        *,
        score: str = "tech_rating",
        weighting: str = "equal",
        cost_bps: float = 10.0,
        hac_lags: int | None = None,
    ) -> pd.DataFrame:
        """One portfolio per ``score`` quantile after costs, and the top-minus-bottom
        long-short: a summary row each
        (:func:`~technic_nb.research.evaluation.quantile_portfolios`)."""
        return ev.quantile_portfolios(
            self._holding_returns,
            self._score_values(score),
            self.dates,
            quantiles,
            weighting=weighting,
            cost_bps=cost_bps,
            hac_lags=hac_lags,
            spacing_bars=self.spacing,
        )

    def survivorship(self, hac_lags: int | None = None) -> ev.SurvivorshipReport:
        """The equal-weighted universe's return over the benchmark, per holding period
        and at the 21-bar horizon (the middle horizon when 21 was not replayed), with
        Newey-West t-statistics and a plain-words ``note``
        (:func:`~technic_nb.research.evaluation.survivorship_drift`)."""
        horizon = 21 if 21 in self.horizons else self.horizons[len(self.horizons) // 2]
        return ev.survivorship_drift(
            self._holding_returns,
            self.returns,
            self.dates,
            self.benchmark,
            horizon=horizon,
            hac_lags=hac_lags,
            spacing_bars=self.spacing,
        )

    @functools.cached_property
    def _holding_returns(self) -> pd.DataFrame:
        """Each panel row's return to the next replay date (computed once)."""
        return ev.holding_returns(self.panel, self.bars, self.dates, bad_bars=self.bad_bars)

    def _score_values(self, name: str) -> pd.Series:
        """The score ``name`` of every panel row, as float, indexed like :attr:`panel`: a
        numeric panel column or a baseline (:meth:`scores`)."""
        if not isinstance(name, str):
            raise ValueError(
                f"score={name!r} is invalid: pass the name of a score, e.g. 'tech_rating'"
            )
        return self.scores([name])[name].rename(name)
