"""The stability views of a :class:`~technic_nb.ReplayResult`: is the IC the same over time?

Market regimes per date, the IC's t-statistic under other lags, the IC by year and
by regime, its rolling mean and its decay with the horizon
(:mod:`technic_nb.research.evaluation.stability` has the formulas).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

from technic_nb.research import evaluation as ev
from technic_nb.research.evaluation import stability as st
from technic_nb.research.evaluation.common import check_horizons
from technic_nb.research.replay.parts import ReplayParts

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ReplayStability"]

_BY = ("year", "regime", "trend", "volatility")


class ReplayStability(ReplayParts):
    """Stability of the IC over time (mixed into :class:`~technic_nb.ReplayResult`)."""

    @functools.cached_property
    def regimes(self) -> pd.DataFrame:
        """The market regime of each replay date from the benchmark's closes up to that
        date (:func:`~technic_nb.research.evaluation.replay_regimes`): ``label``
        (``"up/normal"``...), ``trend``, ``volatility`` and the numbers behind them."""
        if self.benchmark is None:
            raise ValueError(
                "the replay has no benchmark, so no market regime: set config.benchmark "
                "(e.g. 'SPY' or 'auto') and replay again"
            )
        return st.replay_regimes(self.dates, self.benchmark)

    def ic_lag_sensitivity(
        self,
        factors: Iterable[str] | None = None,
        horizon: int | None = None,
        lags: Iterable[int] = (0, 1, 2, 4, 8),
    ) -> pd.DataFrame:
        """Per factor, the t-statistic of the mean IC at each Bartlett lag of ``lags``
        and the Hansen-Hodrick t (:func:`~technic_nb.research.evaluation.ic_lag_sensitivity`)."""
        h = self._horizon(horizon)
        return st.ic_lag_sensitivity(self._ic_at(factors, h), h, lags, self.spacing)

    def ic_by(
        self,
        by: str = "year",
        factors: Iterable[str] | None = None,
        horizon: int | None = None,
        hac_lags: int | None = None,
    ) -> pd.DataFrame:
        """Mean IC, n_dates, Newey-West t, p and Holm/BH p per ``(factor, group)``.

        ``by`` is ``"year"`` (the calendar year of the date), ``"regime"`` (the
        regime's label, ``"up/normal"``...), ``"trend"`` or ``"volatility"`` (one
        part of it; see :attr:`regimes`).  See
        :func:`~technic_nb.research.evaluation.ic_by_group`.
        """
        if by not in _BY:
            raise ValueError(f"by={by!r} is invalid: pass one of {', '.join(map(repr, _BY))}")
        h = self._horizon(horizon)
        ic = self._ic_at(factors, h)
        if by == "year":
            groups = pd.Series(ic.index.year, index=ic.index)
        else:
            groups = self.regimes["label" if by == "regime" else by]
        table = st.ic_by_group(ic, groups, h, hac_lags, self.spacing)
        return table.rename_axis(index=["factor", by])

    def rolling_ic(
        self, factor: str = "tech_rating", horizon: int | None = None, window: int = 12
    ) -> pd.Series:
        """The mean IC of ``factor`` over the last ``window`` replay dates, per date
        (NaN until ``window`` ICs are there; :func:`~technic_nb.research.evaluation.rolling_ic`)."""
        h = self._horizon(horizon)
        return st.rolling_ic(self._ic_at([factor], h), factor, h, window)

    def ic_decay(
        self,
        factor: str = "tech_rating",
        horizons: Iterable[int] = (1, 2, 3, 5, 10, 21, 42, 63),
        column: str = "fwd",
        hac_lags: int | None = None,
    ) -> pd.DataFrame:
        """Per horizon, the mean IC of ``factor``, its Newey-West t (the overlap lags of
        that horizon unless ``hac_lags``), p and Holm/BH p over the horizons
        (:func:`~technic_nb.research.evaluation.ic_decay`).  Forward returns at
        horizons the replay lacks are computed from the bars (once per set of horizons)."""
        steps = tuple(sorted(check_horizons(horizons)))
        returns = self._decay_returns(steps)
        ic = ev.information_coefficient(
            self._scored_panel([factor]), returns, [factor], steps, column
        )
        return st.ic_decay(ic, factor, self.spacing, hac_lags)

    def _ic_at(self, factors: Iterable[str] | None, horizon: int) -> pd.DataFrame:
        """The IC per date of ``factors`` (default: the rating and the subscores) at one
        horizon of the replay."""
        names = (factors,) if isinstance(factors, str) else tuple(factors or self._factors())
        return ev.information_coefficient(
            self._scored_panel(names), self.returns, names, (horizon,)
        )

    def _decay_returns(self, horizons: tuple[int, ...]) -> pd.DataFrame:
        cache: dict[tuple[int, ...], pd.DataFrame] = self.__dict__.setdefault("_decay_cache", {})
        if horizons not in cache:
            cache[horizons] = ev.forward_returns(
                self.panel.index, self.bars, horizons, self.benchmark, bad_bars=self.bad_bars
            )
        return cache[horizons]

    def plot_rolling_ic(
        self, factor: str = "tech_rating", horizon: int | None = None, window: int = 12
    ) -> Figure:
        """The rolling mean IC of ``factor`` over time (:meth:`rolling_ic`)."""
        from technic_nb.research.evaluation.stability_plots import plot_rolling_ic

        return plot_rolling_ic(self.rolling_ic(factor, horizon, window))

    def plot_ic_decay(
        self, factor: str = "tech_rating", horizons: Iterable[int] = (1, 2, 3, 5, 10, 21, 42, 63)
    ) -> Figure:
        """The mean IC of ``factor`` at each horizon (:meth:`ic_decay`)."""
        from technic_nb.research.evaluation.stability_plots import plot_ic_decay

        return plot_ic_decay(self.ic_decay(factor, horizons), factor)
