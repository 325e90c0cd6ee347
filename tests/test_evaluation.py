"""Tests of the replay statistics (technic_nb.research.evaluation) and their plots."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from technic_nb.core.bars import check_bar_values
from technic_nb.core.errors import ScanError
from technic_nb.research.evaluation import (
    OUTCOMES,
    STATUSES,
    TRADE_COLUMNS,
    diff_tables,
    dropped_summary,
    find_bad_bars,
    forward_returns,
    ic_counts,
    ic_summary,
    information_coefficient,
    newey_west_tstat,
    overlap_lags,
    quantile_returns,
    r_summary,
    replay_spacing,
    signal_stats,
    to_alphalens,
    top_turnover,
    walk_trade_plans,
)

# -- helpers --------------------------------------------------------------------------


def random_bars(rng: np.random.Generator, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Plausible OHLCV bars on ``dates`` (a random walk)."""
    n = len(dates)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    open_ = close * np.exp(rng.normal(0.0, 0.005, n))
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.01, n))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.01, n))
    volume = rng.uniform(1e5, 1e6, n)
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=pd.DatetimeIndex(dates, name="date"),
    )
    return frame


def panel_index(dates: list[pd.Timestamp], symbols: list[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_product([pd.DatetimeIndex(dates), symbols], names=["date", "symbol"])


CAL = pd.bdate_range("2023-01-02", periods=150)
#: The bad bar of each symbol of the ``universe`` fixture (the scan's checks reject it).
BAD_DAYS = {"FULL": CAL[70], "HOLEY": CAL[100]}


def shift_bar(frame: pd.DataFrame, day: pd.Timestamp, factor: float = 0.1) -> None:
    """Bar ``day`` of ``frame`` with every price times ``factor`` (a decimal shift that
    breaks no OHLC rule: only the outlier rule rejects it), in place."""
    frame.loc[day, ["open", "high", "low", "close"]] *= factor


@pytest.fixture(scope="module")
def universe() -> tuple[dict[str, pd.DataFrame], pd.Series, pd.MultiIndex]:
    """Bars with holes, a benchmark with holes, and a shuffled (date, symbol) index.

    FULL trades every day; LATE starts at day 40; GONE stops at day 90 (delisted);
    HOLEY misses a fifth of the days; NOPE has no bars.  FULL and HOLEY have a bad
    bar each (:data:`BAD_DAYS`: a whole bar shifted by a decimal, a close below the
    low).  The scan dates include a Saturday, a date before any bar and a date after
    the data.
    """
    rng = np.random.default_rng(7)
    keep = rng.uniform(size=len(CAL)) > 0.2
    keep[-1] = keep[100] = True
    bars = {
        "FULL": random_bars(rng, CAL),
        "LATE": random_bars(rng, CAL[40:]),
        "GONE": random_bars(rng, CAL[:90]),
        "HOLEY": random_bars(rng, CAL[keep]),
    }
    shift_bar(bars["FULL"], BAD_DAYS["FULL"])
    bars["HOLEY"].loc[BAD_DAYS["HOLEY"], "close"] /= 100  # below the low
    bench_days = CAL.delete([3, 50, 51, 120])
    benchmark = pd.Series(400.0 * np.exp(np.cumsum(rng.normal(0, 0.01, len(bench_days)))))
    benchmark.index = bench_days
    dates = [
        *CAL[::9],
        CAL[34] + pd.Timedelta(days=1),  # a Saturday
        CAL[0] - pd.Timedelta(days=10),  # before every bar
        CAL[-1] + pd.Timedelta(days=10),  # after the data
    ]
    index = panel_index(sorted(dates), ["FULL", "LATE", "GONE", "HOLEY", "NOPE"])
    order = rng.permutation(len(index))
    return bars, benchmark, index[order]


def loop_forward(
    index: pd.MultiIndex,
    bars: dict[str, pd.DataFrame],
    horizon: int,
    benchmark: pd.Series | None,
    data_end: pd.Timestamp,
) -> pd.DataFrame:
    """The forward returns row by row, the slow obvious way (the bad bars are
    :data:`BAD_DAYS`)."""

    def bench_at(day: pd.Timestamp) -> float:
        if benchmark is None:
            return math.nan
        before = benchmark[benchmark.index <= day]
        return float(before.iloc[-1]) if len(before) else math.nan

    out = []
    for date, symbol in index:
        frame = bars.get(symbol, pd.DataFrame({"close": []}, index=pd.DatetimeIndex([])))
        past = frame[frame.index <= date]
        if past.empty:
            out.append((math.nan, math.nan, "no_bars"))
            continue
        anchor_day = past.index[-1]
        anchor = len(past) - 1
        closes = frame["close"].to_numpy()
        last = min(anchor + horizon, len(frame) - 1)
        if anchor_day <= BAD_DAYS.get(symbol, pd.NaT) <= frame.index[last]:
            out.append((math.nan, math.nan, "bad_bar"))
            continue
        if anchor + horizon < len(frame):
            end, status = anchor + horizon, "ok"
        elif frame.index[-1] < data_end:
            end, status = len(frame) - 1, "delisted"
        else:
            out.append((math.nan, math.nan, "no_future"))
            continue
        fwd = closes[end] / closes[anchor] - 1.0
        market = bench_at(frame.index[end]) / bench_at(anchor_day) - 1.0
        out.append((fwd, fwd - market, status))
    return pd.DataFrame(out, index=index, columns=["fwd", "excess", "status"])


# -- forward returns ------------------------------------------------------------------


@pytest.mark.parametrize("horizon", [1, 5, 21, 63])
def test_forward_returns_match_a_row_by_row_loop(universe, horizon: int) -> None:
    bars, benchmark, index = universe
    got = forward_returns(index, bars, horizons=(horizon,), benchmark=benchmark)
    want = loop_forward(index, bars, horizon, benchmark, CAL[-1])

    assert got.index.equals(index)  # every row, in the input order
    assert list(got[f"status_{horizon}d"].astype(str)) == list(want["status"])
    np.testing.assert_allclose(got[f"fwd_{horizon}d"], want["fwd"], rtol=1e-13, atol=0)
    np.testing.assert_allclose(got[f"excess_{horizon}d"], want["excess"], rtol=1e-12, atol=1e-15)
    # the fixture exercises every status
    assert set(want["status"]) == set(STATUSES)
    ok = want["status"].isin(["ok", "delisted"])
    assert got.loc[ok.to_numpy(), f"fwd_{horizon}d"].notna().all()
    assert got.loc[~ok.to_numpy(), f"fwd_{horizon}d"].isna().all()


def test_forward_returns_columns_anchor_and_no_benchmark(universe) -> None:
    bars, _, index = universe
    got = forward_returns(index, bars, horizons=(5, 21))
    assert list(got.columns) == [
        "fwd_5d",
        "excess_5d",
        "status_5d",
        "fwd_21d",
        "excess_21d",
        "status_21d",
        "anchor_date",
    ]
    assert got["excess_5d"].isna().all()
    saturday = CAL[34] + pd.Timedelta(days=1)
    assert saturday.day_name() == "Saturday"
    assert got.loc[(saturday, "FULL"), "anchor_date"] == CAL[34]  # the Friday
    assert pd.isna(got.loc[(CAL[0] - pd.Timedelta(days=10), "FULL"), "anchor_date"])


def test_forward_returns_delisted_depends_on_data_end(universe) -> None:
    bars, _, index = universe
    later = forward_returns(index, bars, horizons=(63,))
    at_its_end = forward_returns(
        index, {"GONE": bars["GONE"]}, horizons=(63,), data_end=bars["GONE"].index[-1]
    )
    gone = index.get_level_values("symbol") == "GONE"
    late = index.get_level_values("date") > CAL[90 - 63]
    rows = gone & late & (index.get_level_values("date") >= CAL[0])
    assert (later.loc[rows, "status_63d"] == "delisted").all()
    assert (at_its_end.loc[rows, "status_63d"] == "no_future").all()
    assert at_its_end.loc[rows, "fwd_63d"].isna().all()
    # a delisted row on or after the last bar keeps a return of 0
    after = gone & (index.get_level_values("date") >= CAL[89])
    assert (later.loc[after, "fwd_63d"] == 0.0).all()


def test_forward_returns_never_look_ahead(universe) -> None:
    bars, benchmark, index = universe
    h = 5
    base = forward_returns(index, bars, horizons=(h,), benchmark=benchmark)
    rng = np.random.default_rng(3)
    for symbol in ("FULL", "HOLEY", "LATE"):
        frame = bars[symbol]
        for (date, sym), row in base.iterrows():
            if sym != symbol or row[f"status_{h}d"] != "ok":
                continue
            anchor = frame.index.get_loc(row["anchor_date"])
            # every bar after anchor + h changed: fwd_h is unchanged
            after = frame.copy()
            after.iloc[anchor + h + 1 :, :4] *= rng.uniform(
                0.5, 2.0, (len(frame) - anchor - h - 1, 1)
            )
            # every bar before the anchor changed: nothing changes
            before = frame.copy()
            before.iloc[:anchor, :4] *= rng.uniform(0.5, 2.0, (anchor, 1))
            # the end bar changed: fwd_h changes (the check above can fail)
            end = frame.copy()
            end.iloc[anchor + h, :4] *= 1.1  # the whole bar: still a valid bar
            one = pd.MultiIndex.from_tuples([(date, sym)], names=index.names)
            for changed, same in ((after, True), (before, True), (end, False)):
                got = forward_returns(one, {sym: changed}, horizons=(h,), data_end=CAL[-1])
                assert bool(got[f"fwd_{h}d"].iloc[0] == row[f"fwd_{h}d"]) is same


def test_forward_returns_use_last_date_as_anchor() -> None:
    bars = {"A": random_bars(np.random.default_rng(1), CAL)}
    panel = pd.DataFrame(
        {"last_date": [CAL[20], pd.NaT]},
        index=panel_index([CAL[30]], ["A"]).append(panel_index([CAL[40]], ["A"])),
    )
    got = forward_returns(panel, bars, horizons=(5,))
    close = bars["A"]["close"]
    assert got["anchor_date"].tolist() == [CAL[20], CAL[40]]
    assert got["fwd_5d"].iloc[0] == pytest.approx(close.iloc[25] / close.iloc[20] - 1, rel=1e-14)
    stale = panel.assign(last_date=[CAL[31], pd.NaT])
    with pytest.raises(ValueError, match=r"last_date'\] is after the scan date"):
        forward_returns(stale, bars)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda b, i: forward_returns(i, b, horizons=(0,)), "horizon=0 is invalid"),
        (lambda b, i: forward_returns(i, b, horizons=(5, 5)), "repeats a horizon"),
        (lambda b, i: forward_returns(i.droplevel(1), b), "MultiIndex"),
        (lambda b, i: forward_returns(i, b, data_end="2023-01-05"), "data_end"),
        (lambda b, i: forward_returns(i, {"A": b["A"].iloc[::-1]}), "not ascending"),
        (lambda b, i: forward_returns(i, b, bad_bars={"A": np.zeros(3, bool)}), "bad_bars"),
        (lambda b, i: forward_returns(i, {"A": b["A"].drop(columns="close")}), "lacks"),
        (lambda b, i: forward_returns(i, b, benchmark=[1.0]), "benchmark must be a Series"),
    ],
)
def test_forward_returns_reject_bad_input(call, message: str) -> None:
    bars = {"A": random_bars(np.random.default_rng(1), CAL)}
    with pytest.raises(ValueError, match=message):
        call(bars, panel_index([CAL[10]], ["A"]))


def test_dropped_summary_counts_statuses(universe) -> None:
    bars, _, index = universe
    returns = forward_returns(index, bars, horizons=(5, 63))
    summary = dropped_summary(returns)
    assert list(summary.columns) == ["rows", *STATUSES, "missing"]
    assert summary.index.names == ["date", "horizon"]
    for (date, h), row in summary.iterrows():
        status = returns.xs(date, level="date")[f"status_{h}d"].astype(str)
        for name in STATUSES:
            assert row[name] == (status == name).sum()
        assert row["rows"] == len(status)
        assert row["missing"] == status.isin(["no_future", "no_bars", "bad_bar"]).sum()
    assert summary["no_bars"].sum() > 0 and summary["no_future"].sum() > 0
    assert summary["bad_bar"].sum() > 0


# -- bad bars ----------------------------------------------------------------------------


def bad_kinds() -> dict[str, Any]:
    """Ways a bar of a clean history goes bad (each rejected by the scan's checks)."""

    def close_shift(frame: pd.DataFrame, day: pd.Timestamp) -> None:
        frame.loc[day, "close"] /= 100  # SLG 2014-03-04: a close below the low

    def missing(frame: pd.DataFrame, day: pd.Timestamp) -> None:
        frame.loc[day, "close"] = np.nan

    def volume_spike(frame: pd.DataFrame, day: pd.Timestamp) -> None:
        frame.loc[day, "volume"] *= 1000

    return {
        "bar_shift": shift_bar,
        "close_shift": close_shift,
        "missing": missing,
        "volume_spike": volume_spike,
    }


@pytest.mark.parametrize("kind", sorted(bad_kinds()))
def test_a_bad_bar_on_the_path_gives_bad_bar(kind: str) -> None:
    clean = random_bars(np.random.default_rng(11), CAL)
    bad_day, h = CAL[60], 5
    frame = clean.copy()
    bad_kinds()[kind](frame, bad_day)
    # the scan rejects the bar: a window holding it fails, and it is the only bad bar
    with pytest.raises(ScanError, match=str(bad_day.date())):
        check_bar_values(frame.iloc[40:70], "X")
    check_bar_values(clean, "X")
    assert np.flatnonzero(find_bad_bars({"X": frame})["X"]).tolist() == [60]
    # anchors: the path ends just before it, ends on it, holds it, starts on it, starts after
    anchors = [CAL[60 - h - 1], CAL[60 - h], CAL[58], CAL[60], CAL[61]]
    index = panel_index(anchors, ["X"])
    got = forward_returns(index, {"X": frame}, horizons=(h,))
    want = ["ok", "bad_bar", "bad_bar", "bad_bar", "ok"]
    assert got[f"status_{h}d"].astype(str).tolist() == want
    close = clean["close"]
    for row, anchor in enumerate(anchors):
        value = got[f"fwd_{h}d"].iloc[row]
        if want[row] == "ok":
            start = CAL.get_loc(anchor)
            assert value == pytest.approx(close.iloc[start + h] / close.iloc[start] - 1, rel=1e-14)
        else:
            assert np.isnan(value)
    assert got["anchor_date"].tolist() == anchors  # the anchor is still reported
    dropped = dropped_summary(got)
    assert dropped["bad_bar"].tolist() == [0, 1, 1, 1, 0]
    assert dropped["missing"].tolist() == [0, 1, 1, 1, 0]
    assert dropped["ok"].tolist() == [1, 0, 0, 0, 1]


def test_bad_bars_of_delisted_and_unfinished_paths() -> None:
    frame = random_bars(np.random.default_rng(12), CAL[:50])
    shift_bar(frame, CAL[47])
    index = panel_index([CAL[40], CAL[48]], ["X"])
    # the data ends after the symbol's last bar: delisted, unless the bad bar is on the way
    gone = forward_returns(index, {"X": frame}, horizons=(21,), data_end=CAL[-1])
    assert gone["status_21d"].astype(str).tolist() == ["bad_bar", "delisted"]
    assert np.isnan(gone["fwd_21d"].iloc[0]) and np.isfinite(gone["fwd_21d"].iloc[1])
    # the data ends with the symbol: the bad bar already on the way wins over no_future
    ended = forward_returns(index, {"X": frame}, horizons=(21,))
    assert ended["status_21d"].astype(str).tolist() == ["bad_bar", "no_future"]


def test_bad_bars_are_found_with_the_close_alone_and_taken_as_given() -> None:
    frame = random_bars(np.random.default_rng(13), CAL)
    shift_bar(frame, CAL[30])
    index = panel_index([CAL[28], CAL[80]], ["X"])
    closes = frame[["close"]]
    got = forward_returns(index, {"X": closes}, horizons=(5,))
    assert got["status_5d"].astype(str).tolist() == ["bad_bar", "ok"]
    # a mask given is used as it is (computed once, passed to every call)
    mask = np.zeros(len(frame), dtype=bool)
    mask[82] = True
    given = forward_returns(index, {"X": frame}, horizons=(5,), bad_bars={"X": mask})
    assert given["status_5d"].astype(str).tolist() == ["ok", "bad_bar"]
    assert given["fwd_5d"].iloc[0] == pytest.approx(
        frame["close"].iloc[33] / frame["close"].iloc[28] - 1, rel=1e-14
    )


# -- information coefficient ------------------------------------------------------------


@pytest.fixture(scope="module")
def ic_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A panel with NaNs and ties, and returns with NaNs; date 0 is thin, date 1 flat."""
    rng = np.random.default_rng(11)
    dates = list(pd.bdate_range("2022-01-03", periods=14, freq="W-FRI"))
    symbols = [f"S{i:02d}" for i in range(30)]
    index = panel_index(dates, symbols)
    n = len(index)
    rating = np.round(rng.normal(0, 30, n), 0)  # ties
    trend = rng.integers(-3, 4, n).astype(float)  # many ties
    rating[rng.uniform(size=n) < 0.1] = np.nan
    panel = pd.DataFrame({"tech_rating": rating, "trend": trend}, index=index)
    panel.loc[dates[1], "trend"] = 1.0  # a flat factor on date 1
    returns = pd.DataFrame(
        {
            "fwd_5d": 0.001 * rating + rng.normal(0, 0.05, n),
            "fwd_21d": rng.normal(0, 0.1, n),
        },
        index=index,
    )
    returns.loc[rng.uniform(size=n) < 0.1, "fwd_5d"] = np.nan
    returns.loc[dates[0], ["fwd_5d", "fwd_21d"]] = np.nan
    for column in returns.columns:  # date 0: four usable pairs
        returns.iloc[:4, returns.columns.get_loc(column)] = 0.01 * np.arange(4)
    return panel, returns


def test_ic_equals_scipy_spearman_per_date(ic_data) -> None:
    panel, returns = ic_data
    ic = information_coefficient(panel, returns, factors=["tech_rating", "trend"], min_obs=5)
    counts = ic_counts(panel, returns, factors=["tech_rating", "trend"])
    assert list(ic.columns) == [
        ("tech_rating", 5),
        ("tech_rating", 21),
        ("trend", 5),
        ("trend", 21),
    ]
    assert ic.columns.names == ["factor", "horizon"]
    assert counts.columns.equals(ic.columns) and counts.index.equals(ic.index)
    checked = 0
    for date in ic.index:
        for factor, h in ic.columns:
            x = panel.loc[date, factor].to_numpy()
            y = returns.loc[date, f"fwd_{h}d"].to_numpy()
            use = np.isfinite(x) & np.isfinite(y)
            assert counts.loc[date, (factor, h)] == use.sum()
            got = ic.loc[date, (factor, h)]
            if use.sum() < 5 or np.ptp(x[use]) == 0:
                assert np.isnan(got)
                continue
            assert got == pytest.approx(stats.spearmanr(x[use], y[use])[0], abs=1e-12)
            checked += 1
    assert checked > 40
    assert np.isnan(ic.iloc[0]).all()  # 4 usable pairs < min_obs
    assert np.isnan(ic.loc[ic.index[1], ("trend", 5)])  # flat factor
    assert (counts.iloc[0] <= 4).all() and counts.iloc[0].max() == 4


def test_ic_min_obs_and_excess_column(ic_data) -> None:
    panel, returns = ic_data
    ic = information_coefficient(panel, returns, factors="tech_rating", horizons=[21], min_obs=3)
    x, y = panel.loc[ic.index[0], "tech_rating"], returns.loc[ic.index[0], "fwd_21d"]
    use = (x.notna() & y.notna()).to_numpy()
    want = stats.spearmanr(x[use], y[use])[0]
    assert ic.iloc[0, 0] == pytest.approx(want, abs=1e-12)
    with pytest.raises(ValueError, match="excess_21d"):
        information_coefficient(panel, returns, "tech_rating", horizons=[21], column="excess")
    with pytest.raises(ValueError, match="lacks the columns"):
        information_coefficient(panel, returns, factors=["momentum"])
    with pytest.raises(ValueError, match="returns lacks 1 of the panel's rows"):
        information_coefficient(panel, returns.iloc[1:], factors=["trend"])
    # returns in another row order are aligned to the panel
    shuffled = returns.sample(frac=1.0, random_state=1)
    again = information_coefficient(
        panel, shuffled, factors="tech_rating", horizons=[21], min_obs=3
    )
    pd.testing.assert_frame_equal(again, ic)


# -- Newey-West -------------------------------------------------------------------------


def hand_newey_west(x: np.ndarray, lags: int) -> tuple[float, float]:
    n = len(x)
    e = x - x.mean()
    gamma = [np.dot(e[j:], e[: n - j]) / n for j in range(lags + 1)]
    lrv = gamma[0] + 2.0 * sum((1.0 - j / (lags + 1.0)) * gamma[j] for j in range(1, lags + 1))
    se = math.sqrt(lrv / n * n / (n - 1))  # with the small-sample correction n / (n - 1)
    return se, x.mean() / se


@pytest.mark.parametrize("lags", [0, 1, 2, 5])
def test_newey_west_matches_hand_computation(lags: int) -> None:
    rng = np.random.default_rng(5)
    x = 0.02 + np.convolve(rng.normal(0, 0.05, 43), np.ones(4) / 4, mode="valid")  # autocorrelated
    mean, se, t = newey_west_tstat(x, lags)
    want_se, want_t = hand_newey_west(x, lags)
    assert mean == pytest.approx(x.mean(), rel=1e-14)
    assert se == pytest.approx(want_se, rel=1e-10)
    assert t == pytest.approx(want_t, rel=1e-10)


def test_newey_west_without_lags_is_the_iid_t_and_drops_nans() -> None:
    x = np.array([0.1, -0.05, 0.2, np.nan, 0.07, 0.01, 0.12])
    clean = x[np.isfinite(x)]
    _, _, t = newey_west_tstat(pd.Series(x), 0)
    assert t == pytest.approx(clean.mean() / (clean.std(ddof=1) / math.sqrt(len(clean))), rel=1e-12)
    assert newey_west_tstat([0.3], 2)[0] == 0.3 and math.isnan(newey_west_tstat([0.3], 2)[2])
    assert math.isnan(newey_west_tstat([0.1, 0.1, 0.1], 1)[2])  # se 0
    with pytest.raises(ValueError, match="lags=-1"):
        newey_west_tstat(x, -1)


@pytest.mark.parametrize(
    ("horizon", "spacing", "lags"),
    [(5, 5, 0), (5, 21, 0), (21, 21, 0), (21, 20, 1), (21, 5, 4), (63, 21, 2), (63, 1, 62)],
)
def test_overlap_lags(horizon: int, spacing: float, lags: int) -> None:
    assert overlap_lags(horizon, spacing) == lags


def test_overlap_lags_and_spacing_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="spacing_bars=0"):
        overlap_lags(21, 0)
    with pytest.raises(ValueError, match="horizon=0"):
        overlap_lags(0, 5)
    with pytest.raises(ValueError, match="at least two distinct dates"):
        replay_spacing([pd.Timestamp("2024-01-05")])


def test_replay_spacing_counts_bars_between_dates() -> None:
    month_ends = pd.bdate_range("2023-01-01", "2023-12-31", freq="BME")
    assert replay_spacing(month_ends) == float(
        np.median(
            np.busday_count(
                month_ends[:-1].values.astype("M8[D]"), month_ends[1:].values.astype("M8[D]")
            )
        )
    )
    calendar = CAL.delete([6, 7])  # two holidays in the second week
    assert replay_spacing([CAL[0], CAL[10], CAL[20]], calendar) == 9.0  # 8 and 10 bars
    assert replay_spacing(CAL[::5]) == 5.0


def test_ic_summary_by_hand() -> None:
    rng = np.random.default_rng(9)
    dates = CAL[::5][:30]
    columns = pd.MultiIndex.from_tuples(
        [("tech_rating", 5), ("trend", 21)], names=["factor", "horizon"]
    )
    ic = pd.DataFrame(rng.normal(0.03, 0.1, (30, 2)), index=dates, columns=columns)
    ic.iloc[3, 1] = np.nan
    summary = ic_summary(ic, spacing_bars=5)
    assert summary.index.tolist() == [("tech_rating", 5), ("trend", 21)]
    for (factor, h), row in summary.iterrows():
        x = ic[(factor, h)].dropna().to_numpy()
        lags = 0 if h == 5 else 4
        assert row["n_dates"] == len(x)
        assert row["mean"] == pytest.approx(x.mean())
        assert row["std"] == pytest.approx(x.std(ddof=1))
        assert row["ir"] == pytest.approx(x.mean() / x.std(ddof=1))
        assert row["positive_share"] == pytest.approx((x > 0).mean())
        assert row["t_stat"] == pytest.approx(x.mean() / x.std(ddof=1) * math.sqrt(len(x)))
        assert row["nw_lags"] == lags
        assert row["nw_t_stat"] == pytest.approx(hand_newey_west(x, lags)[1], rel=1e-10)
        assert row["nw_p_value"] == pytest.approx(2 * stats.norm.sf(abs(row["nw_t_stat"])))
    # the two tests adjusted together, by hand: Holm and Benjamini-Hochberg
    low, high = sorted(summary["nw_p_value"])
    holm = {low: min(1.0, 2 * low), high: max(min(1.0, 2 * low), high)}
    bh = {low: min(high, 2 * low), high: high}
    for _, row in summary.iterrows():
        assert row["p_holm"] == pytest.approx(holm[row["nw_p_value"]])
        assert row["p_bh"] == pytest.approx(bh[row["nw_p_value"]])
    # without spacing_bars it is estimated from the dates (5 weekdays apart)
    pd.testing.assert_frame_equal(ic_summary(ic), summary)
    with pytest.raises(ValueError, match="MultiIndex columns"):
        ic_summary(ic.droplevel(1, axis=1))


def test_adjusted_p_values_skip_tests_that_could_not_run() -> None:
    from technic_nb.research.evaluation import adjusted_p_values

    out = adjusted_p_values(pd.Series([0.01, np.nan, 0.04, 0.03], index=list("abcd")))
    assert np.isnan(out.loc["b", "p_holm"]) and np.isnan(out.loc["b", "p_bh"])
    assert out["p_holm"].drop("b").tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert out["p_bh"].drop("b").tolist() == pytest.approx([0.03, 0.04, 0.04])
    assert adjusted_p_values(pd.Series([np.nan])).isna().all().all()


# -- quantiles --------------------------------------------------------------------------


def quantile_panel(slopes: list[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ten names per date with factor 1..10 (shuffled) and fwd = 0.01 + slope * factor / 100."""
    rng = np.random.default_rng(2)
    dates = list(CAL[::21][: len(slopes)])
    symbols = [f"N{i}" for i in range(10)]
    index = panel_index(dates, symbols)
    factor = np.concatenate([rng.permutation(10) + 1.0 for _ in dates])
    slope = np.repeat(slopes, 10)
    panel = pd.DataFrame({"tech_rating": factor}, index=index)
    returns = pd.DataFrame({"fwd_21d": 0.01 + slope * factor / 100.0}, index=index)
    return panel, returns


def test_quantile_returns_on_a_known_panel() -> None:
    slopes = [1.0, -0.5, 2.0, 0.25]
    panel, returns = quantile_panel(slopes)
    report = quantile_returns(panel, returns, horizon=21, quantiles=5, spacing_bars=21)
    # quantile k holds factors 2k-1 and 2k: mean return 0.01 + slope * (4k - 1) / 200
    for t, slope in enumerate(slopes):
        want = [0.01 + slope * (4 * k - 1) / 200 for k in range(1, 6)]
        np.testing.assert_allclose(report.by_date.iloc[t].to_numpy(), want, rtol=1e-12)
    assert (report.counts == 2).all().all()
    spread = 0.08 * np.array(slopes)
    np.testing.assert_allclose(report.spread.to_numpy(), spread, rtol=1e-12)
    assert report.spread_mean == pytest.approx(spread.mean())
    assert report.nw_lags == 0 and report.paths == 1
    assert report.spread_t == pytest.approx(
        spread.mean() / (spread.std(ddof=1) / math.sqrt(4)), rel=1e-10
    )
    np.testing.assert_allclose(report.cumulative.to_numpy(), np.cumprod(1 + spread) - 1, rtol=1e-12)
    np.testing.assert_allclose(
        report.summary["mean_return"].to_numpy(),
        [np.mean([0.01 + s * (4 * k - 1) / 200 for s in slopes]) for k in range(1, 6)],
        rtol=1e-12,
    )


def test_quantile_cumulative_does_not_compound_overlapping_windows() -> None:
    slopes = [1.0, -0.5, 2.0, 0.25, 1.5]
    panel, returns = quantile_panel(slopes)
    s = 0.08 * np.array(slopes)
    # 21-bar returns every 10.5 bars: two interleaved paths (dates 0, 2, 4 and 1, 3)
    report = quantile_returns(panel, returns, horizon=21, spacing_bars=10.5)
    assert report.nw_lags == 1 and report.paths == 2
    even = np.cumprod([1 + s[0], 1, 1 + s[2], 1, 1 + s[4]])
    odd = np.cumprod([1, 1 + s[1], 1, 1 + s[3], 1])
    np.testing.assert_allclose(report.cumulative.to_numpy(), (even + odd) / 2 - 1, rtol=1e-12)
    assert report.cumulative.iloc[-1] == pytest.approx(
        ((1 + s[0]) * (1 + s[2]) * (1 + s[4]) + (1 + s[1]) * (1 + s[3])) / 2 - 1
    )
    assert report.spread_se == pytest.approx(hand_newey_west(s, 1)[0], rel=1e-10)


def test_quantiles_skip_nans_and_keep_ties_together() -> None:
    panel, returns = quantile_panel([1.0, 1.0])
    panel.iloc[0, 0] = np.nan
    returns.iloc[1, 0] = np.nan
    panel.iloc[10:, 0] = [1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0]
    report = quantile_returns(panel, returns, horizon=21, quantiles=2, spacing_bars=21)
    assert report.counts.iloc[0].sum() == 8
    # date 1, ties: average ranks 2, 2, 2, 4.5, 4.5, 6, 8.5 x4 -> labels by ceil((r - 1) * 2 / 9)
    assert report.counts.iloc[1].tolist() == [5, 5]
    y = returns.iloc[10:, 0].to_numpy()
    np.testing.assert_allclose(report.by_date.iloc[1], [y[:5].mean(), y[5:].mean()], rtol=1e-12)
    with pytest.raises(ValueError, match="quantiles=1 is invalid"):
        quantile_returns(panel, returns, quantiles=1)


def test_quantile_labels_equal_pandas_qcut_for_distinct_values() -> None:
    rng = np.random.default_rng(4)
    dates = list(CAL[:40])
    sizes = rng.integers(2, 60, len(dates))
    index = pd.MultiIndex.from_tuples(
        [(d, f"S{i}") for d, size in zip(dates, sizes, strict=True) for i in range(size)],
        names=["date", "symbol"],
    )
    panel = pd.DataFrame({"tech_rating": rng.normal(size=len(index))}, index=index)
    returns = pd.DataFrame({"fwd_5d": rng.normal(size=len(index))}, index=index)
    for q in (2, 3, 5, 10):
        data = to_alphalens(panel, returns, horizons=(5,), quantiles=q)
        want = data.groupby(level="date")["factor"].transform(
            lambda x, q=q: pd.qcut(x, q, labels=False) + 1
        )
        assert (data["factor_quantile"] == want).all()


# -- signals ----------------------------------------------------------------------------


def test_signal_stats_by_hand() -> None:
    d1, d2 = CAL[0], CAL[5]
    rows = [
        (d1, "A", "Strong Long", 0.10),
        (d1, "B", "Long", -0.02),
        (d1, "C", "Neutral", 0.01),
        (d1, "D", "Short", -0.05),
        (d1, "E", "Strong Short", 0.03),
        (d1, "F", "Long", np.nan),
        (d2, "A", "Long", 0.04),
        (d2, "B", "Short", 0.02),
        (d2, "C", None, 0.00),
        (d2, "D", "Neutral", -0.03),
        (d2, "E", "Long", 0.10),
    ]
    index = pd.MultiIndex.from_tuples([r[:2] for r in rows], names=["date", "symbol"])
    signal = pd.Categorical(
        [r[2] for r in rows],
        categories=["Strong Long", "Long", "Neutral", "Short", "Strong Short"],
    )
    panel = pd.DataFrame({"signal": signal}, index=index)
    returns = pd.DataFrame({"fwd_21d": [r[3] for r in rows]}, index=index)
    table = signal_stats(panel, returns, horizon=21, hac_lags=0)
    assert table.index.tolist() == ["Strong Long", "Long", "Neutral", "Short", "Strong Short"]
    u1 = (0.10 - 0.02 + 0.01 - 0.05 + 0.03) / 5
    u2 = (0.04 + 0.02 + 0.00 - 0.03 + 0.10) / 5
    # per date first: Long's d2 mean is (0.04 + 0.10) / 2, so its mean is not the pooled 0.04
    want = {
        "Strong Long": (1, 0, 1, 0.10, 1.0, [0.10 - u1]),
        "Long": (3, 1, 2, (-0.02 + 0.07) / 2, 0.5, [-0.02 - u1, 0.07 - u2]),
        "Neutral": (2, 0, 2, -0.01, 0.5, [0.01 - u1, -0.03 - u2]),
        "Short": (2, 0, 2, -0.015, 0.5, [-0.05 - u1, 0.02 - u2]),
        "Strong Short": (1, 0, 1, 0.03, 1.0, [0.03 - u1]),
    }
    for name, (count, excluded, dates, mean, hit, excess) in want.items():
        row = table.loc[name]
        assert (row["n_rows"], row["excluded"], row["n_dates"]) == (count, excluded, dates), name
        assert row["mean"] == pytest.approx(mean, abs=1e-15), name
        assert row["hit_rate"] == pytest.approx(hit), name
        assert row["excess"] == pytest.approx(np.mean(excess), abs=1e-15), name
        assert row["top6_share"] == 1.0  # two dates only
        if len(excess) > 1:
            assert row["nw_t"] == pytest.approx(stats.ttest_1samp(excess, 0.0).statistic), name
        else:
            assert np.isnan(row["nw_t"]) and np.isnan(row["p_holm"]), name


# -- trade walks ------------------------------------------------------------------------

LONG = (1, 101.0, 99.0, 105.0)  # direction, entry, stop, target: risk 2, target at 2 R
SHORT = (-1, 99.0, 101.0, 95.0)
QUIET = (100.0, 100.5, 99.5, 100.0)  # a bar that touches nothing of either plan


def mirror(bar: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The bar reflected around 100 (open, high, low, close -> 200 - x with high/low swapped)."""
    o, h, low, c = bar
    return (200 - o, 200 - low, 200 - h, 200 - c)


# (name, plan, bars after the anchor, max_days, outcome, fill, exit, bars_held, R)
# fmt: off
WALKS: list[tuple[Any, ...]] = [
    ("fill_then_stop_gap", LONG, [(100, 101.5, 100, 101), (98, 98.5, 97, 98)], 63,
     "stop_gap", 101.0, 98.0, 2, -1.5),
    ("stop_and_target_same_bar", LONG, [(100, 101.5, 100, 101), (102, 106, 98.5, 103)], 63,
     "stop", 101.0, 99.0, 2, -1.0),
    ("stop_touched_exactly", LONG, [(100, 101.5, 100, 101), (100, 100.5, 99, 100)], 63,
     "stop", 101.0, 99.0, 2, -1.0),
    ("target", LONG, [(100, 101.5, 100, 101), (102, 105.5, 101, 104)], 63,
     "target", 101.0, 105.0, 2, 2.0),
    ("target_touched_exactly", LONG, [(100, 101.5, 100, 101), (102, 105, 101, 104)], 63,
     "target", 101.0, 105.0, 2, 2.0),
    ("target_gap", LONG, [(100, 101.5, 100, 101), (106, 107, 105.5, 106.5)], 63,
     "target_gap", 101.0, 106.0, 2, 2.5),
    ("gap_fill_then_target", LONG, [(102, 103, 101.5, 102.5), (103, 105, 102, 104)], 63,
     "target", 102.0, 105.0, 2, 1.5),
    ("entry_touched_exactly", LONG, [(100, 101, 100, 100.5), (100.5, 102, 100, 101)], 63,
     "open", 101.0, 101.0, 2, 0.0),
    ("stop_on_fill_bar_opening_below_stop", LONG, [(98.5, 101.5, 98, 100)], 63,
     "stop", 101.0, 99.0, 1, -1.0),
    ("gap_fill_above_target", LONG, [(106, 107, 105, 106)], 63,
     "target_gap", 106.0, 106.0, 1, 0.0),
    ("timeout", LONG, [(100, 101.5, 100, 101), (101, 102, 100, 101.5), (101, 103, 100, 102.5),
                       (102, 103, 101, 102)], 3,
     "timeout", 101.0, 102.5, 3, 0.75),
    ("timeout_on_the_last_bar", LONG, [(100, 101.5, 100, 101), (101, 102, 100, 101.5),
                                       (101, 103, 100, 102.5)], 3,
     "timeout", 101.0, 102.5, 3, 0.75),
    ("open", LONG, [(100, 101.5, 100, 101), (101, 102, 100, 101.5)], 3,
     "open", 101.0, 101.5, 2, 0.25),
    ("no_fill", LONG, [QUIET] * 6, 63, "no_fill", None, None, None, None),
    ("late_fill_outside_window", LONG, [QUIET] * 5 + [(100, 102, 100, 101)], 63,
     "no_fill", None, None, None, None),
    ("pending", LONG, [QUIET] * 3, 63, "pending", None, None, None, None),
    ("fill_on_last_window_bar", LONG, [QUIET] * 4 + [(100, 101.5, 100, 101)], 63,
     "open", 101.0, 101.0, 1, 0.0),
]
# fmt: on
WALKS += [
    (
        f"short_{name}",
        SHORT,
        [mirror(b) for b in bars],
        days,
        outcome,
        None if fill is None else 200 - fill,
        None if exit_ is None else 200 - exit_,
        held,
        r,
    )
    for name, _, bars, days, outcome, fill, exit_, held, r in WALKS
]


def walk_one(plan, after, max_days=63, entry_window=5):
    anchor_day = CAL[10]
    first = (100.0, 100.5, 99.5, 100.0)
    rows = [first, *after]
    frame = pd.DataFrame(
        rows, columns=["open", "high", "low", "close"], index=CAL[10 : 10 + len(rows)]
    ).astype(float)
    frame.index.name = "date"
    direction, entry, stop, target = plan
    panel = pd.DataFrame(
        {
            "direction": [direction],
            "entry": [entry],
            "stop": [stop],
            "target": [target],
            "rank": [1],
        },
        index=panel_index([anchor_day], ["X"]),
    )
    return walk_trade_plans(
        panel, {"X": frame}, max_days=max_days, entry_window=entry_window
    ), frame


@pytest.mark.parametrize(
    ("plan", "after", "days", "outcome", "fill", "exit_", "held", "r"),
    [w[1:] for w in WALKS],
    ids=[w[0] for w in WALKS],
)
def test_trade_walk_rules(plan, after, days, outcome, fill, exit_, held, r) -> None:
    trades, frame = walk_one(plan, after, max_days=days)
    assert list(trades.columns) == list(TRADE_COLUMNS)
    row = trades.iloc[0]
    assert row["outcome"] == outcome
    if fill is None:
        assert np.isnan(row["fill_price"]) and pd.isna(row["fill_date"])
        assert pd.isna(row["bars_held"]) and np.isnan(row["r_multiple"])
        return
    assert row["fill_price"] == pytest.approx(fill, abs=1e-12)
    assert row["exit_price"] == pytest.approx(exit_, abs=1e-12)
    assert row["bars_held"] == held
    assert row["r_multiple"] == pytest.approx(r, abs=1e-12)
    fill_pos = frame.index.get_loc(row["fill_date"])
    assert frame.index.get_loc(row["exit_date"]) - fill_pos + 1 == held


def test_trade_walk_selection_no_bars_and_summary() -> None:
    frame = pd.DataFrame(
        [(100, 100.5, 99.5, 100), (100, 101.5, 100, 101), (102, 105.5, 101, 104)],
        columns=["open", "high", "low", "close"],
        index=pd.DatetimeIndex(CAL[10:13], name="date"),
    ).astype(float)
    index = pd.MultiIndex.from_tuples(
        [(CAL[10], "X"), (CAL[10], "Y"), (CAL[10], "Z"), (CAL[10], "W"), (CAL[5], "X")],
        names=["date", "symbol"],
    )
    panel = pd.DataFrame(
        {
            "direction": [1, 0, 1, 1, 1],
            "entry": [101.0, np.nan, 101.0, 101.0, 101.0],
            "stop": [99.0, np.nan, 99.0, 99.0, 99.0],
            "target": [105.0, np.nan, 105.0, 105.0, 105.0],
            "rank": [1, 2, 3, 4, 1],
        },
        index=index,
    )
    bars = {"X": frame, "Z": frame}
    trades = walk_trade_plans(panel, bars)
    assert list(zip(trades["symbol"], trades["outcome"], strict=True)) == [
        ("X", "target"),
        ("Z", "target"),
        ("W", "no_bars"),  # a symbol without bars
        ("X", "no_bars"),  # a date before the first bar
    ]
    assert walk_trade_plans(panel, bars, top_n=3)["symbol"].tolist() == ["X", "Z", "X"]
    summary = r_summary(trades)
    assert summary["trades"] == 4 and summary["fills"] == 2
    assert summary["win_rate"] == 1.0 and summary["mean_r"] == pytest.approx(2.0)
    assert summary["target"] == 2 and summary["no_bars"] == 2
    assert set(OUTCOMES) <= set(summary.index)


def test_r_summary_statistics() -> None:
    trades = pd.DataFrame(
        {
            "date": CAL[[0, 0, 5, 5, 10]],
            "outcome": ["stop", "target", "stop_gap", "no_fill", "timeout"],
            "r_multiple": [-1.0, 2.0, -1.5, np.nan, 0.5],
            "bars_held": pd.array([3, 5, 2, pd.NA, 10], dtype="Int64"),
        }
    )
    s = r_summary(trades)
    r = np.array([-1.0, 2.0, -1.5, 0.5])
    assert (s["trades"], s["fills"], s["fill_rate"]) == (5, 4, 0.8)
    assert s["win_rate"] == 0.5
    assert s["mean_r"] == pytest.approx(r.mean())
    assert s["median_r"] == pytest.approx(np.median(r))
    assert s["std_r"] == pytest.approx(r.std(ddof=1))
    assert s["mean_bars_held"] == pytest.approx(5.0)
    assert (s["stop"], s["target"], s["stop_gap"], s["no_fill"], s["open"]) == (1, 1, 1, 1, 0)
    # per date: (-1 + 2) / 2, -1.5 (the no_fill has no R), 0.5
    assert s["dates"] == 3 and s["mean_r_by_date"] == pytest.approx(-1.0 / 6.0)


FILL = (100, 101.5, 100, 101)  # fills LONG at 101, touches nothing else
UP = (102, 105.5, 101, 104)  # reaches LONG's target


def test_plans_that_cannot_be_walked_are_counted_not_raised() -> None:
    frame = pd.DataFrame(
        [(100, 100.5, 99.5, 100), FILL, UP], columns=["open", "high", "low", "close"]
    ).astype(float)
    frame.index = pd.DatetimeIndex(CAL[10:13], name="date")
    rows = [
        ("OK", 1, 101.0, 99.0, 105.0),
        ("NAN_TARGET", 1, 101.0, 99.0, np.nan),
        ("SHORT_NAN_TARGET", -1, 99.0, 101.0, np.nan),  # a fixed short target at or below 0
        ("ORDER", 1, 101.0, 102.0, 105.0),  # the stop above the entry
        ("SHORT_ORDER", -1, 99.0, 101.0, 100.0),  # the target above the entry
        ("INF_STOP", -1, 99.0, np.inf, 95.0),
        ("NO_BARS", 1, 101.0, np.nan, 105.0),  # no plan, and no bars either
        ("NEUTRAL", 0, np.nan, np.nan, np.nan),  # no plan asked for: not a row
    ]
    panel = pd.DataFrame(
        [r[1:] for r in rows],
        columns=["direction", "entry", "stop", "target"],
        index=panel_index([CAL[10]], [r[0] for r in rows]),
    )
    bars = {symbol: frame for symbol, *_ in rows if symbol != "NO_BARS"}
    trades = walk_trade_plans(panel, bars)
    assert trades["symbol"].tolist() == [r[0] for r in rows[:-1]]
    assert trades["outcome"].astype(str).tolist() == ["target", *["no_plan"] * 6]
    skipped = trades.iloc[1:]
    assert skipped["r_multiple"].isna().all() and skipped["fill_date"].isna().all()
    # the levels are kept as given
    np.testing.assert_array_equal(trades["target"], panel["target"].iloc[:-1])
    summary = r_summary(trades)
    assert (summary["trades"], summary["fills"], summary["fill_rate"]) == (1, 1, 1.0)
    assert summary["no_plan"] == 6 and summary["target"] == 1
    assert summary["mean_r"] == pytest.approx(2.0)


def test_r_summary_counts_plans_not_walked_apart() -> None:
    trades = pd.DataFrame(
        {
            "date": CAL[[0, 0, 0, 0, 0]],
            "outcome": ["stop", "target", "no_plan", "bad_bar", "no_fill"],
            "r_multiple": [-1.0, 2.0, np.nan, np.nan, np.nan],
            "bars_held": pd.array([3, 5, pd.NA, pd.NA, pd.NA], dtype="Int64"),
        }
    )
    s = r_summary(trades)
    assert (s["trades"], s["fills"], s["fill_rate"]) == (3, 2, 2 / 3)
    assert (s["no_plan"], s["bad_bar"], s["no_fill"]) == (1, 1, 1)
    assert s["mean_r"] == pytest.approx(0.5) and s["mean_bars_held"] == pytest.approx(4.0)


BAD = (10.0, 10.05, 9.95, 10.0)  # QUIET shifted by a decimal: only the outlier rule rejects it
BAD_CLOSE = (100.0, 100.5, 99.5, 1.0)  # a close shifted by two decimals, below the low
SHORT_FILL = (100, 100, 98.5, 99)  # fills SHORT at 99

# (name, plan, bars after the anchor, outcome, R)
BAD_WALKS: list[tuple[Any, ...]] = [
    ("crossed_before_the_exit", LONG, [FILL, QUIET, BAD, QUIET, UP], "bad_bar", None),
    ("exit_on_the_bad_bar", LONG, [FILL, BAD, QUIET], "bad_bar", None),  # low 9.95: a "stop"
    ("bad_close_while_holding", LONG, [FILL, BAD_CLOSE, UP], "bad_bar", None),
    ("short_fake_target", SHORT, [SHORT_FILL, BAD, QUIET], "bad_bar", None),
    ("inside_the_entry_window", LONG, [QUIET, BAD, *[QUIET] * 4], "bad_bar", None),
    ("pending_over_it", LONG, [QUIET, BAD, QUIET], "bad_bar", None),
    ("open_over_it", LONG, [FILL, QUIET, BAD, QUIET], "bad_bar", None),
    ("after_the_exit", LONG, [FILL, UP, BAD, QUIET], "target", 2.0),
    ("after_the_entry_window", LONG, [*[QUIET] * 5, BAD, QUIET], "no_fill", None),
]


@pytest.mark.parametrize(
    ("plan", "after", "outcome", "r"), [w[1:] for w in BAD_WALKS], ids=[w[0] for w in BAD_WALKS]
)
def test_a_walk_never_crosses_a_bad_bar(plan, after, outcome, r) -> None:
    trades, frame = walk_one(plan, after)
    assert find_bad_bars({"X": frame})["X"].sum() == 1
    row = trades.iloc[0]
    assert row["outcome"] == outcome
    if r is None:
        assert np.isnan(row["r_multiple"]) and np.isnan(row["fill_price"])
        assert pd.isna(row["fill_date"]) and pd.isna(row["exit_date"])
        assert pd.isna(row["bars_held"])
    else:
        assert row["r_multiple"] == pytest.approx(r, abs=1e-12)
    # the same walk over the clean bars
    clean, _ = walk_one(plan, [QUIET if bar in (BAD, BAD_CLOSE) else bar for bar in after])
    if outcome == "bad_bar":
        assert clean.iloc[0]["outcome"] != "bad_bar"
    else:
        pd.testing.assert_frame_equal(clean, trades)
    summary = r_summary(trades)
    assert summary[outcome] == 1
    assert summary["trades"] == (0 if outcome == "bad_bar" else 1)


# -- list changes -----------------------------------------------------------------------


def test_top_turnover() -> None:
    rows = [
        (CAL[0], "A", 1), (CAL[0], "B", 2), (CAL[0], "C", 3),
        (CAL[1], "B", 1), (CAL[1], "C", 2), (CAL[1], "A", 3),
        (CAL[2], "C", 1), (CAL[2], "B", 2),
        (CAL[3], "D", 1), (CAL[3], "E", 2), (CAL[3], "B", 3),
        (CAL[4], "D", 1),
    ]  # fmt: skip
    index = pd.MultiIndex.from_tuples([r[:2] for r in rows], names=["date", "symbol"])
    panel = pd.DataFrame({"rank": [r[2] for r in rows]}, index=index)
    turnover = top_turnover(panel, 2)
    assert turnover.index.tolist() == list(CAL[:5])
    np.testing.assert_allclose(turnover.to_numpy(), [np.nan, 0.5, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(top_turnover(panel, 3).to_numpy(), [np.nan, 0.0, 0.0, 2 / 3, 0.0])


def test_diff_tables() -> None:
    a = pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "signal": ["Long", "Long", "Neutral"],
            "tech_rating": [40.0, 30.0, 5.0],
        },
        index=pd.Index(["A", "B", "C"], name="symbol"),
    )
    b = pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "signal": ["Strong Long", "Long", "Long"],
            "tech_rating": [60.0, 35.0, 20.0],
        },
        index=pd.Index(["B", "D", "A"], name="symbol"),
    )
    top = diff_tables(a, b, top_n=2)
    assert top.index.tolist() == ["D", "A", "B"]
    assert top["change"].tolist() == ["entered", "left", "stayed"]
    assert top.loc["B", ["rank_a", "rank_b", "rank_move"]].tolist() == [2.0, 1.0, 1.0]
    assert top.loc["A", ["rank_a", "rank_b", "rank_move"]].tolist() == [1.0, 3.0, -2.0]
    assert top.loc["B", "signal_changed"] is np.True_ or top.loc["B", "signal_changed"] == True  # noqa: E712
    assert top.loc["A", "signal_changed"] == False  # noqa: E712
    assert pd.isna(top.loc["D", "signal_changed"]) and np.isnan(top.loc["D", "rank_a"])
    assert top.loc["B", ["rating_a", "rating_b"]].tolist() == [30.0, 60.0]
    assert list(top.columns) == [
        "change", "rank_a", "rank_b", "rank_move", "signal_a", "signal_b", "signal_changed",
        "rating_a", "rating_b",
    ]  # fmt: skip
    full = diff_tables(a, b)
    assert full.index.tolist() == ["D", "C", "B", "A"]  # entered; left; stayed by rank_b
    assert full["change"].tolist() == ["entered", "left", "stayed", "stayed"]
    with pytest.raises(ValueError, match="lacks the columns"):
        diff_tables(a.drop(columns="signal"), b)


# -- alphalens --------------------------------------------------------------------------


def test_to_alphalens_matches_alphalens_ic_and_quantiles(ic_data) -> None:
    alphalens = pytest.importorskip("alphalens")
    panel, returns = ic_data
    rng = np.random.default_rng(8)
    panel = panel.assign(tech_rating=panel["tech_rating"] + rng.uniform(0, 0.01, len(panel)))
    data = to_alphalens(panel, returns, horizons=(5, 21), quantiles=5)
    assert data.index.names == ["date", "asset"]
    assert list(data.columns) == ["5D", "21D", "factor", "factor_quantile"]
    both = panel["tech_rating"].notna() & returns["fwd_5d"].notna() & returns["fwd_21d"].notna()
    assert data.attrs["dropped"] == len(panel) - both.sum() == len(panel) - len(data)
    assert data.attrs["dropped_reasons"]["nan_factor"] == panel["tech_rating"].isna().sum()

    al_ic = alphalens.performance.factor_information_coefficient(data)
    # our IC on the same rows (alphalens drops a row when any return is NaN)
    same = returns.where(both, np.nan, axis=0)
    ours = information_coefficient(panel, same, factors="tech_rating", horizons=[5, 21], min_obs=2)
    for h in (5, 21):
        got = ours[("tech_rating", h)].reindex(al_ic.index)
        np.testing.assert_allclose(got.to_numpy(), al_ic[f"{h}D"].to_numpy(), rtol=0, atol=1e-12)
    quantized = alphalens.utils.quantize_factor(data, quantiles=5)
    assert (quantized.reindex(data.index) == data["factor_quantile"]).all()

    single = to_alphalens(panel, returns, horizons=(21,))
    al_single = alphalens.performance.factor_information_coefficient(single)["21D"]
    ic21 = information_coefficient(panel, returns, factors="tech_rating", horizons=[21], min_obs=2)
    np.testing.assert_allclose(
        ic21[("tech_rating", 21)].reindex(al_single.index), al_single, rtol=0, atol=1e-12
    )


# -- plots ------------------------------------------------------------------------------


@pytest.fixture
def agg():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure


def rendered(fig) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue()[:4] == b"\x89PNG"


def test_plot_ic(agg, ic_data) -> None:
    from technic_nb.research.evaluation.plots import plot_ic

    panel, returns = ic_data
    ic = information_coefficient(panel, returns, factors=["tech_rating"])
    fig = plot_ic(ic, "tech_rating", 5, rolling=3)
    assert isinstance(fig, agg) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.containers) == 1 and len(ax.containers[0]) == ic[("tech_rating", 5)].notna().sum()
    assert len(ax.lines) == 2  # rolling mean and zero line
    rolling = ic[("tech_rating", 5)].dropna().rolling(3, min_periods=1).mean()
    np.testing.assert_allclose(ax.lines[0].get_ydata(), rolling.to_numpy())
    rendered(fig)
    with pytest.raises(ValueError, match="no column"):
        plot_ic(ic, "trend", 5)


def test_plot_quantiles_and_spread(agg) -> None:
    from technic_nb.research.evaluation.plots import plot_cumulative_spread, plot_quantile_returns

    panel, returns = quantile_panel([1.0, -0.5, 2.0, 0.25])
    report = quantile_returns(panel, returns, spacing_bars=21)
    fig = plot_quantile_returns(report)
    assert isinstance(fig, agg) and len(fig.axes) == 1
    heights = [p.get_height() for p in fig.axes[0].containers[0]]
    np.testing.assert_allclose(heights, report.summary["mean_return"].to_numpy() * 100)
    rendered(fig)
    fig = plot_cumulative_spread(report)
    assert isinstance(fig, agg) and len(fig.axes) == 1 and len(fig.axes[0].lines) == 2
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), report.cumulative * 100)
    rendered(fig)


def test_plot_r_distribution(agg) -> None:
    from technic_nb.research.evaluation.plots import plot_r_distribution

    trades = pd.DataFrame({"r_multiple": [-1.0, -1.5, 2.0, 0.5, np.nan, 2.0]})
    fig = plot_r_distribution(trades, bins=10)
    assert isinstance(fig, agg) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.patches) == 10 and sum(p.get_height() for p in ax.patches) == 5
    assert [line.get_xdata()[0] for line in ax.lines] == [-1.0, 0.0, pytest.approx(0.4)]
    rendered(fig)
    empty = plot_r_distribution(pd.DataFrame({"r_multiple": [np.nan]}))
    assert isinstance(empty, agg) and not empty.axes[0].patches


# -- real data --------------------------------------------------------------------------


def test_real_data_forward_returns_and_ic(real_data_dir: Path) -> None:
    files = sorted(real_data_dir.glob("*.csv.gz"))[:50]
    bars = {
        f.name.removesuffix(".csv.gz"): pd.read_csv(f, index_col="date", parse_dates=["date"])
        for f in files
    }
    spy = pd.read_csv(
        real_data_dir / "benchmarks" / "SPY.csv.gz", index_col="date", parse_dates=["date"]
    )["close"]
    month_ends = spy.groupby(spy.index.to_period("M")).tail(1).index
    dates = list(month_ends[(month_ends >= "2015-01-01")][:24])
    index = panel_index(dates, sorted(bars))
    returns = forward_returns(index, bars, benchmark=spy)
    assert len(returns) == 50 * 24
    for h in (5, 21, 63):
        for (date, symbol), row in returns.iterrows():
            close = bars[symbol]["close"]
            shifted = close.shift(-h) / close - 1.0
            past = close.index[close.index <= date]
            status = row[f"status_{h}d"]
            if not len(past):
                assert status == "no_bars"
                continue
            want = shifted[past[-1]]
            if status == "ok":
                assert row[f"fwd_{h}d"] == pytest.approx(want, rel=1e-12)
            else:
                assert status == "delisted" and np.isnan(want)
    # a simple factor (past 21-bar return) through the statistics
    momentum = [bars[s]["close"].pct_change(21).asof(d) for d, s in index]
    panel = pd.DataFrame({"tech_rating": momentum}, index=index)
    ic = information_coefficient(panel, returns, factors="tech_rating")
    assert ic.notna().all().all()
    spacing = replay_spacing(dates, spy.index)
    assert 19 <= spacing <= 23
    summary = ic_summary(ic, spacing_bars=spacing)
    assert summary["nw_lags"].tolist() == [overlap_lags(h, spacing) for h in (5, 21, 63)]
    assert summary["n_dates"].tolist() == [24, 24, 24]
    report = quantile_returns(panel, returns, horizon=21, spacing_bars=spacing)
    usable = panel["tech_rating"].notna() & returns["fwd_21d"].notna()
    assert report.counts.sum(axis=1).eq(usable.groupby(level=0).sum()).all()


def test_real_data_slg_decimal_shifted_close_is_a_bad_bar(real_data_dir: Path) -> None:
    """SLG closed at 0.9161 on 2014-03-04 (90.341 the day before, 91.079 after): the
    bar is listed in anomalies.csv and every scan whose window holds it rejects it."""
    frame = pd.read_csv(real_data_dir / "SLG.csv.gz", index_col="date", parse_dates=["date"])
    bad_day = pd.Timestamp("2014-03-04")
    assert frame.loc[bad_day, "close"] == 0.9161
    with pytest.raises(ScanError, match="2014-03-04"):
        check_bar_values(frame.loc["2013-06-01":"2014-03-31"], "SLG")
    assert frame.index[frame.index.get_loc(pd.Timestamp("2014-01-31")) + 21] == bad_day
    close = frame["close"]
    assert close[bad_day] / close["2014-01-31"] - 1 < -0.98  # what the return would be
    dates = [pd.Timestamp(d) for d in ("2014-01-31", "2014-02-28", "2014-03-31")]
    got = forward_returns(panel_index(dates, ["SLG"]), {"SLG": frame}, horizons=(5, 21, 63))
    statuses = {h: got[f"status_{h}d"].astype(str).tolist() for h in (5, 21, 63)}
    assert statuses == {
        5: ["ok", "bad_bar", "ok"],
        21: ["bad_bar", "bad_bar", "ok"],
        63: ["bad_bar", "bad_bar", "ok"],
    }
    assert got["fwd_21d"].iloc[:2].isna().all()
    assert got.loc[(dates[0], "SLG"), "fwd_5d"] == pytest.approx(
        close.iloc[close.index.get_loc(dates[0]) + 5] / close[dates[0]] - 1, rel=1e-12
    )
    assert dropped_summary(got).xs(21, level="horizon")["bad_bar"].tolist() == [1, 1, 0]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=40),
    st.integers(0, 3),
)
def test_holm_equals_statsmodels_multipletests(p_values: list[float], ties: int) -> None:
    from statsmodels.stats.multitest import multipletests

    from technic_nb.research.evaluation import adjusted_p_values

    values = np.array(p_values + p_values[:ties])  # repeated p-values too
    got = adjusted_p_values(pd.Series(values))
    np.testing.assert_allclose(
        got["p_holm"], multipletests(values, method="holm")[1], rtol=0, atol=1e-15
    )
    np.testing.assert_allclose(
        got["p_bh"], multipletests(values, method="fdr_bh")[1], rtol=0, atol=1e-15
    )
