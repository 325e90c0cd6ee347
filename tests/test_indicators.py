"""Tests of technic_nb.core.indicators.

Real-data checks compare every column of ``indicator_series`` with a reference
computed here directly from TA-Lib, numpy and pandas, on daily bars of real
US stocks.  The raw files are used as they are, including the rows that
SOURCE.md flags (decimal-shift prices, zero-volume days, flat bars): the
indicator functions do not validate bars, and the reference sees the same
numbers, so these rows only make the comparison harder.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib

from technic_nb.core.indicators import (
    FORMULA_VERSION,
    IndicatorParams,
    feature_names,
    indicator_series,
    latest_features,
    level_names,
)

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "us_equities_daily"

# AAPL: long history with a zero-volume day (2010-04-26); BRK.B: dotted symbol;
# UA: 2016 start with 178 flat bars; CHTR: sparse OTC period; AAL: 2013 start;
# DXC, BHGE, BHF: fewer than 252 rows; ARE, BXP, PCG, PXD: decimal-shift rows;
# C, GOOGL, GIS, BF.B: zero-volume days; CMG, V: flat zero-volume first row;
# DAL: stitched pre-bankruptcy history; AIG, MS: 2008 crisis moves.
SAMPLE = (
    "AAPL",
    "BRK.B",
    "UA",
    "CHTR",
    "AAL",
    "DXC",
    "BHGE",
    "BHF",
    "ARE",
    "BXP",
    "PCG",
    "PXD",
    "C",
    "GOOGL",
    "GIS",
    "BF.B",
    "CMG",
    "V",
    "DAL",
    "AIG",
    "MS",
    "MSFT",
    "XOM",
    "JPM",
    "NKTR",
)

RTOL = 1e-9
CONTEXT_KEYS = ["last_date", "bars", "close", "volume"]
DEFAULT = IndicatorParams()
CUSTOM = IndicatorParams(
    rsi_period=7,
    atr_period=5,
    sma_periods=(10, 30, 100),
    macd_fast=5,
    macd_slow=35,
    macd_signal=5,
    breakout_window=55,
    high_window=126,
    return_periods=(3, 10),
    vol_window=10,
    dollar_volume_window=5,
    volume_spike_window=50,
    pivot_bars=2,
    congestion_bars=5,
    base_window=30,
    recent_low_window=40,
)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.is_dir():
        pytest.skip(
            f"real daily bars not found at {DATA_DIR} "
            "(expected ../shared/data/us_equities_daily next to the repository)"
        )
    return DATA_DIR


def _read_bars(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, parse_dates=["date"], index_col="date")
    frame = frame.astype("float64")
    frame.index.name = "date"
    return frame


@pytest.fixture(scope="session")
def real_bars(data_dir: Path) -> dict[str, pd.DataFrame]:
    bars = {}
    for symbol in SAMPLE:
        path = data_dir / f"{symbol}.csv.gz"
        if not path.is_file():
            pytest.skip(f"{path.name} missing from {data_dir}")
        bars[symbol] = _read_bars(path)
    return bars


@pytest.fixture(scope="session")
def aapl(real_bars: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return real_bars["AAPL"]


def make_bars(
    close,
    high=None,
    low=None,
    volume=None,
    open_=None,
) -> pd.DataFrame:
    """Bars on business days from hand-written values (high/low default to close)."""
    close = np.asarray(close, dtype=np.float64)
    count = len(close)

    def column(values, default):
        if values is None:
            return np.array(default, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        return np.full(count, values) if values.ndim == 0 else values

    index = pd.bdate_range("2020-01-01", periods=count, name="date")
    return pd.DataFrame(
        {
            "open": column(open_, close),
            "high": column(high, close),
            "low": column(low, close),
            "close": close,
            "volume": column(volume, np.full(count, 1_000.0)),
        },
        index=index,
    )


# --------------------------------------------------------------------------- reference


def reference(bars: pd.DataFrame, p: IndicatorParams) -> dict[str, np.ndarray]:
    """Every indicator computed independently with TA-Lib, numpy and pandas."""
    high = bars["high"].to_numpy(dtype=np.float64).copy()
    low = bars["low"].to_numpy(dtype=np.float64).copy()
    close = bars["close"].to_numpy(dtype=np.float64).copy()
    close_s = bars["close"]
    volume_s = bars["volume"]

    ref: dict[str, np.ndarray] = {}
    ref["rsi"] = talib.RSI(close, p.rsi_period)
    ref["atr"] = talib.ATR(high, low, close, p.atr_period)
    ref["atr_pct"] = ref["atr"] / close * 100.0
    for n in p.sma_periods:
        ref[f"sma{n}"] = talib.SMA(close, n)
    ref["macd"], ref["macd_signal"], ref["macd_hist"] = talib.MACD(
        close, p.macd_fast, p.macd_slow, p.macd_signal
    )
    ref["high20"] = talib.MAX(high, p.breakout_window)
    ref["high52w"] = talib.MAX(high, p.high_window)
    ref["dist_high20_pct"] = (close / ref["high20"] - 1.0) * 100.0
    ref["dist_high52w_pct"] = (close / ref["high52w"] - 1.0) * 100.0
    for n in p.return_periods:
        ref[f"ret_{n}d_pct"] = talib.ROC(close, n)
    log_returns = np.log(close_s).diff()
    rvol = log_returns.rolling(p.vol_window).std(ddof=1) * math.sqrt(252) * 100.0
    ref["rvol20_pct"] = rvol.to_numpy()
    dollar = (close_s * volume_s).rolling(p.dollar_volume_window).mean()
    ref["dollar_volume20"] = dollar.to_numpy()
    prior = volume_s.rolling(p.volume_spike_window).mean().shift(1)
    ref["volume_spike"] = (volume_s / prior.where(prior > 0)).to_numpy()
    ref["low_recent"] = talib.MIN(low, p.recent_low_window)
    ref["low52w"] = talib.MIN(low, p.high_window)
    return ref


def assert_same(actual, expected, what: str, rtol: float = RTOL) -> None:
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"{what}: NaN mask")
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0, equal_nan=True, err_msg=what)


def assert_latest_matches(bars: pd.DataFrame, p: IndicatorParams, what: str) -> dict:
    series = indicator_series(bars, p)
    latest = latest_features(bars, p)
    assert list(latest) == CONTEXT_KEYS + list(series.columns) + level_names(), what
    assert latest["bars"] == float(len(bars))
    assert latest["last_date"] == bars.index[-1].date().isoformat()
    assert latest["close"] == bars["close"].iloc[-1]
    assert latest["volume"] == bars["volume"].iloc[-1]
    last = series.iloc[-1]
    for name in series.columns:
        value = latest[name]
        assert type(value) is float, f"{what} {name}: {type(value).__name__}"
        assert_same(value, last[name], f"{what} {name}", rtol=1e-12)
    return latest


# --------------------------------------------------------------------------- real data


@pytest.mark.parametrize("symbol", SAMPLE)
def test_series_matches_reference(real_bars: dict[str, pd.DataFrame], symbol: str) -> None:
    bars = real_bars[symbol]
    series = indicator_series(bars)
    assert series.index.equals(bars.index)
    assert list(series.columns) == feature_names()
    assert (series.dtypes == np.float64).all()
    ref = reference(bars, DEFAULT)
    assert set(ref) == set(series.columns)
    for name in series.columns:
        assert_same(series[name].to_numpy(), ref[name], f"{symbol} {name}")


@pytest.mark.parametrize("symbol", ["AAPL", "CHTR", "UA", "DXC", "ARE"])
def test_series_matches_reference_custom_params(
    real_bars: dict[str, pd.DataFrame], symbol: str
) -> None:
    bars = real_bars[symbol]
    series = indicator_series(bars, CUSTOM)
    assert list(series.columns) == feature_names(CUSTOM)
    assert "sma100" in series.columns and "ret_10d_pct" in series.columns
    ref = reference(bars, CUSTOM)
    for name in series.columns:
        assert_same(series[name].to_numpy(), ref[name], f"{symbol} {name}")


@pytest.mark.parametrize("symbol", SAMPLE)
def test_latest_equals_last_row(real_bars: dict[str, pd.DataFrame], symbol: str) -> None:
    assert_latest_matches(real_bars[symbol], DEFAULT, symbol)
    assert_latest_matches(real_bars[symbol], CUSTOM, f"{symbol} custom")


def test_latest_on_history_cut_at_many_dates(aapl: pd.DataFrame) -> None:
    for end in range(300, len(aapl), 97):
        assert_latest_matches(aapl.iloc[:end], DEFAULT, f"AAPL[:{end}]")


@pytest.mark.parametrize("count", [1, 2, 15, 30, 33, 34, 199, 200, 201, 251, 252])
def test_short_histories_give_nan_not_errors(aapl: pd.DataFrame, count: int) -> None:
    needed = DEFAULT.bars_needed()
    for bars in (aapl.iloc[:count], aapl.iloc[-count:]):
        latest = assert_latest_matches(bars, DEFAULT, f"{count} bars")
        for name, bars_needed in needed.items():
            assert math.isnan(latest[name]) == (count < bars_needed), (count, name)


def test_short_real_history_dxc(real_bars: dict[str, pd.DataFrame]) -> None:
    bars = real_bars["DXC"]
    assert len(bars) < 200
    series = indicator_series(bars)
    assert series["sma200"].isna().all()
    assert series["high52w"].isna().all()
    assert series["dist_high52w_pct"].isna().all()
    assert series["sma50"].notna().iloc[-1]
    latest = latest_features(bars)
    assert math.isnan(latest["sma200"]) and math.isnan(latest["high52w"])
    assert not math.isnan(latest["rsi"])


def test_warmup_matches_bars_needed(aapl: pd.DataFrame) -> None:
    for params in (DEFAULT, CUSTOM):
        series = indicator_series(aapl, params)
        for name, needed in params.bars_needed().items():
            defined = np.flatnonzero(series[name].notna().to_numpy())
            assert defined[0] == needed - 1, (name, defined[0], needed)
        assert params.min_bars == max(params.bars_needed().values())


def test_zero_volume_day(aapl: pd.DataFrame) -> None:
    """SOURCE.md: AAPL has volume 0 on 2010-04-26; the spike ratio is then exactly 0."""
    series = indicator_series(aapl)
    day = pd.Timestamp("2010-04-26")
    assert aapl.loc[day, "volume"] == 0.0
    assert series.loc[day, "volume_spike"] == 0.0
    position = aapl.index.get_loc(day)
    following = series["volume_spike"].iloc[position + 1 : position + 21]
    assert following.notna().all()


def test_empty_bars() -> None:
    bars = make_bars([])
    series = indicator_series(bars)
    assert series.empty and list(series.columns) == feature_names()
    latest = latest_features(bars)
    assert list(latest) == CONTEXT_KEYS + feature_names() + level_names()
    assert latest["last_date"] == "" and latest["bars"] == 0.0
    assert all(math.isnan(latest[k]) for k in ["close", "volume", *feature_names(), *level_names()])


def test_extra_columns_and_order_are_ignored(aapl: pd.DataFrame) -> None:
    bars = aapl.iloc[-300:]
    shuffled = bars[["volume", "close", "low", "high", "open"]].assign(extra=1.0)
    pd.testing.assert_frame_equal(indicator_series(shuffled), indicator_series(bars))
    assert latest_features(shuffled) == pytest.approx(latest_features(bars), nan_ok=True)


def test_missing_column_is_a_clear_error(aapl: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="'volume'"):
        latest_features(aapl.drop(columns="volume"))


# --------------------------------------------------------------------------- hand-built cases


def test_rsi_by_hand() -> None:
    p = IndicatorParams(rsi_period=2)
    # changes +1, -0.5, +1: first averages gain (1 + 0) / 2 = 0.5, loss (0 + 0.5) / 2 = 0.25;
    # then gain (0.5 * 1 + 1) / 2 = 0.75, loss (0.25 * 1 + 0) / 2 = 0.125.
    rsi = indicator_series(make_bars([1.0, 2.0, 1.5, 2.5]), p)["rsi"].to_numpy()
    assert np.isnan(rsi[:2]).all()
    assert rsi[2] == pytest.approx(100 * 0.5 / 0.75, rel=1e-12)
    assert rsi[3] == pytest.approx(100 * 0.75 / 0.875, rel=1e-12)


def test_rsi_rising_falling_and_flat() -> None:
    rising = make_bars(np.arange(1.0, 41.0))
    falling = make_bars(np.arange(40.0, 0.0, -1.0))
    flat = make_bars(np.full(40, 7.0))
    assert latest_features(rising)["rsi"] == 100.0
    assert latest_features(falling)["rsi"] == 0.0
    # TA-Lib: with no gain and no loss at all RSI is 0.0 (not NaN, not 50).
    assert latest_features(flat)["rsi"] == 0.0
    assert (indicator_series(flat)["rsi"].iloc[14:] == 0.0).all()
    # After a rise, flat closes keep the last RSI: both averages decay at the same rate.
    rise_then_flat = make_bars(np.r_[np.linspace(10.0, 11.0, 20), np.full(30, 11.0)])
    assert latest_features(rise_then_flat)["rsi"] == 100.0


def test_atr_by_hand() -> None:
    p = IndicatorParams(atr_period=2)
    high = [10.0, 12.0, 11.0, 15.0]
    low = [9.0, 10.0, 8.0, 13.0]
    close = [9.5, 11.0, 9.0, 14.0]
    # true ranges of bars 1..3: max(12, 9.5) - min(10, 9.5) = 2.5; max(11, 11) - min(8, 11) = 3;
    # max(15, 9) - min(13, 9) = 6.  ATR2: (2.5 + 3) / 2 = 2.75, then (2.75 * 1 + 6) / 2 = 4.375.
    series = indicator_series(make_bars(close, high, low), p)
    atr = series["atr"].to_numpy()
    assert np.isnan(atr[:2]).all()
    assert atr[2] == pytest.approx(2.75, rel=1e-12)
    assert atr[3] == pytest.approx(4.375, rel=1e-12)
    assert series["atr_pct"].iloc[3] == pytest.approx(100 * 4.375 / 14.0, rel=1e-12)
    assert latest_features(make_bars(np.full(30, 5.0)))["atr"] == 0.0


def test_sma_by_hand() -> None:
    bars = make_bars(np.arange(1.0, 251.0))
    latest = latest_features(bars)
    assert latest["sma20"] == pytest.approx(np.mean(np.arange(231.0, 251.0)), rel=1e-15)
    assert latest["sma50"] == pytest.approx(225.5, rel=1e-15)
    assert latest["sma200"] == pytest.approx(150.5, rel=1e-15)
    series = indicator_series(bars)
    assert series["sma200"].iloc[198:200].isna().tolist() == [True, False]
    assert series["sma200"].iloc[199] == pytest.approx(100.5, rel=1e-15)


def test_macd_by_hand() -> None:
    """TA-Lib seeds both EMAs at bar slow - 1 and reports MACD from bar slow + signal - 2."""
    close = 100.0 + np.cumsum(np.sin(np.arange(80) / 3.0))
    fast, slow, signal = 12, 26, 9

    def ema_from(values: np.ndarray, period: int, seed_at: int) -> dict[int, float]:
        alpha = 2.0 / (period + 1)
        value = float(np.mean(values[seed_at - period + 1 : seed_at + 1]))
        out = {seed_at: value}
        for i in range(seed_at + 1, len(values)):
            value = (values[i] - value) * alpha + value
            out[i] = value
        return out

    ema_fast = ema_from(close, fast, slow - 1)  # seeded late, not at bar fast - 1
    ema_slow = ema_from(close, slow, slow - 1)
    line = np.array([ema_fast[i] - ema_slow[i] for i in range(slow - 1, len(close))])
    sig = ema_from(line, signal, signal - 1)
    series = indicator_series(make_bars(close))
    first = slow + signal - 2
    assert series["macd"].iloc[:first].isna().all()
    for i in range(first, len(close)):
        j = i - (slow - 1)
        assert series["macd"].iloc[i] == pytest.approx(line[j], rel=1e-10, abs=1e-12)
        assert series["macd_signal"].iloc[i] == pytest.approx(sig[j], rel=1e-10, abs=1e-12)
        assert series["macd_hist"].iloc[i] == pytest.approx(line[j] - sig[j], rel=1e-9, abs=1e-12)
    flat = latest_features(make_bars(np.full(40, 3.0)))
    assert (flat["macd"], flat["macd_signal"], flat["macd_hist"]) == (0.0, 0.0, 0.0)


def test_highs_and_distance_by_hand() -> None:
    p = IndicatorParams(high_window=30)
    close = np.full(40, 10.0)
    high = np.full(40, 10.5)
    high[15] = 20.0  # 25 bars before the last bar: inside 30 bars, outside 20
    series = indicator_series(make_bars(close, high, close), p)
    last = series.iloc[-1]
    assert last["high20"] == 10.5
    assert last["high52w"] == 20.0
    assert last["dist_high20_pct"] == pytest.approx(100 * (10.0 / 10.5 - 1), rel=1e-12)
    assert last["dist_high52w_pct"] == -50.0
    # a new high: close at the high of the day, above every earlier high
    close[-1] = high[-1] = 30.0
    latest = latest_features(make_bars(close, high, close), p)
    assert latest["high20"] == latest["high52w"] == 30.0
    assert latest["dist_high20_pct"] == 0.0 and latest["dist_high52w_pct"] == 0.0


def test_returns_by_hand() -> None:
    close = 2.0 ** np.arange(70)
    latest = latest_features(make_bars(close))
    assert latest["ret_1d_pct"] == 100.0
    assert latest["ret_5d_pct"] == 100.0 * (2.0**5 - 1)
    assert latest["ret_63d_pct"] == pytest.approx(100.0 * (2.0**63 - 1), rel=1e-15)
    series = indicator_series(make_bars(close))
    assert series["ret_5d_pct"].iloc[:5].isna().all() and series["ret_5d_pct"].iloc[5] == 3100.0


def test_realized_volatility_by_hand() -> None:
    step = 0.01
    signs = np.where(np.arange(40) % 2 == 0, 1.0, -1.0)
    close = 50.0 * np.exp(np.cumsum(np.r_[0.0, step * signs[:-1]]))
    latest = latest_features(make_bars(close))
    # 20 log returns of +-0.01, ten of each: mean 0, sample variance 20 * 0.01**2 / 19
    expected = 100.0 * math.sqrt(252) * step * math.sqrt(20 / 19)
    assert latest["rvol20_pct"] == pytest.approx(expected, rel=1e-9)
    assert latest_features(make_bars(np.full(30, 4.0)))["rvol20_pct"] == 0.0
    series = indicator_series(make_bars(close))
    assert series["rvol20_pct"].iloc[19:21].isna().tolist() == [True, False]


def test_dollar_volume_by_hand() -> None:
    close = np.full(25, 10.0)
    volume = np.full(25, 100.0)
    volume[-1] = 2_100.0
    latest = latest_features(make_bars(close, volume=volume))
    assert latest["dollar_volume20"] == (19 * 1_000.0 + 21_000.0) / 20
    series = indicator_series(make_bars(close, volume=volume))
    assert series["dollar_volume20"].iloc[18:20].isna().tolist() == [True, False]


def test_volume_spike_by_hand() -> None:
    close = np.full(22, 10.0)
    volume = np.full(22, 1_000.0)
    volume[-1] = 3_000.0
    assert latest_features(make_bars(close, volume=volume))["volume_spike"] == 3.0
    # today's own volume is not part of the mean: a doubling reads 2.0, not 2 / 1.05
    volume[-1] = 2_000.0
    assert latest_features(make_bars(close, volume=volume))["volume_spike"] == 2.0
    # no trading today
    volume[-1] = 0.0
    assert latest_features(make_bars(close, volume=volume))["volume_spike"] == 0.0
    # no trading in the 20 previous bars: the ratio is undefined
    volume = np.r_[np.full(21, 0.0), 500.0]
    series = indicator_series(make_bars(close, volume=volume))
    assert series["volume_spike"].isna().all()
    assert math.isnan(latest_features(make_bars(close, volume=volume))["volume_spike"])
    # 20 prior bars are needed
    spike = indicator_series(make_bars(close[:21], volume=np.full(21, 7.0)))["volume_spike"]
    assert spike.iloc[:20].isna().all() and spike.iloc[20] == 1.0


def test_lows_by_hand() -> None:
    close = np.full(30, 10.0)
    low = np.full(30, 9.0)
    low[-15] = 5.0  # inside the 20-bar window
    latest = latest_features(make_bars(close, close, low))
    assert latest["low_recent"] == 5.0


# --------------------------------------------------------------------------- params


def test_params_defaults_key_and_min_bars() -> None:
    p = IndicatorParams()
    assert p.sma_periods == (20, 50, 200) and p.return_periods == (1, 5, 21, 63)
    assert p.min_bars == 252
    assert p.key() == (
        f"ind{FORMULA_VERSION}:rsi14,atr14,sma20-50-200,macd12-26-9,hi20,hi252,"
        "ret1-5-21-63,rv20,dv20,vs20,lo20,pv3,cg10,bs40"
    )
    assert p.key() == IndicatorParams().key()
    assert CUSTOM.key() != p.key()
    assert IndicatorParams(high_window=100).min_bars == 200
    assert IndicatorParams(high_window=100, macd_slow=250).min_bars == 258
    assert hash(p) == hash(IndicatorParams())
    with pytest.raises(AttributeError):
        p.rsi_period = 3  # type: ignore[misc]


def test_params_normalize_types() -> None:
    p = IndicatorParams(rsi_period=np.int64(10), sma_periods=[5, 10, 15], return_periods=[2])
    assert type(p.rsi_period) is int and p.rsi_period == 10
    assert p.sma_periods == (5, 10, 15) and p.return_periods == (2,)
    assert feature_names(p)[3:6] == ["sma5", "sma10", "sma15"]
    assert "ret_2d_pct" in feature_names(p)


@pytest.mark.parametrize(
    ("kwargs", "field", "shown"),
    [
        ({"rsi_period": 0}, "rsi_period", "got 0"),
        ({"rsi_period": 1}, "rsi_period", "got 1"),
        ({"atr_period": -3}, "atr_period", "got -3"),
        ({"atr_period": 14.0}, "atr_period", "got 14.0"),
        ({"macd_signal": True}, "macd_signal", "got True"),
        ({"breakout_window": "20"}, "breakout_window", "got '20'"),
        ({"high_window": 200_000}, "high_window", "got 200000"),
        ({"vol_window": 1}, "vol_window", "got 1"),
        ({"volume_spike_window": 0}, "volume_spike_window", "got 0"),
        ({"dollar_volume_window": None}, "dollar_volume_window", "got None"),
        ({"pivot_bars": 0}, "pivot_bars", "got 0"),
        ({"congestion_bars": 1}, "congestion_bars", "got 1"),
        ({"base_window": 1}, "base_window", "got 1"),
        ({"recent_low_window": 0}, "recent_low_window", "got 0"),
        ({"macd_fast": 26}, "macd_fast", "macd_fast=26, macd_slow=26"),
        ({"macd_fast": 30, "macd_slow": 20}, "macd_fast", "macd_fast=30, macd_slow=20"),
        ({"sma_periods": (20, 50)}, "sma_periods", "(20, 50)"),
        ({"sma_periods": (50, 20, 200)}, "sma_periods", "(50, 20, 200)"),
        ({"sma_periods": (20, 20, 200)}, "sma_periods", "(20, 20, 200)"),
        ({"sma_periods": (1, 50, 200)}, "sma_periods[0]", "got 1"),
        ({"sma_periods": 20}, "sma_periods", "got 20"),
        ({"return_periods": ()}, "return_periods", "()"),
        ({"return_periods": (5, 5)}, "return_periods", "(5, 5)"),
        ({"return_periods": (1, 0)}, "return_periods[1]", "got 0"),
    ],
)
def test_params_validation(kwargs: dict, field: str, shown: str) -> None:
    with pytest.raises(ValueError) as info:
        IndicatorParams(**kwargs)
    message = str(info.value)
    assert f"IndicatorParams.{field}" in message
    assert shown in message
    assert "must be" in message
