"""The features of many windows of one history, with what they share computed once.

A replay computes a symbol's features at every replayed date: each date's window
is the last ``lookback`` bars up to that date, so consecutive windows overlap by
most of their bars.  :class:`FeatureHistory` gives, for a set of windows
``[first, end)`` of one history, exactly what
:func:`~technic_nb.core.indicators.features_from_arrays` gives on each window
(bit for bit), for windows with at least :attr:`FeatureHistory.full` bars (every
value defined; shorter windows go through ``features_from_arrays`` itself):

* the windowed values (SMAs, highs and lows, returns, realized volatility, dollar
  volume, volume spike) are the same reductions of the same trailing rows, taken
  for every window in one numpy call (a row per window, summed along its contiguous
  axis: numpy's pairwise sum of those values, as on one window);
* RSI, ATR and MACD are recursive from the window's first bar: TA-Lib runs on
  each window, as in a scan;
* the chart levels (:mod:`technic_nb.core.indicators.levels`): the confirmed pivots,
  the ranges of the congestion stretches and, for each bar, the next bar that
  undercuts its low (or exceeds its high) are found once over the history.  A pivot
  of a window is a pivot of the history between the window's ``pivot_bars``-th bar
  and its ``pivot_bars``-th last (its ``2n + 1`` bars are the same), and a pivot low
  is intact at the window's last bar when no bar up to it undercuts it.  The
  congestion zones, merges and the base are then computed by the same code as
  ``chart_levels``.

Inputs are whole histories; the windows given must hold validated bars (finite,
prices > 0: :func:`~technic_nb.core.bars.check_bar_arrays` passed); bars outside
them may be anything.
"""

from __future__ import annotations

import math

import numpy as np
import talib

from technic_nb.core.indicators.level_history import LevelHistory
from technic_nb.core.indicators.levels import level_names
from technic_nb.core.indicators.params import IndicatorParams, feature_names

__all__ = ["FeatureHistory", "full_bars", "row_columns"]

_ANNUALIZE_PCT = 100.0 * math.sqrt(252)
# TA-Lib's functions without the wrapper that looks for pandas and polars arguments
# (called once per window here, on numpy arrays only).
_RSI = getattr(talib.RSI, "__wrapped__", talib.RSI)
_ATR = getattr(talib.ATR, "__wrapped__", talib.ATR)
_MACD = getattr(talib.MACD, "__wrapped__", talib.MACD)


def row_columns(params: IndicatorParams) -> tuple[str, ...]:
    """The numeric keys of a features row, in order (``last_date`` is the one text key)."""
    return ("bars", "close", "volume", *feature_names(params), *level_names())


def _tails(values: np.ndarray, ends: np.ndarray, width: int) -> np.ndarray:
    """``values[e - width:e]`` for each ``e`` of ``ends``, one C-contiguous row each."""
    return values[ends[:, None] + np.arange(-width, 0)]


def full_bars(params: IndicatorParams) -> int:
    """The fewest bars a window needs for :class:`FeatureHistory` (every value defined)."""
    return max(
        *params.bars_needed().values(),
        params.high_window,
        2 * params.pivot_bars + 1,
        params.congestion_bars,
        params.base_window,
    )


class FeatureHistory:
    """``features_from_arrays`` of many windows of one history (see the module)."""

    def __init__(
        self,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
        params: IndicatorParams,
    ) -> None:
        self.high, self.low, self.close, self.volume = high, low, close, volume
        self.params = params
        #: the fewest bars a window needs here (shorter ones: ``features_from_arrays``)
        self.full = full_bars(params)
        with np.errstate(all="ignore"):
            self.log_returns = np.log(close[1:] / close[:-1])
            self.dollars = close * volume
        self.levels = LevelHistory(high, low, params)

    def columns(self, firsts: np.ndarray, ends: np.ndarray) -> dict[str, np.ndarray]:
        """The features of the windows ``[firsts[i], ends[i])`` (each at least :attr:`full`
        bars), one array per numeric key of the row (:func:`row_columns`)."""
        p = self.params
        high, low, close, volume = self.high, self.low, self.close, self.volume
        out: dict[str, np.ndarray] = {}
        last = ends - 1
        c = close[last]
        out["bars"] = (ends - firsts).astype(np.float64)
        out["close"] = c
        out["volume"] = volume[last]
        count = len(ends)
        rsi, atr = np.empty(count), np.empty(count)
        macd, signal, hist = np.empty(count), np.empty(count), np.empty(count)
        for i, (first, end) in enumerate(zip(firsts.tolist(), ends.tolist(), strict=True)):
            h, lo, cl = high[first:end], low[first:end], close[first:end]
            rsi[i] = _RSI(cl, p.rsi_period)[-1]
            atr[i] = _ATR(h, lo, cl, p.atr_period)[-1]
            m, s, d = _MACD(cl, p.macd_fast, p.macd_slow, p.macd_signal)
            macd[i], signal[i], hist[i] = m[-1], s[-1], d[-1]
        out["rsi"], out["atr"] = rsi, atr
        out["atr_pct"] = 100.0 * atr / c
        for period in p.sma_periods:
            out[f"sma{period}"] = _tails(close, ends, period).sum(axis=1) / period
        out.update(macd=macd, macd_signal=signal, macd_hist=hist)
        high20 = _tails(high, ends, p.breakout_window).max(axis=1)
        high52w = _tails(high, ends, p.high_window).max(axis=1)
        out.update(high20=high20, high52w=high52w)
        out["dist_high20_pct"] = 100.0 * (c / high20 - 1.0)
        out["dist_high52w_pct"] = 100.0 * (c / high52w - 1.0)
        for period in p.return_periods:
            out[f"ret_{period}d_pct"] = (c / close[last - period] - 1.0) * 100.0
        rows = _tails(self.log_returns, last, p.vol_window)
        deviations = rows - (rows.sum(axis=1) / p.vol_window)[:, None]
        variance = (deviations * deviations).sum(axis=1) / (p.vol_window - 1)
        out["rvol20_pct"] = np.sqrt(variance) * _ANNUALIZE_PCT
        window = p.dollar_volume_window
        out["dollar_volume20"] = _tails(self.dollars, ends, window).sum(axis=1) / window
        window = p.volume_spike_window
        prior = _tails(volume, last, window).sum(axis=1) / window
        with np.errstate(divide="ignore", invalid="ignore"):
            out["volume_spike"] = np.where(prior > 0.0, volume[last] / prior, np.nan)
        out["low_recent"] = _tails(low, ends, p.recent_low_window).min(axis=1)
        out["low52w"] = low52w = _tails(low, ends, p.high_window).min(axis=1)
        levels = self.levels.columns(
            ends,
            c,
            atr,
            high52w,
            low52w,
            _tails(high, ends, p.base_window).max(axis=1),
            _tails(low, ends, p.base_window).min(axis=1),
        )
        out.update(levels)
        return out
