"""The indicators computed from daily bars: whole series, or the last bar's features.

The formulas are documented in :mod:`technic_nb.core.indicators`.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
import pandas as pd
import talib
from numpy.lib.stride_tricks import sliding_window_view

from technic_nb.core.indicators.levels import chart_levels, level_names
from technic_nb.core.indicators.params import _DEFAULT_PARAMS, IndicatorParams, feature_names

__all__ = ["features_from_arrays", "indicator_series", "latest_features"]


_TRADING_DAYS_PER_YEAR = 252


# 100 * sqrt(252): turns a daily log-return std into an annualized percentage.
_ANNUALIZE_PCT = 100.0 * math.sqrt(_TRADING_DAYS_PER_YEAR)


_NAN = float("nan")


def _price_arrays(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """High, low, close and volume of ``bars`` as contiguous float64 arrays."""
    columns = bars.columns
    try:
        positions = [columns.get_loc(name) for name in ("high", "low", "close", "volume")]
    except KeyError as exc:
        raise ValueError(
            f"bars need columns open, high, low, close, volume; missing {exc.args[0]!r} "
            f"in {list(columns)}"
        ) from None
    if not all(isinstance(p, Integral) for p in positions):
        raise ValueError(f"bars have duplicate column names: {list(columns)}")
    if len(columns) != 5:
        bars = bars.iloc[:, positions]
        positions = [0, 1, 2, 3]
    # One conversion of the whole frame: a single float64 block comes back as a
    # Fortran-ordered view, so each column slice is already contiguous (no copy).
    values = bars.to_numpy(dtype=np.float64)
    arrays = [np.ascontiguousarray(values[:, p]) for p in positions]
    high, low, close, volume = arrays
    return high, low, close, volume


def _window_sums(values: np.ndarray, window: int) -> np.ndarray:
    """Sum of every run of ``window`` consecutive values (length ``len - window + 1``).

    Each row is summed on its own (no running sum), with the same arithmetic as
    ``values[-window:].sum()``, so the last entry equals that exactly.
    """
    rows = np.ascontiguousarray(sliding_window_view(values, window))
    return rows.sum(axis=1)


def _window_sample_std(values: np.ndarray, window: int) -> np.ndarray:
    """Sample std (ddof=1, two-pass) of every run of ``window`` consecutive values."""
    rows = np.ascontiguousarray(sliding_window_view(values, window))
    deviations = rows - (rows.sum(axis=1) / window)[:, None]
    return np.sqrt((deviations * deviations).sum(axis=1) / (window - 1))


def _last_sample_std(values: np.ndarray) -> float:
    """Sample std (ddof=1, two-pass) of a 1-D array, same arithmetic as above."""
    deviations = values - values.sum() / len(values)
    return math.sqrt((deviations * deviations).sum() / (len(values) - 1))


def _nan_array(length: int) -> np.ndarray:
    return np.full(length, np.nan)


def indicator_series(bars: pd.DataFrame, params: IndicatorParams = _DEFAULT_PARAMS) -> pd.DataFrame:
    """Every indicator at every bar.

    Returns a float64 frame with the same index as ``bars`` and the columns of
    :func:`feature_names` (formulas in the module docstring).  Warm-up values are
    NaN exactly where TA-Lib's function is NaN; see
    :meth:`IndicatorParams.bars_needed`.  Empty or short bars give NaN, never an
    error.
    """
    high, low, close, volume = _price_arrays(bars)
    count = len(close)
    p = params
    out: dict[str, np.ndarray] = {}

    out["rsi"] = talib.RSI(close, timeperiod=p.rsi_period)
    atr = talib.ATR(high, low, close, timeperiod=p.atr_period)
    out["atr"] = atr
    out["atr_pct"] = 100.0 * atr / close
    for period in p.sma_periods:
        out[f"sma{period}"] = talib.SMA(close, timeperiod=period)
    macd, signal, hist = talib.MACD(
        close, fastperiod=p.macd_fast, slowperiod=p.macd_slow, signalperiod=p.macd_signal
    )
    out.update(macd=macd, macd_signal=signal, macd_hist=hist)
    high20 = talib.MAX(high, timeperiod=p.breakout_window)
    high52w = talib.MAX(high, timeperiod=p.high_window)
    out.update(high20=high20, high52w=high52w)
    out["dist_high20_pct"] = 100.0 * (close / high20 - 1.0)
    out["dist_high52w_pct"] = 100.0 * (close / high52w - 1.0)
    for period in p.return_periods:
        out[f"ret_{period}d_pct"] = talib.ROC(close, timeperiod=period)

    rvol = _nan_array(count)
    if count > p.vol_window:
        log_returns = np.log(close[1:] / close[:-1])
        rvol[p.vol_window :] = _window_sample_std(log_returns, p.vol_window) * _ANNUALIZE_PCT
    out["rvol20_pct"] = rvol

    window = p.dollar_volume_window
    dollar_volume = _nan_array(count)
    if count >= window:
        dollar_volume[window - 1 :] = _window_sums(close * volume, window) / window
    out["dollar_volume20"] = dollar_volume

    window = p.volume_spike_window
    spike = _nan_array(count)
    if count > window:
        prior_mean = _window_sums(volume[:-1], window) / window
        with np.errstate(divide="ignore", invalid="ignore"):
            spike[window:] = np.where(prior_mean > 0.0, volume[window:] / prior_mean, np.nan)
    out["volume_spike"] = spike

    out["low_recent"] = talib.MIN(low, timeperiod=p.recent_low_window)
    out["low52w"] = talib.MIN(low, timeperiod=p.high_window)
    names = feature_names(p)
    # One float64 block (column-major), so later per-column reads are cheap views.
    table = np.empty((len(names), count), dtype=np.float64)
    for row, name in enumerate(names):
        table[row] = out[name]
    return pd.DataFrame(table.T, index=bars.index, columns=names, copy=False)


def _last(values: np.ndarray) -> float:
    return float(values[-1]) if len(values) else _NAN


def _empty_features(params: IndicatorParams) -> dict[str, float | str]:
    """What :func:`latest_features` returns for bars without a row: every value NaN."""
    empty: dict[str, float | str] = {"last_date": "", "bars": 0.0, "close": _NAN, "volume": _NAN}
    empty.update(dict.fromkeys(feature_names(params), _NAN))
    empty.update(dict.fromkeys(level_names(), _NAN))
    return empty


def _put_trend(
    out: dict[str, float | str],
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    p: IndicatorParams,
) -> None:
    """Add ``rsi``, ``atr``, ``atr_pct``, the SMAs and the MACD at the last bar to ``out``.

    RSI, ATR and MACD run TA-Lib over the whole series (they are recursive); the
    SMAs sum only the last ``period`` closes.
    """
    count = len(close)
    nan = _NAN
    out["rsi"] = _last(talib.RSI(close, timeperiod=p.rsi_period))
    atr = _last(talib.ATR(high, low, close, timeperiod=p.atr_period))
    out["atr"] = atr
    out["atr_pct"] = 100.0 * atr / float(close[-1])
    for period in p.sma_periods:
        out[f"sma{period}"] = float(close[-period:].sum()) / period if count >= period else nan
    if count >= p.macd_slow + p.macd_signal - 1:
        macd, signal, hist = talib.MACD(
            close, fastperiod=p.macd_fast, slowperiod=p.macd_slow, signalperiod=p.macd_signal
        )
        out.update(macd=float(macd[-1]), macd_signal=float(signal[-1]), macd_hist=float(hist[-1]))
    else:
        out.update(macd=nan, macd_signal=nan, macd_hist=nan)


def _put_highs_and_returns(
    out: dict[str, float | str], high: np.ndarray, close: np.ndarray, p: IndicatorParams
) -> None:
    """Add the 20-day and 52-week highs, the distances to them and the returns to ``out``."""
    c = float(close[-1])
    window = p.breakout_window
    high20 = _last(talib.MAX(high[-window:], timeperiod=window))
    window = p.high_window
    high52w = _last(talib.MAX(high[-window:], timeperiod=window))
    out.update(high20=high20, high52w=high52w)
    out["dist_high20_pct"] = 100.0 * (c / high20 - 1.0)
    out["dist_high52w_pct"] = 100.0 * (c / high52w - 1.0)
    count = len(close)
    for period in p.return_periods:
        # Same arithmetic as talib.ROC: ((C_t / C_{t-n}) - 1) * 100.
        out[f"ret_{period}d_pct"] = (
            (c / float(close[-1 - period]) - 1.0) * 100.0 if count > period else _NAN
        )


def _put_volatility_and_volume(
    out: dict[str, float | str], close: np.ndarray, volume: np.ndarray, p: IndicatorParams
) -> None:
    """Add ``rvol20_pct``, ``dollar_volume20`` and ``volume_spike`` at the last bar to ``out``."""
    count = len(close)
    nan = _NAN
    window = p.vol_window
    if count > window:
        tail = close[-window - 1 :]
        out["rvol20_pct"] = _last_sample_std(np.log(tail[1:] / tail[:-1])) * _ANNUALIZE_PCT
    else:
        out["rvol20_pct"] = nan

    window = p.dollar_volume_window
    if count >= window:
        out["dollar_volume20"] = float((close[-window:] * volume[-window:]).sum()) / window
    else:
        out["dollar_volume20"] = nan

    window = p.volume_spike_window
    if count > window:
        prior_mean = float(volume[-window - 1 : -1].sum()) / window
        out["volume_spike"] = float(volume[-1]) / prior_mean if prior_mean > 0.0 else nan
    else:
        out["volume_spike"] = nan


def _put_lows(out: dict[str, float | str], low: np.ndarray, p: IndicatorParams) -> None:
    """Add ``low_recent`` and ``low52w`` (minimum lows of their windows)."""
    window = p.recent_low_window
    out["low_recent"] = _last(talib.MIN(low[-window:], timeperiod=window))
    window = p.high_window
    out["low52w"] = _last(talib.MIN(low[-window:], timeperiod=window))


def latest_features(
    bars: pd.DataFrame, params: IndicatorParams = _DEFAULT_PARAMS
) -> dict[str, float | str]:
    """The indicators at the last bar of ``bars``, plus context.

    Keys: ``last_date`` (ISO date ``YYYY-MM-DD`` of the last bar, ``""`` for
    empty bars), ``bars`` (row count as a float), ``close`` and ``volume`` of the
    last bar, the columns of :func:`feature_names` in order, then the chart
    levels of :func:`~technic_nb.core.indicators.levels.chart_levels`
    (:func:`~technic_nb.core.indicators.levels.level_names`).  Every value
    but ``last_date`` is a Python float; values needing more bars than exist are
    NaN (this never raises for short histories).

    The values of :func:`feature_names` equal ``indicator_series(bars,
    params).iloc[-1]``: RSI, ATR and MACD run TA-Lib over the whole series (they
    are recursive); every windowed
    value uses only the trailing window it needs.  All values match bit for bit
    except the SMAs, which match to about 1e-14 relative (TA-Lib's running sum
    against a fresh sum of the window).
    """
    high, low, close, volume = _price_arrays(bars)
    if len(close) == 0:
        return _empty_features(params)
    last = bars.index[-1]
    last_date = last.date().isoformat() if hasattr(last, "date") else str(last)
    return features_from_arrays(last_date, high, low, close, volume, params)


def features_from_arrays(
    last_date: str,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    params: IndicatorParams = _DEFAULT_PARAMS,
) -> dict[str, float | str]:
    """:func:`latest_features` of bars given as contiguous float64 arrays (at least one bar)
    whose last bar is dated ``last_date`` (ISO)."""
    count = len(close)
    out: dict[str, float | str] = {
        "last_date": last_date,
        "bars": float(count),
        "close": float(close[-1]),
        "volume": float(volume[-1]),
    }
    # in the order of feature_names()
    _put_trend(out, high, low, close, params)
    _put_highs_and_returns(out, high, close, params)
    _put_volatility_and_volume(out, close, volume, params)
    _put_lows(out, low, params)
    atr = out["atr"]
    assert isinstance(atr, float)
    out.update(
        chart_levels(
            high,
            low,
            float(close[-1]),
            atr,
            window=params.high_window,
            pivot_bars=params.pivot_bars,
            congestion_bars=params.congestion_bars,
            base_window=params.base_window,
        )
    )
    return out
