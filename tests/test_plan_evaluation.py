"""evaluate_plans: the plans of the top long signals against baselines, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from technic_nb.research.evaluation import PLAN_GROUPS, evaluate_plans
from technic_nb.research.evaluation.stats import newey_west_tstat

DAYS = pd.bdate_range("2021-01-04", periods=80)
ANCHORS = (10, 40)  # the two scan dates, as bar positions
SYMBOLS = list("ABCDEF")
#: Per date, which symbols win (rise 1 a bar from 100: target 108 after 8 bars) and
#: which lose (fall 1 a bar: the stop 96.5 after 3 bars).
WINS = ({"A", "B", "E"}, {"A", "C"})
RISK = 3.5  # entry 100, stop 97 - 0.25 * 2
WIN_R, LOSS_R = 8.0 / RISK, -1.0


def bars_of(symbol: str) -> pd.DataFrame:
    close = np.full(len(DAYS), 100.0)
    for anchor, winners in zip(ANCHORS, WINS, strict=True):
        step = 1.0 if symbol in winners else -1.0
        close[anchor + 1 : anchor + 13] = 100.0 + step * np.arange(1, 13)
        close[anchor + 13 : anchor + 20] = 100.0 + step * 12
        close[anchor + 20 : anchor + 29] = np.linspace(100.0 + step * 12, 100.0, 10)[1:]
    opened = np.concatenate([[100.0], close[:-1]])
    return pd.DataFrame(
        {
            "open": opened,
            "high": np.maximum(opened, close) + 0.5,
            "low": np.minimum(opened, close) - 0.5,
            "close": close,
            "volume": 1e6,
        },
        index=pd.DatetimeIndex(DAYS, name="date"),
    )


def panel_of() -> pd.DataFrame:
    rows = []
    for anchor in ANCHORS:
        for rank, symbol in enumerate(SYMBOLS, start=1):
            signal = "Long" if rank <= 3 else "Neutral"
            rows.append(
                {
                    "date": DAYS[anchor],
                    "symbol": symbol,
                    "rank": float(rank),
                    "signal": signal,
                    "rating_signal": "Strong Long" if rank == 1 else signal,
                    "plan_ok": rank <= 3,
                    "close": 100.0,
                    "atr": 2.0,
                    "swing_low": 97.0,
                    "resistance_1": 108.0,
                    "high52w": 130.0,
                    "low52w": 70.0,
                    "base_high": 101.0,
                    "base_low": 95.0,
                }
            )
    return pd.DataFrame(rows).set_index(["date", "symbol"])


@pytest.fixture(scope="module")
def evaluation():
    bars = {s: bars_of(s) for s in SYMBOLS}
    return evaluate_plans(panel_of(), bars, top_n=2, cost_bps=10.0, seed=7, hac_lags=0)


def net(win: bool) -> float:
    exit_price = 108.0 if win else 96.5
    return (WIN_R if win else LOSS_R) - 0.001 * (100.0 + exit_price) / RISK


def test_the_groups_walk_the_same_plan_on_their_own_rows(evaluation) -> None:
    trades = evaluation.trades
    chosen = {g: trades[trades["group"] == g] for g in PLAN_GROUPS}
    first, second = DAYS[ANCHORS[0]], DAYS[ANCHORS[1]]
    assert sorted(chosen["top"]["symbol"]) == ["A", "A", "B", "B"]
    assert sorted(chosen["bottom"]["symbol"]) == ["E", "E", "F", "F"]
    assert len(chosen["all"]) == 12
    assert chosen["random"].groupby("date").size().to_dict() == {first: 2, second: 2}
    assert (trades["entry"] == 100.0).all() and (trades["stop"] == 96.5).all()
    assert (trades["target"] == 108.0).all() and (trades["target_kind"] == "resistance").all()
    expected = {(s, DAYS[a]) for a, w in zip(ANCHORS, WINS, strict=True) for s in w}
    wins = pd.Series(
        [
            (s, pd.Timestamp(d)) in expected
            for s, d in zip(trades["symbol"], trades["date"], strict=True)
        ],
        index=trades.index,
    )
    assert 0 < wins.sum() < len(trades)
    assert (trades.loc[wins, "outcome"] == "target").all()
    assert (trades.loc[~wins, "outcome"] == "stop").all()
    assert trades.loc[wins, "r_multiple"].to_numpy() == pytest.approx(WIN_R)
    assert trades.loc[wins, "r_net"].to_numpy() == pytest.approx(net(True))
    assert trades.loc[~wins, "r_net"].to_numpy() == pytest.approx(net(False))
    assert trades.loc[wins, "return_net"].to_numpy() == pytest.approx(0.08 - 0.002)
    # excursions from the fill at 100: the winner dips to 99.5, peaks at 108.5
    assert trades.loc[wins, "mae_r"].to_numpy() == pytest.approx(-0.5 / RISK)
    assert trades.loc[wins, "mfe_r"].to_numpy() == pytest.approx(8.5 / RISK)
    assert trades.loc[~wins, "mae_r"].to_numpy() == pytest.approx(-1.0)


def test_statistics_are_per_date_and_the_baselines_are_corrected_together(evaluation) -> None:
    per_date = evaluation.per_date
    first, second = DAYS[ANCHORS[0]], DAYS[ANCHORS[1]]
    assert per_date.loc[first, "top"] == pytest.approx(net(True))
    assert per_date.loc[second, "top"] == pytest.approx((net(True) + net(False)) / 2)
    assert per_date.loc[first, "bottom"] == pytest.approx((net(True) + net(False)) / 2)
    assert per_date.loc[second, "bottom"] == pytest.approx(net(False))
    assert per_date.loc[first, "all"] == pytest.approx((3 * net(True) + 3 * net(False)) / 6)
    summary = evaluation.summary
    mean, _, t = newey_west_tstat(per_date["top"].to_numpy(), 0)
    assert summary.loc["top", "mean_r_net"] == pytest.approx(mean)
    assert summary.loc["top", "nw_t_stat"] == pytest.approx(t)
    assert summary.loc["top", "dates"] == 2 and summary.loc["top", "fills"] == 4
    assert summary.loc["top", "win_rate"] == pytest.approx((1.0 + 0.5) / 2)
    assert summary.loc["top", "bars_to_target"] == 8 and summary.loc["top", "bars_to_stop"] == 3
    versus = evaluation.versus
    diff = per_date["top"] - per_date["bottom"]
    assert versus.loc["top - bottom", "mean_diff_r"] == pytest.approx(diff.mean())
    # top - bottom is the same on both dates: no standard error, no test
    assert np.isnan(versus.loc["top - bottom", "p_value"])
    known = versus["p_value"].notna()
    holm = multipletests(versus.loc[known, "p_value"], method="holm")[1]
    assert versus.loc[known, "p_holm"].to_numpy() == pytest.approx(holm)
    assert evaluation.hac_lags == 0 and evaluation.cost_bps == 10.0


def test_what_is_shown_and_what_is_dropped(evaluation) -> None:
    shown = evaluation.shown
    assert shown["reward_risk_q50"] == pytest.approx(8.0 / RISK)
    assert shown["share_resistance"] == 1.0 and shown["share_measured"] == 0.0
    assert shown["strong_long_ratings"] == 2 and shown["strong_long_passing"] == 1.0
    assert (evaluation.dropped.to_numpy() == 0).all()
    assert "top: 4 trades on 2 dates" in repr(evaluation)


def test_the_random_baseline_is_seeded() -> None:
    bars = {s: bars_of(s) for s in SYMBOLS}
    picks = [
        evaluate_plans(panel_of(), bars, top_n=2, seed=seed, hac_lags=0).trades.query(
            "group == 'random'"
        )[["date", "symbol"]]
        for seed in (7, 7, 8, 9, 10)
    ]
    assert picks[0].equals(picks[1])
    assert any(
        not picks[0].reset_index(drop=True).equals(p.reset_index(drop=True)) for p in picks[2:]
    )


def test_costs_and_a_bad_bar_are_accounted_for() -> None:
    bars = {s: bars_of(s) for s in SYMBOLS}
    free = evaluate_plans(panel_of(), bars, top_n=2, cost_bps=0.0, hac_lags=0)
    assert free.trades["r_net"].to_numpy() == pytest.approx(free.trades["r_multiple"].to_numpy())
    spoiled = dict(bars)
    frame = bars["A"].copy()
    frame.iloc[ANCHORS[0] + 2, :4] = frame.iloc[ANCHORS[0] + 2, :4] / 10  # a decimal shift
    spoiled["A"] = frame
    out = evaluate_plans(panel_of(), spoiled, top_n=2, hac_lags=0)
    assert out.dropped.loc["top", "bad_bar"] == 1
    assert out.summary.loc["top", "fills"] == 3
    with pytest.raises(ValueError, match="cost_bps=-1 is invalid"):
        evaluate_plans(panel_of(), bars, cost_bps=-1)
