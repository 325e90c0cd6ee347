"""Out-of-sample checks of weightings: fast re-scoring, objectives, sweeps, walk-forward, DSR."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kurtosis, norm, rankdata, skew

import technic_nb as tn
from technic_nb.research import evaluation as ev
from technic_nb.research.evaluation import rescoring
from technic_nb.research.evaluation.deflated import EULER_GAMMA

DATES = pd.date_range("2022-01-01", "2025-12-31", freq="BME")  # 48 month-ends
TRAIN = ("2022-01-01", "2023-12-31")
TEST = ("2024-01-01", "2025-12-31")
WEIGHTINGS = [
    tn.ScoringWeights(),
    tn.ScoringWeights(trend=1, momentum=0, volume=0, volatility=0, oscillator=0, breakout=0),
    tn.ScoringWeights(trend=0, momentum=2, volume=1, volatility=0, oscillator=3, breakout=0.5),
    tn.ScoringWeights(trend=0.3, momentum=0, volume=0, volatility=2, oscillator=0, breakout=1),
    {"momentum": 5, "breakout": 0},
]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    config = tn.ScanConfig(
        source="demo:60",
        cache_dir=tmp_path_factory.mktemp("oos"),
        n_jobs=2,
        backend="threading",
    )
    return tn.replay(config, DATES, horizons=(5, 21, 63))


def _rated(result, weights) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The panel re-scored the slow way, with its forward returns."""
    again = result.rescore(tn.ScoringParams(weights=weights))
    return again.panel, again.returns


# -- the fast re-scoring -----------------------------------------------------------------


def test_fast_ratings_equal_a_full_rescore(result) -> None:
    weightings = rescoring.as_weightings(WEIGHTINGS)
    fast = ev.rescored_ratings(result.panel, result.config.scoring, weightings)
    for column, weights in enumerate(weightings):
        slow = _rated(result, weights)[0]["tech_rating"].reindex(result.panel.index)
        np.testing.assert_array_equal(fast[:, column], slow.to_numpy())


def test_fast_ratings_keep_the_user_subscores(result) -> None:
    extra = tn.UserSubscore("rsi_rank", "rsi", tn.by_rank(), weight=1.5)
    scoring = tn.ScoringParams(user_subscores=[extra])
    scored = result.rescore(scoring)
    weights = tn.ScoringWeights(trend=2, momentum=0, volume=1, volatility=0, oscillator=0)
    fast = ev.rescored_ratings(scored.panel, scoring, [weights])[:, 0]
    slow = scored.rescore(tn.ScoringParams(weights=weights, user_subscores=[extra])).panel
    np.testing.assert_array_equal(fast, slow["tech_rating"].reindex(scored.panel.index).to_numpy())


def test_average_ranks_equal_scipy() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 6, size=(4, 7, 25)).astype(float)
    values[rng.random(values.shape) < 0.2] = np.nan
    ranks = rescoring._average_ranks(values)
    expected = rankdata(values, axis=-1, nan_policy="omit")
    np.testing.assert_array_equal(ranks, expected)


def test_ic_objective_equals_information_coefficient(result) -> None:
    panel, returns = result.panel, result.returns
    weightings = rescoring.as_weightings(WEIGHTINGS)
    ratings = ev.rescored_ratings(panel, result.config.scoring, weightings)
    for holes in (False, True):  # the same pairs for every weighting, then different ones
        if holes:
            ratings = ratings.copy()
            ratings[::7, 1] = np.nan
            ratings[3::11, 3] = np.nan
        values, _ = ev.weighting_objectives(panel, returns, ratings, 21, "ic")
        for column in range(len(weightings)):
            frame = pd.DataFrame({"x": ratings[:, column]}, index=panel.index)
            ic = ev.information_coefficient(frame, returns, ["x"], [21])[("x", 21)]
            np.testing.assert_allclose(values[column].to_numpy(), ic.to_numpy(), atol=1e-12)


def test_top_n_objective_equals_a_plain_loop(result) -> None:
    weightings = rescoring.as_weightings(WEIGHTINGS)
    ratings = ev.rescored_ratings(result.panel, result.config.scoring, weightings)
    values, shares = ev.weighting_objectives(
        result.panel, result.returns, ratings, 5, "top_n", top_n=7, cost_bps=25.0
    )
    for column, weights in enumerate(weightings):
        panel, returns = _rated(result, weights)
        turnover = ev.top_turnover(panel, 7).fillna(1.0)  # the first date buys the list
        for day, rows in panel.groupby(level="date"):
            fwd = returns.loc[rows.index, "fwd_5d"]
            top = fwd[(rows["rank"] <= 7).to_numpy()].dropna()
            gross = top.mean() - fwd[rows["rank"].notna().to_numpy()].dropna().mean()
            net = gross - 2 * turnover[day] * 25.0 / 10_000
            assert values.loc[day, column] == pytest.approx(net, abs=1e-12, nan_ok=True)
            assert shares.loc[day, column] == pytest.approx(turnover[day], abs=1e-12)


def test_objective_arguments_are_checked(result) -> None:
    ratings = ev.rescored_ratings(result.panel, result.config.scoring, [tn.ScoringWeights()])
    panel, returns = result.panel, result.returns
    with pytest.raises(ValueError, match="objective='sharpe' is invalid"):
        ev.weighting_objectives(panel, returns, ratings, 5, "sharpe")
    with pytest.raises(ValueError, match="cost_bps=-1"):
        ev.weighting_objectives(panel, returns, ratings, 5, "top_n", cost_bps=-1)
    with pytest.raises(ValueError, match="top_n=0"):
        ev.weighting_objectives(panel, returns, ratings, 5, "top_n", top_n=0)


# -- the grid ----------------------------------------------------------------------------


def test_weight_grid_is_the_product_without_repeats() -> None:
    grid = ev.weight_grid(trend=[1, 2], momentum=[0, 3])
    assert len(grid) == 4
    assert [(w.trend, w.momentum, w.volume) for w in grid] == [
        (1, 0, 2),
        (1, 3, 2),
        (2, 0, 2),
        (2, 3, 2),
    ]
    # (0, 0) is all zero; (2, 2) and (3, 3) are proportional to (1, 1)
    six = {name: [0, 1] for name in tn.ScoringWeights().as_dict()}
    assert len(ev.weight_grid(**six)) == 2**6 - 1
    scaled = ev.weight_grid(**{name: [1, 2] for name in tn.ScoringWeights().as_dict()})
    assert len(scaled) == 2**6 - 1  # all-1 and all-2 rank the same
    with pytest.raises(ValueError, match="unknown subscore"):
        ev.weight_grid(rsi=[1])
    with pytest.raises(ValueError, match="no values for"):
        ev.weight_grid(trend=[])
    with pytest.raises(ValueError, match="729 combinations is more than 500"):
        ev.weight_grid(**{name: range(3) for name in tn.ScoringWeights().as_dict()})


def test_weightings_are_checked(result) -> None:
    with pytest.raises(ValueError, match="weightings must hold ScoringWeights or dicts"):
        result.sweep([3.0], train=TRAIN, test=TEST)
    with pytest.raises(ValueError, match="weightings is empty"):
        result.sweep([], train=TRAIN, test=TEST)
    with pytest.raises(ValueError, match="501 weightings is more than 500"):
        result.sweep([tn.ScoringWeights()] * 501, train=TRAIN, test=TEST)


# -- the deflated Sharpe ratio ------------------------------------------------------------


def test_expected_max_sharpe_by_hand() -> None:
    # N = 10, V[SR] = 0.01: Phi^-1(0.9) = 1.2815516, 1 - 1/(10 e) = 0.9632121 and
    # Phi^-1 of it = 1.7892418; SR0 = 0.1 * (0.4227843 * 1.2815516 + 0.5772157 * 1.7892418)
    #                               = 0.1 * (0.5418199 + 1.0327784) = 0.1574598
    hand = 0.1 * ((1 - EULER_GAMMA) * norm.ppf(0.9) + EULER_GAMMA * norm.ppf(1 - 1 / (10 * math.e)))
    assert ev.expected_max_sharpe(10, 0.01) == pytest.approx(hand, rel=1e-12)
    assert ev.expected_max_sharpe(10, 0.01) == pytest.approx(0.1574598, abs=1e-6)
    assert ev.expected_max_sharpe(1, 0.04) == 0.0  # one trial: nothing to select
    assert ev.expected_max_sharpe(1000, 0.0) == 0.0
    assert ev.expected_max_sharpe(100, 0.01) > ev.expected_max_sharpe(10, 0.01)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="trials="):
            ev.expected_max_sharpe(bad, 0.01)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sharpe_variance=-1"):
        ev.expected_max_sharpe(5, -1)


def test_deflated_sharpe_reproduces_the_papers_example() -> None:
    # Bailey & Lopez de Prado (2014), section 5: an annualized SR of 2.5 over 1250 days,
    # 100 trials whose SRs have an annualized variance of 0.5, skew -3, kurtosis 10:
    # SR0 = 0.1132 per day and DSR = 0.9004.
    sr0 = ev.expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=1e-4)
    dsr = ev.deflated_sharpe_ratio(2.5 / math.sqrt(250), sr0, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=1e-4)


def test_deflated_sharpe_of_a_series_by_hand() -> None:
    series = [0.1, 0.3, -0.1, 0.2, 0.0]
    # mean 0.1; deviations 0, .2, -.2, .1, -.1: std (ddof 1) = sqrt(0.1 / 4), SR = 0.632456
    # biased moments: m2 = 0.02, m3 = 0, m4 = 0.00068: skew 0, kurtosis 0.00068 / 0.0004 = 1.7
    sr = 0.1 / math.sqrt(0.1 / 4)
    trials = [sr, 0.2, 0.4]
    sr0 = math.sqrt(np.var(trials, ddof=1)) * (
        (1 - EULER_GAMMA) * norm.ppf(1 - 1 / 3) + EULER_GAMMA * norm.ppf(1 - 1 / (3 * math.e))
    )
    hand = norm.cdf((sr - sr0) * math.sqrt(4) / math.sqrt(1 - 0 * sr + (1.7 - 1) / 4 * sr**2))
    result = ev.deflated_sharpe(series, trials)
    assert result.sharpe == pytest.approx(sr, rel=1e-12)
    assert result.skew == pytest.approx(0.0, abs=1e-12)
    assert result.kurtosis == pytest.approx(1.7, rel=1e-12)
    assert result.kurtosis == pytest.approx(kurtosis(series, fisher=False), rel=1e-12)
    assert result.expected_max == pytest.approx(sr0, rel=1e-12)
    assert result.probability == pytest.approx(hand, rel=1e-12)
    assert (result.trials, result.periods) == (3, 5)
    # one trial: SR0 = 0, and the DSR is the probabilistic Sharpe ratio against 0
    alone = ev.deflated_sharpe(series, [sr])
    assert alone.expected_max == 0.0
    psr = norm.cdf(sr * 2 / math.sqrt(1 + 0.7 / 4 * sr**2))
    assert alone.probability == pytest.approx(psr, rel=1e-12)
    assert alone.probability > result.probability
    skewed = [0.1, 0.3, -0.4, 0.2, 0.05, 0.0]
    assert ev.deflated_sharpe(skewed, [0.1]).skew == pytest.approx(skew(skewed), rel=1e-12)
    with pytest.raises(ValueError, match="trial_sharpes is empty"):
        ev.deflated_sharpe(series, [])


# -- purging and folds ---------------------------------------------------------------------


def test_window_ends_count_trading_bars() -> None:
    calendar = pd.bdate_range("2024-01-01", "2024-03-29")
    dates = pd.DatetimeIndex(["2024-01-06", "2024-01-31", "2024-03-27"])  # a Saturday first
    ends = pd.DatetimeIndex(ev.window_ends(dates, 3, calendar).view("datetime64[ns]")[:2])
    assert list(ends) == [pd.Timestamp("2024-01-10"), pd.Timestamp("2024-02-05")]
    assert ev.window_ends(dates, 3, calendar)[2] == np.iinfo(np.int64).max  # past the data
    weekdays = pd.DatetimeIndex(ev.window_ends(dates, 3).view("datetime64[ns]"))
    assert list(weekdays) == [pd.Timestamp(d) for d in ("2024-01-10", "2024-02-05", "2024-04-01")]


def test_purging_by_hand() -> None:
    dates = np.arange(10, dtype=np.int64) * 10  # 0, 10, ..., 90
    test = np.arange(7, 10)  # 70 .. 90
    kept, dropped = ev.purged_training(dates, dates + 15, np.arange(6), test)
    assert list(kept) == [0, 1, 2, 3, 4, 5] and list(dropped) == []  # 50 ends at 65 < 70
    kept, dropped = ev.purged_training(dates, dates + 20, np.arange(6), test)
    assert list(dropped) == [5]  # 50 ends at 70: it reaches the first test date
    # training after the test span 0 .. 30, whose last window ends at 55: 50 starts inside it
    kept, dropped = ev.purged_training(dates, dates + 25, np.arange(5, 10), np.arange(4))
    assert list(kept) == [6, 7, 8, 9] and list(dropped) == [5]


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(4, 160),
    folds=st.integers(1, 8),
    min_train=st.integers(2, 40),
    horizon=st.integers(1, 80),
    spacing=st.integers(1, 30),
)
def test_folds_never_touch_training_dates(n, folds, min_train, horizon, spacing) -> None:
    days = pd.bdate_range("2005-01-03", periods=n * spacing, freq="B")[::spacing]
    dates = days.as_unit("ns").asi8
    ends = ev.window_ends(days, horizon)
    try:
        plan = ev.walk_forward_folds(dates, ends, folds, min_train)
    except ValueError as exc:
        assert "test blocks" in str(exc) or "training dates after purging" in str(exc)
        return
    assert len(plan) == folds
    tested = np.concatenate([test for _, _, test in plan])
    assert list(tested) == list(range(min_train, n))  # consecutive blocks, each date once
    for train, dropped, test in plan:
        assert not set(train) & set(test) and not set(dropped) & set(test)
        assert sorted([*train, *dropped]) == list(range(test[0]))  # every earlier date
        assert (ends[train] < dates[test[0]]).all()  # windows end before the block starts
        assert (ends[dropped] >= dates[test[0]]).all()  # and only those were dropped
        assert len(train) >= 2


def test_walk_forward_hand_case() -> None:
    dates = pd.bdate_range("2020-01-01", periods=12, freq="B").as_unit("ns")
    # weighting 1 is best on dates 0..3, weighting 0 on dates 4..11, weighting 2 never
    values = np.zeros((12, 3))
    values[:4] = [0.01, 0.05, -0.02]
    values[4:] = [0.06, -0.01, -0.03]
    values += np.tile([0.001, -0.001], 6)[:, None]  # some spread
    series = pd.DataFrame(values, index=dates)
    weightings = rescoring.as_weightings(WEIGHTINGS[:3])
    ends = ev.window_ends(dates, 1)
    plan = ev.walk_forward_folds(dates.asi8, ends, folds=2, min_train=4)
    assert [list(test) for _, _, test in plan] == [[4, 5, 6, 7], [8, 9, 10, 11]]
    out = ev.walk_forward_weightings(series, weightings, plan, objective="ic", horizon=1, lags=0)
    # fold 1 trains on dates 0..2 (3 is purged: its window ends on date 4): weighting 1;
    # fold 2 on 0..6: weighting 0 (4 * 0.01 + 3 * 0.06 > 4 * 0.05 - 3 * 0.01)
    assert list(out.folds["chosen"]) == [1, 0]
    assert list(out.folds["purged"]) == [1, 1]
    assert out.folds.loc[1, "in_sample_mean"] == pytest.approx(values[:3, 1].mean())
    assert out.folds.loc[2, "in_sample_mean"] == pytest.approx(values[:7, 0].mean())
    stitched = np.r_[values[4:8, 1], values[8:, 0]]
    assert out.series.to_numpy() == pytest.approx(stitched)
    mean, _, t = ev.newey_west_tstat(stitched, 0)
    assert out.summary.loc["out_of_sample", "mean"] == pytest.approx(mean)
    assert out.summary.loc["out_of_sample", "nw_t"] == pytest.approx(t)
    assert out.folds.loc[1, "test_rank"] == 2.0  # on dates 4..7 weighting 0 did better
    assert "each of 2 folds chose the best of 3 weightings" in out.warning


# -- the replay methods ----------------------------------------------------------------------


def test_sweep_chooses_in_sample_and_reports_both(result) -> None:
    sweep = result.sweep(WEIGHTINGS, train=TRAIN, test=TEST, horizon=63)
    table = sweep.table
    assert len(table) == 5 and table["chosen"].sum() == 1
    best = int(table["train_mean"].idxmax())
    assert sweep.chosen_index == best and table.loc[best, "train_rank"] == 1
    assert sweep.chosen == rescoring.as_weightings(WEIGHTINGS)[best]
    # the training month-ends whose 63-bar window (benchmark bars) reaches 2024-01-31
    calendar = result.benchmark.index
    train = [d for d in DATES if d <= pd.Timestamp(TRAIN[1])]
    ends = [calendar[calendar.searchsorted(d, side="right") - 1 + 63] for d in train]
    reach = [d for d, end in zip(train, ends, strict=True) if end >= pd.Timestamp("2024-01-31")]
    assert list(sweep.dropped_dates) == reach and len(reach) == 2
    assert list(sweep.train_dates) == [d for d in train if d not in reach]
    assert sweep.test_dates[0] == pd.Timestamp("2024-01-31")
    # independent: the slow rescore and the IC of the library on the same dates
    lags = ev.overlap_lags(63, result.spacing)
    for row, weights in enumerate(rescoring.as_weightings(WEIGHTINGS)):
        ic = result.rescore(tn.ScoringParams(weights=weights)).ic(["tech_rating"])
        ic = ic[("tech_rating", 63)]
        train_mean, _, train_t = ev.newey_west_tstat(ic.loc[sweep.train_dates], lags)
        test_mean, _, test_t = ev.newey_west_tstat(ic.loc[sweep.test_dates], lags)
        assert table.loc[row, "train_mean"] == pytest.approx(train_mean, abs=1e-12)
        assert table.loc[row, "train_t"] == pytest.approx(train_t, rel=1e-9)
        assert table.loc[row, "test_mean"] == pytest.approx(test_mean, abs=1e-12)
        assert table.loc[row, "test_t"] == pytest.approx(test_t, rel=1e-9)
    ranks = table["test_mean"].rank(ascending=False, method="min")
    assert table["test_rank"].tolist() == ranks.tolist()
    holm = ev.adjusted_p_values(table["test_p"])["p_holm"]
    assert table["test_p_holm"].tolist() == pytest.approx(holm.tolist())
    chosen = sweep.series[best].loc[sweep.train_dates].to_numpy()
    dsr = ev.deflated_sharpe(chosen, table["train_sharpe"])
    assert sweep.deflated.probability == pytest.approx(dsr.probability)
    assert sweep.warning.startswith(
        f"the best of 5 weightings has an in-sample Sharpe of {dsr.sharpe:.3f} per period; "
        f"5 trials under the null would give {dsr.expected_max:.3f} by chance; "
        f"deflated Sharpe probability {dsr.probability:.3f}"
    )


def test_sweep_top_n_and_hac_lags(result) -> None:
    sweep = result.sweep(
        WEIGHTINGS, train=TEST, test=TRAIN, horizon=5, objective="top_n", top_n=5, hac_lags=3
    )
    assert sweep.nw_lags == 3 and sweep.objective == "top_n"
    # training after the test span: dates whose window starts inside the last test window go
    assert list(sweep.dropped_dates) == []  # month-ends are far more than 5 bars apart
    series = sweep.series[0].loc[sweep.train_dates]
    assert sweep.table.loc[0, "train_t"] == pytest.approx(ev.newey_west_tstat(series, 3)[2])
    assert sweep.table["turnover"].between(0, 1).all()


def test_sweep_spans_are_checked(result) -> None:
    with pytest.raises(ValueError, match="overlap: pick spans that do not share dates"):
        result.sweep(WEIGHTINGS, train=("2022-01-01", "2024-06-30"), test=TEST)
    with pytest.raises(ValueError, match="overlap"):  # no replay date in the shared days
        result.sweep(
            WEIGHTINGS, train=("2022-01-01", "2024-01-15"), test=("2024-01-10", "2025-12-31")
        )
    with pytest.raises(ValueError, match="no replay date falls in the test span"):
        result.sweep(WEIGHTINGS, train=TRAIN, test=("2030-01-01", "2031-01-01"))
    with pytest.raises(ValueError, match="start <= end"):
        result.sweep(WEIGHTINGS, train=("2023-12-31", "2022-01-01"), test=TEST)
    with pytest.raises(ValueError, match=r"train=3 is invalid: pass a \(start, end\) pair"):
        result.sweep(WEIGHTINGS, train=3, test=TEST)
    with pytest.raises(ValueError, match="only 0 training dates remain after purging 2"):
        result.sweep(WEIGHTINGS, train=("2023-11-01", "2023-12-31"), test=TEST, horizon=63)
    with pytest.raises(ValueError, match="horizon 10 was not replayed"):
        result.sweep(WEIGHTINGS, train=TRAIN, test=TEST, horizon=10)
    with pytest.raises(ValueError, match="hac_lags=-1 is invalid"):
        result.sweep(WEIGHTINGS, train=TRAIN, test=TEST, hac_lags=-1)


def test_walk_forward_on_the_replay(result) -> None:
    grid = ev.weight_grid(trend=[0, 1, 3], momentum=[0, 2], volume=[0, 1])
    out = result.walk_forward(grid, folds=4, horizon=63, min_train=12)
    folds = out.folds
    assert len(folds) == 4 and folds["n_test"].sum() == len(out.series)
    assert (folds["train_end"] < folds["test_start"]).all()
    assert (folds["test_start"].iloc[1:].to_numpy() > folds["test_end"].iloc[:-1].to_numpy()).all()
    calendar = result.benchmark.index
    for _, fold in folds.iterrows():  # a 63-bar window reaches 2 or 3 month-ends ahead
        assert fold["purged"] in (2, 3)
        last = calendar.searchsorted(fold["train_end"], side="right") - 1
        assert calendar[last + 63] < fold["test_start"]
    ic = result.rescore(tn.ScoringParams(weights=grid[folds.loc[2, "chosen"]])).ic(["tech_rating"])
    block = ic[("tech_rating", 63)].loc[folds.loc[2, "test_start"] : folds.loc[2, "test_end"]]
    assert folds.loc[2, "out_of_sample_mean"] == pytest.approx(block.mean(), abs=1e-12)
    with pytest.raises(ValueError, match="cannot make 4 test blocks"):
        result.walk_forward(grid, folds=4, min_train=45)


def test_sweep_plot(result) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    sweep = result.sweep(WEIGHTINGS, train=TRAIN, test=TEST)
    fig = sweep.plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    chosen = ax.collections[1].get_offsets()
    assert chosen.tolist() == [
        [
            sweep.table.loc[sweep.chosen_index, "train_mean"],
            sweep.table.loc[sweep.chosen_index, "test_mean"],
        ]
    ]
    assert len(ax.collections[0].get_offsets()) == 4


def test_the_results_print_their_verdict_in_one_line(result) -> None:
    grid = tn.weight_grid(trend=[1.0, 3.0], breakout=[0.0, 1.0])
    swept = result.sweep(grid, train=TRAIN, test=TEST, horizon=5)
    assert repr(swept).startswith(f"SweepResult({len(grid)} weightings, objective='ic'")
    assert swept.warning in repr(swept) and "\n" not in repr(swept)
    walked = result.walk_forward(grid, folds=2, horizon=5, min_train=4)
    assert (
        repr(walked) == f"WalkForwardResult(2 folds, objective='ic', horizon=5: {walked.warning})"
    )
