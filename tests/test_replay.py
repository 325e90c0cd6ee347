"""Replay: per-date tables equal per-date scans, no look-ahead, caching, run control."""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import technic_nb as tn
from technic_nb import ScanCancellation, ScanConfig
from technic_nb.research import evaluation as ev

DEMO_DATES = pd.date_range("2023-01-01", "2025-12-31", freq="BME")


def demo_config(cache_dir, **changes) -> ScanConfig:
    options = {"source": "demo:80", "cache_dir": cache_dir, "n_jobs": 2, "backend": "threading"}
    options.update(changes)
    return ScanConfig(**options)


def assert_same_table(replayed: pd.DataFrame, scanned: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(replayed, scanned, check_exact=False, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def demo_replay(tmp_path_factory):
    config = demo_config(tmp_path_factory.mktemp("replay"))
    return config, tn.replay(config, DEMO_DATES)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    day=st.dates(dt.date(2021, 1, 4), dt.date(2025, 12, 31)),
    lookback=st.sampled_from([120, 300, 500]),
    top_n=st.sampled_from([None, 10]),
    min_bars=st.sampled_from([60, 100]),
)
def test_a_replayed_date_equals_the_scan_as_of_that_date(tmp_path, day, lookback, top_n, min_bars):
    config = demo_config(
        tmp_path / "c", lookback_days=lookback, top_n=top_n, min_bars=min(min_bars, lookback)
    )
    dates = sorted({day, day - dt.timedelta(days=45), dt.date(2025, 12, 31)})
    result = tn.replay(config, dates)
    for date in dates:
        scanned = tn.scan(config.replace(as_of=date))
        assert_same_table(result.table(date), scanned.table)
        pd.testing.assert_frame_equal(result.filtered(date), scanned.filtered)


def test_real_data_dates_equal_real_scans(real_data_dir, tmp_path):
    source = tn.DirectorySource(real_data_dir)
    universe = list(source.universe()["symbol"][::12])  # 43 symbols across sectors
    config = ScanConfig(source=source, universe=universe, cache_dir=tmp_path, n_jobs=2)
    rng = np.random.default_rng(5)
    calendar = pd.bdate_range("2005-06-01", "2017-11-10")
    dates = sorted(pd.Timestamp(d) for d in rng.choice(calendar, size=5, replace=False))
    result = tn.replay(config, dates)
    for date in dates:
        assert_same_table(result.table(date), tn.scan(config.replace(as_of=date.date())).table)


def test_no_bar_after_a_date_changes_its_row(tmp_path):
    """Bars after the date are altered: the rows at and before the date stay identical."""
    base = tn.DemoSource(n_symbols=30)
    frames = {s: base.fetch(s) for s in base.universe()["symbol"]}
    cut = pd.Timestamp("2024-06-28")
    altered = {}
    for symbol, frame in frames.items():
        changed = frame.copy()
        changed.loc[changed.index > cut] *= 1.7
        altered[symbol] = changed
    dates = [dt.date(2024, 3, 29), dt.date(2024, 6, 28)]

    def config(folder, frames, name):
        source = tn.InMemorySource(frames, name=name)
        return demo_config(tmp_path / folder, source=source, universe="source")

    first = tn.replay(config("a", frames, "a"), dates)
    second = tn.replay(config("b", altered, "b"), dates)
    pd.testing.assert_frame_equal(first.features, second.features)
    later = tn.replay(config("b", altered, "b"), [dt.date(2024, 9, 30)])
    other = tn.replay(config("a", frames, "a"), [dt.date(2024, 9, 30)])
    assert not later.features.equals(other.features)  # ...while later rows do see them


def test_warm_replay_reads_everything_from_the_cache(demo_replay):
    config, cold = demo_replay
    warm = tn.replay(config, DEMO_DATES)
    assert warm.stats["from_cache"] == 80 and warm.stats["computed"] == 0
    pd.testing.assert_frame_equal(warm.features, cold.features)


def test_adding_dates_computes_only_the_new_ones(tmp_path):
    config = demo_config(tmp_path)
    tn.replay(config, DEMO_DATES[:12])
    counts: list[int] = []

    class Count(tn.ScanHooks):
        def symbol_done(self, outcome):
            counts.append(outcome.computed)

    more = tn.replay(config, DEMO_DATES[:18], hooks=Count())
    assert sorted(set(counts)) == [6]  # every symbol computed the 6 new dates only
    full = tn.replay(demo_config(tmp_path / "fresh"), DEMO_DATES[:18])
    pd.testing.assert_frame_equal(more.features, full.features)


def test_progress_counts_symbols_times_dates(tmp_path):
    seen: dict[str, tuple[int, int]] = {}

    def progress(stage, current, total, message, metadata):
        seen[stage] = (current, total)

    tn.replay(demo_config(tmp_path), DEMO_DATES[:10], progress_cb=progress)
    assert seen["symbol_scanning"] == (800, 800)
    assert seen["data_fetching"] == (80, 80)


def test_cancel_keeps_finished_symbols_and_a_rerun_resumes(tmp_path, cancel_midway):
    config = demo_config(tmp_path, source="demo:400", backend="loky")
    token = ScanCancellation()
    started = threading.Event()

    def progress(stage, current, total, message, metadata):
        if stage == "symbol_scanning" and current >= 40 * len(DEMO_DATES):
            started.set()

    result, latency = cancel_midway(
        lambda: tn.replay(config, DEMO_DATES, progress_cb=progress, cancellation_token=token),
        started,
        token,
        wait=120,
    )
    assert result.cancelled and latency < 1.0
    done = result.stats["done"]
    assert 40 <= done < 400
    assert result.status.startswith(f"Cancelled after {done} of 400 symbols")
    again = tn.replay(config, DEMO_DATES)
    assert again.stats["from_cache"] >= done and not again.cancelled
    fresh = tn.replay(config.replace(cache_dir=tmp_path / "fresh"), DEMO_DATES)
    pd.testing.assert_frame_equal(again.features, fresh.features)


def test_bad_dates_and_horizons_are_clear_config_errors(tmp_path):
    config = demo_config(tmp_path)
    for dates, text in [("2024-01-31", "dates"), ([], "dates"), (["not a date"], "not a date")]:
        with pytest.raises(tn.ScanError, match=text) as info:
            tn.replay(config, dates)
        assert info.value.error_type is tn.ErrorType.CONFIG_ERROR
    for horizons in [(0, 5), print, "21"]:
        with pytest.raises(tn.ScanError, match="horizons"):
            tn.replay(config, DEMO_DATES[:2], horizons=horizons)
    result = tn.replay(config, DEMO_DATES[:2])
    with pytest.raises(ValueError, match="was not replayed"):
        result.table("2020-01-31")


def test_the_panel_ranks_each_date_like_its_table(demo_replay):
    _, result = demo_replay
    panel = result.panel
    for date in DEMO_DATES[::7]:
        table = result.table(date)
        rows = panel.xs(date, level="date")
        assert list(rows.index) == list(table.index)  # top_n is None: every ranked row
        for column in ("rank", "percentile", "tech_rating", "signal", "stop", "target"):
            pd.testing.assert_series_equal(
                rows[column], table[column], check_names=False, check_exact=False, rtol=1e-12
            )


def test_errors_are_dated_and_nothing_is_dropped_silently(tmp_path):
    frames = {s: tn.DemoSource(n_symbols=12).fetch(s) for s in tn.DemoSource(12).universe().symbol}
    late = next(iter(frames))
    frames[late] = frames[late].loc["2024-01-01":]  # listed late: no bars before 2024
    config = demo_config(tmp_path, source=tn.InMemorySource(frames), universe="source", min_bars=20)
    result = tn.replay(config, DEMO_DATES)
    early = [d for d in DEMO_DATES if d < pd.Timestamp("2024-01-01")]
    errors = result.errors[result.errors["symbol"] == late]
    assert set(errors["date"]) == set(early)
    assert errors["message"].str.contains("no bars on or before").all()
    coverage = result.coverage()
    total = coverage[["ranked", "filtered", "errors"]].sum(axis=1)
    assert (total == coverage["universe"]).all()  # every symbol-date is accounted for


def test_a_replay_runs_under_the_runner_with_cancel_and_resume(tmp_path):
    config = demo_config(tmp_path, source="demo:300", backend="loky")
    runner = tn.ReplayRunner(config, DEMO_DATES, display=False, console=False)
    reached = threading.Event()

    def progress(stage, current, total, message, metadata):
        if stage == "symbol_scanning" and current >= 30 * len(DEMO_DATES):
            reached.set()

    runner.tracker.add_listener(progress)
    runner.start()
    assert reached.wait(120)
    runner.cancel()
    partial = runner.wait(60)
    assert isinstance(partial, tn.ReplayResult) and partial.cancelled
    assert runner.state is tn.RunnerState.CANCELLED
    assert runner.progress.stage("symbol_scanning").total == 300 * len(DEMO_DATES)
    again = tn.ReplayRunner(config, DEMO_DATES, display=False, console=False).run()
    assert not again.cancelled and again.stats["from_cache"] >= partial.stats["done"]


def test_both_trade_plans_are_walked(demo_replay):
    _, result = demo_replay
    chart, fixed = result.trades(top_n=10), result.trades(top_n=10, plan="fixed")
    assert len(chart) == len(fixed) > 0
    panel = result.panel
    first = chart.iloc[0]
    row = panel.loc[(first["date"], first["symbol"])]
    assert first["target"] == row["target"] and fixed.iloc[0]["target"] == row["target_fixed"]
    summary = result.trade_summary(top_n=10)
    assert list(summary.columns) == ["chart", "fixed"] and summary.loc["trades", "chart"] > 0
    with pytest.raises(ValueError, match="plan must be"):
        result.trades(plan="other")
    # only the plans of directional signals (plans that pass) are walked
    walked = panel.loc[list(zip(chart["date"], chart["symbol"], strict=True))]
    assert walked["signal"].astype(str).isin(["Long", "Strong Long", "Short", "Strong Short"]).all()
    assert walked["plan_ok"].all() and (walked["rank"] <= 10).all()
    downgraded = panel[(panel["signal_note"] != "") & (panel["rank"] <= 10)]
    assert len(downgraded) > 0  # they exist, and are not walked
    assert not set(downgraded.index) & set(walked.index)


def test_the_plan_evaluation_of_a_replay(demo_replay):
    _, result = demo_replay
    evaluation = result.plan_evaluation(top_n=5)
    assert list(evaluation.summary.index) == ["top", "all", "bottom", "random"]
    top = evaluation.trades[evaluation.trades["group"] == "top"]
    assert (top.groupby("date").size() <= 5).all()
    assert evaluation.summary.loc["all", "plans"] >= evaluation.summary.loc["top", "plans"]
    assert evaluation.hac_lags >= 0 and evaluation.cost_bps == 10.0


def falling_wild_bars(days: pd.DatetimeIndex) -> pd.DataFrame:
    """A stock that keeps falling with bars spanning 40 % of its price: its short plans
    risk so much that the fixed 2 R target would be at or below 0 (NaN)."""
    rng = np.random.default_rng(1)
    close = 50 * np.exp(np.cumsum(rng.normal(-0.003, 0.03, len(days))))
    open_ = close * np.exp(rng.normal(0, 0.02, len(days)))
    high, low = np.maximum(open_, close) * 1.2, np.minimum(open_, close) * 0.85
    frame = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close})
    frame["volume"] = 1e6
    return frame.set_axis(days)


def replay_frames(frames, cache_dir):
    """The replay of ``frames`` at the month-ends, prices under 1 dollar kept."""
    source = tn.InMemorySource(frames, name=cache_dir.name)
    config = demo_config(cache_dir, source=source, universe="source", min_price=0.0)
    return tn.replay(config, DEMO_DATES)


@pytest.fixture(scope="module")
def wild_replay(tmp_path_factory):
    """Six demo stocks and WILD (:func:`falling_wild_bars`): (frames, replay)."""
    base = tn.DemoSource(n_symbols=6)
    frames = {s: base.fetch(s) for s in base.universe()["symbol"]}
    frames["WILD"] = falling_wild_bars(frames["EVVB"].index)
    return frames, replay_frames(frames, tmp_path_factory.mktemp("wild"))


def test_plans_without_a_target_are_counted_not_walked(wild_replay):
    # the rating's own signals, so that failing plans are walked too
    result = wild_replay[1].rescore(tn.ScoringParams(signals_need_plan=False))
    panel = result.panel
    fixed = result.trades(top_n=None, plan="fixed")  # used to raise a ValueError
    no_target = panel["direction"].isin([1, -1]) & panel["target_fixed"].isna()
    assert no_target.sum() > 0
    skipped = fixed[fixed["outcome"] == "no_plan"].set_index(["date", "symbol"]).index
    assert skipped.sort_values().equals(panel.index[no_target].sort_values())
    assert fixed.loc[fixed["outcome"] == "no_plan", "r_multiple"].isna().all()
    chart = result.trades(top_n=None)
    no_chart_target = panel["direction"].isin([1, -1]) & panel["target"].isna()
    assert len(chart) == len(fixed)
    assert (chart["outcome"] == "no_plan").sum() == no_chart_target.sum()
    summary = result.trade_summary(top_n=None)
    assert summary.loc["no_plan", "fixed"] == no_target.sum()
    assert summary.loc["trades", "fixed"] == len(fixed) - no_target.sum()
    assert summary.loc["trades", "chart"] == len(chart) - no_chart_target.sum()


def test_real_data_short_without_a_fixed_target_is_counted(real_data_dir, tmp_path):
    """DAL, in bankruptcy in 2007: a short whose fixed 2 R target would be below 0."""
    source = tn.DirectorySource(real_data_dir)
    config = ScanConfig(source=source, universe=["DAL", "AAPL"], cache_dir=tmp_path, n_jobs=2)
    row = (pd.Timestamp("2007-03-30"), "DAL")
    result = tn.replay(config, [row[0].date()])
    assert result.panel.loc[row, "signal"] == "Neutral"  # its plan fails: not a signal
    assert result.panel.loc[row, "signal_note"].startswith("Short -> Neutral")
    result = result.rescore(tn.ScoringParams(signals_need_plan=False))
    assert result.panel.loc[row, "direction"] == -1
    assert np.isnan(result.panel.loc[row, "target_fixed"])
    fixed = result.trades(top_n=None, plan="fixed").set_index(["date", "symbol"])
    assert fixed.loc[row, "outcome"] == "no_plan"
    assert result.trade_summary(top_n=None).loc["no_plan", "fixed"] == 1


@pytest.fixture(scope="module")
def spoiled_replay(wild_replay, tmp_path_factory):
    """The replay of :func:`wild_replay`, and the same after one bar inside a walked
    trade got a close shifted by two decimals (SLG 2014-03-04):
    (clean, spoiled, symbol, bad day)."""
    frames, clean = wild_replay
    trades = clean.trades(top_n=None)
    held = trades[(trades["bars_held"] >= 4) & (trades["symbol"] != "WILD")].iloc[0]
    symbol = held["symbol"]
    bars = frames[symbol].copy()
    bad_day = bars.index[bars.index.get_loc(held["fill_date"]) + 2]  # before the exit
    bars.loc[bad_day, "close"] /= 100
    spoiled = replay_frames({**frames, symbol: bars}, tmp_path_factory.mktemp("spoiled"))
    return clean, spoiled, symbol, bad_day


def test_forward_returns_never_cross_a_bar_the_scan_rejects(spoiled_replay):
    clean, spoiled, symbol, bad_day = spoiled_replay
    assert {s: int(m.sum()) for s, m in spoiled.bad_bars.items() if m.any()} == {symbol: 1}
    assert spoiled.bars[symbol].index[spoiled.bad_bars[symbol]].tolist() == [bad_day]
    # the scans after it reject the symbol, naming the bar
    after = [d for d in spoiled.dates if pd.Timestamp(d) >= bad_day][:3]
    errors = spoiled.errors[spoiled.errors["symbol"] == symbol]
    assert set(after) <= set(errors["date"].dt.date)
    assert errors["message"].str.contains(str(bad_day.date())).all()
    # every return crossing it is bad_bar; the others are the clean replay's
    common = spoiled.panel.index.intersection(clean.panel.index)
    got, want = spoiled.returns.loc[common], clean.returns.loc[common].copy()
    dates = spoiled.bars[symbol].index
    rows = (want.index.get_level_values("symbol") == symbol) & (want["anchor_date"] <= bad_day)
    for h in spoiled.horizons:
        start = dates.get_indexer(want.loc[rows, "anchor_date"])
        ends = dates[np.minimum(start + h, len(dates) - 1)]
        crossed = np.zeros(len(want), dtype=bool)
        crossed[np.flatnonzero(rows)[ends >= bad_day]] = True
        assert crossed.any()
        want[f"status_{h}d"] = want[f"status_{h}d"].astype(object).where(~crossed, "bad_bar")
        want[f"status_{h}d"] = pd.Categorical(want[f"status_{h}d"], categories=ev.STATUSES)
        want.loc[crossed, [f"fwd_{h}d", f"excess_{h}d"]] = np.nan
        counts = spoiled.dropped().xs(h, level="horizon")
        assert counts["bad_bar"].sum() == (spoiled.returns[f"status_{h}d"] == "bad_bar").sum()
        assert counts["bad_bar"].sum() == crossed.sum()
    pd.testing.assert_frame_equal(got, want)


def test_trade_walks_never_cross_a_bar_the_scan_rejects(spoiled_replay):
    clean, spoiled, symbol, bad_day = spoiled_replay
    common = spoiled.panel.index.intersection(clean.panel.index)
    summary = spoiled.trade_summary(top_n=None)
    for plan in ("chart", "fixed"):
        before = clean.trades(top_n=None, plan=plan).set_index(["date", "symbol"])
        after = spoiled.trades(top_n=None, plan=plan).set_index(["date", "symbol"])
        unwalked = after["outcome"].isin(["no_plan", "bad_bar"]).sum()
        assert summary.loc["trades", plan] == len(after) - unwalked
        assert summary.loc["bad_bar", plan] == (after["outcome"] == "bad_bar").sum()
        before = before.loc[before.index.intersection(common)]
        after = after.loc[before.index]
        changed = (before["outcome"] != after["outcome"]).to_numpy()
        assert changed.any() and (after.loc[changed, "outcome"] == "bad_bar").all()
        assert (after.index[changed].get_level_values("symbol") == symbol).all()
        assert (after.index[changed].get_level_values("date") <= bad_day).all()
        pd.testing.assert_frame_equal(before[~changed], after[~changed])


def test_real_data_decimal_shifted_close_is_a_bad_bar(real_data_dir, tmp_path):
    """SLG's close of 0.9161 on 2014-03-04 (90.341 the day before), 21 bars after
    2014-01-31: the 21-day return of that month-end would be -98.9 %."""
    source = tn.DirectorySource(real_data_dir)
    config = ScanConfig(source=source, universe=["SLG", "AAPL"], cache_dir=tmp_path, n_jobs=2)
    row = (pd.Timestamp("2014-01-31"), "SLG")
    result = tn.replay(config, [row[0].date()])
    returns = result.returns
    assert returns.loc[row, "status_5d"] == "ok" and np.isfinite(returns.loc[row, "fwd_5d"])
    assert returns.loc[row, "status_21d"] == "bad_bar" and np.isnan(returns.loc[row, "fwd_21d"])
    assert returns.loc[(row[0], "AAPL"), "status_21d"] == "ok"
    assert result.dropped().loc[(row[0], 21), "bad_bar"] == 1
    bad = result.bars["SLG"].index[result.bad_bars["SLG"]]
    assert pd.Timestamp("2014-03-04") in bad
