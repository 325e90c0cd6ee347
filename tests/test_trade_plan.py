"""The chart levels and the trade plan read from them: hand-made charts and properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from technic_nb.core.indicators import chart_levels, latest_features, level_names, pivot_positions
from technic_nb.core.scoring import PLAN_COLUMNS, ScoringParams, score_table, trade_plan
from technic_nb.core.scoring.trade_plan import TARGET_KINDS

# -- hand-made charts --------------------------------------------------------------------------


def chart(points: list[tuple[int, float]], bars: int = 300, spread: float = 2.0) -> pd.DataFrame:
    """Daily bars whose close runs straight between ``(bar, price)`` points; every bar
    spans ``close - spread`` to ``close + spread`` (so the ATR is ``2 * spread``)."""
    close = np.interp(np.arange(bars), [p[0] for p in points], [p[1] for p in points])
    return pd.DataFrame(
        {
            "open": close,
            "high": close + spread,
            "low": close - spread,
            "close": close,
            "volume": 1e6,
        },
        index=pd.DatetimeIndex(pd.bdate_range("2020-01-01", periods=bars), name="date"),
    )


def plan_of(bars: pd.DataFrame, signal: str = "Long", **params: float) -> tuple[dict, pd.Series]:
    row = latest_features(bars)
    plan = trade_plan(pd.DataFrame([row], index=["X"]), [signal], ScoringParams(**params))
    return row, plan.loc["X"]


def test_the_stop_goes_under_the_last_swing_low_and_the_target_is_a_resistance() -> None:
    # up to 150, down to 115, a lower high at 136, a higher low at 120, now 125
    row, plan = plan_of(
        chart([(0, 100), (120, 150), (180, 115), (230, 136), (260, 120), (299, 125)])
    )
    assert row["atr"] == pytest.approx(4.0)
    assert row["swing_low"] == pytest.approx(118.0)  # the pivot low of bar 260
    assert row["swing_high"] == pytest.approx(138.0)  # the lower high of bar 230
    assert plan["entry"] == pytest.approx(125.0) and math.isnan(plan["trigger"])
    assert plan["stop"] == pytest.approx(118.0 - 0.25 * 4.0)
    assert plan["risk_atr"] == pytest.approx(2.0) and not plan["extended"]
    # the lower high is 13 above the entry: more than 1 R (8) and 1.5 ATR (6)
    assert plan["target"] == pytest.approx(138.0)
    assert plan["target_kind"] == "resistance"
    assert plan["reward_risk"] == pytest.approx(13.0 / 8.0)
    assert plan["plan_ok"] and plan["plan_note"] == ""
    assert plan["target_fixed"] == pytest.approx(125.0 + 2 * 8.0)


def test_a_resistance_just_above_the_close_is_the_trigger_not_the_target() -> None:
    # the same chart, closing 1.5 under the lower high (0.375 ATR)
    bars = chart([(0, 100), (120, 150), (180, 115), (230, 136), (255, 128), (299, 136.5)])
    row, plan = plan_of(bars)
    assert row["resistance_1"] == pytest.approx(138.0)
    assert plan["trigger"] == pytest.approx(138.0)
    assert plan["entry"] == pytest.approx(138.0 + 0.1 * 4.0)  # a stop-buy just above it
    assert plan["stop"] == pytest.approx(row["swing_low"] - 1.0)
    assert plan["target"] == pytest.approx(152.0)  # the next resistance: the year's high
    assert plan["target"] > plan["trigger"]
    assert plan["reward_risk"] == pytest.approx((152.0 - 138.4) / (138.4 - plan["stop"]))


def test_a_nearer_resistance_is_a_hurdle_when_it_is_closer_than_the_minimum() -> None:
    bars = chart([(0, 100), (120, 150), (180, 115), (230, 136), (255, 128), (299, 135)])
    row, plan = plan_of(bars)
    assert row["resistance_1"] == pytest.approx(138.0)  # 0.75 ATR above: no trigger
    assert math.isnan(plan["trigger"]) and plan["entry"] == pytest.approx(135.0)
    risk = 135.0 - plan["stop"]
    assert max(risk, 6.0) > 138.0 - 135.0  # too near for a target
    assert plan["target"] == pytest.approx(152.0) and plan["target_kind"] == "resistance"


def test_blue_sky_takes_the_measured_move_of_the_base() -> None:
    # a year's high made today, out of a base whose low (110) is under the swing low (117)
    bars = chart([(0, 100), (150, 90), (200, 120), (262, 112), (275, 123), (285, 119), (299, 124)])
    row, plan = plan_of(bars)
    assert row["high52w"] == pytest.approx(126.0)
    # above the close: the pivot high of bar 275 and today's high, nothing more
    assert [row["resistance_1"], row["resistance_2"]] == pytest.approx([125.0, 126.0])
    assert math.isnan(row["resistance_3"])
    assert row["base_high"] == pytest.approx(126.0) and row["base_low"] == pytest.approx(110.0)
    assert plan["trigger"] == pytest.approx(125.0)  # 0.25 ATR above the close
    assert plan["entry"] == pytest.approx(125.4)
    assert plan["target_kind"] == "measured"
    assert plan["target"] == pytest.approx(126.0 + (126.0 - 110.0))
    assert plan["plan_ok"] and plan["reward_risk"] >= 1.5


def test_blue_sky_without_a_deep_enough_base_takes_an_r_multiple() -> None:
    bars = chart([(0, 100), (150, 90), (200, 120), (250, 119), (299, 124)])
    row, plan = plan_of(bars)
    risk = plan["entry"] - plan["stop"]
    assert row["base_high"] + (row["base_high"] - row["base_low"]) - plan["entry"] < risk
    assert plan["target_kind"] == "r_multiple"
    assert plan["target"] == pytest.approx(plan["entry"] + 2.0 * risk)
    assert plan["reward_risk"] == pytest.approx(2.0) and plan["plan_ok"]


def test_an_extended_setup_keeps_its_chart_stop_and_fails() -> None:
    # a straight run from 90 to 140: the only support is the year's low
    row, plan = plan_of(chart([(0, 100), (150, 90), (200, 100), (299, 140)]))
    assert row["swing_low"] == pytest.approx(88.0)
    assert plan["stop"] == pytest.approx(88.0 - 1.0)  # not moved to the 3 ATR cap
    assert plan["risk_atr"] > 3.0 and plan["extended"]
    assert not plan["plan_ok"]
    assert plan["plan_note"].startswith("extended: the stop is 13.9 ATR away (max_stop_atr 3)")
    wide = plan_of(chart([(0, 100), (150, 90), (200, 100), (299, 140)]), max_stop_atr=20.0)[1]
    assert not wide["extended"] and wide["plan_ok"]


def test_a_short_mirrors_the_long() -> None:
    # the first chart upside down
    bars = chart([(0, 150), (120, 100), (180, 135), (230, 114), (260, 130), (299, 125)])
    row, plan = plan_of(bars, "Short")
    assert row["swing_high"] == pytest.approx(132.0)
    assert plan["direction"] == -1
    assert plan["stop"] == pytest.approx(132.0 + 1.0)
    assert plan["entry"] == pytest.approx(125.0)
    assert plan["target"] == pytest.approx(112.0) and plan["target_kind"] == "resistance"
    assert plan["reward_risk"] == pytest.approx(13.0 / 8.0) and plan["plan_ok"]
    assert plan["target_fixed"] == pytest.approx(125.0 - 2 * 8.0)


def test_the_chart_draws_the_pivots_and_the_plan_with_its_kinds() -> None:
    from technic_nb.display.charts import plot_symbol

    bars = chart([(0, 100), (120, 150), (180, 115), (230, 136), (255, 128), (299, 136.5)])
    row, plan = plan_of(bars)
    fig = plot_symbol(bars, pd.Series({**row, **plan, "signal": "Long"}), symbol="X")
    price = fig.axes[0]
    lines = {line.get_label(): line.get_ydata()[0] for line in price.get_lines()[4:]}
    assert lines == pytest.approx(
        {
            "trigger": 138.0,
            "entry": plan["entry"],
            "stop": plan["stop"],
            "target (resistance)": 152.0,
        }
    )
    marks = {c.get_label(): c.get_offsets() for c in price.collections}
    window = bars.iloc[-252:]
    highs = {(x, y) for x, y in marks["pivot high"].tolist()}
    assert (mdates_of(window.index[230 - 48]), 138.0) in highs  # the lower high, bar 230
    lows = [y for _, y in marks["pivot low"].tolist()]
    assert row["swing_low"] == lows[-1]  # the last pivot low is the stop's swing low
    assert "reward/risk" in price.get_title(loc="left")
    failing = pd.Series({**row, **plan, "plan_note": "extended: the stop is 4 ATR away"})
    title = plot_symbol(bars, failing).axes[0].get_title(loc="left")
    assert "plan fails: extended" in title


def mdates_of(stamp: pd.Timestamp) -> float:
    from matplotlib import dates

    return float(dates.date2num(stamp))


# -- the levels ---------------------------------------------------------------------------------


def test_pivots_need_n_bars_on_each_side() -> None:
    high = np.array([1, 2, 5, 2, 1, 3, 1, 4, 9.0])
    low = high - 0.5
    highs, lows = pivot_positions(high, low, 2)
    assert highs.tolist() == [2]  # bar 8 is the highest but has no 2 bars after it
    assert lows.tolist() == [4, 6]  # 4: lowest of bars 2..6; 6: lowest of bars 4..8
    highs, lows = pivot_positions(high[:4], low[:4], 2)
    assert len(highs) == len(lows) == 0


def test_the_swing_low_is_the_last_pivot_low_not_undercut_since() -> None:
    close = np.array([10, 8, 10, 11, 9, 11, 12, 10.5, 12, 13, 8.5, 13, 14, 14.5, 15.0])
    high, low = close + 0.1, close - 0.1
    levels = chart_levels(
        high, low, 15.0, 0.5, window=252, pivot_bars=1, congestion_bars=50, base_window=5
    )
    # pivot lows 8 (bar 1), 9 (bar 4), 10.5 (bar 7), 8.5 (bar 10): 9 and 10.5 were undercut
    assert levels["swing_low"] == pytest.approx(8.4)
    assert levels["support_1"] == pytest.approx(10.4)  # an undercut pivot is still a level
    assert levels["base_high"] == pytest.approx(15.1) and levels["base_low"] == pytest.approx(8.4)
    assert set(levels) == set(level_names())


def test_a_congestion_zone_gives_levels_at_its_edges() -> None:
    # a steady climb (no pivots at all) that pauses for 15 bars around 30
    close = np.concatenate([np.arange(10.0, 30.0), 30 + 0.1 * np.arange(15), np.arange(32.0, 52.0)])
    high, low = close + 0.5, close - 0.5
    highs, lows = pivot_positions(high, low, 3)
    assert len(highs) == len(lows) == 0
    levels = chart_levels(
        high, low, 51.0, 1.5, window=252, pivot_bars=3, congestion_bars=10, base_window=20
    )
    supports = [levels[f"support_{k}"] for k in range(1, 5)]
    zone = [level for level in supports if 28.5 <= level <= 32.5]
    assert len(zone) == 2  # the pause's top and bottom
    assert supports[0] == zone[0] > zone[1]
    assert levels["support_3"] == pytest.approx(9.5)  # the window's lowest low
    flat = chart_levels(
        high, low, 51.0, 0.1, window=252, pivot_bars=3, congestion_bars=10, base_window=20
    )
    assert flat["support_1"] == pytest.approx(9.5)  # too wide a pause for a small ATR


def test_levels_without_an_atr_are_pivots_and_extremes_only() -> None:
    bars = chart([(0, 100), (120, 150), (180, 115), (230, 136), (260, 120), (299, 125)])
    high, low = bars["high"].to_numpy(), bars["low"].to_numpy()
    levels = chart_levels(
        high, low, 125.0, math.nan, window=252, pivot_bars=3, congestion_bars=10, base_window=40
    )
    assert levels["swing_low"] == pytest.approx(118.0)
    assert levels["resistance_1"] == pytest.approx(138.0)


# -- feature rows ------------------------------------------------------------------------------


def row(**values: float) -> dict[str, float]:
    base = {
        "close": 100.0,
        "atr": 2.0,
        "high52w": 130.0,
        "low52w": 70.0,
        "swing_low": 96.0,
        "swing_high": 104.0,
        "resistance_1": 106.0,
        "support_1": 94.0,
        "base_high": 101.0,
        "base_low": 95.0,
    }
    base.update(values)
    return base


def plan_for(signal: str, params: ScoringParams | None = None, **values: float) -> pd.Series:
    features = pd.DataFrame([row(**values)], index=["X"])
    return trade_plan(features, [signal], params or ScoringParams()).loc["X"]


def test_a_swing_low_too_close_moves_the_stop_to_the_floor() -> None:
    plan = plan_for("Long", swing_low=99.8, support_1=99.9)
    assert plan["stop"] == pytest.approx(100.0 - 1.0 * 2.0)
    assert plan["risk_atr"] == pytest.approx(1.0)


def test_a_nearer_support_within_the_cap_is_used_before_a_far_swing_low() -> None:
    plan = plan_for("Long", swing_low=80.0, support_1=95.0)
    assert plan["stop"] == pytest.approx(95.0 - 0.5)
    assert not plan["extended"]


def test_a_resistance_out_of_reach_gives_an_r_multiple_target() -> None:
    plan = plan_for("Long", resistance_1=140.0, high52w=140.0)  # 20 ATR away
    risk = 100.0 - (96.0 - 0.5)
    assert plan["target_kind"] == "r_multiple"
    assert plan["target"] == pytest.approx(100.0 + 2 * risk)
    near = plan_for("Long", ScoringParams(max_target_atr=25.0), resistance_1=140.0, high52w=140.0)
    assert near["target_kind"] == "resistance" and near["target"] == pytest.approx(140.0)


def test_a_short_target_at_or_below_zero_leaves_no_plan() -> None:
    plan = plan_for(
        "Short",
        close=10.0,
        atr=4.0,
        swing_high=14.0,
        support_1=np.nan,
        low52w=9.0,
        base_low=9.0,
        base_high=10.0,
    )
    assert math.isnan(plan["target"]) and not plan["plan_ok"]
    assert plan["plan_note"] == "no target: the target would be at or below 0"
    assert math.isnan(plan["target_fixed"])


def test_a_table_without_levels_gets_the_floor_stop_and_an_r_multiple() -> None:
    features = pd.DataFrame([{"close": 50.0, "atr": 1.0}], index=["X"])
    plan = trade_plan(features, ["Long"]).loc["X"]
    assert plan["stop"] == pytest.approx(49.0) and plan["target"] == pytest.approx(52.0)
    assert plan["target_kind"] == "r_multiple" and plan["plan_ok"]


def test_neutral_and_unknown_rows_have_no_plan() -> None:
    for plan in (plan_for("Neutral"), plan_for("Long", atr=np.nan), plan_for("Long", close=np.nan)):
        assert plan[["entry", "stop", "target", "reward_risk", "target_fixed"]].isna().all()
        assert plan["direction"] == 0 and not plan["plan_ok"] and plan["target_kind"] == ""
        assert plan["plan_note"] == "" and not plan["extended"]
    assert list(trade_plan(pd.DataFrame([row()], index=["X"]), ["Long"]).columns) == list(
        PLAN_COLUMNS
    )


def test_the_default_params_are_coherent() -> None:
    params = ScoringParams()
    assert params.target_rr >= params.min_reward_risk
    with pytest.raises(ValueError, match=r"ScoringParams\.target_rr=1\.2 .*>= min_reward_risk"):
        ScoringParams(target_rr=1.2)
    with pytest.raises(ValueError, match=r"signals_need_plan='yes' .*True or False"):
        ScoringParams(signals_need_plan="yes")  # type: ignore[arg-type]


# -- properties ----------------------------------------------------------------------------------

_price = st.floats(1.0, 500.0)


@st.composite
def feature_rows(draw: st.DrawFn) -> dict[str, float]:
    close = draw(_price)
    atr = close * draw(st.floats(0.002, 0.2))

    def maybe(level: float) -> float:
        return level if draw(st.booleans()) else math.nan

    above = sorted(close * (1 + draw(st.floats(0.0001, 1.0))) for _ in range(4))
    below = sorted((close * (1 - draw(st.floats(0.0001, 0.99))) for _ in range(4)), reverse=True)
    values = {
        "close": close,
        "atr": atr,
        "swing_low": maybe(close * (1 - draw(st.floats(0.0, 0.9)))),
        "swing_high": maybe(close * (1 + draw(st.floats(0.0, 2.0)))),
        "high52w": close * (1 + draw(st.floats(0.0, 2.0))),
        "low52w": close * (1 - draw(st.floats(0.0, 0.99))),
        "base_high": close * (1 + draw(st.floats(0.0, 0.3))),
        "base_low": close * (1 - draw(st.floats(0.0, 0.5))),
    }
    for k in range(4):
        values[f"resistance_{k + 1}"] = maybe(above[k])
        values[f"support_{k + 1}"] = maybe(below[k])
    return values


_params = st.builds(
    ScoringParams,
    min_reward_risk=st.sampled_from([0.5, 1.0, 1.5, 2.0]),
    target_rr=st.just(2.5),
    min_stop_atr=st.sampled_from([0.5, 1.0, 2.0]),
    min_target_r=st.sampled_from([0.0, 1.0, 2.0]),
    min_target_atr=st.sampled_from([0.0, 1.5, 3.0]),
    trigger_atr=st.sampled_from([0.0, 0.5, 1.0]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(feature_rows(), min_size=1, max_size=8), st.data(), _params)
def test_plan_properties(rows: list[dict[str, float]], data: st.DataObject, params) -> None:
    signals = data.draw(
        st.lists(
            st.sampled_from(["Strong Long", "Long", "Short", "Strong Short"]),
            min_size=len(rows),
            max_size=len(rows),
        )
    )
    features = pd.DataFrame(rows, index=[f"S{i}" for i in range(len(rows))])
    plans = trade_plan(features, signals, params)
    for (_, plan), values in zip(plans.iterrows(), rows, strict=True):
        d = plan["direction"]
        assert d in (1, -1)
        risk = d * (plan["entry"] - plan["stop"])
        assert risk >= params.min_stop_atr * values["atr"] * (1 - 1e-9)  # stop beyond entry
        assert plan["target_kind"] in TARGET_KINDS
        if math.isnan(plan["target"]):
            assert d == -1 and not plan["plan_ok"] and plan["plan_note"]
            continue
        reward = d * (plan["target"] - plan["entry"])
        minimum = max(params.min_target_r * risk, params.min_target_atr * values["atr"])
        assert reward >= minimum * (1 - 1e-9)  # target beyond entry, at least the minimum
        if plan["plan_ok"]:
            assert plan["reward_risk"] >= params.min_reward_risk
            assert not plan["extended"] and plan["plan_note"] == ""
        else:
            assert plan["plan_note"]
        if not math.isnan(plan["trigger"]):
            assert (
                d * (plan["trigger"] - values["close"]) <= params.trigger_atr * values["atr"] + 1e-9
            )


# -- signals respect the plan ------------------------------------------------------------------


#: The features of a textbook bullish row (every subscore at its maximum), without levels.
BULL = {
    "bars": 300.0,
    "volume": 1e6,
    "rsi": 65.0,
    "atr_pct": 2.0,
    "sma20": 98.0,
    "sma50": 95.0,
    "sma200": 90.0,
    "macd": 1.0,
    "macd_signal": 0.5,
    "macd_hist": 0.5,
    "high20": 100.5,
    "dist_high20_pct": 100.0 * (100.0 / 100.5 - 1.0),
    "dist_high52w_pct": -10.0,
    "ret_1d_pct": 1.5,
    "ret_5d_pct": 3.0,
    "ret_21d_pct": 5.0,
    "ret_63d_pct": 10.0,
    "rvol20_pct": 20.0,
    "dollar_volume20": 1e8,
    "volume_spike": 2.5,
    "low_recent": 95.0,
}


def scored(params: ScoringParams | None = None) -> pd.DataFrame:
    """A strong bullish row whose plan is extended, and one whose plan passes."""
    far = {**BULL, **row(swing_low=80.0, support_1=80.0)}
    near = {**BULL, **row(resistance_1=110.0)}
    return score_table(pd.DataFrame([far, near], index=["FAR", "NEAR"]), params or ScoringParams())


def test_a_signal_whose_plan_fails_is_downgraded_with_its_reason() -> None:
    table = scored()
    assert table.loc["FAR", "rating_signal"] == "Strong Long"
    assert table.loc["FAR", "signal"] == "Neutral"
    assert table.loc["FAR", "signal_note"].startswith("Strong Long -> Neutral: extended: the stop")
    assert table.loc["NEAR", "signal"] == table.loc["NEAR", "rating_signal"] == "Strong Long"
    assert table.loc["NEAR", "signal_note"] == ""
    # the plan of the downgraded row stays to be read
    assert table.loc["FAR", "direction"] == 1 and table.loc["FAR", "extended"]


def test_the_plan_check_can_be_turned_off() -> None:
    table = scored(ScoringParams(signals_need_plan=False))
    assert (table["signal"] == "Strong Long").all()
    assert (table["signal_note"] == "").all()


@settings(max_examples=100, deadline=None)
@given(st.lists(feature_rows(), min_size=1, max_size=6), st.booleans())
def test_no_directional_signal_below_min_reward_risk_without_a_reason(rows, bearish) -> None:
    sign = -1.0 if bearish else 1.0
    flipped = {k: (sign * v if k.startswith(("ret_", "macd")) else v) for k, v in BULL.items()}
    if bearish:
        flipped.update(rsi=35.0, sma20=102.0, sma50=105.0, sma200=110.0)
    features = pd.DataFrame(
        [{**flipped, **values} for values in rows], index=[f"R{i}" for i in range(len(rows))]
    )
    out = score_table(features)
    directional = out["signal"].astype(str).isin(["Strong Long", "Long", "Short", "Strong Short"])
    assert (out.loc[directional, "reward_risk"] >= 1.5).all()
    assert out.loc[directional, "plan_ok"].all()
    failed = (out["direction"] != 0) & ~out["plan_ok"]
    assert (out.loc[failed, "signal_note"] != "").all()
    assert (out.loc[failed, "signal"] == "Neutral").all()
