"""The trade-plan figures of docs/trade-plan.md, recomputed on the real data.

143 month-ends of the 505 stocks of ``us_equities_daily``; skipped when the data
folder beside the repository is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import technic_nb as tn

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "us_equities_daily"
LONGS = ["Long", "Strong Long"]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> tn.ReplayResult:
    if not (DATA / "AAPL.csv.gz").is_file():
        pytest.skip(f"real data folder {DATA} is absent (it lives beside the repository)")
    source = tn.DirectorySource(DATA)
    config = tn.ScanConfig(
        source=f"csv:{DATA}", universe="source", cache_dir=tmp_path_factory.mktemp("plans")
    )
    calendar = source.fetch(source.benchmark_symbol()).index
    dates = pd.date_range(calendar[config.min_bars - 1], calendar[-1], freq="BME")
    return tn.ReplayRunner(config, dates, horizons=(21,)).run()


@pytest.fixture(scope="module")
def top_longs(replayed) -> pd.DataFrame:
    """The 20 best-ranked long ratings of each date (before the plan check)."""
    panel = replayed.panel
    longs = panel[panel["rating_signal"].astype(str).isin(LONGS).to_numpy()]
    return longs.sort_values("rank").groupby(level="date").head(20)


def test_the_plans_of_the_top_longs(replayed, top_longs) -> None:
    assert len(replayed.dates) == 143 and len(top_longs) == 2809
    rr = top_longs["reward_risk"]
    assert round(rr.median(), 2) == 2.00
    assert (rr < 1).sum() == 0
    assert round(100 * top_longs["plan_ok"].mean(), 1) == 58.7
    atr = top_longs["atr"]
    assert ((top_longs["target"] - top_longs["entry"]).abs() <= 0.5 * atr).sum() == 0
    risk = top_longs["risk_atr"]
    assert round(risk.quantile(0.1), 2) == 1.25 and round(risk.quantile(0.9), 1) == 4.5
    # no pile-up at a clamp: no risk value is shared by more than 1 % of the plans
    assert risk.round(6).value_counts(normalize=True).max() < 0.01
    assert round(100 * top_longs["extended"].mean(), 1) == 33.0
    kinds = top_longs["target_kind"].value_counts(normalize=True).round(2).to_dict()
    assert kinds == {"measured": 0.48, "r_multiple": 0.33, "resistance": 0.18}


def test_signals_respect_their_plans(replayed) -> None:
    panel = replayed.panel
    strong = panel[(panel["rating_signal"] == "Strong Long").to_numpy()]
    assert len(strong) == 8504 and round(100 * strong["plan_ok"].mean(), 1) == 55.9
    directional = panel["signal"].astype(str).isin([*LONGS, "Short", "Strong Short"])
    assert (panel.loc[directional, "reward_risk"] < 1.5).sum() == 0
    longs = panel[panel["rating_signal"].astype(str).isin(LONGS).to_numpy()]

    def rank_correlation(day: pd.DataFrame) -> float:
        known = day[["tech_rating", "reward_risk"]].dropna()
        return known["tech_rating"].rank().corr(known["reward_risk"].rank())

    correlation = longs.groupby(level="date").apply(rank_correlation)
    assert round(correlation.mean(), 2) == 0.12


def test_the_plans_against_their_baselines(replayed) -> None:
    evaluation = replayed.plan_evaluation()
    summary = evaluation.summary.round(3)
    assert summary["mean_r_net"].to_dict() == {
        "top": 0.107,
        "all": 0.041,
        "bottom": 0.095,
        "random": 0.062,
    }
    assert round(summary.loc["top", "nw_t_stat"], 2) == 1.45
    assert int(summary.loc["top", "fills"]) == 2494 and evaluation.hac_lags == 2
    p_holm = evaluation.versus["p_holm"].round(2).to_dict()
    assert p_holm == {"top - all": 0.36, "top - bottom": 0.83, "top - random": 0.75}
    assert (evaluation.versus["p_holm"] > 0.05).all()  # no edge over any baseline
    assert np.isclose(evaluation.shown["strong_long_passing"], 0.559, atol=5e-4)
