"""The indicators' parameters: periods and windows, validated, and the feature names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

__all__ = ["FORMULA_VERSION", "IndicatorParams", "feature_names"]


#: Bumped whenever a formula changes, so cached features keyed by
#: :meth:`IndicatorParams.key` are not reused across formula changes.
FORMULA_VERSION = 2


# Largest period TA-Lib accepts.
_MAX_PERIOD = 100_000


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
    recent_low_window: int = 20
    pivot_bars: int = 3
    congestion_bars: int = 10
    base_window: int = 40

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
            "recent_low_window": (2, "TA-Lib MIN needs at least 2"),
            "pivot_bars": (1, "a pivot needs at least 1 bar on each side"),
            "congestion_bars": (2, "a congestion zone spans at least 2 bars"),
            "base_window": (2, "a base spans at least 2 bars"),
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
        ``ind2:rsi14,atr14,sma20-50-200,macd12-26-9,hi20,hi252,ret1-5-21-63,rv20,dv20,vs20,lo20,pv3,cg10,bs40``.
        """
        smas = "-".join(map(str, self.sma_periods))
        rets = "-".join(map(str, self.return_periods))
        return (
            f"ind{FORMULA_VERSION}:rsi{self.rsi_period},atr{self.atr_period},sma{smas},"
            f"macd{self.macd_fast}-{self.macd_slow}-{self.macd_signal},"
            f"hi{self.breakout_window},hi{self.high_window},ret{rets},"
            f"rv{self.vol_window},dv{self.dollar_volume_window},vs{self.volume_spike_window},"
            f"lo{self.recent_low_window},pv{self.pivot_bars},cg{self.congestion_bars},"
            f"bs{self.base_window}"
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
