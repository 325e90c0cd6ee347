"""Tests of the synthetic demo market (DemoSource)."""

from __future__ import annotations

import datetime as dt
import math
import pickle

import numpy as np
import pandas as pd
import pytest

from technic_nb.core.bars import BAR_COLUMNS, check_bar_values
from technic_nb.core.errors import ErrorType, ScanError
from technic_nb.core.symbols import SYMBOL_PATTERN
from technic_nb.sources.base import DateWindow
from technic_nb.sources.demo import DEMO_SECTORS, DemoSource

N_MARKET = 300


@pytest.fixture(scope="module")
def market() -> dict:
    """A 300-symbol market: universe, bars, closes, log returns and volumes."""
    source = DemoSource(n_symbols=N_MARKET, seed=11)
    universe = source.universe()
    bars = {symbol: source.fetch(symbol) for symbol in universe["symbol"]}
    close = pd.DataFrame({s: b["close"] for s, b in bars.items()})
    volume = pd.DataFrame({s: b["volume"] for s, b in bars.items()})
    returns = np.log(close).diff().iloc[1:]
    return {
        "source": source,
        "universe": universe,
        "bars": bars,
        "close": close,
        "volume": volume,
        "returns": returns,
    }


# --------------------------------------------------------------------------- construction
def test_class_attributes_and_labels() -> None:
    source = DemoSource(n_symbols=10)
    assert DemoSource.fetch_in_worker is True
    assert DemoSource.cache_bars is False
    assert "synthetic" in repr(source)
    assert "synthetic" in (DemoSource.__doc__ or "").lower()
    assert source.identity == "demo:seed=7:years=5.0:end=2025-12-31"


def test_identity_ignores_market_size_but_not_seed_years_or_end() -> None:
    assert DemoSource(n_symbols=5).identity == DemoSource(n_symbols=5000).identity
    base = DemoSource().identity
    assert DemoSource(seed=8).identity != base
    assert DemoSource(years=3).identity != base
    assert DemoSource(end=dt.date(2024, 6, 28)).identity != base


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_symbols": 0}, "n_symbols"),
        ({"n_symbols": 20_001}, "n_symbols"),
        ({"n_symbols": 2.5}, "n_symbols"),
        ({"n_symbols": True}, "n_symbols"),
        ({"years": 0}, "years"),
        ({"years": -1.0}, "years"),
        ({"years": 40.5}, "years"),
        ({"years": math.nan}, "years"),
        ({"years": "5"}, "years"),
        ({"seed": -1}, "seed"),
        ({"end": "2025-12-31"}, "end"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError) as info:
        DemoSource(**kwargs)
    message = str(info.value)
    assert f"{name}=" in message
    assert repr(next(iter(kwargs.values()))) in message
    assert "must be" in message


def test_boundary_arguments_are_accepted() -> None:
    assert DemoSource(n_symbols=1).universe().shape[0] == 1
    assert DemoSource(n_symbols=20_000, years=40).n_symbols == 20_000
    tiny = DemoSource(n_symbols=2, years=0.01)
    bars = tiny.fetch(tiny.universe()["symbol"].iloc[0])
    assert len(bars) == 3
    check_bar_values(bars, "tiny")


# --------------------------------------------------------------------------- calendar
def test_calendar_is_business_days_ending_at_end() -> None:
    source = DemoSource(n_symbols=3, years=2.0)
    bars = source.fetch(source.universe()["symbol"].iloc[0])
    assert len(bars) == round(2.0 * 252)
    assert bars.index[-1] == pd.Timestamp("2025-12-31")
    assert (bars.index.day_of_week < 5).all()
    assert bars.index.is_monotonic_increasing and bars.index.is_unique
    assert bars.index.name == "date"
    # an end on a Sunday gives bars up to the Friday before
    weekend = DemoSource(n_symbols=3, years=1.0, end=dt.date(2024, 6, 30))
    assert weekend.fetch("DEMO").index[-1] == pd.Timestamp("2024-06-28")


# --------------------------------------------------------------------------- determinism
def test_two_instances_give_identical_bars() -> None:
    first, second = DemoSource(n_symbols=40, seed=3), DemoSource(n_symbols=40, seed=3)
    symbols = [*first.universe()["symbol"].iloc[[0, 1, 17, 39]], "DEMO"]
    for symbol in symbols:
        pd.testing.assert_frame_equal(first.fetch(symbol), second.fetch(symbol), check_exact=True)


def test_different_seeds_give_different_markets() -> None:
    a, b = DemoSource(n_symbols=20, seed=1), DemoSource(n_symbols=20, seed=2)
    symbol = a.universe()["symbol"].iloc[0]
    assert symbol == b.universe()["symbol"].iloc[0]  # tickers depend on the index only
    assert not a.fetch(symbol)["close"].equals(b.fetch(symbol)["close"])
    assert not a.fetch("DEMO")["close"].equals(b.fetch("DEMO")["close"])


def test_pickle_is_small_and_round_trips_to_identical_bars() -> None:
    source = DemoSource(n_symbols=100, seed=5)
    symbol = source.universe()["symbol"].iloc[42]
    before = source.fetch(symbol)
    benchmark = source.fetch("DEMO")  # fills every cache
    payload = pickle.dumps(source)
    assert len(payload) < 600
    clone = pickle.loads(payload)
    assert clone.identity == source.identity and clone.n_symbols == 100
    pd.testing.assert_frame_equal(clone.fetch(symbol), before, check_exact=True)
    pd.testing.assert_frame_equal(clone.fetch("DEMO"), benchmark, check_exact=True)
    pd.testing.assert_frame_equal(clone.universe(), source.universe())
    assert len(pickle.dumps(clone)) == len(payload)


def test_symbol_is_the_same_in_small_and_large_markets() -> None:
    small, large = DemoSource(n_symbols=50), DemoSource(n_symbols=2000)
    small_universe = small.universe()
    pd.testing.assert_frame_equal(small_universe, large.universe().iloc[:50])
    for position in (0, 1, 25, 49):
        symbol = small_universe["symbol"].iloc[position]
        pd.testing.assert_frame_equal(small.fetch(symbol), large.fetch(symbol), check_exact=True)
    pd.testing.assert_frame_equal(small.fetch("DEMO"), large.fetch("DEMO"), check_exact=True)


# --------------------------------------------------------------------------- universe
def test_universe_layout(market: dict) -> None:
    universe = market["universe"]
    assert list(universe.columns) == ["symbol", "name", "sector"]
    assert len(universe) == N_MARKET
    assert universe["symbol"].is_unique
    for symbol in universe["symbol"]:
        assert SYMBOL_PATTERN.match(symbol)
        assert 3 <= len(symbol) <= 4 and symbol.isalpha() and symbol.isupper()
    assert all(len(name.split()) >= 3 for name in universe["name"])
    assert set(universe["sector"]) == set(DEMO_SECTORS)
    counts = universe["sector"].value_counts()
    assert len(DEMO_SECTORS) == 11
    assert counts.max() >= 2 * counts.min()  # uneven sector sizes


def test_largest_universe_has_unique_symbols_without_the_benchmark() -> None:
    universe = DemoSource(n_symbols=20_000).universe()
    assert universe["symbol"].is_unique
    assert "DEMO" not in set(universe["symbol"])


def test_universe_is_cached_but_returned_as_a_copy() -> None:
    source = DemoSource(n_symbols=30)
    first = source.universe()
    first.loc[0, "name"] = "changed"
    assert source.universe().loc[0, "name"] != "changed"


# --------------------------------------------------------------------------- benchmark
def test_benchmark_is_fetchable_and_not_in_the_universe(market: dict) -> None:
    source = market["source"]
    assert source.benchmark_symbol() == "DEMO"
    assert "DEMO" not in set(market["universe"]["symbol"])
    bench = source.fetch("demo")  # symbols are case-insensitive
    assert list(bench.columns) == list(BAR_COLUMNS)
    check_bar_values(bench, "DEMO")
    assert bench.index.equals(market["close"].index)
    # the index is built from the market factor: stocks co-move with it
    bench_returns = np.log(bench["close"]).diff().iloc[1:]
    correlations = market["returns"].corrwith(bench_returns)
    assert correlations.median() > 0.2


# --------------------------------------------------------------------------- errors
def test_unknown_symbol_is_a_data_error() -> None:
    source = DemoSource(n_symbols=10)
    with pytest.raises(ScanError) as info:
        source.fetch("ZZZZZZ")
    error = info.value
    assert error.error_type is ErrorType.DATA_ERROR
    assert error.affected_symbols == ("ZZZZZZ",)
    assert "universe()" in error.suggestion


def test_symbol_of_a_larger_market_is_unknown_in_a_smaller_one() -> None:
    outside = DemoSource(n_symbols=100).universe()["symbol"].iloc[99]
    with pytest.raises(ScanError) as info:
        DemoSource(n_symbols=50).fetch(outside)
    assert info.value.error_type is ErrorType.DATA_ERROR


def test_invalid_symbol_is_refused_before_generation() -> None:
    with pytest.raises(ScanError) as info:
        DemoSource(n_symbols=10).fetch("../etc")
    assert info.value.error_type is ErrorType.DATA_ERROR


# --------------------------------------------------------------------------- windows
def test_window_clipping() -> None:
    source = DemoSource(n_symbols=20)
    symbol = source.universe()["symbol"].iloc[3]
    full = source.fetch(symbol)
    window = DateWindow(dt.date(2024, 1, 1), dt.date(2024, 6, 30))
    clipped = source.fetch(symbol, window)
    assert clipped.index[0] == pd.Timestamp("2024-01-01")
    assert clipped.index[-1] == pd.Timestamp("2024-06-28")
    expected = full.loc["2024-01-01":"2024-06-30"]
    pd.testing.assert_frame_equal(clipped, expected, check_exact=True)
    open_start = source.fetch(symbol, DateWindow(end=dt.date(2022, 3, 15)))
    pd.testing.assert_frame_equal(open_start, full.loc[:"2022-03-15"], check_exact=True)
    open_end = source.fetch("DEMO", DateWindow(start=dt.date(2025, 12, 1)))
    assert open_end.index[0] == pd.Timestamp("2025-12-01")
    assert open_end.index[-1] == pd.Timestamp("2025-12-31")


def test_window_without_bars_is_a_data_error() -> None:
    source = DemoSource(n_symbols=5)
    symbol = source.universe()["symbol"].iloc[0]
    with pytest.raises(ScanError) as info:
        source.fetch(symbol, DateWindow(dt.date(1990, 1, 1), dt.date(1990, 12, 31)))
    assert info.value.error_type is ErrorType.DATA_ERROR


# --------------------------------------------------------------------------- bar validity
def test_every_bar_is_valid(market: dict) -> None:
    for symbol, bars in market["bars"].items():
        assert list(bars.columns) == list(BAR_COLUMNS)
        check_bar_values(bars, symbol)
        assert (bars["volume"] == np.rint(bars["volume"])).all()
        assert (bars["volume"] > 0).all()


def test_prices_start_in_a_realistic_range(market: dict) -> None:
    first = market["close"].iloc[0]
    assert first.min() > 0.5 and first.max() < 700
    assert (first < 4).sum() >= 1  # a few penny-like names
    assert (first < 4).mean() < 0.1
    assert first.median() > 10


def test_ranges_are_tied_to_volatility(market: dict) -> None:
    ratios = []
    for bars in market["bars"].values():
        log_range = np.log(bars["high"] / bars["low"])
        daily = np.log(bars["close"]).diff().std()
        ratios.append(log_range.mean() / daily)
    assert 0.6 < np.median(ratios) < 2.5


# --------------------------------------------------------------------------- stylized facts
def test_cross_sectional_and_sector_correlation(market: dict) -> None:
    corr = np.corrcoef(market["returns"].to_numpy().T)
    sectors = market["universe"]["sector"].to_numpy()
    same = sectors[:, None] == sectors[None, :]
    off_diagonal = ~np.eye(len(sectors), dtype=bool)
    assert 0.05 < corr[off_diagonal].mean() < 0.6
    within, across = corr[same & off_diagonal].mean(), corr[~same].mean()
    assert across > 0.0
    assert within > across + 0.03


def test_volatility_clustering(market: dict) -> None:
    returns = market["returns"]
    demeaned = (returns - returns.mean()).abs().to_numpy()
    lag1 = [np.corrcoef(demeaned[1:, j], demeaned[:-1, j])[0, 1] for j in range(returns.shape[1])]
    assert np.median(lag1) > 0.03
    assert np.mean(np.array(lag1) > 0) > 0.8
    bench = np.log(market["source"].fetch("DEMO")["close"]).diff().iloc[1:].to_numpy()
    squared = (bench - bench.mean()) ** 2
    assert np.corrcoef(squared[1:], squared[:-1])[0, 1] > 0.05
    # fat tails: more big days than a normal distribution would give
    assert returns.kurt().median() > 1.0


def test_long_and_short_setups_exist_at_the_last_date(market: dict) -> None:
    close = market["close"]
    sma50, sma200 = close.rolling(50).mean().iloc[-1], close.rolling(200).mean().iloc[-1]
    last = close.iloc[-1]
    up = (last > sma50) & (sma50 > sma200)
    down = (last < sma50) & (sma50 < sma200)
    assert up.sum() >= 10
    assert down.sum() >= 10
    move50 = close.iloc[-1] / close.iloc[-51] - 1.0
    assert (move50 > 0.2).sum() >= 3  # strong up trends
    assert (move50 < -0.15).sum() >= 3  # strong down trends


def test_volume_spikes_and_volume_follows_big_moves(market: dict) -> None:
    volume, returns = market["volume"], market["returns"]
    ratio = volume / volume.rolling(50).median()
    assert (ratio.max() >= 2.0).mean() > 0.9  # nearly every symbol has spikes
    share = (ratio.iloc[50:] >= 2.0).to_numpy().mean()
    assert 0.002 < share < 0.15  # spikes are occasional
    log_volume = np.log(volume.iloc[1:])
    correlations = returns.abs().corrwith(log_volume)
    assert correlations.median() > 0.1
