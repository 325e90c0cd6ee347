"""Baselines, neutralised views and a liquidity universe of a :class:`~technic_nb.ReplayResult`.

* :meth:`ReplayBaselines.scores`: panel columns and baseline scores
  (:mod:`technic_nb.research.evaluation.baselines`) side by side;
  :meth:`~ReplayBaselines.compare`: their IC summaries, and each factor against the best
  baseline.
* :meth:`~ReplayBaselines.sector_ic`, :meth:`~ReplayBaselines.sector_quantiles` and
  :meth:`~ReplayBaselines.residual_ic`: the views of
  :mod:`technic_nb.research.evaluation.neutral`.
* :meth:`~ReplayBaselines.liquid`: the replay restricted, at each date, to the most
  traded symbols of that date.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Self, cast

import pandas as pd

from technic_nb.research import evaluation as ev
from technic_nb.research.replay.parts import ReplayParts

__all__ = ["ReplayBaselines"]


class ReplayBaselines(ReplayParts):
    """Baselines and neutralised views (mixed into :class:`~technic_nb.ReplayResult`)."""

    # -- scores ------------------------------------------------------------------------
    def scores(self, names: Iterable[str] | None = None, *, seed: int = 0) -> pd.DataFrame:
        """Scores indexed like :attr:`panel`: each name is a numeric panel column (the
        rating, a subscore, a user subscore, a feature) or one of
        :data:`~technic_nb.research.evaluation.BASELINES` (computed from each symbol's
        bars up to its anchor bar; ``seed`` drives ``random``).  Default: the rating, the
        subscores, the user subscores and every baseline.  Baselines are cached per seed.
        """
        wanted = [names] if isinstance(names, str) else list(names or self._default_scores())
        panel = self.panel
        columns: dict[str, Any] = {}
        unknown = []
        for name in wanted:
            if name in ev.BASELINES:
                columns[name] = self._baselines(seed)[name]
            elif name in panel.columns and pd.api.types.is_numeric_dtype(panel[name]):
                columns[name] = panel[name].astype("float64")
            else:
                unknown.append(name)
        if unknown:
            numeric = [c for c in panel.columns if pd.api.types.is_numeric_dtype(panel[c])]
            raise ValueError(
                f"unknown scores {unknown}: pass numeric panel columns {numeric} "
                f"or baselines {list(ev.BASELINES)}"
            )
        return pd.DataFrame(columns, index=panel.index, columns=list(dict.fromkeys(wanted)))

    def compare(
        self,
        factors: Iterable[str] | None = None,
        baselines: Iterable[str] = ev.BASELINES,
        horizons: Iterable[int] | None = None,
        column: str = "fwd",
        hac_lags: int | None = None,
        seed: int = 0,
    ) -> pd.DataFrame:
        """The IC summaries of ``factors`` (default the rating, subscores and user
        subscores) and of ``baselines`` side by side, p-values adjusted over every row,
        with each factor's mean IC advantage over the best baseline of each horizon and
        its Newey-West t (:func:`~technic_nb.research.evaluation.compare_baselines`)."""
        mine = list(self._factors() if factors is None else _names(factors))
        rivals = list(_names(baselines))
        frame = self.scores(list(dict.fromkeys(mine + rivals)), seed=seed)
        ic = ev.information_coefficient(frame, self.returns, list(frame.columns), horizons, column)
        return ev.compare_baselines(ic, rivals, self.spacing, hac_lags)

    # -- neutralised views -------------------------------------------------------------
    def sector_ic(
        self,
        factors: Iterable[str] | None = None,
        horizons: Iterable[int] | None = None,
        column: str = "fwd",
        min_obs: int = 5,
    ) -> pd.DataFrame:
        """The Spearman IC within each sector, averaged per date weighted by pairs
        (sectors with fewer than ``min_obs`` pairs left out); the shape of :meth:`ic`
        (:func:`~technic_nb.research.evaluation.sector_ic`)."""
        frame = self._with_sector(list(self._factors() if factors is None else _names(factors)))
        names = [c for c in frame.columns if c != "sector"]
        return ev.sector_ic(frame, self.returns, names, horizons, column, min_obs=min_obs)

    def sector_ic_summary(
        self,
        factors: Iterable[str] | None = None,
        horizons: Iterable[int] | None = None,
        column: str = "fwd",
        min_obs: int = 5,
    ) -> pd.DataFrame:
        """:func:`~technic_nb.research.evaluation.ic_summary` of :meth:`sector_ic`."""
        return ev.ic_summary(self.sector_ic(factors, horizons, column, min_obs), self.spacing)

    def sector_quantiles(
        self, factor: str = "tech_rating", horizon: int | None = None, quantiles: int = 5
    ) -> ev.QuantileReport:
        """Mean forward return by quantile formed within each sector and date
        (:func:`~technic_nb.research.evaluation.sector_quantile_returns`)."""
        return ev.sector_quantile_returns(
            self._with_sector([factor]),
            self.returns,
            factor,
            self._horizon(horizon),
            quantiles,
            spacing_bars=self.spacing,
        )

    def residual_ic(
        self,
        factor: str = "tech_rating",
        exposures: Iterable[str] = ("ret_21d_pct", "rvol20_pct"),
        horizons: Iterable[int] | None = None,
        column: str = "fwd",
        seed: int = 0,
    ) -> ev.ResidualIC:
        """The IC of ``factor`` net of ``exposures`` (panel columns or baselines): per
        date, the OLS residual of its [0, 1]-scaled rank on theirs, correlated with the
        forward return (:func:`~technic_nb.research.evaluation.residual_ic`)."""
        names = list(_names(exposures))
        frame = self.scores([factor, *names], seed=seed)
        return ev.residual_ic(frame, self.returns, factor, names, horizons, column)

    def residual_ic_summary(
        self,
        factor: str = "tech_rating",
        exposures: Iterable[str] = ("ret_21d_pct", "rvol20_pct"),
        horizons: Iterable[int] | None = None,
        column: str = "fwd",
        seed: int = 0,
    ) -> pd.DataFrame:
        """:func:`~technic_nb.research.evaluation.residual_ic_summary` of :meth:`residual_ic`."""
        found = self.residual_ic(factor, exposures, horizons, column, seed)
        return ev.residual_ic_summary(found, self.spacing)

    # -- the liquid universe -----------------------------------------------------------
    def liquid(self, top_n: int = 200, window: int = 63) -> Self:
        """The replay restricted, at each date, to the ``top_n`` ranked symbols with the
        highest mean dollar volume (``close * volume``) over their last ``window`` bars up
        to the anchor bar (past data only;
        :func:`~technic_nb.research.evaluation.trailing_dollar_volume`).

        It is done by keeping only those rows of :attr:`features`: the new result's
        panel, ranks (re-ranked per date), tables and every evaluation use them alone;
        the rows the filters removed are not in it.  This reduces survivorship bias
        (each date's universe uses only what was known then) but does not remove it:
        the candidates are still the symbols of today's list.
        """
        panel = self.panel
        volume = ev.trailing_dollar_volume(panel, self.bars, window, bad_bars=self.bad_bars)
        keep = panel.index[ev.top_by_date(volume, top_n)]
        features = self.features[self.features.index.isin(keep)]
        stats = {**self.stats, "liquid_top_n": top_n, "liquid_window": window}
        status = f"{self.status}; liquid universe: top {top_n} by {window}-bar dollar volume"
        out: Self = dataclasses.replace(
            cast(Any, self),
            features=features,
            stats=stats,
            status=status,
            warnings=list(self.warnings),
        )
        out.__dict__["bars"], out.__dict__["bad_bars"] = self.bars, self.bad_bars
        out.__dict__["_known_returns"] = self.returns  # a row's forward return is its own
        return out

    # -- helpers -----------------------------------------------------------------------
    def _scored_panel(self, names: Iterable[str]) -> pd.DataFrame:
        """The panel, with the baselines among ``names`` added as columns (seed 0), so
        that every evaluation of the panel takes a baseline's name as a factor."""
        wanted = [n for n in _names(names) if n in ev.BASELINES]
        if not wanted:
            return self.panel
        return self.panel.assign(**{n: self._baselines(0)[n] for n in wanted})

    def _default_scores(self) -> tuple[str, ...]:
        return (*self._factors(), *ev.BASELINES)

    def _baselines(self, seed: int) -> pd.DataFrame:
        cache = self.__dict__.setdefault("_baseline_cache", {})
        if "bars" not in cache:
            names = [n for n in ev.BASELINES if n != "random"]
            cache["bars"] = ev.baseline_scores(self.panel, self.bars, names, bad_bars=self.bad_bars)
        if seed not in cache:
            drawn = ev.baseline_scores(self.panel.index, {}, ["random"], seed=seed)
            cache[seed] = cache["bars"].join(drawn)
        frame: pd.DataFrame = cache[seed]
        return frame

    def _with_sector(self, factors: list[str]) -> pd.DataFrame:
        frame = self.scores(factors)
        frame["sector"] = self.panel["sector"].to_numpy()
        return frame


def _names(names: Iterable[str]) -> tuple[str, ...]:
    return (names,) if isinstance(names, str) else tuple(names)
