"""Per-date inference and the stability of the IC: signals and trades per date, HAC
lags (Newey-West and Hansen-Hodrick), the IC by year and regime, rolling and decay."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

import technic_nb as tn
from technic_nb import ScanConfig
from technic_nb.core.regime import market_regime
from technic_nb.research import evaluation as ev
from technic_nb.research.evaluation import (
    NEGATIVE_VARIANCE,
    hansen_hodrick_tstat,
    ic_by_group,
    ic_decay,
    ic_lag_sensitivity,
    ic_summary,
    newey_west_tstat,
    overlap_lags,
    r_summary,
    replay_regimes,
    rolling_ic,
    signal_stats,
)

DATES = pd.date_range("2020-01-31", periods=40, freq="BME")
SIGNALS = ["Strong Long", "Long", "Neutral", "Short", "Strong Short"]


def hac_t(values: np.ndarray, lags: int, uniform: bool = False) -> float:
    """The HAC t of the mean by the formula: (g0 + 2 sum w_j g_j) / (n - 1)."""
    x = np.asarray(values, dtype=float)
    n, e = len(x), x - x.mean()
    g = [float(e[j:] @ e[: n - j]) / n for j in range(lags + 1)]
    weights = [1.0 if uniform else 1.0 - j / (lags + 1) for j in range(lags + 1)]
    variance = (g[0] + 2.0 * sum(w * gj for w, gj in zip(weights[1:], g[1:], strict=True))) / (
        n - 1
    )
    return x.mean() / math.sqrt(variance) if variance > 0 else math.nan


def random_ic(seed: int = 0, factors=("tech_rating", "trend"), horizons=(5, 21, 63)):
    rng = np.random.default_rng(seed)
    columns = pd.MultiIndex.from_product([factors, horizons], names=["factor", "horizon"])
    data = rng.normal(0.02, 0.1, (len(DATES), len(columns)))
    data[:, 1] += 0.5 * np.r_[0.0, data[:-1, 1]]  # autocorrelated: the lags matter
    data[-2:, columns.get_level_values("horizon") == max(horizons)] = np.nan  # no return yet
    return pd.DataFrame(data, index=pd.DatetimeIndex(DATES, name="date"), columns=columns)


# -- signals per date --------------------------------------------------------------------


def test_signal_stats_are_per_date_against_a_plain_loop() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for k, day in enumerate(DATES[:15]):
        for i in range(int(rng.integers(5, 30))):
            signal = SIGNALS[int(rng.integers(0, 5))] if k % 4 else "Long"
            rows.append((day, f"S{i}", signal, rng.normal(0.01, 0.05)))
    frame = pd.DataFrame(rows, columns=["date", "symbol", "signal", "ret"])
    frame.loc[frame.index % 11 == 0, "ret"] = np.nan
    frame = frame.set_index(["date", "symbol"])
    panel = pd.DataFrame({"signal": pd.Categorical(frame["signal"], categories=SIGNALS)})
    panel.index = frame.index
    returns = pd.DataFrame({"fwd_21d": frame["ret"]})
    table = signal_stats(panel, returns, horizon=21, hac_lags=1)
    ok = frame.dropna()
    universe = ok.groupby(level="date")["ret"].mean()
    for name in SIGNALS:
        mine = ok[ok["signal"] == name]
        per_date = mine.groupby(level="date")["ret"]
        excess = per_date.mean() - universe.reindex(per_date.mean().index)
        row = table.loc[name]
        assert row["n_rows"] == len(mine) and row["n_dates"] == per_date.ngroups
        assert row["excluded"] == int(frame.loc[frame["signal"] == name, "ret"].isna().sum())
        assert row["mean"] == pytest.approx(per_date.mean().mean(), abs=1e-14)
        assert row["hit_rate"] == pytest.approx(per_date.apply(lambda x: (x > 0).mean()).mean())
        assert row["excess"] == pytest.approx(excess.mean(), abs=1e-14)
        assert row["nw_t"] == pytest.approx(hac_t(excess.to_numpy(), 1), rel=1e-9)
        everywhere = frame[frame["signal"] == name].groupby(level="date").size()
        top6 = everywhere.sort_values(ascending=False).head(6).sum() / everywhere.sum()
        assert row["top6_share"] == pytest.approx(top6)
    assert table.loc["Long", "top6_share"] < 1.0  # Long fires on every date
    p = table["p"].to_numpy()
    np.testing.assert_allclose(table["p_holm"], multipletests(p, method="holm")[1])
    np.testing.assert_allclose(table["p_bh"], multipletests(p, method="fdr_bh")[1])
    # by default the lags come from the overlap of the horizon and the spacing
    assert signal_stats(panel, returns, 21, spacing_bars=5)["nw_lags"].eq(4).all()
    assert signal_stats(panel, returns, 21, spacing_bars=21)["nw_lags"].eq(0).all()
    with pytest.raises(ValueError, match="hac_lags=-1 is invalid"):
        signal_stats(panel, returns, 21, hac_lags=-1)


# -- trades per date ---------------------------------------------------------------------


def test_r_summary_per_date_by_hand() -> None:
    d = DATES
    outcome = ["stop", "target", "timeout", "no_fill", "stop", "stop", "target", "bad_bar"]
    trades = pd.DataFrame(
        {
            "date": [d[0], d[0], d[1], d[2], d[3], d[3], d[3], d[4]],
            "outcome": outcome,
            "r_multiple": [-1.0, 2.0, 0.5, np.nan, -1.0, -1.0, 1.0, np.nan],
            "bars_held": pd.array([3, 5, 63, pd.NA, 2, 4, 9, pd.NA], dtype="Int64"),
        }
    )
    per_date = np.array([0.5, 0.5, -1.0 / 3.0])  # d2 has no fill, d4 only a bad bar
    s = r_summary(trades, hac_lags=1)
    assert s["dates"] == 3 and s["nw_lags"] == 1
    assert s["mean_r_by_date"] == pytest.approx(per_date.mean())  # 2/9, pooled mean_r is 1/12
    assert s["mean_r"] == pytest.approx(0.5 / 6)
    assert s["nw_t_by_date"] == pytest.approx(hac_t(per_date, 1))
    assert s["p_by_date"] == pytest.approx(ev.stats.normal_p(hac_t(per_date, 1)))
    # default lags: the overlap of max_days with the spacing
    assert r_summary(trades, max_days=63, spacing_bars=21)["nw_lags"] == 2
    assert r_summary(trades, max_days=10, spacing_bars=21)["nw_lags"] == 0
    with pytest.raises(ValueError, match="lacks the columns \\['date'\\]"):
        r_summary(trades.drop(columns="date"))


# -- HAC lags ----------------------------------------------------------------------------


def test_hansen_hodrick_is_the_uniform_kernel_by_hand() -> None:
    x = random_ic()[("tech_rating", 21)].to_numpy()
    for lags in (0, 1, 2, 4):
        mean, se, t, note = hansen_hodrick_tstat(x, lags)
        assert t == pytest.approx(hac_t(x, lags, uniform=True), rel=1e-10) and note == ""
        assert mean == pytest.approx(x.mean()) and se == pytest.approx(mean / t)
    # no lag: the plain iid t
    assert hansen_hodrick_tstat(x, 0)[2] == pytest.approx(newey_west_tstat(x, 0)[2])
    # uniform weights are not Bartlett's
    assert hansen_hodrick_tstat(x, 2)[2] != pytest.approx(newey_west_tstat(x, 2)[2])
    # NaN values are dropped
    assert hansen_hodrick_tstat(np.r_[x, np.nan], 2)[2] == pytest.approx(
        hansen_hodrick_tstat(x, 2)[2]
    )


def test_a_negative_hansen_hodrick_variance_gives_nan_with_a_note() -> None:
    x = 0.1 + np.tile([1.0, -1.0], 20)  # alternating: g0 + 2 g1 < 0
    assert math.isnan(hac_t(x, 1, uniform=True))
    mean, se, t, note = hansen_hodrick_tstat(x, 1)
    assert mean == pytest.approx(0.1) and math.isnan(se) and math.isnan(t)
    assert note == NEGATIVE_VARIANCE
    assert math.isfinite(newey_west_tstat(x, 1)[2])  # Bartlett never goes negative
    with pytest.raises(ValueError, match="lags=-1 is invalid"):
        hansen_hodrick_tstat(x, -1)


def test_ic_lag_sensitivity_by_hand() -> None:
    ic = random_ic()
    table = ic_lag_sensitivity(ic, 63, lags=(0, 1, 3), spacing_bars=21)
    assert table.index.tolist() == ["tech_rating", "trend"]
    assert [c for c in table.columns if c.startswith("t_lag")] == ["t_lag0", "t_lag1", "t_lag3"]
    for factor in table.index:
        x = ic[(factor, 63)].dropna().to_numpy()
        row = table.loc[factor]
        assert row["n_dates"] == len(x) == len(DATES) - 2
        for lag in (0, 1, 3):
            assert row[f"t_lag{lag}"] == pytest.approx(hac_t(x, lag), rel=1e-10)
        assert row["hh_lags"] == 2 == overlap_lags(63, 21)
        assert row["t_hh"] == pytest.approx(hac_t(x, 2, uniform=True), rel=1e-10)
    assert (ic_lag_sensitivity(ic, 5, spacing_bars=21)["hh_lags"] == 0).all()
    with pytest.raises(ValueError, match="no column at horizon 10"):
        ic_lag_sensitivity(ic, 10, spacing_bars=21)


def test_ic_summary_takes_hac_lags() -> None:
    ic = random_ic()
    default = ic_summary(ic, spacing_bars=21)
    assert default["nw_lags"].tolist() == [0, 0, 2] * 2
    fixed = ic_summary(ic, spacing_bars=21, hac_lags=4)
    assert (fixed["nw_lags"] == 4).all()
    for (factor, horizon), row in fixed.iterrows():
        x = ic[(factor, horizon)].dropna().to_numpy()
        assert row["nw_t_stat"] == pytest.approx(hac_t(x, 4), rel=1e-10)
    with pytest.raises(ValueError, match=r"hac_lags=1\.5 is invalid"):
        ic_summary(ic, hac_lags=1.5)


# -- groups, rolling, decay --------------------------------------------------------------


def test_ic_by_group_by_hand() -> None:
    ic = random_ic()
    groups = pd.Series(np.where(np.arange(len(DATES)) % 3 == 0, "a", "b"), index=ic.index)
    groups.iloc[5] = None  # an unlabelled date is left out
    table = ic_by_group(ic, groups, 21, spacing_bars=5)
    assert table.index.tolist() == [(f, g) for f in ("tech_rating", "trend") for g in ("a", "b")]
    for (factor, group), row in table.iterrows():
        x = ic[(factor, 21)][(groups == group).to_numpy()].dropna().to_numpy()
        assert row["n_dates"] == len(x) and row["mean"] == pytest.approx(x.mean())
        assert row["nw_lags"] == 4 and row["nw_t_stat"] == pytest.approx(hac_t(x, 4))
    np.testing.assert_allclose(table["p_holm"], multipletests(table["p_value"], method="holm")[1])
    assert table["n_dates"].groupby(level="factor").sum().eq(len(DATES) - 1).all()
    assert (ic_by_group(ic, groups, 21, hac_lags=0)["nw_lags"] == 0).all()
    with pytest.raises(ValueError, match="labels none of the IC's dates"):
        ic_by_group(ic, pd.Series(["a"], index=[pd.Timestamp("1999-01-01")]), 21)


def test_rolling_ic_against_a_plain_loop() -> None:
    ic = random_ic()
    ic.iloc[7, 0] = np.nan
    out = rolling_ic(ic, "tech_rating", 5, window=4, min_periods=3)
    x = ic[("tech_rating", 5)].to_numpy()
    for i in range(len(x)):
        window = x[max(0, i - 3) : i + 1]
        present = window[np.isfinite(window)]
        want = present.mean() if len(present) >= 3 else np.nan
        assert out.iloc[i] == pytest.approx(want, nan_ok=True)
    assert rolling_ic(ic, "tech_rating", 5, window=4).iloc[:3].isna().all()
    with pytest.raises(ValueError, match="min_periods=5 is invalid"):
        rolling_ic(ic, "tech_rating", 5, window=4, min_periods=5)
    with pytest.raises(ValueError, match="window=0 is invalid"):
        rolling_ic(ic, "tech_rating", 5, window=0)


def test_ic_decay_rows_are_the_ic_summary_of_each_horizon() -> None:
    ic = random_ic(horizons=(63, 5, 21))
    decay = ic_decay(ic, "trend", spacing_bars=21)
    assert decay.index.tolist() == [5, 21, 63]
    assert decay["nw_lags"].tolist() == [0, 0, 2]
    for h, row in decay.iterrows():
        x = ic[("trend", h)].dropna().to_numpy()
        assert row["mean"] == pytest.approx(x.mean())
        assert row["nw_t_stat"] == pytest.approx(hac_t(x, overlap_lags(h, 21)))
    np.testing.assert_allclose(decay["p_bh"], multipletests(decay["p_value"], method="fdr_bh")[1])
    with pytest.raises(ValueError, match="no column of the factor 'volume'"):
        ic_decay(ic, "volume")


# -- regimes -----------------------------------------------------------------------------


def test_regimes_are_market_regime_of_the_closes_up_to_each_date() -> None:
    rng = np.random.default_rng(1)
    calendar = pd.bdate_range("2019-01-01", "2021-12-31")
    closes = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(calendar)))), calendar)
    dates = [pd.Timestamp("2019-03-29"), pd.Timestamp("2020-06-30"), pd.Timestamp("2021-06-27")]
    frame = replay_regimes([d.date() for d in dates], closes)
    assert frame.index.tolist() == dates and frame.columns[:3].tolist() == [
        "label", "trend", "volatility"
    ]  # fmt: skip
    assert frame.loc[dates[0], "label"] == "unknown"  # fewer than 200 closes
    for day in dates:
        want = market_regime(closes[closes.index <= day]).as_dict()  # 2021-06-27 is a Sunday
        got = frame.loc[day]
        assert got["label"] == want["label"] and got["bars"] == want["bars"]
        assert got["vol_ratio"] == pytest.approx(want["vol_ratio"], nan_ok=True)
    with pytest.raises(ValueError, match="no benchmark"):
        replay_regimes(dates, None)  # type: ignore[arg-type]


# -- on a replay -------------------------------------------------------------------------

DEMO_DATES = pd.date_range("2023-01-01", "2025-12-31", freq="BME")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    config = ScanConfig(
        source="demo:60",
        cache_dir=tmp_path_factory.mktemp("stability"),
        n_jobs=2,
        backend="threading",
    )
    return tn.replay(config, DEMO_DATES)


def test_regimes_of_a_replay_see_no_later_bar(replayed) -> None:
    regimes = replayed.regimes
    assert regimes.index.tolist() == [pd.Timestamp(d) for d in replayed.dates]
    assert set(regimes["label"]) <= {
        f"{t}/{v}" for t in ("up", "down", "sideways") for v in ("high", "normal")
    } | {"unknown"}
    for day in (DEMO_DATES[6], DEMO_DATES[20]):
        cut = replayed.benchmark[replayed.benchmark.index <= day]
        truncated = replay_regimes([day], cut)
        pd.testing.assert_series_equal(truncated.loc[day], regimes.loc[day])
    without = dataclasses.replace(replayed, benchmark=None)
    with pytest.raises(ValueError, match="no benchmark, so no market regime"):
        without.ic_by("regime")


def test_the_stability_views_of_a_replay(replayed) -> None:
    by_year = replayed.ic_by("year", ["tech_rating"], 21)
    assert by_year.index.names == ["factor", "year"]
    assert by_year.index.get_level_values("year").tolist() == [2023, 2024, 2025]
    ic = replayed.ic(["tech_rating"])[("tech_rating", 21)]
    assert by_year.loc[("tech_rating", 2024), "mean"] == pytest.approx(
        ic[ic.index.year == 2024].mean()
    )
    by_regime = replayed.ic_by("regime", ["tech_rating"])
    assert by_regime["n_dates"].sum() == ic.notna().sum()
    assert set(by_regime.index.get_level_values("regime")) <= set(replayed.regimes["label"])
    with pytest.raises(ValueError, match="by='month' is invalid"):
        replayed.ic_by("month")
    sensitivity = replayed.ic_lag_sensitivity(horizon=63)
    summary = replayed.ic_summary()
    for factor in sensitivity.index:
        assert sensitivity.loc[factor, "t_lag2"] == pytest.approx(
            summary.loc[(factor, 63), "nw_t_stat"]
        )  # the overlap lags of 63 bars at a month apart: 2
    rolling = replayed.rolling_ic(window=6)
    assert rolling.iloc[5] == pytest.approx(ic.iloc[:6].mean())
    # the decay's returns at the replay's horizons are the replay's own
    decay = replayed.ic_decay(horizons=(63, 2, 21, 5))
    assert decay.index.tolist() == [2, 5, 21, 63]
    for h in (5, 21, 63):
        assert decay.loc[h, "mean"] == pytest.approx(summary.loc[("tech_rating", h), "mean"])
        assert decay.loc[h, "nw_t_stat"] == pytest.approx(
            summary.loc[("tech_rating", h), "nw_t_stat"]
        )
    assert replayed.ic_decay(horizons=(2, 5, 21, 63)) is not decay  # recomputed, cached returns
    assert replayed.plot_rolling_ic(window=6).axes and replayed.plot_ic_decay(horizons=(5, 21)).axes


def test_signals_and_trade_summary_of_a_replay_are_per_date(replayed) -> None:
    table = replayed.signals(21)
    assert table.index.tolist() == SIGNALS
    assert table["n_dates"].max() <= len(replayed.dates)
    assert (replayed.signals(21, hac_lags=3)["nw_lags"] == 3).all()
    summary = replayed.trade_summary(top_n=10, max_days=63)
    assert summary.loc["nw_lags", "chart"] == overlap_lags(63, replayed.spacing)
    trades = replayed.trades(top_n=10)
    per_date = trades.dropna(subset=["r_multiple"]).groupby("date")["r_multiple"].mean()
    assert summary.loc["dates", "chart"] == len(per_date)
    assert summary.loc["mean_r_by_date", "chart"] == pytest.approx(per_date.mean())
    assert summary.loc["trades", "chart"] > 0
    assert replayed.trade_summary(top_n=10, hac_lags=0).loc["nw_lags", "fixed"] == 0
