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
``low_recent``        min of L over the last n bars, today included,            n
                      ``talib.MIN`` [recent_low_window=20]
``low52w``            min of L over the last n bars, today included,            n
                      ``talib.MIN`` [high_window=252]
====================  ========================================================  =============

Chart levels
------------
:func:`latest_features` also returns the chart levels the trade plan reads,
at the last bar only: ``swing_low``, ``swing_high``, ``resistance_1`` ..
``resistance_4``, ``support_1`` .. ``support_4``, ``base_high`` and
``base_low`` (:func:`level_names`).  They come from confirmed swing pivots
[pivot_bars=3], congestion zones [congestion_bars=10] and the base
[base_window=40] of the last ``high_window`` bars; the rules are in
:mod:`technic_nb.core.indicators.levels`.  :func:`indicator_series` has no
columns for them.

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

The parameters are :class:`~technic_nb.core.indicators.params.IndicatorParams`;
the computations are in :mod:`technic_nb.core.indicators.compute`.
"""

from technic_nb.core.indicators.compute import (
    features_from_arrays,
    indicator_series,
    latest_features,
)
from technic_nb.core.indicators.levels import chart_levels, level_names, pivot_positions
from technic_nb.core.indicators.params import FORMULA_VERSION, IndicatorParams, feature_names

__all__ = [
    "FORMULA_VERSION",
    "IndicatorParams",
    "chart_levels",
    "feature_names",
    "features_from_arrays",
    "indicator_series",
    "latest_features",
    "level_names",
    "pivot_positions",
]
