"""Tests of the scoring: subscores, TechRating, signals, plans, ranking, filters."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from technic_nb.core.scoring import (
    PLAN_COLUMNS,
    SIGNALS,
    SUBSCORES,
    ScoringParams,
    ScoringWeights,
    apply_filters,
    score_table,
    signals,
    subscores,
    tech_rating,
)

# -- helpers --------------------------------------------------------------------------

NEUTRAL: dict[str, float] = {
    "close": 100.0,
    "volume": 1_000_000.0,
    "bars": 300.0,
    "rsi": 50.0,
    "atr": 2.0,
    "atr_pct": 2.0,
    "sma20": 100.0,
    "sma50": 100.0,
    "sma200": 100.0,
    "macd": 0.0,
    "macd_signal": 0.0,
    "macd_hist": 0.0,
    "high20": 105.0,
    "high52w": 120.0,
    "dist_high20_pct": 100.0 * (100.0 / 105.0 - 1.0),
    "dist_high52w_pct": 100.0 * (100.0 / 120.0 - 1.0),
    "ret_1d_pct": 0.0,
    "ret_5d_pct": 0.0,
    "ret_21d_pct": 0.0,
    "ret_63d_pct": 0.0,
    "rvol20_pct": 40.0,
    "dollar_volume20": 100_000_000.0,
    "volume_spike": 1.0,
    "low_recent": 95.0,
}

#: A textbook bullish setup: every subscore at its maximum.
BULL = {
    "sma20": 98.0,
    "sma50": 95.0,
    "sma200": 90.0,
    "ret_21d_pct": 5.0,
    "ret_63d_pct": 10.0,
    "macd": 1.0,
    "macd_signal": 0.5,
    "macd_hist": 0.5,
    "rsi": 65.0,
    "volume_spike": 2.5,
    "ret_1d_pct": 1.5,
    "rvol20_pct": 20.0,
    "high20": 100.5,
    "ret_5d_pct": 3.0,
}

#: A textbook bearish setup: every subscore at its minimum.
BEAR = {
    "sma20": 102.0,
    "sma50": 105.0,
    "sma200": 110.0,
    "ret_21d_pct": -5.0,
    "ret_63d_pct": -10.0,
    "macd": -1.0,
    "macd_signal": -0.5,
    "macd_hist": -0.5,
    "rsi": 35.0,
    "volume_spike": 2.5,
    "ret_1d_pct": -1.5,
    "rvol20_pct": 20.0,
    "low_recent": 99.5,
    "ret_5d_pct": -3.0,
}


def make_row(**overrides: float) -> dict[str, float]:
    """A neutral features row with ``overrides``; dist_high20_pct follows high20."""
    row = dict(NEUTRAL)
    row.update(overrides)
    if "high20" in overrides and "dist_high20_pct" not in overrides:
        row["dist_high20_pct"] = 100.0 * (row["close"] / row["high20"] - 1.0)
    return row


def frame(**rows: dict[str, float]) -> pd.DataFrame:
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "symbol"
    return out


def score(features: pd.DataFrame, params: ScoringParams | None = None) -> pd.DataFrame:
    return score_table(features, params or ScoringParams())


PRICE_LEVELS = ("sma20", "sma50", "sma200")
NEGATED = (
    "ret_1d_pct",
    "ret_5d_pct",
    "ret_21d_pct",
    "ret_63d_pct",
    "macd",
    "macd_signal",
    "macd_hist",
)
MIRROR_SIGNAL = {
    "Strong Long": "Strong Short",
    "Long": "Short",
    "Neutral": "Neutral",
    "Short": "Long",
    "Strong Short": "Strong Long",
}


def mirror(features: pd.DataFrame) -> pd.DataFrame:
    """The mirror image: price levels reflected about the close, highs <-> lows."""
    out = features.copy()
    close = features["close"]
    for name in PRICE_LEVELS:
        out[name] = 2.0 * close - features[name]
    for name in NEGATED:
        out[name] = -features[name]
    out["rsi"] = 100.0 - features["rsi"]
    dist_high = features["dist_high20_pct"]
    dist_low = 100.0 * (close / features["low_recent"] - 1.0)
    out["dist_high20_pct"] = -dist_low
    out["high20"] = close / (1.0 - dist_low / 100.0)
    out["low_recent"] = close / (1.0 - dist_high / 100.0)
    return out


def random_features(count: int, seed: int = 7, nan_share: float = 0.08) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = rng.uniform(5.0, 500.0, count)
    atr_pct = rng.uniform(0.3, 14.0, count)
    high20 = close * (1.0 + rng.choice([0.0, 1.0], count) * rng.uniform(0.0, 0.08, count))
    low_recent = close * (1.0 - rng.uniform(0.0, 0.08, count))
    rsi_grid = np.array([30.0, 40.0, 45.0, 50.0, 55.0, 60.0, 70.0])
    rsi = np.where(rng.random(count) < 0.2, rng.choice(rsi_grid, count), rng.uniform(0, 100, count))

    def returns(scale: float, grid: tuple[float, ...]) -> np.ndarray:
        values = rng.normal(0.0, scale, count)
        return np.where(rng.random(count) < 0.15, rng.choice(np.array(grid), count), values)

    data = {
        "close": close,
        "volume": rng.uniform(1e4, 1e7, count),
        "bars": rng.integers(20, 400, count).astype(float),
        "rsi": rsi,
        "atr": close * atr_pct / 100.0,
        "atr_pct": atr_pct,
        "sma20": close * (1.0 + rng.normal(0.0, 0.04, count)),
        "sma50": close * (1.0 + rng.normal(0.0, 0.06, count)),
        "sma200": close * (1.0 + rng.normal(0.0, 0.1, count)),
        "macd": rng.normal(0.0, 2.0, count),
        "macd_signal": rng.normal(0.0, 2.0, count),
        "macd_hist": np.where(rng.random(count) < 0.05, 0.0, rng.normal(0.0, 1.0, count)),
        "high20": high20,
        "high52w": high20 * 1.1,
        "dist_high20_pct": 100.0 * (close / high20 - 1.0),
        "dist_high52w_pct": 100.0 * (close / (high20 * 1.1) - 1.0),
        "ret_1d_pct": returns(2.0, (0.0, 1.0, -1.0)),
        "ret_5d_pct": returns(4.0, (2.0, -2.0, 0.0)),
        "ret_21d_pct": returns(8.0, (2.0, -2.0, 0.0)),
        "ret_63d_pct": returns(15.0, (5.0, -5.0, 0.0)),
        "rvol20_pct": np.where(
            rng.random(count) < 0.1, rng.choice([25.0, 60.0], count), rng.uniform(5, 120, count)
        ),
        "dollar_volume20": rng.uniform(1e5, 1e9, count),
        "volume_spike": np.where(
            rng.random(count) < 0.2,
            rng.choice([0.7, 1.2, 1.5, 2.0], count),
            rng.lognormal(0.0, 0.5, count),
        ),
        "swing_low": np.maximum(low_recent, close * (1.0 - rng.uniform(0.0, 0.05, count))),
        "low_recent": low_recent,
    }
    out = pd.DataFrame(data, index=[f"S{i:04d}" for i in range(count)])
    for name in out.columns:
        if name in ("close", "atr", "atr_pct", "dist_high20_pct", "high20", "low_recent"):
            continue
        out.loc[rng.random(count) < nan_share, name] = np.nan
    return out


# -- subscores --------------------------------------------------------------------------


def test_neutral_row_scores_zero() -> None:
    features = frame(N=make_row())
    subs = subscores(features)
    assert list(subs.columns) == list(SUBSCORES)
    assert (subs.loc["N"] == 0).all()
    table = score(features)
    assert table.loc["N", "tech_rating"] == 0
    assert table.loc["N", "signal"] == "Neutral"


def test_bull_and_bear_subscores_hand_computed() -> None:
    features = frame(BULL=make_row(**BULL), BEAR=make_row(**BEAR))
    subs = subscores(features)
    assert subs.loc["BULL"].to_dict() == {
        "trend": 3.0,
        "momentum": 3.0,
        "volume": 3.0,
        "volatility": 1.0,
        "oscillator": 2.0,
        "breakout": 3.0,
    }
    assert subs.loc["BEAR"].to_dict() == {
        "trend": -3.0,
        "momentum": -3.0,
        "volume": -3.0,
        "volatility": -1.0,
        "oscillator": -2.0,
        "breakout": -3.0,
    }
    rating = tech_rating(subs, features)
    # raw = 3*3 + 3*3 + 2*3 + 1 + 2 + 3 = 30; risk factor 0.7 + 0.3 * (1 - 2/8) = 0.925
    assert rating["BULL"] == pytest.approx(100 * 30 * 0.925 / 33)
    assert rating["BEAR"] == pytest.approx(-100 * 30 * 0.925 / 33)


@pytest.mark.parametrize(
    ("rsi", "points"),
    [
        (50.0, 0),
        (55.0, 0),
        (56.0, 1),
        (60.0, 1),
        (61.0, 2),
        (70.0, 2),
        (75.0, 1),
        (45.0, 0),
        (44.0, -1),
        (40.0, -1),
        (39.0, -2),
        (30.0, -2),
        (25.0, -1),
    ],
)
def test_oscillator_zones(rsi: float, points: int) -> None:
    assert subscores(frame(X=make_row(rsi=rsi))).loc["X", "oscillator"] == points


@pytest.mark.parametrize(
    ("spike", "ret_1d", "points"),
    [
        (2.5, 1.0, 3),
        (2.5, -1.0, -3),
        (1.6, 1.0, 2),
        (1.6, -1.0, -2),
        (1.3, 1.0, 1),
        (1.3, -1.0, -1),
        (1.0, 1.0, 0),
        (0.5, 1.0, -1),
        (0.5, -1.0, 1),
        (2.5, 0.0, 0),
    ],
)
def test_volume_is_direction_aware(spike: float, ret_1d: float, points: int) -> None:
    row = make_row(volume_spike=spike, ret_1d_pct=ret_1d)
    assert subscores(frame(X=row)).loc["X", "volume"] == points


def test_volatility_confirms_the_trend_direction() -> None:
    up = {"sma20": 98.0, "sma50": 95.0, "sma200": 90.0}
    down = {"sma20": 102.0, "sma50": 105.0, "sma200": 110.0}
    features = frame(
        UP_CALM=make_row(rvol20_pct=15.0, **up),
        UP_WILD=make_row(rvol20_pct=90.0, **up),
        DOWN_CALM=make_row(rvol20_pct=15.0, **down),
        DOWN_WILD=make_row(rvol20_pct=90.0, **down),
        FLAT_CALM=make_row(rvol20_pct=15.0),
        UP_MID=make_row(rvol20_pct=40.0, **up),
    )
    vol = subscores(features)["volatility"]
    assert vol.to_dict() == {
        "UP_CALM": 1.0,
        "UP_WILD": -1.0,
        "DOWN_CALM": -1.0,
        "DOWN_WILD": 1.0,
        "FLAT_CALM": 0.0,
        "UP_MID": 0.0,
    }


def test_breakout_uses_high_and_low_and_thrust() -> None:
    features = frame(
        AT_HIGH=make_row(high20=100.0),
        NEAR_HIGH=make_row(high20=102.0),
        AT_LOW=make_row(low_recent=100.0),
        NEAR_LOW=make_row(low_recent=98.0),
        TIGHT=make_row(high20=100.5, low_recent=98.0),
        THRUST=make_row(ret_5d_pct=2.5),
        DUMP=make_row(ret_5d_pct=-2.5),
    )
    got = subscores(features)["breakout"].to_dict()
    assert got == {
        "AT_HIGH": 2.0,
        "NEAR_HIGH": 1.0,
        "AT_LOW": -2.0,
        "NEAR_LOW": -1.0,
        "TIGHT": 1.0,
        "THRUST": 1.0,
        "DUMP": -1.0,
    }


def test_each_condition_counts_once() -> None:
    # RSI moves only the oscillator, the 20-day high only breakout, the 1-day return only volume.
    base = frame(X=make_row(volume_spike=2.5))
    changes = {
        "rsi": (make_row(volume_spike=2.5, rsi=80.0), {"oscillator"}),
        "high20": (make_row(volume_spike=2.5, high20=100.0), {"breakout"}),
        "ret_1d": (make_row(volume_spike=2.5, ret_1d_pct=3.0), {"volume"}),
        "ret_5d": (make_row(volume_spike=2.5, ret_5d_pct=3.0), {"breakout"}),
        "macd_hist": (make_row(volume_spike=2.5, macd_hist=1.0), {"momentum"}),
        "ret_21d": (make_row(volume_spike=2.5, ret_21d_pct=9.0), {"momentum"}),
        "sma20": (make_row(volume_spike=2.5, sma20=101.0), {"trend"}),
    }
    before = subscores(base).loc["X"]
    for name, (row, expected) in changes.items():
        after = subscores(frame(X=row)).loc["X"]
        changed = {col for col in SUBSCORES if after[col] != before[col]}
        assert changed == expected, name


def test_subscores_are_clipped_and_reach_the_limits() -> None:
    features = random_features(400, seed=11)
    subs = subscores(features)
    assert ((subs.min() >= -3) & (subs.max() <= 3)).all()
    extremes = subscores(frame(BULL=make_row(**BULL), BEAR=make_row(**BEAR)))
    for name in ("trend", "momentum", "volume", "breakout"):
        assert extremes.loc["BULL", name] == 3
        assert extremes.loc["BEAR", name] == -3
    rating = tech_rating(subs, features)
    assert rating.dropna().between(-100, 100).all()


# -- symmetry ---------------------------------------------------------------------------


def test_mirror_image_negates_subscores_rating_and_signal_exactly() -> None:
    features = random_features(600, seed=3)
    mirrored = mirror(features)
    subs, subs_m = subscores(features), subscores(mirrored)
    pd.testing.assert_frame_equal(subs_m, -subs, check_exact=True)
    rating, rating_m = tech_rating(subs, features), tech_rating(subs_m, mirrored)
    pd.testing.assert_series_equal(rating_m, -rating, check_exact=True)
    sig = signals(rating, subs).astype(object)
    sig_m = signals(rating_m, subs_m).astype(object)
    expected = sig.map(MIRROR_SIGNAL)
    assert (sig_m.isna() == sig.isna()).all()
    assert (sig_m[sig.notna()] == expected[sig.notna()]).all()
    # the battery is not degenerate: long and short signals both occur
    assert {"Long", "Short"} <= set(sig.dropna())


def test_mirror_of_hand_built_rows() -> None:
    features = frame(BULL=make_row(**BULL), LONG=make_row(sma20=99.0, sma50=98.0, rsi=58.0))
    mirrored = mirror(features)
    table, table_m = score(features), score(mirrored)
    for symbol in features.index:
        assert table_m.loc[symbol, "tech_rating"] == -table.loc[symbol, "tech_rating"]
        assert table_m.loc[symbol, "signal"] == MIRROR_SIGNAL[table.loc[symbol, "signal"]]


# -- signals ----------------------------------------------------------------------------


LONG_ROW = {
    "sma20": 99.0,
    "sma50": 98.0,
    "sma200": 100.0,
    "ret_21d_pct": 3.0,
    "macd_hist": 0.1,
    "rsi": 58.0,
    "high20": 102.0,
    "ret_5d_pct": 2.5,
}
SHORT_ROW = {
    "sma20": 101.0,
    "sma50": 102.0,
    "sma200": 100.0,
    "ret_21d_pct": -3.0,
    "macd_hist": -0.1,
    "rsi": 42.0,
    "low_recent": 98.0,
    "ret_5d_pct": -2.5,
}


def test_every_signal_is_reachable() -> None:
    features = frame(
        SL=make_row(**BULL),
        L=make_row(**LONG_ROW),
        N=make_row(),
        S=make_row(**SHORT_ROW),
        SS=make_row(**BEAR),
    )
    table = score(features)
    assert table["signal"].to_dict() == {
        "SL": "Strong Long",
        "L": "Long",
        "N": "Neutral",
        "S": "Short",
        "SS": "Strong Short",
    }
    # trend 1, momentum 2, oscillator 1, breakout 2: raw 12 -> 100 * 12 * 0.925 / 33
    assert table.loc["L", "tech_rating"] == pytest.approx(100 * 12 * 0.925 / 33)
    assert table.loc["S", "tech_rating"] == pytest.approx(-100 * 12 * 0.925 / 33)
    assert isinstance(table["signal"].dtype, pd.CategoricalDtype)
    assert list(table["signal"].cat.categories) == list(SIGNALS)
    assert table["signal"].cat.ordered


def test_long_needs_a_non_negative_trend_and_strong_needs_momentum() -> None:
    # high rating but trend -1: not Long
    against_trend = make_row(**{**BULL, "sma50": 99.0, "sma20": 98.0, "sma200": 100.0})
    # strong rating and trend 3 but momentum 0: only Long
    no_momentum = make_row(
        **{**BULL, "ret_21d_pct": 0.0, "ret_63d_pct": 0.0, "macd_hist": 0.0, "atr_pct": 0.0}
    )
    features = frame(AGAINST=against_trend, NOMOM=no_momentum)
    table = score(features)
    assert table.loc["AGAINST", "trend"] == -1
    assert table.loc["AGAINST", "tech_rating"] >= 30
    assert table.loc["AGAINST", "signal"] == "Neutral"
    assert table.loc["NOMOM", "momentum"] == 0
    assert table.loc["NOMOM", "tech_rating"] >= 55
    assert table.loc["NOMOM", "signal"] == "Long"


def test_signal_thresholds_are_parameters() -> None:
    features = frame(L=make_row(**LONG_ROW))
    assert score(features).loc["L", "signal"] == "Long"
    strict = ScoringParams(long_rating=40.0, strong_rating=60.0)
    assert score(features, strict).loc["L", "signal"] == "Neutral"


# -- weights ----------------------------------------------------------------------------


def test_weights_validation_messages() -> None:
    with pytest.raises(
        ValueError, match=r"ScoringWeights\.trend=-1 is invalid: trend must be a finite number >= 0"
    ):
        ScoringWeights(trend=-1)
    with pytest.raises(ValueError, match=r"ScoringWeights\.volume=nan .*finite number >= 0"):
        ScoringWeights(volume=float("nan"))
    with pytest.raises(ValueError, match=r"ScoringWeights\.breakout='1' .*finite number >= 0"):
        ScoringWeights(breakout="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"ScoringWeights\.oscillator=True"):
        ScoringWeights(oscillator=True)
    with pytest.raises(ValueError, match="must not all be 0; at least one weight must be > 0"):
        ScoringWeights(0, 0, 0, 0, 0, 0)


def test_weights_key_and_dict() -> None:
    weights = ScoringWeights()
    assert weights.key() == (
        "trend=3.0,momentum=3.0,volume=2.0,volatility=1.0,oscillator=1.0,breakout=1.0"
    )
    assert ScoringWeights(trend=3, momentum=3, volume=2).key() == weights.key()
    assert weights.as_dict() == dict(zip(SUBSCORES, [3.0, 3.0, 2.0, 1.0, 1.0, 1.0], strict=True))
    assert weights.total == 11.0
    assert ScoringWeights(volume=0).key() != weights.key()


def test_params_validation_and_key() -> None:
    params = ScoringParams()
    assert params.key() == ScoringParams().key()
    assert params.key().startswith("weights=(trend=3.0,")
    assert ScoringParams(target_rr=3).key() != params.key()
    assert ScoringParams(weights={"volume": 0.0}).weights == ScoringWeights(volume=0.0)
    assert params.as_dict()["weights"]["trend"] == 3.0
    with pytest.raises(ValueError, match=r"ScoringParams\.max_stop_atr=0\.2 .*>= min_stop_atr"):
        ScoringParams(max_stop_atr=0.2)
    with pytest.raises(ValueError, match=r"ScoringParams\.strong_rating=20\.0 .*long_rating"):
        ScoringParams(strong_rating=20.0)
    with pytest.raises(ValueError, match=r"ScoringParams\.risk_floor=1\.5 .*from 0 to 1"):
        ScoringParams(risk_floor=1.5)
    with pytest.raises(
        ValueError, match=r"ScoringParams\.target_rr=inf .*finite number >= min_reward_risk"
    ):
        ScoringParams(target_rr=math.inf)
    with pytest.raises(ValueError, match=r"ScoringParams\.weights='x'"):
        ScoringParams(weights="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"ScoringWeights\.trend=-2"):
        ScoringParams(weights={"trend": -2})


def test_zero_volume_weight_makes_volume_irrelevant() -> None:
    params = ScoringParams(weights=ScoringWeights(volume=0.0))
    features = frame(
        A=make_row(**BULL),
        B=make_row(**{**BULL, "volume_spike": 0.3}),
        C=make_row(**{**BULL, "volume_spike": np.nan}),
    )
    rating = score(features, params)["tech_rating"]
    assert rating["A"] == rating["B"] == rating["C"]
    # raw without volume = 9 + 9 + 1 + 2 + 3 = 24 over 3 * 9
    assert rating["A"] == pytest.approx(100 * 24 * 0.925 / 27)
    default = score(features)["tech_rating"]
    assert default["A"] > default["B"]
    assert math.isnan(default["C"])


def test_weights_change_ratings_as_expected() -> None:
    features = random_features(200, seed=5, nan_share=0.0)
    subs = subscores(features)
    base = tech_rating(subs, features)
    doubled = ScoringParams(weights=ScoringWeights(6, 6, 4, 2, 2, 2))
    pd.testing.assert_series_equal(tech_rating(subs, features, doubled), base)
    trend_only = ScoringParams(weights=ScoringWeights(1, 0, 0, 0, 0, 0))
    factor = 0.7 + 0.3 * (1 - features["atr_pct"] / 8).clip(0, 1)
    expected = (100 * subs["trend"] * factor / 3).rename("tech_rating")
    pd.testing.assert_series_equal(tech_rating(subs, features, trend_only), expected)
    # more weight on trend moves ratings toward the trend
    heavy = ScoringParams(weights=ScoringWeights(trend=30.0))
    moved = tech_rating(subs, features, heavy) - base
    up = subs["trend"] == 3
    assert (moved[up & (base < 80)] > 0).all()


def test_risk_factor_units_are_percent() -> None:
    features = frame(
        CALM=make_row(**{**BULL, "atr_pct": 0.0}),
        MID=make_row(**{**BULL, "atr_pct": 4.0}),
        WILD=make_row(**{**BULL, "atr_pct": 8.0}),
        WILDER=make_row(**{**BULL, "atr_pct": 30.0}),
    )
    rating = score(features)["tech_rating"]
    top = 100 * 30 / 33
    assert rating["CALM"] == pytest.approx(top)
    assert rating["MID"] == pytest.approx(top * 0.85)
    assert rating["WILD"] == pytest.approx(top * 0.7)
    assert rating["WILDER"] == pytest.approx(top * 0.7)


# -- missing values -----------------------------------------------------------------------


def test_nan_handling() -> None:
    all_nan = {name: np.nan for name in NEUTRAL}
    features = frame(
        EMPTY=all_nan,
        NO200=make_row(**{**BULL, "sma200": np.nan}),
        NOSPIKE=make_row(**{**BULL, "volume_spike": np.nan}),
        NOATR=make_row(**{**BULL, "atr_pct": np.nan, "atr": np.nan}),
        INF=make_row(**{**BULL, "sma200": np.inf}),
        OK=make_row(**BULL),
    )
    table = score(features)
    assert table.loc["EMPTY", list(SUBSCORES)].isna().all()
    assert table.loc["NO200", "trend"] == 2
    assert table.loc["INF", "trend"] == 2
    assert table.loc["NO200", "signal"] == "Strong Long"
    assert math.isnan(table.loc["NOSPIKE", "volume"])
    for symbol in ("EMPTY", "NOSPIKE", "NOATR"):
        assert math.isnan(table.loc[symbol, "tech_rating"])
        assert pd.isna(table.loc[symbol, "signal"])
        assert math.isnan(table.loc[symbol, "rank"])
        assert math.isnan(table.loc[symbol, "percentile"])
        assert table.loc[symbol, "direction"] == 0
        assert table.loc[symbol, ["entry", "stop", "target", "reward_risk"]].isna().all()
    # unrated rows come last, in symbol order
    assert list(table.index[-3:]) == ["EMPTY", "NOATR", "NOSPIKE"]
    assert list(table["rank"].iloc[:3]) == [1.0, 2.0, 3.0]


def test_missing_column_is_an_error() -> None:
    features = frame(X=make_row()).drop(columns=["rsi"])
    with pytest.raises(ValueError, match="no column\\(s\\) rsi"):
        subscores(features)
    with pytest.raises(ValueError, match="dist_high20_pct or high20"):
        subscores(frame(X=make_row()).drop(columns=["dist_high20_pct", "high20"]))
    # dist_high20_pct alone is enough for the scores
    alone = subscores(frame(X=make_row(high20=100.0)).drop(columns=["high20"]))
    assert alone.loc["X", "breakout"] == 2


def test_empty_features() -> None:
    table = score_table(pd.DataFrame())
    assert len(table) == 0
    for name in (*SUBSCORES, "tech_rating", "signal", *PLAN_COLUMNS, "rank", "percentile"):
        assert name in table.columns
    kept, rejected = apply_filters(pd.DataFrame(), 1.0, 1e5, 20)
    assert len(kept) == 0
    assert len(rejected) == 0
    assert "reason" in rejected.columns


# -- ranking ---------------------------------------------------------------------------------


def test_ranking_ties_are_deterministic() -> None:
    rows = {
        "CCC": make_row(**LONG_ROW),
        "AAA": make_row(**LONG_ROW),
        "EEE": make_row(**BEAR),
        "DDD": make_row(**BULL),
        "BBB": make_row(**LONG_ROW),
    }
    expected = ["DDD", "AAA", "BBB", "CCC", "EEE"]
    rng = np.random.default_rng(0)
    names = list(rows)
    for _ in range(5):
        order = list(rng.permutation(names))
        table = score(frame(**{name: rows[name] for name in order}))
        assert list(table.index) == expected
        assert list(table["rank"]) == [1.0, 2.0, 3.0, 4.0, 5.0]
        assert list(table["percentile"]) == [100.0, 25.0, 25.0, 25.0, 0.0]


def test_rank_and_percentile_ranges() -> None:
    features = random_features(300, seed=21)
    table = score(features)
    rated = table[table["tech_rating"].notna()]
    count = len(rated)
    assert 0 < count < len(table)
    assert list(rated["rank"]) == list(map(float, range(1, count + 1)))
    assert rated["tech_rating"].is_monotonic_decreasing
    assert rated["percentile"].between(0, 100).all()
    assert rated["percentile"].iloc[0] == 100.0
    assert rated["percentile"].iloc[-1] == 0.0
    assert rated["percentile"].is_monotonic_decreasing
    assert table["rank"].iloc[count:].isna().all()
    assert set(table.index) == set(features.index)
    # every feature column is kept, unchanged; the share volume is renamed
    inputs = [name if name != "volume" else "volume_shares" for name in features.columns]
    kept = table[inputs].set_axis(features.columns, axis=1).loc[features.index]
    pd.testing.assert_frame_equal(kept, features, check_names=False)
    assert table["volume"].dropna().isin([-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]).all()


def test_single_row_and_duplicates() -> None:
    table = score(frame(ONLY=make_row(**LONG_ROW)))
    assert table.loc["ONLY", "rank"] == 1.0
    assert table.loc["ONLY", "percentile"] == 100.0
    features = pd.concat([frame(A=make_row()), frame(A=make_row())])
    with pytest.raises(ValueError, match="duplicated symbol"):
        score_table(features)


def test_score_table_columns() -> None:
    table = score(frame(X=make_row(**BULL)))
    for name in (*SUBSCORES, "tech_rating", "signal", *PLAN_COLUMNS, "rank", "percentile"):
        assert name in table.columns
    assert table.loc["X", "dist_low20_pct"] == pytest.approx(100 * (100 / 95 - 1))
    assert table["direction"].dtype == np.int64


# -- filters ---------------------------------------------------------------------------------


def test_filters_with_reasons() -> None:
    features = frame(
        OK=make_row(),
        PENNY=make_row(close=0.5),
        THIN=make_row(dollar_volume20=100_000.0),
        YOUNG=make_row(bars=50.0),
        NOCLOSE=make_row(close=np.nan),
        MULTI=make_row(close=0.5, bars=10.0),
    )
    kept, rejected = apply_filters(
        features, min_price=1.0, min_dollar_volume=250_000.0, min_bars=200
    )
    assert list(kept.index) == ["OK"]
    assert list(kept.columns) == list(features.columns)
    assert rejected["reason"].to_dict() == {
        "PENNY": "close 0.50 < min_price 1.00",
        "THIN": "dollar_volume20 100,000 < min_dollar_volume 250,000",
        "YOUNG": "bars 50 < min_bars 200",
        "NOCLOSE": "close unknown",
        "MULTI": "close 0.50 < min_price 1.00; bars 10 < min_bars 200",
    }
    # the limits are inclusive
    kept, rejected = apply_filters(
        features, min_price=0.5, min_dollar_volume=100_000.0, min_bars=10
    )
    assert list(rejected.index) == ["NOCLOSE"]


def test_filter_arguments_are_validated() -> None:
    features = frame(OK=make_row())
    with pytest.raises(ValueError, match="min_price=-1"):
        apply_filters(features, -1, 0, 0)
    with pytest.raises(ValueError, match="min_dollar_volume=nan"):
        apply_filters(features, 1, float("nan"), 0)
    with pytest.raises(ValueError, match=r"min_bars=2\.5"):
        apply_filters(features, 1, 0, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no column\\(s\\) bars"):
        apply_filters(features.drop(columns=["bars"]), 1, 0, 0)
