"""The figures and the notebook display of a :class:`~technic_nb.ReplayResult`."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from technic_nb.research.evaluation import QuantileReport

__all__ = ["SURVIVORSHIP_NOTE", "ReplayDisplay"]

SURVIVORSHIP_NOTE = (
    "The universe is the list given, at every date: symbols delisted before the data was "
    "gathered are absent, so the results carry survivorship bias (a point-in-time "
    "constituent list removes it)."
)


class _Evaluated(Protocol):
    """What the display reads from a replay result."""

    cancelled: bool
    status: str
    warnings: list[str]

    def ic(self, factors: Iterable[str] | None = ..., column: str = ...) -> pd.DataFrame: ...

    def quantiles(
        self, factor: str = ..., horizon: int | None = ..., quantiles: int = ...
    ) -> QuantileReport: ...

    def trades(
        self, top_n: int | None = ..., max_days: int = ..., plan: str = ...
    ) -> pd.DataFrame: ...

    def _horizon(self, horizon: int | None) -> int: ...


class ReplayDisplay:
    """matplotlib figures of the evaluation, and the notebook display."""

    def plot_ic(
        self: _Evaluated, factor: str = "tech_rating", horizon: int | None = None
    ) -> Figure:
        """The IC per date with its rolling mean."""
        from technic_nb.research.evaluation.plots import plot_ic

        return plot_ic(self.ic([factor]), factor, self._horizon(horizon))

    def plot_quantiles(
        self: _Evaluated, factor: str = "tech_rating", horizon: int | None = None
    ) -> Figure:
        """Mean forward return per quantile."""
        from technic_nb.research.evaluation.plots import plot_quantile_returns

        return plot_quantile_returns(self.quantiles(factor, horizon))

    def plot_spread(
        self: _Evaluated, factor: str = "tech_rating", horizon: int | None = None
    ) -> Figure:
        """The cumulative return of the top-minus-bottom spread."""
        from technic_nb.research.evaluation.plots import plot_cumulative_spread

        return plot_cumulative_spread(self.quantiles(factor, horizon))

    def plot_trades(self: _Evaluated, top_n: int | None = 20) -> Figure:
        """The distribution of the trade plans' R multiples."""
        from technic_nb.research.evaluation.plots import plot_r_distribution

        return plot_r_distribution(self.trades(top_n))

    def _repr_html_(self: _Evaluated) -> str:
        colour = "#92400e" if self.cancelled else "#065f46"
        parts = [f"<p style='color:{colour};font-weight:600'>{html.escape(self.status)}</p>"]
        parts.append(f"<p><small>{html.escape(SURVIVORSHIP_NOTE)}</small></p>")
        if self.warnings:
            items = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings[:10])
            parts.append(f"<p>Warnings:</p><ul>{items}</ul>")
        return "<div class='technic-nb-replay'>" + "".join(parts) + "</div>"
