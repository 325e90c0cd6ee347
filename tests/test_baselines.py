"""Baseline scores, the comparison with them, neutralised ICs and the liquid universe."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

import technic_nb as tn
from technic_nb.research import evaluation as ev

DEMO_DATES = pd.date_range("2022-06-01", "2025-06-30", freq="BME")


# -- fixtures --------------------------------------------------------------------------


def random_bars(symbols: list[str], n: int = 400, seed: int = 1) -> dict[str, pd.DataFrame]:
    """Random-walk closes and random volumes on business days from 2020-01-01."""
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2020-01-01", periods=n)
    out = {}
    for symbol in symbols:
        close = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        out[symbol] = pd.DataFrame(
            {
                "open": close,
                "high": close * 1.01,
                "low": close * 0.99,
                "close": close,
                "volume": rng.uniform(1e5, 1e6, n),
            },
            index=index,
        )
    return out


def panel_of(dates, symbols) -> pd.DataFrame:
    index = pd.MultiIndex.from_product([pd.DatetimeIndex(dates), symbols], names=["date", "symbol"])
    return pd.DataFrame(index=index)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    config = tn.ScanConfig(
        source="demo:60", cache_dir=tmp_path_factory.mktemp("bl"), n_jobs=1, backend="threading"
    )
    return tn.replay(config, DEMO_DATES)


def small_panel(seed: int = 3, dates: int = 6, symbols: int = 40):
    """A random panel: factor ``f`` (ties, NaNs), exposures ``e1``, ``e2``, sectors
    (one of 3 symbols), and returns ``fwd_5d`` (NaNs)."""
    rng = np.random.default_rng(seed)
    panel = panel_of(
        pd.bdate_range("2024-01-31", periods=dates, freq="BME"),
        [f"S{i:02d}" for i in range(symbols)],
    )
    n = len(panel)
    e1, e2 = rng.normal(size=n), rng.normal(size=n)
    panel["f"] = np.round(0.6 * e1 - 0.3 * e2 + rng.normal(size=n), 1)
    panel["e1"], panel["e2"] = e1, e2
    panel.iloc[::11, 0] = np.nan
    sectors = np.array(["A"] * 20 + ["B"] * 17 + ["C"] * 3)
    panel["sector"] = np.tile(sectors, dates)
    returns = pd.DataFrame(index=panel.index)
    returns["fwd_5d"] = 0.02 * panel["f"].fillna(0) + rng.normal(0, 0.05, n)
    returns.iloc[::7, 0] = np.nan
    return panel, returns


# -- the baseline formulas -------------------------------------------------------------


def expected_baselines(frame: pd.DataFrame, day: pd.Timestamp) -> dict[str, float]:
    close = frame["close"].loc[:day].to_numpy()
    t = len(close) - 1
    out = {"momentum_12_1": math.nan, "reversal_1m": math.nan, "low_volatility": math.nan}
    if t >= 252:
        out["momentum_12_1"] = close[t - 21] / close[t - 252] - 1
    if t >= 21:
        out["reversal_1m"] = -(close[t] / close[t - 21] - 1)
    if t >= 63 and (close[t - 63 : t + 1] > 0).all():
        out["low_volatility"] = -np.std(np.diff(np.log(close[t - 63 : t + 1])), ddof=1)
    return out


def test_baselines_follow_their_formulas_from_the_anchor_bar():
    bars = random_bars(["AAA", "BBB"])
    # a Saturday (anchor: Friday), a date with too little history, one before every bar
    days = [pd.Timestamp("2021-05-15"), pd.Timestamp("2020-03-31"), pd.Timestamp("2019-12-31")]
    panel = panel_of(days, ["AAA", "BBB", "NOBARS"])
    scores = ev.baseline_scores(panel, bars)
    assert list(scores.columns) == list(ev.BASELINES)
    assert scores.index.equals(panel.index)
    for (day, symbol), row in scores.iterrows():
        if symbol == "NOBARS" or day.year == 2019:
            assert row.drop("random").isna().all()
            continue
        for name, value in expected_baselines(bars[symbol], day).items():
            if math.isnan(value):
                assert math.isnan(row[name]), (day, symbol, name)
            else:
                assert row[name] == pytest.approx(value, rel=1e-12), (day, symbol, name)
    assert scores.loc[(days[0], "AAA")].notna().all()  # 2021-05-14 is bar 357


def test_last_date_anchors_the_scores():
    bars = random_bars(["AAA"])
    panel = panel_of([pd.Timestamp("2021-06-30")], ["AAA"])
    panel["last_date"] = pd.Timestamp("2021-06-01")
    scores = ev.baseline_scores(panel, bars, ["reversal_1m"])
    want = expected_baselines(bars["AAA"], pd.Timestamp("2021-06-01"))["reversal_1m"]
    assert scores.iloc[0, 0] == pytest.approx(want, rel=1e-12)


def test_windows_are_parameters():
    bars = random_bars(["AAA"])
    day = pd.Timestamp("2021-01-29")
    close = bars["AAA"]["close"].loc[:day].to_numpy()
    t = len(close) - 1
    scores = ev.baseline_scores(
        panel_of([day], ["AAA"]),
        bars,
        ["momentum_12_1", "reversal_1m", "low_volatility"],
        momentum_lookback=100,
        momentum_skip=5,
        reversal_window=10,
        volatility_window=20,
    ).iloc[0]
    assert scores["momentum_12_1"] == pytest.approx(close[t - 5] / close[t - 100] - 1)
    assert scores["reversal_1m"] == pytest.approx(1 - close[t] / close[t - 10])
    vol = np.std(np.diff(np.log(close[t - 20 :])), ddof=1)
    assert scores["low_volatility"] == pytest.approx(-vol)


def test_a_bad_bar_read_by_a_score_makes_it_nan():
    bars = random_bars(["AAA"])
    day = pd.Timestamp("2021-05-14")
    spoiled = bars["AAA"].copy()
    t = spoiled.index.get_loc(day)
    spoiled.iloc[t - 10, spoiled.columns.get_loc("close")] = -1.0  # inside 1m and 63d windows
    scores = ev.baseline_scores(panel_of([day], ["AAA"]), {"AAA": spoiled}).iloc[0]
    assert math.isnan(scores["reversal_1m"]) and math.isnan(scores["low_volatility"])
    assert scores["momentum_12_1"] == pytest.approx(
        expected_baselines(spoiled, day)["momentum_12_1"]
    )  # it reads bars t-252 .. t-21 only


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(260, 395),
    scale=st.floats(0.1, 10.0),
    seed=st.integers(0, 1000),
)
def test_bars_after_the_date_do_not_change_scores_or_dollar_volume(cut, scale, seed):
    bars = random_bars(["AAA", "BBB"], seed=7)
    day = bars["AAA"].index[cut]
    panel = panel_of([day, day - pd.Timedelta(days=40)], ["AAA", "BBB"])
    before = ev.baseline_scores(panel, bars, seed=3)
    volume_before = ev.trailing_dollar_volume(panel, bars, 20)
    rng = np.random.default_rng(seed)
    changed = {}
    for symbol, frame in bars.items():
        frame = frame.copy()
        later = frame.index > day
        frame.loc[later, ["open", "high", "low", "close"]] *= scale * rng.uniform(0.5, 2.0)
        frame.loc[later, "volume"] *= rng.uniform(0.0, 5.0, later.sum())
        changed[symbol] = frame
    pd.testing.assert_frame_equal(ev.baseline_scores(panel, changed, seed=3), before)
    pd.testing.assert_series_equal(ev.trailing_dollar_volume(panel, changed, 20), volume_before)


def test_random_scores_are_seeded_uniform_and_independent_of_row_order():
    panel = panel_of(pd.bdate_range("2024-01-01", periods=50), [f"S{i}" for i in range(200)])
    first = ev.baseline_scores(panel, {}, ["random"], seed=5)["random"]
    again = ev.baseline_scores(panel, {}, ["random"], seed=5)["random"]
    other = ev.baseline_scores(panel, {}, ["random"], seed=6)["random"]
    pd.testing.assert_series_equal(first, again)
    assert (first != other).mean() > 0.99
    assert ((first >= 0) & (first < 1)).all()
    assert stats.kstest(first.to_numpy(), "uniform").pvalue > 0.001
    shuffled = panel.sample(frac=0.3, random_state=1)
    part = ev.baseline_scores(shuffled, {}, ["random"], seed=5)["random"]
    pd.testing.assert_series_equal(part, first.reindex(shuffled.index))
    # nearly uncorrelated across neighbouring symbols and dates
    assert abs(np.corrcoef(first.to_numpy()[:-1], first.to_numpy()[1:])[0, 1]) < 0.03


def test_baseline_arguments_are_checked():
    panel = panel_of([pd.Timestamp("2021-01-29")], ["AAA"])
    with pytest.raises(ValueError, match="unknown baselines"):
        ev.baseline_scores(panel, {}, ["momentum"])
    with pytest.raises(ValueError, match="momentum_skip=21 must be smaller"):
        ev.baseline_scores(panel, {}, momentum_lookback=21)
    with pytest.raises(ValueError, match="seed=-1"):
        ev.baseline_scores(panel, {}, seed=-1)
    with pytest.raises(ValueError, match="volatility_window=1"):
        ev.baseline_scores(panel, {}, volatility_window=1)


# -- dollar volume and the liquid universe ---------------------------------------------


def test_trailing_dollar_volume_and_a_ranking_that_changes_across_dates():
    index = pd.bdate_range("2024-01-01", periods=10)
    close = pd.Series(10.0, index=index)
    volumes = {  # A leads early, C late; B in between
        "A": [100, 100, 100, 100, 100, 10, 10, 10, 10, 10],
        "B": [50] * 10,
        "C": [1, 1, 1, 1, 1, 300, 300, 300, 300, 300],
    }
    bars = {
        s: pd.DataFrame({"close": close, "volume": np.array(v, float)}) for s, v in volumes.items()
    }
    days = [index[3], index[6], index[9]]
    panel = panel_of(days, ["A", "B", "C"])
    volume = ev.trailing_dollar_volume(panel, bars, window=3)
    assert volume.loc[(index[3], "A")] == pytest.approx(1000.0)
    assert volume.loc[(index[6], "A")] == pytest.approx(10 * (100 + 10 + 10) / 3)
    assert volume.loc[(index[6], "C")] == pytest.approx(10 * (1 + 300 + 300) / 3)
    keep = ev.top_by_date(volume, 2)
    kept = {
        d: set(panel.index[keep & (panel.index.get_level_values(0) == d)].get_level_values(1))
        for d in days
    }
    assert kept == {days[0]: {"A", "B"}, days[1]: {"C", "B"}, days[2]: {"C", "B"}}
    assert ev.trailing_dollar_volume(panel_of([index[1]], ["A"]), bars, 3).isna().all()


def test_top_by_date_breaks_ties_by_symbol_and_skips_nan():
    panel = panel_of([pd.Timestamp("2024-01-31")], ["B", "A", "C", "D"])
    values = pd.Series([5.0, 5.0, np.nan, 1.0], index=panel.index)
    assert ev.top_by_date(values, 1).tolist() == [False, True, False, False]
    assert ev.top_by_date(values, 9).tolist() == [True, True, False, True]
    with pytest.raises(ValueError, match="top_n=0"):
        ev.top_by_date(values, 0)


def test_liquid_keeps_the_top_symbols_by_past_dollar_volume_re_ranked(demo):
    liquid = demo.liquid(top_n=15, window=20)
    panel, full = liquid.panel, demo.panel
    assert panel.groupby(level="date").size().max() == 15
    for day, rows in full.groupby(level="date"):
        want = []
        for symbol in rows.index.get_level_values("symbol"):
            bars = demo.bars[symbol]["close"].loc[:day]
            volume = demo.bars[symbol]["volume"].loc[:day]
            want.append(((bars * volume).iloc[-20:].mean(), symbol))
        top = {s for _, s in sorted(want, key=lambda p: (-p[0], p[1]))[:15]}
        got = set(panel.xs(day, level="date").index)
        assert got == top, day
    # the scores of a row are its own; ranks are per date among the kept rows
    pd.testing.assert_series_equal(
        panel["tech_rating"], full["tech_rating"].reindex(panel.index), check_exact=True
    )
    for _, rows in panel.groupby(level="date"):
        rated = rows["tech_rating"].notna().sum()
        assert sorted(rows["rank"].dropna().astype(int)) == list(range(1, rated + 1))
    direct = ev.forward_returns(panel.index, demo.bars, demo.horizons, demo.benchmark)
    pd.testing.assert_frame_equal(liquid.returns, direct, check_exact=True)  # reused, not redone
    assert "liquid universe: top 15" in liquid.status
    day = demo.dates[-1]
    assert set(liquid.table(day).index) == set(panel.xs(pd.Timestamp(day), level="date").index)


# -- scores and compare ----------------------------------------------------------------


def test_scores_mix_panel_columns_and_baselines(demo):
    scores = demo.scores(["tech_rating", "rvol20_pct", "momentum_12_1", "random"], seed=4)
    assert scores.index.equals(demo.panel.index)
    pd.testing.assert_series_equal(scores["tech_rating"], demo.panel["tech_rating"])
    direct = ev.baseline_scores(demo.panel, demo.bars, ["momentum_12_1", "random"], seed=4)
    pd.testing.assert_frame_equal(scores[["momentum_12_1", "random"]], direct)
    assert not scores["random"].equals(demo.scores(["random"], seed=5)["random"])
    default = demo.scores()
    assert list(default.columns) == [*demo._factors(), *ev.BASELINES]
    with pytest.raises(ValueError, match=r"unknown scores \['nope', 'signal'\].*momentum_12_1"):
        demo.scores(["tech_rating", "nope", "signal"])


def test_compare_lists_factors_and_baselines_with_the_best_baseline_difference(demo):
    table = demo.compare(["tech_rating", "trend"], horizons=[5, 21])
    names = ["tech_rating", "trend", *ev.BASELINES]
    ic = ev.information_coefficient(demo.scores(names), demo.returns, names, [5, 21])
    summary = ev.ic_summary(ic, demo.spacing)
    pd.testing.assert_frame_equal(table[summary.columns], summary)
    holm = multipletests(summary["nw_p_value"].dropna(), method="holm")[1]
    assert np.allclose(table["p_holm"].dropna(), holm)
    for horizon in (5, 21):
        means = {b: summary.loc[(b, horizon), "mean"] for b in ev.BASELINES}
        best = max(means, key=means.get)
        for factor in ("tech_rating", "trend"):
            row = table.loc[(factor, horizon)]
            assert row["best_baseline"] == best
            diff = (ic[(factor, horizon)] - ic[(best, horizon)]).dropna()
            assert row["vs_best_baseline"] == pytest.approx(diff.mean())
            lags = int(summary.loc[(factor, horizon), "nw_lags"])
            assert row["vs_best_t"] == pytest.approx(ev.newey_west_tstat(diff, lags)[2])
        assert table.loc[("random", horizon), "baseline"]
        assert math.isnan(table.loc[("random", horizon), "vs_best_baseline"])
    fixed = demo.compare(["tech_rating"], horizons=[21], hac_lags=3)
    assert (fixed["nw_lags"] == 3).all()
    t = ev.newey_west_tstat(ic[("tech_rating", 21)].dropna(), 3)[2]
    assert fixed.loc[("tech_rating", 21), "nw_t_stat"] == pytest.approx(t)
    with pytest.raises(ValueError, match="hac_lags=-1"):
        demo.compare(hac_lags=-1)


# -- neutralised views -----------------------------------------------------------------


def test_sector_ic_equals_spearmanr_per_date_and_sector_weighted_by_pairs():
    panel, returns = small_panel()
    got = ev.sector_ic(panel, returns, ["f", "e1"], [5], min_obs=5)
    for factor in ("f", "e1"):
        for day, rows in panel.groupby(level="date"):
            total = weight = 0.0
            for _, part in rows.groupby("sector"):
                y = returns.loc[part.index, "fwd_5d"]
                ok = part[factor].notna() & y.notna()
                if ok.sum() < 5:
                    continue  # sector C (3 symbols) never counts
                rho = stats.spearmanr(part[factor][ok], y[ok]).statistic
                total, weight = total + ok.sum() * rho, weight + ok.sum()
            assert got.loc[day, (factor, 5)] == pytest.approx(total / weight, rel=1e-12)
    assert got.shape == (6, 2)


def test_sector_quantiles_are_formed_within_each_sector():
    panel, returns = small_panel(dates=4)
    panel["f"] = np.random.default_rng(9).normal(size=len(panel))  # distinct values
    report = ev.sector_quantile_returns(panel, returns, "f", 5, quantiles=3, spacing_bars=21)
    frame = panel.join(returns)
    frame = frame[frame["f"].notna() & frame["fwd_5d"].notna()]
    labelled = []
    for _, part in frame.groupby([frame.index.get_level_values("date"), "sector"]):
        if len(part) >= 3:
            labelled.append(part.assign(q=pd.qcut(part["f"], 3, labels=False) + 1))
    rows = pd.concat(labelled)
    want = rows.groupby([rows.index.get_level_values("date"), "q"])["fwd_5d"].mean().unstack()
    assert np.allclose(report.by_date.to_numpy(), want.to_numpy())
    assert report.spread_mean == pytest.approx((want[3] - want[1]).mean())


def scaled_ranks(values: np.ndarray) -> np.ndarray:
    return (stats.rankdata(values) - 1) / (len(values) - 1)


def test_residual_ic_equals_statsmodels_ols_per_date():
    panel, returns = small_panel()
    found = ev.residual_ic(panel, returns, "f", ["e1", "e2"], [5], min_obs=10)
    for day, rows in panel.groupby(level="date"):
        rows = rows[rows["f"].notna()]
        x = sm.add_constant(np.column_stack([scaled_ranks(rows["e1"]), scaled_ranks(rows["e2"])]))
        fit = sm.OLS(scaled_ranks(rows["f"]), x).fit()
        assert found.r_squared[day] == pytest.approx(fit.rsquared, rel=1e-10)
        y = returns.loc[rows.index, "fwd_5d"].to_numpy()
        ok = np.isfinite(y)
        rho = stats.spearmanr(fit.resid[ok], y[ok]).statistic
        assert found.ic.loc[day, ("f_resid", 5)] == pytest.approx(rho, rel=1e-10)
        corr = stats.spearmanr(rows["f"], rows["e1"]).statistic
        assert found.exposure_corr.loc[day, "e1"] == pytest.approx(corr, rel=1e-12)
        assert found.counts[day] == len(rows)
    summary = ev.residual_ic_summary(found, spacing_bars=21)
    assert summary.loc[("f_resid", 5), "mean"] == pytest.approx(found.ic.iloc[:, 0].mean())
    assert summary["r_squared"].iloc[0] == pytest.approx(found.r_squared.mean())


def test_a_factor_linear_in_an_exposure_rank_has_no_residual_ic():
    panel, returns = small_panel()
    panel["f"] = 1 + 3 * panel.groupby(level="date")["e1"].rank()
    found = ev.residual_ic(panel, returns, "f", ["e1"], [5])
    assert np.allclose(found.r_squared, 1.0)
    assert found.ic.isna().all().all()  # the residual is 0: a flat variable, IC NaN
    assert np.allclose(found.exposure_corr["e1"], 1.0)


def test_residual_ic_arguments_are_checked():
    panel, returns = small_panel()
    with pytest.raises(ValueError, match="not the factor itself"):
        ev.residual_ic(panel, returns, "f", ["f"])
    with pytest.raises(ValueError, match="at least one column"):
        ev.residual_ic(panel, returns, "f", [])
    with pytest.raises(ValueError, match=r"lacks the columns \['zz'\]"):
        ev.residual_ic(panel, returns, "f", ["zz"])


def test_replay_neutral_views_match_the_pure_functions(demo):
    sic = demo.sector_ic(["tech_rating", "reversal_1m"])
    frame = demo.scores(["tech_rating", "reversal_1m"]).assign(sector=demo.panel["sector"])
    want = ev.sector_ic(frame, demo.returns, ["tech_rating", "reversal_1m"])
    pd.testing.assert_frame_equal(sic, want)
    assert sic.shape == demo.ic(["tech_rating", "trend"]).shape
    summary = demo.sector_ic_summary(["tech_rating"])
    pd.testing.assert_frame_equal(summary, ev.ic_summary(sic[["tech_rating"]], demo.spacing))
    report = demo.sector_quantiles("tech_rating", 21, 3)
    assert report.by_date.shape == (len(demo.dates), 3)
    residual = demo.residual_ic(exposures=("ret_21d_pct", "momentum_12_1"))
    assert residual.exposures == ("ret_21d_pct", "momentum_12_1")
    assert residual.exposure_corr["ret_21d_pct"].mean() > 0.3
    table = demo.residual_ic_summary()
    assert list(table.index.get_level_values(0).unique()) == ["tech_rating_resid"]


def test_every_view_of_the_panel_takes_a_baseline_as_a_factor(demo):
    scores = demo.scores(["reversal_1m", "tech_rating"])
    expected = ev.information_coefficient(scores, demo.returns, ["reversal_1m"], demo.horizons)
    pd.testing.assert_frame_equal(demo.ic("reversal_1m"), expected)
    pd.testing.assert_frame_equal(demo.ic(["reversal_1m"]), expected)
    both = demo.ic(["tech_rating", "reversal_1m"])
    pd.testing.assert_frame_equal(both[["reversal_1m"]], expected)
    assert "reversal_1m" not in demo.panel.columns  # the panel itself is left as it is
    quintiles = demo.quantiles("reversal_1m", 21)
    direct = ev.quantile_returns(
        demo.panel.assign(reversal_1m=scores["reversal_1m"]),
        demo.returns,
        "reversal_1m",
        21,
        spacing_bars=demo.spacing,
    )
    pd.testing.assert_frame_equal(quintiles.summary, direct.summary)
    by_year = demo.ic_by("year", factors=["reversal_1m"], horizon=21)
    years = expected[("reversal_1m", 21)].groupby(expected.index.year).mean()
    assert np.allclose(by_year.loc["reversal_1m", "mean"].to_numpy(), years.dropna().to_numpy())
    decay = demo.ic_decay("momentum_12_1", horizons=(5, 21))
    assert decay.loc[21, "mean"] == pytest.approx(
        demo.ic("momentum_12_1")[("momentum_12_1", 21)].mean()
    )
