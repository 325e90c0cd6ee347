"""The market regime, from the daily closes of a benchmark (SPY by default).

Pure: no I/O.  :func:`market_regime` reads the closes oldest first and looks at
the last bar only.

========================  =====================================================================
part                      rule
========================  =====================================================================
``trend``                 ``"up"`` if ``SMA50 > SMA200`` and ``close > SMA50``;
                          ``"down"`` if ``SMA50 < SMA200`` and ``close < SMA50``;
                          ``"sideways"`` otherwise; ``"unknown"`` with fewer than 200 closes
``volatility``            ``"high"`` if ``vol20 / vol60 > 1.25``, else ``"normal"``;
                          ``"unknown"`` with fewer than 61 closes (60 returns)
``label``                 ``"{trend}/{volatility}"``, e.g. ``"up/normal"``; ``"unknown"``
                          when either part is unknown
========================  =====================================================================

``SMA n`` is the mean of the last n closes.  ``vol n`` is the annualized
realized volatility in percent of the last n daily log returns
``ln(C_t / C_{t-1})``: ``100 * sqrt(252) * std(ddof=1)`` (the same formula as
the ``rvol20_pct`` feature).  When ``vol60`` is 0 (perfectly flat closes) the
ratio is undefined (NaN) and the volatility is ``"normal"``.

NaN closes are dropped first; a close that is infinite or not above 0 raises a
data :class:`~technic_nb.ScanError`.  A series with a ``DatetimeIndex`` is put in
date order.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.errors import data_error

__all__ = [
    "HIGH_VOL_RATIO",
    "MarketRegime",
    "market_regime",
]

#: SMA periods of the trend.
FAST_SMA = 50
SLOW_SMA = 200
#: Return windows of the volatility ratio.
SHORT_VOL = 20
LONG_VOL = 60
#: vol20 / vol60 above this is "high" volatility.
HIGH_VOL_RATIO = 1.25

_ANNUALIZE_PCT = 100.0 * math.sqrt(252.0)
_NAN = float("nan")


@dataclass(frozen=True)
class MarketRegime:
    """The regime of the benchmark at its last close.

    Attributes:
        trend: ``"up"``, ``"down"``, ``"sideways"`` or ``"unknown"``.
        volatility: ``"high"``, ``"normal"`` or ``"unknown"``.
        label: ``"{trend}/{volatility}"`` (``"up/normal"``...), or ``"unknown"``.
        bars: the number of closes used.
        close: the last close (NaN without closes).
        sma50: SMA 50 of the closes (NaN with fewer than 50).
        sma200: SMA 200 of the closes (NaN with fewer than 200).
        vol20_pct: annualized volatility of the last 20 returns, in %.
        vol60_pct: annualized volatility of the last 60 returns, in %.
        vol_ratio: ``vol20_pct / vol60_pct`` (NaN when unknown or vol60 is 0).
    """

    trend: str
    volatility: str
    label: str
    bars: int
    close: float = _NAN
    sma50: float = _NAN
    sma200: float = _NAN
    vol20_pct: float = _NAN
    vol60_pct: float = _NAN
    vol_ratio: float = _NAN

    def as_dict(self) -> dict[str, Any]:
        """Every field, as a dict."""
        return asdict(self)

    def __str__(self) -> str:
        return self.label


def _closes(bench_close: Any) -> np.ndarray:
    series = bench_close if isinstance(bench_close, pd.Series) else pd.Series(bench_close)
    if isinstance(series.index, pd.DatetimeIndex) and not series.index.is_monotonic_increasing:
        series = series.sort_index()
    values = pd.to_numeric(series, errors="coerce")
    bad_text = values.isna() & series.notna()
    if bad_text.any():
        where = series.index[bad_text.to_numpy()][0]
        raise data_error(
            "benchmark",
            f"non-numeric close {series[bad_text].iloc[0]!r} at {where}",
            "Fix the benchmark's bars or choose another benchmark.",
        )
    closes = values.dropna().to_numpy(dtype="float64")
    bad = ~np.isfinite(closes) | (closes <= 0)
    if bad.any():
        raise data_error(
            "benchmark",
            f"{int(bad.sum())} close(s) infinite or not above 0 (first: {closes[bad][0]!r})",
            "Fix the benchmark's bars or choose another benchmark.",
        )
    return closes


def _annualized_vol(log_returns: np.ndarray) -> float:
    return float(np.std(log_returns, ddof=1)) * _ANNUALIZE_PCT


def market_regime(
    bench_close: pd.Series, *, high_vol_ratio: float = HIGH_VOL_RATIO
) -> MarketRegime:
    """The trend and volatility regime at the last of ``bench_close`` (see the module doc)."""
    if not isinstance(high_vol_ratio, int | float) or not math.isfinite(high_vol_ratio):
        raise ValueError(
            f"market_regime: high_vol_ratio={high_vol_ratio!r} is invalid: "
            "high_vol_ratio must be a finite number > 0"
        )
    if high_vol_ratio <= 0:
        raise ValueError(
            f"market_regime: high_vol_ratio={high_vol_ratio!r} is invalid: "
            "high_vol_ratio must be a finite number > 0"
        )
    closes = _closes(bench_close)
    count = len(closes)
    close = float(closes[-1]) if count else _NAN
    sma50 = float(closes[-FAST_SMA:].mean()) if count >= FAST_SMA else _NAN
    sma200 = float(closes[-SLOW_SMA:].mean()) if count >= SLOW_SMA else _NAN

    if count >= SLOW_SMA:
        if sma50 > sma200 and close > sma50:
            trend = "up"
        elif sma50 < sma200 and close < sma50:
            trend = "down"
        else:
            trend = "sideways"
    else:
        trend = "unknown"

    vol20 = vol60 = ratio = _NAN
    if count >= LONG_VOL + 1:
        returns = np.log(closes[-(LONG_VOL + 1) :][1:] / closes[-(LONG_VOL + 1) :][:-1])
        vol20 = _annualized_vol(returns[-SHORT_VOL:])
        vol60 = _annualized_vol(returns)
        ratio = vol20 / vol60 if vol60 > 0 else _NAN
        volatility = "high" if ratio > high_vol_ratio else "normal"
    else:
        volatility = "unknown"

    label = "unknown" if "unknown" in (trend, volatility) else f"{trend}/{volatility}"
    return MarketRegime(
        trend=trend,
        volatility=volatility,
        label=label,
        bars=count,
        close=close,
        sma50=sma50,
        sma200=sma200,
        vol20_pct=vol20,
        vol60_pct=vol60,
        vol_ratio=ratio,
    )
