"""The deflated Sharpe ratio: how much of the best of many trials is luck.

Bailey and López de Prado (2014), "The Deflated Sharpe Ratio: Correcting for
Selection Bias, Backtest Overfitting and Non-Normality".  Choosing the best of
``N`` trials (e.g. weightings of the TechRating) picks the luckiest one; under
the null that every trial has a true Sharpe ratio of 0, the expected maximum
of ``N`` estimated Sharpe ratios is::

    SR0 = sqrt(V[SR]) * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e)))

with ``g`` the Euler-Mascheroni constant (0.5772...), ``V[SR]`` the variance
of the ``N`` trials' Sharpe ratios and ``Phi^-1`` the standard normal
quantile; ``SR0 = 0`` for a single trial.  The deflated Sharpe ratio is the
probability that the chosen trial's true Sharpe ratio exceeds ``SR0``::

    DSR = Phi((SR* - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR* + (kurt - 1) / 4 * SR*^2))

with ``SR*`` the chosen series' Sharpe ratio *per period* (mean / standard
deviation, ddof 1, not annualized), ``T`` its number of periods, ``skew`` its
skewness and ``kurt`` its (non-excess: 3 for a normal) kurtosis, both the
plain moment ratios (``scipy.stats.skew`` and ``kurtosis(fisher=False)``,
biased).  A DSR near 1 says the chosen trial beat its luck; near 0.5 or below,
its in-sample figure is what ``N`` trials give by chance.  The formula treats
the periods as independent and the trials as independent: correlated trials
(similar weightings) make the effective ``N`` smaller, so the DSR is then
conservative; overlapping forward windows (a horizon longer than the spacing
of the dates) make ``T`` overstate the information.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "EULER_GAMMA",
    "DeflatedSharpe",
    "deflated_sharpe",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
]

#: The Euler-Mascheroni constant.
EULER_GAMMA = 0.5772156649015329


def expected_max_sharpe(trials: int, sharpe_variance: float) -> float:
    """``SR0``: the expected maximum Sharpe ratio of ``trials`` trials whose true Sharpe
    ratio is 0 and whose estimates have variance ``sharpe_variance`` (0 for one trial).

    Raises:
        ValueError: ``trials`` is not an integer >= 1, or the variance is negative or
            not finite.
    """
    if isinstance(trials, bool) or not isinstance(trials, int | np.integer) or trials < 1:
        raise ValueError(f"trials={trials!r} is invalid: pass the number of trials, >= 1")
    variance = float(sharpe_variance)
    if not math.isfinite(variance) or variance < 0:
        raise ValueError(
            f"sharpe_variance={sharpe_variance!r} is invalid: pass the variance of the "
            "trials' Sharpe ratios, a finite number >= 0"
        )
    if trials == 1:
        return 0.0
    from scipy.stats import norm

    n = float(trials)
    z = (1.0 - EULER_GAMMA) * norm.ppf(1.0 - 1.0 / n) + EULER_GAMMA * norm.ppf(
        1.0 - 1.0 / (n * math.e)
    )
    return math.sqrt(variance) * float(z)


def deflated_sharpe_ratio(
    sharpe: float, expected_max: float, periods: int, skew: float, kurtosis: float
) -> float:
    """``DSR = Phi((SR* - SR0) sqrt(T - 1) / sqrt(1 - skew SR* + (kurt - 1) / 4 SR*^2))``.

    Args:
        sharpe: ``SR*``, the chosen series' Sharpe ratio per period.
        expected_max: ``SR0`` (:func:`expected_max_sharpe`).
        periods: ``T``, the number of periods of the series (>= 2).
        skew: the series' skewness.
        kurtosis: its non-excess kurtosis (3 for a normal series).

    Returns:
        The probability, or NaN when an input is NaN or the denominator is not positive.
    """
    values = (sharpe, expected_max, skew, kurtosis)
    if periods < 2 or not all(math.isfinite(float(v)) for v in values):
        return math.nan
    spread = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if spread <= 0:
        return math.nan
    from scipy.stats import norm

    z = (sharpe - expected_max) * math.sqrt(periods - 1) / math.sqrt(spread)
    return float(norm.cdf(z))


@dataclass(frozen=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of a chosen series among ``trials`` trials.

    Attributes:
        sharpe: ``SR*``, the chosen series' mean / std (ddof 1) per period.
        expected_max: ``SR0``, the best Sharpe ratio ``trials`` null trials give by chance.
        probability: the deflated Sharpe ratio (a probability).
        trials: ``N``.
        periods: ``T``, the chosen series' periods with a value.
        skew: its skewness; kurtosis: its non-excess kurtosis.
        sharpe_std: ``sqrt(V[SR])`` over the trials (ddof 1; 0 for one trial).
    """

    sharpe: float
    expected_max: float
    probability: float
    trials: int
    periods: int
    skew: float
    kurtosis: float
    sharpe_std: float


def sharpe_ratio(values: np.ndarray) -> float:
    """mean / std (ddof 1) of the finite values; NaN with fewer than two or a zero std."""
    finite = values[np.isfinite(values)]
    if len(finite) < 2:
        return math.nan
    std = float(finite.std(ddof=1))
    return float(finite.mean()) / std if std > 0 else math.nan


def deflated_sharpe(series: Iterable[float], trial_sharpes: Iterable[float]) -> DeflatedSharpe:
    """The deflated Sharpe ratio of the chosen ``series`` (e.g. its per-date IC),
    chosen among trials whose Sharpe ratios per period are ``trial_sharpes`` (the
    chosen one included; NaN ones are left out of the variance but count as trials).

    Raises:
        ValueError: ``trial_sharpes`` is empty.
    """
    values = np.asarray(list(series), dtype=np.float64)
    values = values[np.isfinite(values)]
    sharpes = np.asarray(list(trial_sharpes), dtype=np.float64)
    if not len(sharpes):
        raise ValueError("trial_sharpes is empty: pass the Sharpe ratio of every trial made")
    known = sharpes[np.isfinite(sharpes)]
    std = float(known.std(ddof=1)) if len(known) > 1 else 0.0
    sr0 = expected_max_sharpe(len(sharpes), std**2)
    sr = sharpe_ratio(values)
    if len(values) > 2 and np.ptp(values) > 0:
        from scipy.stats import kurtosis, skew

        skewness = float(skew(values))
        kurt = float(kurtosis(values, fisher=False))
    else:
        skewness = kurt = math.nan
    probability = deflated_sharpe_ratio(sr, sr0, len(values), skewness, kurt)
    return DeflatedSharpe(sr, sr0, probability, len(sharpes), len(values), skewness, kurt, std)
