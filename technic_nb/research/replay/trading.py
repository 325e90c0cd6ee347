"""The trade-plan views of a :class:`~technic_nb.ReplayResult`: walks and their evaluation."""

from __future__ import annotations

import pandas as pd

from technic_nb.research import evaluation as ev
from technic_nb.research.replay.parts import ReplayParts

__all__ = ["ReplayTrading"]

_DIRECTIONAL = ("Strong Long", "Long", "Short", "Strong Short")


class ReplayTrading(ReplayParts):
    """Walks of the replayed trade plans (mixed into :class:`~technic_nb.ReplayResult`)."""

    def trades(
        self, top_n: int | None = 20, max_days: int = 63, plan: str = "chart"
    ) -> pd.DataFrame:
        """Walk the trade plans of the rows ranked ``top_n`` or better, on each date, whose
        signal is directional (so their plan passes), through the next bars.

        ``plan="chart"`` uses the plan's target (a resistance, a measured move or
        an R multiple); ``plan="fixed"`` the fixed-multiple target ``target_fixed``.
        Plans without usable levels (a NaN fixed target) are ``"no_plan"``, never
        walked; walks that would cross one of :attr:`bad_bars` are ``"bad_bar"``.
        """
        if plan not in ("chart", "fixed"):
            raise ValueError(f"plan={plan!r} is invalid: plan must be 'chart' or 'fixed'")
        panel = self.panel
        if len(panel):
            panel = panel[panel["signal"].astype(object).isin(_DIRECTIONAL).to_numpy()]
        if plan == "fixed" and len(panel):
            panel = panel.assign(target=panel["target_fixed"])
        return ev.walk_trade_plans(panel, self.bars, top_n, max_days, bad_bars=self.bad_bars)

    def trade_summary(
        self, top_n: int | None = 20, max_days: int = 63, hac_lags: int | None = None
    ) -> pd.DataFrame:
        """Both plans' walks summarized side by side (R multiples, win rate, outcomes),
        with the per-date mean R and its Newey-West t (``hac_lags``, by default the
        overlap of ``max_days`` at the replay's spacing;
        :func:`~technic_nb.research.evaluation.r_summary`)."""
        spacing = self.spacing if len(self.dates) > 1 else None
        return pd.DataFrame(
            {
                plan: ev.r_summary(
                    self.trades(top_n, max_days, plan),
                    hac_lags,
                    max_days=max_days,
                    spacing_bars=spacing,
                )
                for plan in ("chart", "fixed")
            }
        )

    def plan_evaluation(
        self,
        top_n: int = 20,
        max_days: int = 63,
        cost_bps: float = 10.0,
        seed: int = 0,
        hac_lags: int | None = None,
    ) -> ev.PlanEvaluation:
        """The long plans of the top ``top_n`` long signals of each date against the same
        plans on every ranked stock, on the bottom ``top_n`` and on random stocks, after
        ``cost_bps`` per side, with per-date statistics
        (:func:`~technic_nb.research.evaluation.evaluate_plans`)."""
        return ev.evaluate_plans(
            self.panel,
            self.bars,
            params=self.config.scoring,
            top_n=top_n,
            max_days=max_days,
            cost_bps=cost_bps,
            seed=seed,
            hac_lags=hac_lags,
            spacing_bars=self.spacing,
            bad_bars=self.bad_bars,
        )
