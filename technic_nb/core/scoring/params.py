"""The scoring's parameters: subscore weights, thresholds, trade-plan settings.

Pure data with validation; the formulas they enter are documented in
:mod:`technic_nb.core.scoring.rating`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from technic_nb.core.scoring.scale import SUBSCORE_LIMIT, SUBSCORES
from technic_nb.core.scoring.user import UserSubscore

__all__ = ["SUBSCORES", "SUBSCORE_LIMIT", "ScoringParams", "ScoringWeights"]


# -- validation -----------------------------------------------------------------


def _invalid(owner: str, name: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"{owner}.{name}={value!r} is invalid: {name} must be {allowed}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _finite(owner: str, name: str, value: Any, allowed: str) -> float:
    if not _is_number(value) or not math.isfinite(float(value)):
        raise _invalid(owner, name, value, allowed)
    return float(value)


# -- parameters -----------------------------------------------------------------


@dataclass(frozen=True)
class ScoringWeights:
    """Weights of the six subscores in the TechRating.

    Each weight is a finite number >= 0 and at least one is > 0; an invalid
    value raises ``ValueError`` naming the field, the value and what is allowed.
    Because the TechRating is normalized by ``3 * sum(weights)``, only the
    ratios of the weights matter: doubling every weight changes nothing.
    """

    trend: float = 3.0
    momentum: float = 3.0
    volume: float = 2.0
    volatility: float = 1.0
    oscillator: float = 1.0
    breakout: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = _finite("ScoringWeights", f.name, getattr(self, f.name), "a finite number >= 0")
            if value < 0:
                raise _invalid(
                    "ScoringWeights", f.name, getattr(self, f.name), "a finite number >= 0"
                )
            object.__setattr__(self, f.name, value)
        if self.total == 0:
            raise ValueError(
                f"ScoringWeights({self.key()}) is invalid: the weights must not all be 0; "
                "at least one weight must be > 0"
            )

    @property
    def total(self) -> float:
        """The sum of the weights."""
        return float(sum(getattr(self, name) for name in SUBSCORES))

    def as_dict(self) -> dict[str, float]:
        """The weights by subscore name, in :data:`SUBSCORES` order."""
        return {name: getattr(self, name) for name in SUBSCORES}

    def key(self) -> str:
        """Stable text of every weight, e.g. ``trend=3.0,momentum=3.0,...``."""
        return ",".join(f"{name}={value!r}" for name, value in self.as_dict().items())


def _check_user_subscores(value: Any) -> tuple[Any, ...]:
    """``ScoringParams.user_subscores`` as a tuple of distinct ``UserSubscore`` objects."""
    allowed = "a list of UserSubscore objects with distinct names"
    if isinstance(value, UserSubscore):
        value = (value,)
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _invalid("ScoringParams", "user_subscores", value, allowed)
    items = tuple(value)
    if not all(isinstance(item, UserSubscore) for item in items):
        raise _invalid("ScoringParams", "user_subscores", value, allowed)
    names = [item.name for item in items]
    if len(set(names)) != len(names):
        raise _invalid("ScoringParams", "user_subscores", names, allowed)
    return items


def _check_weights(weights: Any) -> ScoringWeights:
    """``ScoringParams.weights`` as :class:`ScoringWeights` (a mapping is converted)."""
    if isinstance(weights, Mapping):
        weights = ScoringWeights(**dict(weights))
    if not isinstance(weights, ScoringWeights):
        raise _invalid("ScoringParams", "weights", weights, "a ScoringWeights or a mapping")
    return weights


_AT_LEAST_0 = "a finite number >= 0"
_ABOVE_0 = "a finite number > 0"

#: The checks of the numeric ScoringParams fields, run in this order: (field, what is
#: allowed, test of the value).  ``{field}`` in the text names an earlier field's value,
#: and the test reads earlier fields from the params, both already validated then.
_PARAM_RULES: tuple[tuple[str, str, Callable[[float, ScoringParams], bool]], ...] = (
    ("mom_ret21_pct", _AT_LEAST_0, lambda v, s: v >= 0),
    ("mom_ret63_pct", _AT_LEAST_0, lambda v, s: v >= 0),
    ("spike_mild", _ABOVE_0, lambda v, s: v > 0),
    (
        "spike_strong",
        "a finite number >= spike_mild ({spike_mild})",
        lambda v, s: v >= s.spike_mild,
    ),
    (
        "spike_extreme",
        "a finite number >= spike_strong ({spike_strong})",
        lambda v, s: v >= s.spike_strong,
    ),
    (
        "volume_dry",
        "a finite number from 0 to spike_mild ({spike_mild})",
        lambda v, s: 0 <= v <= s.spike_mild,
    ),
    ("calm_rvol_pct", _ABOVE_0, lambda v, s: v > 0),
    (
        "wild_rvol_pct",
        "a finite number > calm_rvol_pct ({calm_rvol_pct})",
        lambda v, s: v > s.calm_rvol_pct,
    ),
    ("rsi_bull", "a finite number from 50 to 100", lambda v, s: 50 <= v <= 100),
    (
        "rsi_strong",
        "a finite number from rsi_bull ({rsi_bull}) to 100",
        lambda v, s: s.rsi_bull <= v <= 100,
    ),
    (
        "rsi_overbought",
        "a finite number from rsi_strong ({rsi_strong}) to 100",
        lambda v, s: s.rsi_strong <= v <= 100,
    ),
    ("breakout_at_pct", _AT_LEAST_0, lambda v, s: v >= 0),
    (
        "breakout_near_pct",
        "a finite number >= breakout_at_pct ({breakout_at_pct})",
        lambda v, s: v >= s.breakout_at_pct,
    ),
    ("thrust_ret5_pct", _AT_LEAST_0, lambda v, s: v >= 0),
    ("atr_pct_cap", _ABOVE_0, lambda v, s: v > 0),
    ("risk_floor", "a finite number from 0 to 1", lambda v, s: 0 <= v <= 1),
    ("long_rating", "a finite number > 0 and <= 100", lambda v, s: 0 < v <= 100),
    (
        "strong_rating",
        "a finite number from long_rating ({long_rating}) to 100",
        lambda v, s: s.long_rating <= v <= 100,
    ),
    ("long_min_trend", "a finite number from 0 to 3", lambda v, s: 0 <= v <= 3),
    (
        "strong_min_trend",
        "a finite number from long_min_trend ({long_min_trend}) to 3",
        lambda v, s: s.long_min_trend <= v <= 3,
    ),
    ("strong_min_momentum", "a finite number from 0 to 3", lambda v, s: 0 <= v <= 3),
    ("min_reward_risk", _AT_LEAST_0, lambda v, s: v >= 0),
    (
        "target_rr",
        "a finite number >= min_reward_risk ({min_reward_risk}), so that an R-multiple "
        "target can pass",
        lambda v, s: v >= s.min_reward_risk and v > 0,
    ),
    ("stop_buffer_atr", _AT_LEAST_0, lambda v, s: v >= 0),
    ("min_stop_atr", _ABOVE_0, lambda v, s: v > 0),
    (
        "max_stop_atr",
        "a finite number >= min_stop_atr ({min_stop_atr})",
        lambda v, s: v >= s.min_stop_atr,
    ),
    ("trigger_atr", _AT_LEAST_0, lambda v, s: v >= 0),
    ("entry_atr", _AT_LEAST_0, lambda v, s: v >= 0),
    ("min_target_r", _AT_LEAST_0, lambda v, s: v >= 0),
    ("min_target_atr", _AT_LEAST_0, lambda v, s: v >= 0),
    (
        "max_target_atr",
        "a finite number >= min_target_atr ({min_target_atr})",
        lambda v, s: v >= s.min_target_atr,
    ),
)


@dataclass(frozen=True)
class ScoringParams:
    """Every weight, threshold and trade-plan setting of the scoring.

    The module documentation gives the formula each field enters.  Every field
    is validated on construction; an invalid value raises ``ValueError`` naming
    the field, the value and what is allowed.  ``weights`` also accepts a
    mapping of weights (``{"volume": 0.0, ...}``), turned into
    :class:`ScoringWeights`.

    Attributes:
        weights: the subscore weights.
        mom_ret21_pct: 21-day return (%) beyond which momentum scores +-1.
        mom_ret63_pct: 63-day return (%) beyond which momentum scores +-1.
        spike_mild, spike_strong, spike_extreme: volume-spike ratios worth 1, 2
            and 3 volume points (signed by the day's direction).
        volume_dry: volume-spike ratio below which volume is thin (-1 point,
            signed by the day's direction); 0 switches the rule off.
        calm_rvol_pct: annualized volatility (%) at or below which prices are calm.
        wild_rvol_pct: annualized volatility (%) at or above which prices are wild.
        rsi_bull, rsi_strong, rsi_overbought: RSI levels of the oscillator zones
            (mirrored as ``100 - level`` below 50).
        breakout_at_pct: distance (%) to the 20-day high / low that counts as at it.
        breakout_near_pct: distance (%) that counts as near it.
        thrust_ret5_pct: 5-day return (%) beyond which breakout scores +-1.
        atr_pct_cap: ATR % at which the risk factor reaches ``risk_floor``.
        risk_floor: the smallest risk factor (for the most volatile stocks).
        long_rating: TechRating needed for Long (and <= -long_rating for Short).
        strong_rating: TechRating needed for Strong Long (mirrored for Strong Short).
        long_min_trend: trend subscore needed for Long (mirrored for Short).
        strong_min_trend: trend subscore needed for Strong Long.
        strong_min_momentum: momentum subscore needed for Strong Long.
        min_reward_risk: a plan passes (``plan_ok``) when its reward / risk is at
            least this and it is not extended.
        target_rr: the R multiple of an ``"r_multiple"`` target and of
            ``target_fixed``; at least ``min_reward_risk``.
        stop_buffer_atr: the stop's distance under the swing low (over the
            swing high, for shorts), in ATRs.
        min_stop_atr: the smallest risk, entry to stop, in ATRs (the floor).
        max_stop_atr: the largest risk in ATRs; a plan whose chart stop lies
            farther is ``extended`` and fails.
        trigger_atr: a resistance at most this many ATRs above the close makes
            the entry a stop-buy above it (mirrored for shorts).
        entry_atr: how far beyond the trigger the stop-buy sits, in ATRs.
        min_target_r: the target's smallest distance from the entry, in R.
        min_target_atr: the target's smallest distance from the entry, in ATRs
            (the larger of the two applies).
        max_target_atr: a resistance or measured move farther than this many
            ATRs from the entry is out of reach: the target is then an R multiple.
        signals_need_plan: when True (the default), a Long or Strong Long
            (Short, Strong Short) whose plan fails becomes Neutral, and
            ``signal_note`` says why; ``rating_signal`` keeps the signal of the
            rating alone.
        user_subscores: extra subscores of the TechRating computed from table
            columns (factors), as :class:`~technic_nb.UserSubscore` objects,
            each with its weight.
    """

    weights: ScoringWeights = field(default_factory=ScoringWeights)
    # momentum
    mom_ret21_pct: float = 2.0
    mom_ret63_pct: float = 5.0
    # volume
    spike_mild: float = 1.2
    spike_strong: float = 1.5
    spike_extreme: float = 2.0
    volume_dry: float = 0.7
    # volatility
    calm_rvol_pct: float = 25.0
    wild_rvol_pct: float = 60.0
    # oscillator
    rsi_bull: float = 55.0
    rsi_strong: float = 60.0
    rsi_overbought: float = 70.0
    # breakout
    breakout_at_pct: float = 1.0
    breakout_near_pct: float = 3.0
    thrust_ret5_pct: float = 2.0
    # rating
    atr_pct_cap: float = 8.0
    risk_floor: float = 0.7
    # signals
    long_rating: float = 30.0
    strong_rating: float = 55.0
    long_min_trend: float = 0.0
    strong_min_trend: float = 2.0
    strong_min_momentum: float = 1.0
    # trade plan
    min_reward_risk: float = 1.5
    target_rr: float = 2.0
    stop_buffer_atr: float = 0.25
    min_stop_atr: float = 1.0
    max_stop_atr: float = 3.0
    trigger_atr: float = 0.5
    entry_atr: float = 0.1
    min_target_r: float = 1.0
    min_target_atr: float = 1.5
    max_target_atr: float = 8.0
    signals_need_plan: bool = True
    # user subscores
    user_subscores: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", _check_weights(self.weights))
        object.__setattr__(self, "user_subscores", _check_user_subscores(self.user_subscores))
        if not isinstance(self.signals_need_plan, bool | np.bool_):
            raise _invalid(
                "ScoringParams", "signals_need_plan", self.signals_need_plan, "True or False"
            )
        object.__setattr__(self, "signals_need_plan", bool(self.signals_need_plan))
        for name, allowed, ok in _PARAM_RULES:
            raw = getattr(self, name)
            # names the (validated) value of any earlier field it refers to
            text = allowed.format_map(vars(self))
            value = _finite("ScoringParams", name, raw, text)
            if not ok(value, self):
                raise _invalid("ScoringParams", name, raw, text)
            object.__setattr__(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        """Every field; ``weights`` as a nested dict."""
        return asdict(self)

    @property
    def total_weight(self) -> float:
        """The sum of the built-in and the user subscores' weights."""
        return self.weights.total + sum(s.weight for s in self.user_subscores)

    def key(self) -> str:
        """Stable text of every value, e.g. ``weights=(trend=3.0,...);mom_ret21_pct=2.0;...``."""
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            text = f"({value.key()})" if isinstance(value, ScoringWeights) else repr(value)
            parts.append(f"{f.name}={text}")
        return ";".join(parts)


DEFAULT_PARAMS = ScoringParams()
