"""Tests of technic_nb.core.regime.market_regime on synthetic benchmark closes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from technic_nb.core.errors import ErrorType, ScanError
from technic_nb.core.regime import MarketRegime, market_regime


def closes_from_returns(log_returns: np.ndarray, start: float = 100.0) -> pd.Series:
    values = start * np.exp(np.concatenate([[0.0], np.cumsum(log_returns)]))
    index = pd.bdate_range("2020-01-01", periods=len(values), name="date")
    return pd.Series(values, index=index, name="close")


def steady(count: int, drift: float, swing: float = 0.005) -> np.ndarray:
    """Daily log returns ``drift +- swing`` alternating: the same volatility in every window."""
    return drift + swing * np.where(np.arange(count) % 2 == 0, 1.0, -1.0)


def test_rising_market_is_up_normal() -> None:
    regime = market_regime(closes_from_returns(steady(299, 0.002)))
    assert isinstance(regime, MarketRegime)
    assert (regime.trend, regime.volatility, regime.label) == ("up", "normal", "up/normal")
    assert regime.bars == 300
    assert regime.close > regime.sma50 > regime.sma200
    assert regime.vol_ratio == pytest.approx(1.0, abs=0.05)
    assert str(regime) == "up/normal"


def test_falling_market_is_down_normal() -> None:
    regime = market_regime(closes_from_returns(steady(299, -0.002)))
    assert (regime.trend, regime.volatility, regime.label) == ("down", "normal", "down/normal")
    assert regime.close < regime.sma50 < regime.sma200


def test_flat_market_is_sideways() -> None:
    flat = pd.Series(np.full(300, 50.0))
    regime = market_regime(flat)
    assert regime.label == "sideways/normal"
    assert math.isnan(regime.vol_ratio)  # no volatility at all: ratio undefined, volatility normal
    # an up trend whose last weeks fell below the SMA 50 is sideways too
    returns = np.concatenate([steady(279, 0.002), steady(20, -0.01)])
    regime = market_regime(closes_from_returns(returns))
    assert regime.sma50 > regime.sma200
    assert regime.close < regime.sma50
    assert regime.trend == "sideways"


def test_volatility_spike_is_high() -> None:
    returns = np.concatenate([steady(279, 0.002, swing=0.004), steady(20, 0.002, swing=0.02)])
    regime = market_regime(closes_from_returns(returns))
    assert regime.volatility == "high"
    assert regime.label.endswith("/high")
    assert regime.vol_ratio > 1.25
    # the ratio, computed by hand
    closes = closes_from_returns(returns).to_numpy()
    logs = np.diff(np.log(closes[-61:]))
    vol20 = np.std(logs[-20:], ddof=1) * math.sqrt(252) * 100
    vol60 = np.std(logs, ddof=1) * math.sqrt(252) * 100
    assert regime.vol20_pct == pytest.approx(vol20)
    assert regime.vol60_pct == pytest.approx(vol60)
    assert regime.vol_ratio == pytest.approx(vol20 / vol60)
    # a lower threshold than the ratio reached is needed for "high"
    assert market_regime(closes_from_returns(returns), high_vol_ratio=10.0).volatility == "normal"


def test_too_short_history_is_unknown() -> None:
    medium = market_regime(closes_from_returns(steady(99, 0.002)))
    assert medium.trend == "unknown"
    assert medium.volatility == "normal"
    assert medium.label == "unknown"
    assert math.isnan(medium.sma200)
    assert not math.isnan(medium.sma50)
    short = market_regime(closes_from_returns(steady(29, 0.002)))
    assert (short.trend, short.volatility, short.label) == ("unknown", "unknown", "unknown")
    empty = market_regime(pd.Series([], dtype="float64"))
    assert empty.label == "unknown"
    assert empty.bars == 0
    assert math.isnan(empty.close)
    # exactly 200 closes are enough
    assert market_regime(closes_from_returns(steady(199, 0.002))).label == "up/normal"


def test_nan_closes_are_dropped_and_dates_sorted() -> None:
    closes = closes_from_returns(steady(299, 0.002))
    expected = market_regime(closes)
    with_gaps = closes.copy()
    with_gaps.iloc[[10, 150]] = np.nan
    assert market_regime(with_gaps).bars == 298
    shuffled = closes.sample(frac=1.0, random_state=1)
    assert market_regime(shuffled) == expected
    assert market_regime(closes.to_numpy()).label == expected.label
    assert expected.as_dict()["label"] == "up/normal"


def test_bad_closes_raise_a_data_error() -> None:
    closes = closes_from_returns(steady(299, 0.002))
    closes.iloc[5] = -1.0
    with pytest.raises(ScanError) as info:
        market_regime(closes)
    assert info.value.error_type is ErrorType.DATA_ERROR
    assert "benchmark" in str(info.value)
    with pytest.raises(ScanError, match="non-numeric close"):
        market_regime(pd.Series([100.0, "x", 101.0], dtype=object))
    with pytest.raises(ValueError, match="high_vol_ratio"):
        market_regime(closes_from_returns(steady(10, 0.0)), high_vol_ratio=0)
