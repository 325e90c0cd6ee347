"""Ready-made factors built on TA-Lib: ``tn.factors.bollinger()``, ``tn.factors.adx()``...

Each returns a :class:`~technic_nb.Factor` taken at the last bar of the bars it
is given; their formulas, columns and the bars each needs are documented in
:mod:`technic_nb.rules.factors.library`.
"""

from technic_nb.rules.factors.library import (
    adx,
    bollinger,
    donchian,
    ichimoku,
    keltner,
    obv_trend,
    stochastic,
    weekly_trend,
)

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
