"""Technical indicators computed from daily bars.

This module is pure: it reads a bars frame (tz-naive ``DatetimeIndex`` named
``date``, float64 columns ``open, high, low, close, volume``, as produced by
:func:`technic_nb.core.bars.normalize_bars`) and returns numbers.  It performs no
I/O and keeps no state.

* :func:`indicator_series` returns the full time series of every indicator.
* :func:`latest_features` returns the same quantities at the last bar only;
  it is the per-symbol hot path of a scan and only touches the data each value
  needs.  Its values equal ``indicator_series(bars).iloc[-1]`` (bit for bit for
  most keys, to about 1e-14 relative for the simple moving averages, see below).

Formulas
--------
``C``, ``H``, ``L``, ``V`` are close, high, low and volume of bar ``t``; ``n`` is the
parameter in brackets (its default after ``=``).  "Bars" is how many bars must exist
up to and including ``t`` for the value to be defined; before that it is NaN.

====================  ========================================================  =============
column                formula                                                   bars
====================  ========================================================  =============
``rsi``               Wilder RSI of C, ``talib.RSI`` [rsi_period=14]            n + 1
``atr``               Wilder ATR of the true range, ``talib.ATR``               n + 1
                      [atr_period=14]
``atr_pct``           ``100 * atr / C``                                         n + 1
``sma{n}``            mean of the last n closes, ``talib.SMA``, one column per  n
                      period [sma_periods=(20, 50, 200)]
``macd``              ``talib.MACD`` line, EMA_fast(C) - EMA_slow(C)            slow + signal
                      [macd_fast=12, macd_slow=26, macd_signal=9]               - 1
``macd_signal``       EMA_signal of ``macd``                                    same
``macd_hist``         ``macd - macd_signal``                                    same
``high20``            max of H over the last n bars, today included,            n
                      ``talib.MAX`` [breakout_window=20]
``high52w``           max of H over the last n bars, today included,            n
                      ``talib.MAX`` [high_window=252]
``dist_high20_pct``   ``100 * (C / high20 - 1)``: 0 at a new high, else < 0     n
``dist_high52w_pct``  ``100 * (C / high52w - 1)``                               n
``ret_{n}d_pct``      ``100 * (C_t / C_{t-n} - 1)``, ``talib.ROC``, one column  n + 1
                      per period [return_periods=(1, 5, 21, 63)]
``rvol20_pct``        ``100 * sqrt(252) * std(r, ddof=1)`` of the last n log    n + 1
                      returns ``r = ln(C_t / C_{t-1})`` [vol_window=20]
``dollar_volume20``   mean of ``C * V`` over the last n bars, today included    n
                      [dollar_volume_window=20]
``volume_spike``      ``V_t / mean(V_{t-n} .. V_{t-1})``: today is excluded     n + 1
                      from the mean; NaN when that mean is 0
                      [volume_spike_window=20]
``low_swing``         min of L over the last n bars, today included,            n
                      ``talib.MIN`` [swing_low_window=10]
``low_recent``        min of L over the last n bars, today included,            n
                      ``talib.MIN`` [recent_low_window=20]
``low52w``            min of L over the last n bars, today included,            n
                      ``talib.MIN`` [high_window=252] (the trade plan's support)
====================  ========================================================  =============

Column names: ``sma{n}`` and ``ret_{n}d_pct`` carry the configured periods
(``sma20``, ``ret_5d_pct``...).  The other names are fixed labels and keep their
name whatever window is configured (``high20`` is the max over
``breakout_window`` bars even if that is 55).  :func:`feature_names` lists the
columns for a given :class:`IndicatorParams`.

TA-Lib semantics (TA-Lib's default compatibility mode and unstable periods of 0
are assumed; ``talib.set_unstable_period`` and ``talib.set_compatibility`` are
process-wide and would change RSI, ATR and MACD):

* RSI: the first average gain and loss are plain means of the first n changes,
  then ``avg = (avg * (n - 1) + x) / n``; ``rsi = 100 * gain / (gain + loss)``.
  When both averages are exactly 0 (perfectly flat closes) TA-Lib returns
  **0.0**, not NaN or 50.  A series that only rises gives 100, one that only
  falls gives 0.
* ATR: true range ``max(H, C_{t-1}) - min(L, C_{t-1})``; the first ATR is the
  mean of the true ranges of bars 1..n (the first bar has no true range), then
  Wilder smoothing as for RSI.
* MACD: both EMAs use ``alpha = 2 / (n + 1)`` and are seeded with a simple mean.
  TA-Lib seeds the fast EMA at the same bar as the slow one (index slow - 1),
  with the mean of the ``fast`` closes ending there, and it reports ``macd``
  only from the bar where the signal line exists (index slow + signal - 2 =
  33 by default).  Values therefore differ from ``talib.EMA(C, 12) -
  talib.EMA(C, 26)`` and from pandas ``ewm`` near the start of the series.
* RSI, ATR and MACD are recursive: their value at a bar depends on the whole
  series given, so they change if earlier history is added or removed.
* ``talib.SMA`` keeps a running sum.  :func:`latest_features` sums only the
  last n closes, which can differ from the running sum in the last bits (about
  1e-14 relative on real data; the tolerance promised is 1e-12).

Inputs are expected to be validated bars (finite values, prices > 0, see
:func:`technic_nb.core.bars.check_bar_values`); nothing here checks them again.
Short histories never raise: values that need more bars than exist are NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
import talib
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "FORMULA_VERSION",
    "IndicatorParams",
    "feature_names",
    "features_from_arrays",
    "indicator_series",
    "latest_features",
]

#: Bumped whenever a formula changes, so cached features keyed by
#: :meth:`IndicatorParams.key` are not reused across formula changes.
FORMULA_VERSION = 1

_TRADING_DAYS_PER_YEAR = 252
# 100 * sqrt(252): turns a daily log-return std into an annualized percentage.
_ANNUALIZE_PCT = 100.0 * math.sqrt(_TRADING_DAYS_PER_YEAR)
# Largest period TA-Lib accepts.
_MAX_PERIOD = 100_000
_NAN = float("nan")


def _check_period(name: str, value: Any, minimum: int, why: str) -> int:
    """Return ``value`` as an int or raise ``ValueError`` naming the field."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(
            f"IndicatorParams.{name} must be an integer from {minimum} to {_MAX_PERIOD} "
            f"({why}); got {value!r} of type {type(value).__name__}"
        )
    number = int(value)
    if not minimum <= number <= _MAX_PERIOD:
        raise ValueError(
            f"IndicatorParams.{name} must be an integer from {minimum} to {_MAX_PERIOD} "
            f"({why}); got {number}"
        )
    return number


def _check_periods(name: str, value: Any, minimum: int, why: str) -> tuple[int, ...]:
    """Return ``value`` as a tuple of ints or raise ``ValueError`` naming the field."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(
            f"IndicatorParams.{name} must be a tuple of integers from {minimum} to "
            f"{_MAX_PERIOD} ({why}); got {value!r}"
        )
    return tuple(_check_period(f"{name}[{i}]", item, minimum, why) for i, item in enumerate(value))


@dataclass(frozen=True)
class IndicatorParams:
    """Periods and windows of the indicators, all counted in bars (trading days).

    Every field is validated on construction; an invalid value raises
    ``ValueError`` naming the field, the value and what is allowed.  The lower
    bounds are TA-Lib's (for example ``talib.SMA`` needs a period of at least 2)
    or the formula's (a sample std needs two returns); every period is at most
    100000.
    """

    rsi_period: int = 14
    atr_period: int = 14
    sma_periods: tuple[int, ...] = (20, 50, 200)
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    breakout_window: int = 20
    high_window: int = 252
    return_periods: tuple[int, ...] = (1, 5, 21, 63)
    vol_window: int = 20
    dollar_volume_window: int = 20
    volume_spike_window: int = 20
    swing_low_window: int = 10
    recent_low_window: int = 20

    def __post_init__(self) -> None:
        checks: dict[str, tuple[int, str]] = {
            "rsi_period": (2, "TA-Lib RSI needs at least 2"),
            "atr_period": (1, "TA-Lib ATR needs at least 1"),
            "macd_fast": (2, "TA-Lib MACD needs at least 2"),
            "macd_slow": (2, "TA-Lib MACD needs at least 2"),
            "macd_signal": (1, "TA-Lib MACD needs at least 1"),
            "breakout_window": (2, "TA-Lib MAX needs at least 2"),
            "high_window": (2, "TA-Lib MAX needs at least 2"),
            "vol_window": (2, "a sample standard deviation needs at least 2 returns"),
            "dollar_volume_window": (1, "a mean needs at least 1 bar"),
            "volume_spike_window": (1, "a mean needs at least 1 bar"),
            "swing_low_window": (2, "TA-Lib MIN needs at least 2"),
            "recent_low_window": (2, "TA-Lib MIN needs at least 2"),
        }
        for name, (minimum, why) in checks.items():
            object.__setattr__(self, name, _check_period(name, getattr(self, name), minimum, why))

        smas = _check_periods("sma_periods", self.sma_periods, 2, "TA-Lib SMA needs at least 2")
        if len(smas) != 3 or not smas[0] < smas[1] < smas[2]:
            raise ValueError(
                "IndicatorParams.sma_periods must be exactly 3 strictly ascending periods "
                f"(short, medium, long), for example (20, 50, 200); got {self.sma_periods!r}"
            )
        object.__setattr__(self, "sma_periods", smas)

        returns = _check_periods(
            "return_periods", self.return_periods, 1, "a return spans >= 1 bar"
        )
        if not returns or len(set(returns)) != len(returns):
            raise ValueError(
                "IndicatorParams.return_periods must be a non-empty tuple of distinct periods, "
                f"for example (1, 5, 21, 63); got {self.return_periods!r}"
            )
        object.__setattr__(self, "return_periods", returns)

        if not self.macd_fast < self.macd_slow:
            raise ValueError(
                "IndicatorParams.macd_fast must be smaller than macd_slow; "
                f"got macd_fast={self.macd_fast}, macd_slow={self.macd_slow}"
            )

    def key(self) -> str:
        """Short, stable text of every value and the formula version, for cache keys.

        Example (defaults):
        ``ind1:rsi14,atr14,sma20-50-200,macd12-26-9,hi20,hi252,ret1-5-21-63,rv20,dv20,vs20,lo10,lo20``.
        """
        smas = "-".join(map(str, self.sma_periods))
        rets = "-".join(map(str, self.return_periods))
        return (
            f"ind{FORMULA_VERSION}:rsi{self.rsi_period},atr{self.atr_period},sma{smas},"
            f"macd{self.macd_fast}-{self.macd_slow}-{self.macd_signal},"
            f"hi{self.breakout_window},hi{self.high_window},ret{rets},"
            f"rv{self.vol_window},dv{self.dollar_volume_window},vs{self.volume_spike_window},"
            f"lo{self.swing_low_window},lo{self.recent_low_window}"
        )

    def bars_needed(self) -> dict[str, int]:
        """Bars needed, up to and including a bar, for each column to be defined there.

        With fewer bars the column is NaN (warm-up).  ``volume_spike`` can also be
        NaN later, when the mean volume of the previous bars is 0.
        """
        needed: dict[str, int] = {
            "rsi": self.rsi_period + 1,
            "atr": self.atr_period + 1,
            "atr_pct": self.atr_period + 1,
        }
        for period in self.sma_periods:
            needed[f"sma{period}"] = period
        macd = self.macd_slow + self.macd_signal - 1
        needed.update(macd=macd, macd_signal=macd, macd_hist=macd)
        needed.update(
            high20=self.breakout_window,
            high52w=self.high_window,
            dist_high20_pct=self.breakout_window,
            dist_high52w_pct=self.high_window,
        )
        for period in self.return_periods:
            needed[f"ret_{period}d_pct"] = period + 1
        needed.update(
            rvol20_pct=self.vol_window + 1,
            dollar_volume20=self.dollar_volume_window,
            volume_spike=self.volume_spike_window + 1,
            low_swing=self.swing_low_window,
            low_recent=self.recent_low_window,
            low52w=self.high_window,
        )
        return needed

    @property
    def min_bars(self) -> int:
        """Bars needed for every column to be defined at the last bar.

        The largest entry of :meth:`bars_needed`: the max of the longest SMA
        period, ``high_window``, ``macd_slow + macd_signal - 1``,
        ``rsi_period + 1``, ``atr_period + 1``, the longest return period + 1,
        ``vol_window + 1``, ``volume_spike_window + 1`` and the other windows.
        With the defaults it is 252 (``high_window``).
        """
        return max(self.bars_needed().values())


_DEFAULT_PARAMS = IndicatorParams()


def feature_names(params: IndicatorParams = _DEFAULT_PARAMS) -> list[str]:
    """Column names of :func:`indicator_series` for ``params``, in order."""
    return list(params.bars_needed())


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

    out["low_swing"] = talib.MIN(low, timeperiod=p.swing_low_window)
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
    """Add ``low_swing``, ``low_recent`` and ``low52w`` (minimum lows of their windows)."""
    window = p.swing_low_window
    out["low_swing"] = _last(talib.MIN(low[-window:], timeperiod=window))
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
    last bar, then the columns of :func:`feature_names` in order.  Every value
    but ``last_date`` is a Python float; values needing more bars than exist are
    NaN (this never raises for short histories).

    The values equal ``indicator_series(bars, params).iloc[-1]``: RSI, ATR and
    MACD run TA-Lib over the whole series (they are recursive); every windowed
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
    return out
