"""Portfolios after costs and the survivorship drift: hand cases, plain loops, the demo replay."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

import technic_nb as tn
from technic_nb import ScanConfig
from technic_nb.research.evaluation import (
    PortfolioReport,
    benchmark_period_returns,
    holding_returns,
    performance_summary,
    portfolio_report,
    quantile_portfolios,
    survivorship_drift,
    universe_returns,
)
from technic_nb.research.evaluation.stats import newey_west_tstat, overlap_lags

# -- the hand-built market -------------------------------------------------------------
# Three replay dates (two holding periods), four stocks and a benchmark.  Every close
# below is chosen so that each number of the report can be worked out on paper.

D0, D1, D2 = pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-12"), pd.Timestamp("2024-01-19")
DATES = (D0, D1, D2)
DAYS = pd.bdate_range("2024-01-02", "2024-01-19")

#: closes on and from each date: A +10 % then -10 %, B -10 % then +10 %,
#: C +10 % then +20 %, D flat then +10 %.
CLOSES = {
    "A": {"2024-01-02": 100.0, "2024-01-12": 110.0, "2024-01-19": 99.0},
    "B": {"2024-01-02": 50.0, "2024-01-12": 45.0, "2024-01-19": 49.5},
    "C": {"2024-01-02": 20.0, "2024-01-12": 22.0, "2024-01-19": 26.4},
    "D": {"2024-01-02": 10.0, "2024-01-19": 11.0},
}
#: scores at D0 and D1 (D2 has rows but no holding period)
SCORES = {
    D0: {"A": 90.0, "B": 80.0, "C": 70.0, "D": 60.0},
    D1: {"A": 50.0, "B": 85.0, "C": 95.0, "D": 40.0},
    D2: {"A": 10.0, "B": 20.0, "C": 30.0, "D": 40.0},
}
#: SPY: +2 % then -5 %
BENCHMARK = (
    pd.Series([200.0, 204.0, 193.8], index=pd.DatetimeIndex([D0, D1, D2]))
    .reindex(DAYS, method="ffill")
    .bfill()
)


def stepped(points: dict[str, float], days: pd.DatetimeIndex = DAYS) -> pd.DataFrame:
    """Flat bars whose close changes on the given dates and stays until the next one."""
    close = pd.Series(points, dtype=float)
    close.index = pd.DatetimeIndex(close.index)
    close = close.reindex(days.union(close.index)).ffill().reindex(days)
    return pd.DataFrame(
        {"open": close, "high": close, "low": close, "close": close, "volume": 1e6},
        index=pd.DatetimeIndex(days, name="date"),
    )


def market(**changed: pd.DataFrame) -> dict[str, pd.DataFrame]:
    bars = {s: stepped(points) for s, points in CLOSES.items()}
    bars.update(changed)
    return bars


def panel_of(scores: dict[pd.Timestamp, dict[str, float]] = SCORES) -> pd.DataFrame:
    rows = [
        {"date": day, "symbol": s, "tech_rating": v}
        for day, by_symbol in scores.items()
        for s, v in by_symbol.items()
    ]
    return pd.DataFrame(rows).set_index(["date", "symbol"]).sort_index()


def no_bad_bars(bars: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    return {s: np.zeros(len(frame), dtype=bool) for s, frame in bars.items()}


def report_of(
    panel: pd.DataFrame,
    bars: dict[str, pd.DataFrame],
    bad: dict[str, np.ndarray] | None = None,
    **options,
) -> PortfolioReport:
    holding = holding_returns(panel, bars, DATES, bad_bars=bad if bad is not None else {})
    options.setdefault("top_n", 2)
    return portfolio_report(
        holding,
        panel["tech_rating"],
        DATES,
        benchmark=BENCHMARK,
        spacing_bars=5.0,
        **options,
    )


def test_hand_case_every_number():
    report = report_of(panel_of(), market(), no_bad_bars(market()))
    p = report.periods
    assert list(p["start"]) == [D0, D1] and list(p["end"]) == [D1, D2]
    # period 0: A and B (the two best at D0), half each: +10 % and -10 %
    # period 1: C (95) and B (85): +20 % and +10 %
    np.testing.assert_allclose(p["gross"], [0.0, 0.15], atol=1e-15)
    # drifted after period 0: A 0.5 * 1.1 / 1.0 = 0.55, B 0.5 * 0.9 = 0.45
    # traded at D1: |0 - 0.55| (sell A) + |0.5 - 0.45| (buy B) + |0.5 - 0| (buy C) = 1.10
    np.testing.assert_allclose(p["traded"], [1.0, 1.10], rtol=1e-12)
    np.testing.assert_allclose(p["turnover"], [0.5, 0.55], rtol=1e-12)
    np.testing.assert_allclose(p["cost"], [0.001, 0.0011], rtol=1e-12)
    np.testing.assert_allclose(p["net"], [-0.001, 0.1489], rtol=1e-12)
    np.testing.assert_allclose(p["benchmark"], [0.02, -0.05], rtol=1e-12)
    # universe: (0.1 - 0.1 + 0.1 + 0) / 4 = 0.025, then (-0.1 + 0.1 + 0.2 + 0.1) / 4 = 0.075
    np.testing.assert_allclose(p["universe"], [0.025, 0.075], rtol=1e-12)
    np.testing.assert_allclose(p["excess_benchmark"], [-0.021, 0.1989], rtol=1e-12)
    np.testing.assert_allclose(p["excess_universe"], [-0.026, 0.0739], rtol=1e-12)
    assert list(p["holdings"]) == [2, 2] and list(p["dropped"]) == [0, 0]
    assert report.dropped.empty

    s = report.summary
    assert list(s.index) == [
        "portfolio net",
        "portfolio gross",
        "universe",
        "benchmark",
        "excess vs benchmark",
        "excess vs universe",
    ]
    net = s.loc["portfolio net"]
    # cumulative: 0.999 * 1.1489 - 1; the only fall is the first period's -0.1 %
    assert net["cumulative"] == pytest.approx(0.1477511, rel=1e-12)
    assert net["max_drawdown"] == pytest.approx(-0.001, rel=1e-12)
    assert net["hit_rate"] == 0.5
    assert net["mean_turnover"] == pytest.approx(0.525)
    assert net["mean"] == pytest.approx(0.07395)
    # two values a, b: t = mean / (std / sqrt 2) = (a + b) / |a - b|
    assert net["nw_t_stat"] == pytest.approx(0.1479 / 0.1499, rel=1e-12)
    # 252 / 5 = 50.4 periods a year
    assert net["annual_return"] == pytest.approx(1.1477511**25.2 - 1.0, rel=1e-12)
    assert net["annual_vol"] == pytest.approx(0.1499 / math.sqrt(2) * math.sqrt(50.4))
    assert net["sharpe"] == pytest.approx(0.07395 / (0.1499 / math.sqrt(2)) * math.sqrt(50.4))
    bench = s.loc["benchmark"]
    assert bench["cumulative"] == pytest.approx(1.02 * 0.95 - 1.0)
    assert bench["max_drawdown"] == pytest.approx(-0.05)
    assert s.loc["excess vs benchmark", "max_drawdown"] == pytest.approx(-0.021)
    assert s.loc["portfolio gross", "cumulative"] == pytest.approx(0.15)
    assert np.isnan(s.loc["universe", "mean_turnover"])
    expected_p = 2 * scipy_stats.norm.sf(abs(net["nw_t_stat"]))
    assert net["p_value"] == pytest.approx(expected_p)
    assert (s["p_holm"] >= s["p_value"] - 1e-15).all() and (s["p_bh"] <= s["p_holm"] + 1e-15).all()


def test_cost_is_charged_on_both_sides_in_proportion():
    free = report_of(panel_of(), market(), cost_bps=0.0).periods
    dear = report_of(panel_of(), market(), cost_bps=50.0).periods
    np.testing.assert_allclose(free["net"], free["gross"])
    np.testing.assert_allclose(dear["cost"], [0.005, 0.0055], rtol=1e-12)


def test_a_symbol_that_stops_trading_is_cash_for_the_rest_of_the_period():
    # E is the best at D0, falls 25 % to its last bar on 2024-01-08, then never trades again
    e_days = DAYS[DAYS <= "2024-01-08"]
    bars = market(E=stepped({"2024-01-02": 40.0, "2024-01-08": 30.0}, e_days))
    scores = {D0: {**SCORES[D0], "E": 99.0}, D1: SCORES[D1], D2: SCORES[D2]}
    holding = holding_returns(panel_of(scores), bars, DATES, bad_bars={})
    assert holding.loc[(D0, "E"), "status"] == "stopped"
    assert holding.loc[(D0, "E"), "ret"] == pytest.approx(-0.25)
    assert holding.loc[(D0, "E"), "end_date"] == pd.Timestamp("2024-01-08")
    p = report_of(panel_of(scores), bars).periods
    # period 0: E and A, half each: (-0.25 + 0.10) / 2
    assert p.loc[0, "gross"] == pytest.approx(-0.075)
    assert list(p["stopped"]) == [1, 0]
    # drifted: A 0.5 * 1.1 / 0.925, E is cash (not a stock: not in the sum);
    # period 1 holds C and B: traded = 0.55 / 0.925 (sell A) + 0.5 + 0.5 (buy B, C)
    assert p.loc[1, "traded"] == pytest.approx(0.55 / 0.925 + 1.0)
    # universe at D0 counts E with its -25 %: (0.1 - 0.1 + 0.1 + 0 - 0.25) / 5
    assert p.loc[0, "universe"] == pytest.approx(-0.03)


def test_a_stopped_position_kept_in_the_list_is_bought_back_with_its_cash():
    e_days = DAYS[DAYS <= "2024-01-08"]
    bars = market(E=stepped({"2024-01-02": 40.0, "2024-01-08": 30.0}, e_days))
    # E is first at D0; at D1 A and B are the top two (A already held)
    scores = {
        D0: {"A": 90.0, "B": 10.0, "C": 10.0, "D": 10.0, "E": 99.0},
        D1: {"A": 90.0, "B": 85.0, "C": 10.0, "D": 10.0},
        D2: SCORES[D2],
    }
    p = report_of(panel_of(scores), bars).periods
    drifted_a = 0.5 * 1.1 / 0.925
    # buys B 0.5 from E's cash (0.5 * 0.75 / 0.925) and from selling part of A
    assert p.loc[1, "traded"] == pytest.approx(abs(0.5 - drifted_a) + 0.5)
    # period 1: A -10 %, B +10 %
    assert p.loc[1, "gross"] == pytest.approx(0.0, abs=1e-15)


def test_a_bad_bar_drops_the_position_for_the_period_and_is_counted():
    bars = market()
    bad = no_bad_bars(bars)
    bad["B"][DAYS.get_loc(pd.Timestamp("2024-01-09"))] = True  # inside period 0
    report = report_of(panel_of(), bars, bad)
    p = report.periods
    # period 0: B dropped, A holds all the weight: +10 %
    assert p.loc[0, "gross"] == pytest.approx(0.10)
    assert list(p["dropped"]) == [1, 0] and list(p["holdings"]) == [1, 2]
    assert report.dropped[["start", "symbol", "reason"]].values.tolist() == [[D0, "B", "bad_bar"]]
    assert report.dropped["score"].tolist() == [80.0]
    # drifted: A alone, 1.0; D1 holds C and B: sell 1.0 of A, buy 0.5 + 0.5
    assert p.loc[1, "traded"] == pytest.approx(2.0)
    # the universe drops B too: (0.1 + 0.1 + 0) / 3
    assert p.loc[0, "universe"] == pytest.approx(0.2 / 3)


def test_a_bad_bar_is_found_without_a_mask():
    bars = market()
    broken = bars["B"].copy()
    broken.loc["2024-01-09", ["open", "high", "low", "close"]] = -1.0
    holding = holding_returns(panel_of(), market(B=broken), DATES)
    assert holding.loc[(D0, "B"), "status"] == "bad_bar" and np.isnan(holding.loc[(D0, "B"), "ret"])
    assert holding.loc[(D1, "B"), "status"] == "ok"  # period 1 starts after the bad bar
    assert holding.loc[(D2, "B"), "status"] == "no_period"


def test_score_weighting_shifts_by_the_dates_lowest_score():
    report = report_of(panel_of(), market(), no_bad_bars(market()), weighting="score")
    # D0: min 60, range 30, shift 60 - 0.3: A 30.3, B 20.3
    w_a, w_b = 30.3 / 50.6, 20.3 / 50.6
    assert report.periods.loc[0, "gross"] == pytest.approx(w_a * 0.1 - w_b * 0.1)
    # D1: min 40, range 55, shift 40 - 0.55: C 55.55, B 45.55
    w_c, w_b1 = 55.55 / 101.1, 45.55 / 101.1
    gross0 = w_a * 0.1 - w_b * 0.1
    drifted_a, drifted_b = w_a * 1.1 / (1 + gross0), w_b * 0.9 / (1 + gross0)
    assert report.periods.loc[1, "gross"] == pytest.approx(w_c * 0.2 + w_b1 * 0.1)
    assert report.periods.loc[1, "traded"] == pytest.approx(drifted_a + abs(w_b1 - drifted_b) + w_c)


def test_score_weighting_of_equal_scores_is_equal_weighting():
    flat = {day: dict.fromkeys(s, 5.0) for day, s in SCORES.items()}
    equal = report_of(panel_of(flat), market(), top_n=4).periods
    scored = report_of(panel_of(flat), market(), top_n=4, weighting="score").periods
    pd.testing.assert_frame_equal(equal, scored)
    np.testing.assert_allclose(equal["gross"], equal["universe"])


def test_top_n_ties_go_to_the_first_symbol():
    tied = {D0: {"A": 50.0, "B": 50.0, "C": 50.0, "D": 10.0}, D1: SCORES[D1], D2: SCORES[D2]}
    p = report_of(panel_of(tied), market()).periods
    assert p.loc[0, "gross"] == pytest.approx(0.0, abs=1e-15)  # A and B, not C


def test_quantile_selection_and_the_quantile_table():
    panel = panel_of()
    bars = market()
    # quantiles=2 over four rows: the two lowest scores are quantile 1
    low = report_of(panel, bars, quantile=1, quantiles=2).periods
    high = report_of(panel, bars, quantile=2, quantiles=2).periods
    # D0: Q1 = C (+10 %), D (0); Q2 = A, B.  D1: Q1 = A (-10 %), D (+10 %); Q2 = C, B
    np.testing.assert_allclose(low["gross"], [0.05, 0.0], atol=1e-15)
    np.testing.assert_allclose(high["gross"], [0.0, 0.15], atol=1e-15)
    holding = holding_returns(panel, bars, DATES, bad_bars={})
    table = quantile_portfolios(
        holding, panel["tech_rating"], DATES, quantiles=2, cost_bps=10.0, spacing_bars=5.0
    )
    assert list(table.index) == ["Q1", "Q2", "Q2 - Q1"]
    spread = high["net"] - low["net"]
    assert table.loc["Q2 - Q1", "mean"] == pytest.approx(spread.mean())
    assert table.loc["Q2", "cumulative"] == pytest.approx((1 + high["net"]).prod() - 1)
    assert table.loc["Q1", "mean_holdings"] == 2.0
    _, _, t = newey_west_tstat(spread, 0)
    assert table.loc["Q2 - Q1", "nw_t_stat"] == pytest.approx(t)


def test_performance_summary_against_plain_loops():
    rng = np.random.default_rng(3)
    x = pd.Series(rng.normal(0.01, 0.05, 40))
    row = performance_summary({"x": x}, periods_per_year=12.0).loc["x"]
    value, peak, worst = 1.0, 1.0, 0.0
    for r in x:
        value *= 1 + r
        peak = max(peak, value)
        worst = min(worst, value / peak - 1)
    assert row["cumulative"] == pytest.approx(value - 1)
    assert row["max_drawdown"] == pytest.approx(worst)
    assert row["annual_return"] == pytest.approx(value ** (12 / 40) - 1)
    assert row["annual_vol"] == pytest.approx(np.std(x, ddof=1) * math.sqrt(12))
    assert row["sharpe"] == pytest.approx(np.mean(x) / np.std(x, ddof=1) * math.sqrt(12))
    assert row["hit_rate"] == pytest.approx(np.mean(x > 0))
    assert row["nw_t_stat"] == pytest.approx(scipy_stats.ttest_1samp(x, 0.0).statistic)


def random_market(seed: int):
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2022-01-03", periods=90)
    dates = [days[5], days[24], days[47], days[70], days[89]]
    bars, bad = {}, {}
    for i in range(9):
        kept = np.sort(rng.choice(len(days), size=80, replace=False))
        if i == 0:
            kept = kept[days[kept] <= days[55]]  # stops trading inside the third period
        index = days[kept]
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, len(index))))
        bars[f"S{i}"] = pd.DataFrame({"close": close}, index=index)
        bad[f"S{i}"] = rng.random(len(index)) < 0.01
    rows = [
        (day, s) for day in dates for s in bars if rng.random() < 0.8 and bars[s].index[0] <= day
    ]
    index = pd.MultiIndex.from_tuples(rows, names=["date", "symbol"])
    return bars, bad, dates, index


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_equal_weighted_universe_equals_a_plain_loop(seed):
    bars, bad, dates, index = random_market(seed)
    holding = holding_returns(index, bars, dates, bad_bars=bad)
    got = universe_returns(holding, dates)
    expected = []
    for t in range(len(dates) - 1):
        rets = []
        for day, symbol in index:
            if day != dates[t]:
                continue
            frame, mask = bars[symbol], bad[symbol]
            start = frame.index.get_indexer([day], method="pad")[0]
            end = frame.index.get_indexer([dates[t + 1]], method="pad")[0]
            if start < 0 or mask[start : end + 1].any():
                continue
            rets.append(frame["close"].iloc[end] / frame["close"].iloc[start] - 1)
        expected.append(np.mean(rets) if rets else 0.0)
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-12)
    statuses = set(holding["status"].astype(str))
    assert "stopped" in statuses or seed != 0


def test_benchmark_period_returns_use_the_close_on_or_before():
    days = [pd.Timestamp("2024-01-06"), D1]  # a Saturday: Friday's close
    got = benchmark_period_returns(BENCHMARK, days)
    assert got.iloc[0] == pytest.approx(204.0 / 200.0 - 1)
    assert benchmark_period_returns(None, days).isna().all()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"top_n": 0}, "top_n=0"),
        ({"weighting": "cap"}, "weighting='cap'"),
        ({"cost_bps": -1.0}, "cost_bps=-1.0"),
        ({"quantile": 0}, "quantile=0"),
        ({"quantile": 6}, "quantile=6"),
        ({"quantile": 2, "quantiles": 1}, "quantiles=1"),
        ({"hac_lags": -1}, "hac_lags=-1"),
    ],
)
def test_bad_arguments_say_what_was_wrong(options, message):
    with pytest.raises(ValueError, match=message):
        report_of(panel_of(), market(), **options)


def test_holding_needs_two_dates():
    with pytest.raises(ValueError, match="at least two replay dates"):
        holding_returns(panel_of(), market(), [D0])


# -- the demo replay ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_result(tmp_path_factory):
    config = ScanConfig(
        source="demo:40",
        cache_dir=tmp_path_factory.mktemp("portfolios"),
        n_jobs=2,
        backend="threading",
    )
    dates = pd.date_range("2024-01-01", "2025-06-30", freq="BME")
    return tn.replay(config, dates, horizons=(5, 21))


def test_demo_portfolio_runs_and_its_periods_line_up_with_the_dates(demo_result):
    report = demo_result.portfolio()
    days = [pd.Timestamp(d) for d in demo_result.dates]
    assert list(report.periods["start"]) == days[:-1]
    assert list(report.periods["end"]) == days[1:]
    assert report.periods["holdings"].between(1, 20).all()
    assert report.periods["net"].notna().all() and report.periods["benchmark"].notna().all()
    assert report.periods_per_year == pytest.approx(252 / demo_result.spacing)
    assert "top 20 by tech_rating" in repr(report)
    fig = report.plot()
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 5  # 4 curves and the zero line


def test_demo_top_n_is_the_panels_rank(demo_result):
    report = demo_result.portfolio(top_n=5, cost_bps=0.0)
    panel, holding = demo_result.panel, demo_result._holding_returns
    rank = panel["rank"].astype(float)
    first = demo_result.dates[0]
    chosen = holding.loc[pd.Timestamp(first)].loc[rank.loc[pd.Timestamp(first)] <= 5, "ret"]
    assert report.periods.loc[0, "gross"] == pytest.approx(chosen.mean())


def test_demo_quantile_portfolios_and_an_unknown_score(demo_result):
    table = demo_result.quantile_portfolios(quantiles=3, score="momentum")
    assert list(table.index) == ["Q1", "Q2", "Q3", "Q3 - Q1"]
    q3 = demo_result.portfolio(quantile=3, quantiles=3, score="momentum")
    assert table.loc["Q3", "mean"] == pytest.approx(q3.summary.loc["portfolio net", "mean"])
    with pytest.raises(ValueError, match=r"unknown scores \['nope'\]"):
        demo_result.portfolio(score="nope")


def test_demo_survivorship_against_an_independent_computation(demo_result):
    report = demo_result.survivorship()
    periods = demo_result.portfolio().periods
    drift = periods["universe"] - periods["benchmark"]
    row = report.table.loc["holding period"]
    assert row["mean"] == pytest.approx(drift.mean())
    assert row["nw_t_stat"] == pytest.approx(scipy_stats.ttest_1samp(drift, 0.0).statistic)
    per_date = demo_result.returns.groupby(level="date")["excess_21d"].mean().dropna()
    forward = report.table.loc["21-bar forward"]
    assert forward["mean"] == pytest.approx(per_date.mean())
    lags = overlap_lags(21, demo_result.spacing)
    assert forward["lags"] == lags
    assert forward["nw_t_stat"] == pytest.approx(newey_west_tstat(per_date, lags)[2])
    assert "survivors" in report.note
    assert survivorship_drift(
        demo_result._holding_returns,
        demo_result.returns,
        demo_result.dates,
        demo_result.benchmark,
        hac_lags=2,
    ).table["lags"].tolist() == [2, 2]


def test_demo_portfolio_of_a_baseline_score(demo_result):
    report = demo_result.portfolio(top_n=5, score="reversal_1m", cost_bps=0.0)
    scores = demo_result.scores(["reversal_1m"])["reversal_1m"]
    holding = demo_result._holding_returns
    first = pd.Timestamp(demo_result.dates[0])
    day = scores.loc[first].dropna()
    ranked = sorted(day.index, key=lambda s: (-day[s], s))[:5]  # ties by symbol
    assert report.periods.loc[0, "gross"] == pytest.approx(
        holding.loc[first].loc[ranked, "ret"].mean()
    )
