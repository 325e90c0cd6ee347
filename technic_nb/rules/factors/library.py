"""Ready-made factors built on TA-Lib (the public ``tn.factors``).

Each function here returns a :class:`~technic_nb.Factor` whose value is
taken at the **last bar** of the bars it is given.  Every factory accepts
``name=`` to rename the factor (and so its columns), e.g. two Bollinger
variants ``bollinger(20, name="bb20")`` and ``bollinger(50, name="bb50")``.
Parameters are validated when the factor is built (a ``config_error``
:class:`~technic_nb.ScanError` naming the parameter, its value and what is
allowed).

Notation: ``C``, ``H``, ``L``, ``V`` are close, high, low and volume; ``t`` is the
last bar; ``n`` a period.  Every factor declares ``min_bars``, the number of
bars (daily, or weekly for ``weekly_trend``) for every output to be defined at
``t``; with fewer bars :func:`~technic_nb.rules.factors.run.compute_factors` reports a
``factor_error`` "needs at least N daily bars, got M" without calling the
factor, and calling the factor directly raises ``ValueError``.

Recursive indicators (EMA, ATR, ADX/DI) depend on the whole series given, like
in :mod:`technic_nb.core.indicators`: their values change when earlier history is
added or removed.  TA-Lib's default compatibility mode and unstable periods of
0 are assumed.

=================  ===================================  ===========================================
factory            columns (default name)               formula
=================  ===================================  ===========================================
``bollinger``      ``bollinger_pct_b``,                 ``U, M, Lo = talib.BBANDS(C, n, w, w,
(n=20, w=2.0)      ``bollinger_width``                  matype=SMA)`` (population std, ddof 0);
                                                        ``pct_b = (C - Lo) / (U - Lo)`` (0 at the
                                                        lower band, 1 at the upper, may leave
                                                        0..1); ``width = (U - Lo) / M`` (a
                                                        fraction, 0.05 = 5 %).  min_bars n.
``keltner``        ``keltner_position``,                ``M = talib.EMA(C, n)``, ``A =
(n=20, a=10,       ``keltner_width``                    talib.ATR(H, L, C, a)``, ``U = M + m*A``,
m=2.0)                                                  ``Lo = M - m*A``; ``position = (C - Lo) /
                                                        (U - Lo)`` (0 at the lower line, 0.5 on the
                                                        EMA, 1 at the upper line, may leave 0..1);
                                                        ``width = (U - Lo) / M``.
                                                        min_bars max(n, a + 1).
``adx``            ``adx_adx``, ``adx_plus_di``,        ``talib.ADX``, ``talib.PLUS_DI``,
(n=14)             ``adx_minus_di``                     ``talib.MINUS_DI`` (Wilder, 0..100).
                                                        min_bars 2n.
``stochastic``     ``stochastic_k``, ``stochastic_d``   ``talib.STOCH(H, L, C, fastk, slowk, SMA,
(fastk=14,                                              slowd, SMA)``: fast %K = ``100 * (C -
slowk=3,                                                LL) / (HH - LL)`` over fastk bars (0 when
slowd=3)                                                HH = LL), ``k`` = SMA(slowk) of it, ``d``
                                                        = SMA(slowd) of ``k``.  min_bars fastk +
                                                        slowk + slowd - 2.
``obv_trend``      ``obv_trend_slope_sign``,            ``O = talib.OBV(C, V)``; ``slope_sign =
(n=20)             ``obv_trend_change``                 sign(talib.LINEARREG_SLOPE(O, n))`` (+1,
                                                        0, -1: the least-squares slope of the
                                                        last n OBV values); ``change = (O_t -
                                                        O_{t-n}) / sum(V_{t-n+1} .. V_t)``, the net
                                                        signed volume of the last n bars as a
                                                        fraction of their volume (-1 .. 1; 0 when
                                                        that volume is 0).  Both ignore OBV's
                                                        starting value.  min_bars n + 1.
``donchian``       ``donchian_position``,               ``U = max(H_{t-n} .. H_{t-1})``, ``Lo =
(n=20)             ``donchian_breakout``                min(L_{t-n} .. L_{t-1})`` (the previous n
                                                        bars, today excluded; ``talib.MAX`` /
                                                        ``talib.MIN`` at t - 1); ``position = (C -
                                                        Lo) / (U - Lo)`` (0.5 when U = Lo);
                                                        ``breakout`` = +1 if C > U, -1 if C < Lo,
                                                        else 0.  min_bars n + 1.
``ichimoku``       ``ichimoku_position``,               ``mid(k) = (max H + min L) / 2`` of the last
(tenkan=9,         ``ichimoku_distance_pct``            k bars (``talib.MIDPRICE``); span A =
kijun=26,                                               ``(mid(tenkan) + mid(kijun)) / 2``, span B
senkou=52)                                              = ``mid(senkou)``.  The cloud at t is the
                                                        spans computed at ``t - kijun`` (only data
                                                        up to t - kijun); top / bottom = max / min
                                                        of the two.  ``position`` = +1 if C > top,
                                                        -1 if C < bottom, else 0;
                                                        ``distance_pct`` = ``100 * (C / top - 1)``
                                                        above, ``100 * (C / bottom - 1)`` below, 0
                                                        inside.  min_bars kijun + max(tenkan,
                                                        kijun, senkou).
``weekly_trend``   ``weekly_trend_above``,              Weekly bars (``timeframe="W"``, weeks end
(n=30)             ``weekly_trend_distance_pct``        Friday, the current week partial, so its
                                                        close is the last daily close); ``S =
                                                        talib.SMA(weekly C, n)``; ``above`` = +1
                                                        if C > S, -1 if C < S (0 if equal);
                                                        ``distance_pct = 100 * (C / S - 1)``.
                                                        min_bars n weekly bars (300 daily bars
                                                        give about 60 weeks).
=================  ===================================  ===========================================
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import pandas as pd
import talib

from technic_nb.core.errors import config_error
from technic_nb.rules.factors.define import Factor

__all__ = [
    "adx",
    "bollinger",
    "donchian",
    "ichimoku",
    "keltner",
    "obv_trend",
    "stochastic",
    "weekly_trend",
]

_MAX_PERIOD = 100_000
_SMA = talib.MA_Type.SMA


def _ready_made(
    compute: Any,
    name: str,
    outputs: tuple[str, ...],
    min_bars: int,
    timeframe: str = "D",
    **params: Any,
) -> Factor:
    """The :class:`Factor` of one of the functions below, with its checked parameters."""
    return Factor(
        compute, name=name, timeframe=timeframe, params=params, outputs=outputs, min_bars=min_bars
    )


def _period(owner: str, field: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise config_error(
            field, value, f"an integer from {minimum} to {_MAX_PERIOD}", owner=f"factors.{owner}"
        )
    if not minimum <= int(value) <= _MAX_PERIOD:
        raise config_error(
            field, value, f"an integer from {minimum} to {_MAX_PERIOD}", owner=f"factors.{owner}"
        )
    return int(value)


def _periods(owner: str, **fields: tuple[Any, int]) -> list[int]:
    """Several periods checked as :func:`_period` does: ``field=(value, minimum)``."""
    return [_period(owner, field, value, minimum) for field, (value, minimum) in fields.items()]


def _positive(owner: str, field: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or float(value) <= 0
    ):
        raise config_error(field, value, "a finite number > 0", owner=f"factors.{owner}")
    return float(value)


def _column(bars: pd.DataFrame, name: str) -> np.ndarray:
    return np.ascontiguousarray(bars[name].to_numpy(dtype=np.float64))


def _hlc(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _column(bars, "high"), _column(bars, "low"), _column(bars, "close")


def _position(close: float, lower: float, upper: float) -> float:
    """``(close - lower) / (upper - lower)``; 0.5 for a channel of zero width."""
    span = upper - lower
    return 0.5 if span == 0 else (close - lower) / span


def _sign(value: float) -> float:
    return float(np.sign(value))


# -- Bollinger ---------------------------------------------------------------------------


def _bollinger(bars: pd.DataFrame, *, period: int, width: float) -> dict[str, float]:
    close = _column(bars, "close")
    upper, middle, lower = talib.BBANDS(
        close, timeperiod=period, nbdevup=width, nbdevdn=width, matype=_SMA
    )
    u, m, lo = float(upper[-1]), float(middle[-1]), float(lower[-1])
    return {"pct_b": _position(float(close[-1]), lo, u), "width": (u - lo) / m}


def bollinger(period: int = 20, width: float = 2.0, *, name: str = "bollinger") -> Factor:
    """Bollinger %B and bandwidth: ``pct_b``, ``width`` (TA-Lib BBANDS, SMA).

    ``pct_b = (C - lower) / (upper - lower)`` (0.5 when the bands coincide),
    ``width = (upper - lower) / middle``; the bands are ``SMA(C, period) +-
    width * std`` (population std of the last ``period`` closes).

    Args:
        period: bars of the SMA and std, >= 2.
        width: band width in standard deviations, > 0.
        name: the factor name (column prefix).
    """
    period = _period("bollinger", "period", period, 2)
    width = _positive("bollinger", "width", width)
    return _ready_made(_bollinger, name, ("pct_b", "width"), period, period=period, width=width)


# -- Keltner -------------------------------------------------------------------------------


def _keltner(
    bars: pd.DataFrame, *, period: int, atr_period: int, multiplier: float
) -> dict[str, float]:
    high, low, close = _hlc(bars)
    middle = float(talib.EMA(close, timeperiod=period)[-1])
    atr = float(talib.ATR(high, low, close, timeperiod=atr_period)[-1])
    upper = middle + multiplier * atr
    lower = middle - multiplier * atr
    return {
        "position": _position(float(close[-1]), lower, upper),
        "width": (upper - lower) / middle,
    }


def keltner(
    period: int = 20, atr_period: int = 10, multiplier: float = 2.0, *, name: str = "keltner"
) -> Factor:
    """Position of the close in the Keltner channel and its width: ``position``, ``width``.

    Channel: ``EMA(C, period) +- multiplier * ATR(atr_period)`` (TA-Lib EMA,
    seeded with an SMA, and Wilder ATR).  ``position = (C - lower) / (upper -
    lower)``: 0 on the lower line, 0.5 on the EMA, 1 on the upper line, below 0
    or above 1 outside the channel (0.5 when the ATR is 0).  ``width = (upper -
    lower) / EMA = 2 * multiplier * ATR / EMA``.

    Args:
        period: EMA period, >= 2.
        atr_period: ATR period, >= 1.
        multiplier: ATRs from the EMA to each line, > 0.
        name: the factor name (column prefix).
    """
    period = _period("keltner", "period", period, 2)
    atr_period = _period("keltner", "atr_period", atr_period, 1)
    multiplier = _positive("keltner", "multiplier", multiplier)
    return _ready_made(
        _keltner,
        name,
        ("position", "width"),
        max(period, atr_period + 1),
        period=period,
        atr_period=atr_period,
        multiplier=multiplier,
    )


# -- ADX -------------------------------------------------------------------------------------


def _adx(bars: pd.DataFrame, *, period: int) -> dict[str, float]:
    high, low, close = _hlc(bars)
    return {
        "adx": float(talib.ADX(high, low, close, timeperiod=period)[-1]),
        "plus_di": float(talib.PLUS_DI(high, low, close, timeperiod=period)[-1]),
        "minus_di": float(talib.MINUS_DI(high, low, close, timeperiod=period)[-1]),
    }


def adx(period: int = 14, *, name: str = "adx") -> Factor:
    """Wilder's ADX and directional indicators: ``adx``, ``plus_di``, ``minus_di`` (0..100).

    TA-Lib ADX, PLUS_DI and MINUS_DI with the same period; the ADX needs
    ``2 * period`` bars.

    Args:
        period: the Wilder period, >= 2.
        name: the factor name (column prefix).
    """
    period = _period("adx", "period", period, 2)
    return _ready_made(_adx, name, ("adx", "plus_di", "minus_di"), 2 * period, period=period)


# -- Stochastic ----------------------------------------------------------------------------


def _stochastic(bars: pd.DataFrame, *, fastk: int, slowk: int, slowd: int) -> dict[str, float]:
    high, low, close = _hlc(bars)
    k, d = talib.STOCH(
        high,
        low,
        close,
        fastk_period=fastk,
        slowk_period=slowk,
        slowk_matype=_SMA,
        slowd_period=slowd,
        slowd_matype=_SMA,
    )
    return {"k": float(k[-1]), "d": float(d[-1])}


def stochastic(
    fastk: int = 14, slowk: int = 3, slowd: int = 3, *, name: str = "stochastic"
) -> Factor:
    """Slow stochastic oscillator: ``k``, ``d`` (TA-Lib STOCH, SMA smoothing, 0..100).

    Fast %K ``= 100 * (C - LL) / (HH - LL)`` over ``fastk`` bars (TA-Lib gives
    0 when ``HH = LL``); ``k`` is its SMA over ``slowk`` bars, ``d`` the SMA of
    ``k`` over ``slowd`` bars.

    Args:
        fastk: bars of the highest high / lowest low, >= 1.
        slowk: smoothing of %K, >= 1.
        slowd: smoothing of %D, >= 1.
        name: the factor name (column prefix).
    """
    fastk, slowk, slowd = _periods(
        "stochastic", fastk=(fastk, 1), slowk=(slowk, 1), slowd=(slowd, 1)
    )
    return _ready_made(
        _stochastic,
        name,
        ("k", "d"),
        fastk + slowk + slowd - 2,
        fastk=fastk,
        slowk=slowk,
        slowd=slowd,
    )


# -- OBV trend -----------------------------------------------------------------------------


def _obv_trend(bars: pd.DataFrame, *, period: int) -> dict[str, float]:
    close = _column(bars, "close")
    volume = _column(bars, "volume")
    obv = talib.OBV(close, volume)
    slope = float(talib.LINEARREG_SLOPE(obv, timeperiod=period)[-1])
    total = float(volume[-period:].sum())
    net = float(obv[-1] - obv[-1 - period])
    return {"slope_sign": _sign(slope), "change": net / total if total > 0 else 0.0}


def obv_trend(period: int = 20, *, name: str = "obv_trend") -> Factor:
    """Direction and strength of on-balance volume: ``slope_sign``, ``change``.

    ``O = talib.OBV(C, V)`` (adds ``V`` on an up close, subtracts it on a down
    close).  ``slope_sign = sign(talib.LINEARREG_SLOPE(O, period))``: +1, 0 or
    -1, the sign of the least-squares slope of the last ``period`` OBV values.
    ``change = (O_t - O_{t-period}) / sum(V_{t-period+1} .. V_t)``: the net
    signed volume of the last ``period`` bars over their total volume, from -1
    (every bar down) to 1 (every bar up); 0 when that volume is 0.  Neither
    depends on where OBV starts.

    Args:
        period: bars of the slope and of the change, >= 2.
        name: the factor name (column prefix).
    """
    period = _period("obv_trend", "period", period, 2)
    return _ready_made(_obv_trend, name, ("slope_sign", "change"), period + 1, period=period)


# -- Donchian ------------------------------------------------------------------------------


def _donchian(bars: pd.DataFrame, *, period: int) -> dict[str, float]:
    high, low, close = _hlc(bars)
    # The previous `period` bars: TA-Lib's window ending at t - 1.
    upper = float(talib.MAX(high[-period - 1 : -1], timeperiod=period)[-1])
    lower = float(talib.MIN(low[-period - 1 : -1], timeperiod=period)[-1])
    c = float(close[-1])
    breakout = 1.0 if c > upper else -1.0 if c < lower else 0.0
    return {"position": _position(c, lower, upper), "breakout": breakout}


def donchian(period: int = 20, *, name: str = "donchian") -> Factor:
    """Donchian-channel breakout: ``position``, ``breakout``.

    The channel is the highest high ``U`` and lowest low ``Lo`` of the
    ``period`` bars *before* today (today excluded, so a new high is a
    breakout).  ``position = (C - Lo) / (U - Lo)`` (above 1 on an upside
    breakout, below 0 on a downside one, 0.5 when ``U = Lo``); ``breakout`` =
    +1 if ``C > U``, -1 if ``C < Lo``, else 0.

    Args:
        period: bars of the channel, >= 2.
        name: the factor name (column prefix).
    """
    period = _period("donchian", "period", period, 2)
    return _ready_made(_donchian, name, ("position", "breakout"), period + 1, period=period)


# -- Ichimoku ------------------------------------------------------------------------------


def _ichimoku(bars: pd.DataFrame, *, tenkan: int, kijun: int, senkou: int) -> dict[str, float]:
    high, low, close = _hlc(bars)
    # Only the bars up to t - kijun: the spans computed then form today's cloud.
    past_high, past_low = high[:-kijun], low[:-kijun]
    conversion = float(talib.MIDPRICE(past_high, past_low, timeperiod=tenkan)[-1])
    base = float(talib.MIDPRICE(past_high, past_low, timeperiod=kijun)[-1])
    span_a = (conversion + base) / 2.0
    span_b = float(talib.MIDPRICE(past_high, past_low, timeperiod=senkou)[-1])
    if math.isnan(span_a) or math.isnan(span_b):  # too few bars: the cloud is undefined
        return {"position": math.nan, "distance_pct": math.nan}
    top, bottom = max(span_a, span_b), min(span_a, span_b)
    c = float(close[-1])
    if c > top:
        return {"position": 1.0, "distance_pct": 100.0 * (c / top - 1.0)}
    if c < bottom:
        return {"position": -1.0, "distance_pct": 100.0 * (c / bottom - 1.0)}
    return {"position": 0.0, "distance_pct": 0.0}


def ichimoku(
    tenkan: int = 9, kijun: int = 26, senkou: int = 52, *, name: str = "ichimoku"
) -> Factor:
    """The close against the Ichimoku cloud: ``position``, ``distance_pct``.

    ``mid(k) = (highest high + lowest low) / 2`` of the last ``k`` bars
    (``talib.MIDPRICE``).  Span A ``= (mid(tenkan) + mid(kijun)) / 2`` and span
    B ``= mid(senkou)`` are plotted ``kijun`` bars ahead, so the cloud at
    today ``t`` is the pair computed at ``t - kijun`` from bars up to ``t -
    kijun`` (no look-ahead).  ``position`` = +1 above the cloud (``C > max(A,
    B)``), -1 below (``C < min(A, B)``), 0 inside or on its edge;
    ``distance_pct`` = ``100 * (C / max(A, B) - 1)`` above (> 0), ``100 * (C /
    min(A, B) - 1)`` below (< 0), 0 inside.

    Args:
        tenkan: conversion-line period, >= 2.
        kijun: base-line period and displacement, >= 2.
        senkou: span B period, >= 2.
        name: the factor name (column prefix).
    """
    tenkan, kijun, senkou = _periods(
        "ichimoku", tenkan=(tenkan, 2), kijun=(kijun, 2), senkou=(senkou, 2)
    )
    return _ready_made(
        _ichimoku,
        name,
        ("position", "distance_pct"),
        kijun + max(tenkan, kijun, senkou),
        tenkan=tenkan,
        kijun=kijun,
        senkou=senkou,
    )


# -- weekly trend ---------------------------------------------------------------------------


def _weekly_trend(bars: pd.DataFrame, *, period: int) -> dict[str, float]:
    close = _column(bars, "close")
    sma = float(talib.SMA(close, timeperiod=period)[-1])
    c = float(close[-1])
    return {"above": _sign(c - sma), "distance_pct": 100.0 * (c / sma - 1.0)}


def weekly_trend(period: int = 30, *, name: str = "weekly_trend") -> Factor:
    """The close against its ``period``-week SMA: ``above``, ``distance_pct`` (weekly).

    A ``timeframe="W"`` factor: it receives weekly bars (weeks ending Friday,
    the current week partial, so its close is the last daily close; a first
    week cut by the start of the daily window is dropped).
    ``S = talib.SMA(weekly C, period)``; ``above`` = +1 if ``C > S``, -1 if
    ``C < S`` (0 if equal); ``distance_pct = 100 * (C / S - 1)``.

    Args:
        period: weeks of the SMA, >= 2.
        name: the factor name (column prefix).
    """
    period = _period("weekly_trend", "period", period, 2)
    return _ready_made(
        _weekly_trend, name, ("above", "distance_pct"), period, timeframe="W", period=period
    )
