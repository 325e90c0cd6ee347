"""Many weightings of the TechRating at once: the grid, the ratings and their objectives.

Re-scoring a replay (``result.rescore(params).panel``) recomputes every column
of every row (about 0.8 s on 143 dates x 505 stocks).  A weighting only changes
``tech_rating`` (and so the rank), which is a weighted sum of subscores that do
not depend on the weights (:mod:`technic_nb.core.scoring.rating`)::

    tech_rating = clip(100 * raw * risk_factor / (3 * sum(w)), -100, 100)
    raw         = sum(w[s] * subscore[s])   (subscores and user subscores with w[s] > 0)

:func:`rescored_ratings` evaluates exactly this (same operations in the same
order, so the same floating-point numbers) from the subscores already in the
panel, for many weightings at once.

Objectives, per date (:func:`weighting_objectives`)
----------------------------------------------------
``"ic"``
    The Spearman rank IC of the weighting's ``tech_rating`` with ``fwd_{h}d``
    over the rows where both are finite: exactly
    :func:`~technic_nb.research.evaluation.information_coefficient` (NaN under
    ``min_obs`` = 5 pairs), computed for every weighting in one pass.
``"top_n"``
    The net excess return of the top N::

        gross    = mean fwd_{h}d of the rows ranked 1..N (those with a return)
                   - mean fwd_{h}d of every ranked row with a return
        turnover = |top(d) - top(d-1)| / |top(d)|   (1 at the panel's first date)
        net      = gross - 2 * turnover * cost_bps / 10000

    The rank is the scan's (rating descending, ties by symbol); ``top(d-1)`` is the
    same weighting's top N at the previous panel date.  Each name entering the top N
    pays a round trip (``cost_bps`` per side) when it enters, as if the list were
    rebalanced at every replay date.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.scoring import SUBSCORE_LIMIT, SUBSCORES, ScoringParams, ScoringWeights
from technic_nb.core.scoring import risk_factor as scoring_risk_factor
from technic_nb.research.evaluation.common import (
    check_int,
    date_codes,
    numeric,
    panel_index,
    require,
)

__all__ = [
    "MAX_WEIGHTINGS",
    "OBJECTIVES",
    "as_weightings",
    "rescored_ratings",
    "weight_grid",
    "weighting_objectives",
]

#: The most weightings a sweep accepts.
MAX_WEIGHTINGS = 500
#: The objectives of :func:`weighting_objectives`.
OBJECTIVES: tuple[str, ...] = ("ic", "top_n")
_CHUNK = 16  # weightings ranked at once (memory: 16 x dates x width floats)


def weight_grid(**values: Iterable[float]) -> list[ScoringWeights]:
    """Every combination of the given weights, as :class:`ScoringWeights`.

    ``weight_grid(trend=[1, 2, 3], momentum=[0, 1, 2])`` gives the 3 x 3 = 9
    combinations (the first subscore named varies slowest); the subscores not named keep the
    :class:`ScoringWeights` defaults.  A combination whose weights are all 0 is
    left out, and so is one proportional to an earlier one (only the ratios of
    the weights matter, so it ranks identically and would count a trial twice):
    the list can be shorter than the product.

    Raises:
        ValueError: an unknown subscore, an empty list of values, or a product of
            more than :data:`MAX_WEIGHTINGS` combinations.
    """
    unknown = [name for name in values if name not in SUBSCORES]
    if unknown:
        raise ValueError(
            f"weight_grid: unknown subscore(s) {unknown}; the subscores are {SUBSCORES}"
        )
    lists = {name: list(given) for name, given in values.items()}
    empty = [name for name, given in lists.items() if not given]
    if empty:
        raise ValueError(f"weight_grid: no values for {empty}: give each subscore one or more")
    count = math.prod(len(given) for given in lists.values())
    if count > MAX_WEIGHTINGS:
        raise ValueError(
            f"weight_grid: {count} combinations is more than {MAX_WEIGHTINGS}: give fewer "
            "values (each extra trial also raises the bar the best one must clear)"
        )
    base = ScoringWeights().as_dict()
    out: list[ScoringWeights] = []
    seen: set[tuple[float, ...]] = set()
    for combination in itertools.product(*lists.values()):
        weights = {**base, **dict(zip(lists, combination, strict=True))}
        total = sum(float(v) for v in weights.values())
        if total == 0:
            continue
        ratios = tuple(round(float(weights[name]) / total, 12) for name in SUBSCORES)
        if ratios not in seen:
            seen.add(ratios)
            out.append(ScoringWeights(**weights))
    return out


def as_weightings(weightings: Iterable[Any]) -> list[ScoringWeights]:
    """``ScoringWeights`` or mappings (missing names keep the defaults) as a checked list."""
    if isinstance(weightings, ScoringWeights | Mapping):
        weightings = [weightings]
    out = []
    for item in weightings:
        if isinstance(item, Mapping):
            item = ScoringWeights(**dict(item))
        if not isinstance(item, ScoringWeights):
            raise ValueError(
                f"weightings must hold ScoringWeights or dicts of weights, got "
                f"{type(item).__name__}: e.g. [tn.ScoringWeights(trend=2), {{'momentum': 1}}]"
            )
        out.append(item)
    if not out:
        raise ValueError("weightings is empty: pass at least one (see weight_grid)")
    if len(out) > MAX_WEIGHTINGS:
        raise ValueError(f"{len(out)} weightings is more than {MAX_WEIGHTINGS}: pass fewer")
    return out


def rescored_ratings(
    panel: pd.DataFrame, params: ScoringParams, weightings: Sequence[ScoringWeights]
) -> np.ndarray:
    """The ``tech_rating`` of every panel row under each weighting: rows x weightings.

    Equal to ``score_frame(features, replace(params, weights=w))["tech_rating"]``
    (and so to ``result.rescore(...).panel["tech_rating"]``) on the same rows; the
    user subscores of ``params`` keep their weights.
    """
    names = [*SUBSCORES, *(extra.name for extra in params.user_subscores)]
    require(panel, [*names, "atr_pct"], "panel")
    subs = {name: panel[name].to_numpy(dtype=np.float64) for name in names}
    factor = scoring_risk_factor(panel, params).to_numpy(dtype=np.float64)
    out = np.empty((len(panel), len(weightings)))
    for column, weights in enumerate(weightings):
        scoring = replace(params, weights=weights)
        raw = np.zeros(len(panel))
        for name in SUBSCORES:
            weight = getattr(weights, name)
            if weight > 0:
                raw = raw + weight * subs[name]
        for extra in scoring.user_subscores:
            if extra.weight > 0:
                raw = raw + extra.weight * subs[extra.name]
        rating = raw * factor * (100.0 / (SUBSCORE_LIMIT * scoring.total_weight))
        out[:, column] = np.clip(rating, -100.0, 100.0)
    return out


def weighting_objectives(
    panel: pd.DataFrame,
    returns: pd.DataFrame,
    ratings: np.ndarray,
    horizon: int,
    objective: str = "ic",
    top_n: int = 20,
    cost_bps: float = 10.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-date objective of each weighting (see the module documentation).

    Args:
        panel: the replay panel (``(date, symbol)`` index).
        returns: its forward returns, in the panel's row order (``fwd_{h}d``).
        ratings: :func:`rescored_ratings`, rows x weightings.
        horizon: the forward-return horizon ``h``.
        objective: ``"ic"`` or ``"top_n"``.
        top_n: N of ``"top_n"``.
        cost_bps: cost per side of ``"top_n"``, in basis points.

    Returns:
        ``(values, turnover)``: DataFrames indexed by the panel's dates, one column per
        weighting; ``turnover`` is NaN for ``"ic"``.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective={objective!r} is invalid: pass one of {OBJECTIVES}")
    n = check_int("top_n", top_n, 1)
    cost = float(cost_bps)
    if not math.isfinite(cost) or cost < 0:
        raise ValueError(f"cost_bps={cost_bps!r} is invalid: pass basis points per side, >= 0")
    index = panel_index(panel)
    if not returns.index.equals(index):
        raise ValueError("returns must be indexed like panel: pass forward_returns(panel.index)")
    require(returns, [f"fwd_{horizon}d"], "returns")
    y = numeric(returns, f"fwd_{horizon}d")
    layout = _Layout(index)
    grid_y = layout.spread(y[None, :])[0]
    values, turnover = [], []
    for start in range(0, ratings.shape[1], _CHUNK):
        x = layout.spread(ratings[:, start : start + _CHUNK].T)
        if objective == "ic":
            values.append(_rank_ic(x, grid_y))
            turnover.append(np.full(values[-1].shape, np.nan))
        else:
            net, share = _top_excess(x, grid_y, layout, n, cost)
            values.append(net)
            turnover.append(share)
    frame = np.concatenate(values).T
    dates = layout.dates
    return pd.DataFrame(frame, index=dates), pd.DataFrame(np.concatenate(turnover).T, index=dates)


class _Layout:
    """Rows placed on a (date, slot) grid, the slots of a date in symbol order."""

    def __init__(self, index: pd.MultiIndex) -> None:
        codes, self.dates = date_codes(index)
        names = index.get_level_values(1).astype(str).to_numpy()
        symbols, self.names = pd.factorize(names, sort=True)
        order = np.lexsort((symbols, codes))
        slot = np.empty(len(codes), dtype=np.int64)
        slot[order] = np.arange(len(codes)) - np.searchsorted(codes[order], codes[order])
        self.codes, self.slot = codes, slot
        self.width = int(slot.max()) + 1 if len(slot) else 1
        self.symbol = np.full((len(self.dates), self.width), -1, dtype=np.int64)
        self.symbol[codes, slot] = symbols

    def spread(self, values: np.ndarray) -> np.ndarray:
        """(k, rows) values as a (k, dates, width) grid, NaN where no row is."""
        out = np.full((values.shape[0], len(self.dates), self.width), np.nan)
        out[:, self.codes, self.slot] = values
        return out


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1 = lowest, ties share) of the finite values along the last axis."""
    width = values.shape[-1]
    finite = np.isfinite(values)
    keyed = np.where(finite, values, np.inf)  # excluded values sort last, in a run of their own
    n = keyed.size
    base = np.arange(0, n, width)
    flat = (base[:, None] + np.argsort(keyed, axis=-1).reshape(-1, width)).reshape(-1)
    ordered = keyed.reshape(-1)[flat]
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = ordered[1:] != ordered[:-1]
    new_run[::width] = True
    start = np.flatnonzero(new_run)
    end = np.r_[start[1:], n] - 1
    average = (start + end) / 2.0 + 1.0 - base[start // width]
    ranks = np.empty(n)
    ranks[flat] = average[np.cumsum(new_run) - 1]
    return np.where(finite, ranks.reshape(values.shape), np.nan)


def _rank_ic(x: np.ndarray, y: np.ndarray, min_obs: int = 5) -> np.ndarray:
    """Per (weighting, date) Spearman IC of x with y over the finite pairs."""
    both = np.isfinite(x) & np.isfinite(y)
    rx = _average_ranks(np.where(both, x, np.nan))
    if (both == both[:1]).all():  # the same pairs for every weighting: rank y once
        ry = np.broadcast_to(_average_ranks(np.where(both[0], y, np.nan)), x.shape)
    else:
        ry = _average_ranks(np.where(both, y, np.nan))
    count = both.sum(axis=-1)
    size = np.maximum(count, 1)[..., None]
    dx = np.where(both, rx - np.where(both, rx, 0.0).sum(-1, keepdims=True) / size, 0.0)
    dy = np.where(both, ry - np.where(both, ry, 0.0).sum(-1, keepdims=True) / size, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ic = (dx * dy).sum(-1) / np.sqrt((dx * dx).sum(-1) * (dy * dy).sum(-1))
    return np.where(count >= min_obs, ic, np.nan)


def _top_excess(
    x: np.ndarray, y: np.ndarray, layout: _Layout, n: int, cost_bps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per (weighting, date): net excess of the top n, and the top n's turnover."""
    rated = np.isfinite(x)
    order = np.argsort(-x, axis=-1, kind="stable")  # ties keep symbol order, NaN last
    position = np.empty(x.shape, dtype=np.int64)
    np.put_along_axis(position, order, np.broadcast_to(np.arange(x.shape[-1]), x.shape), -1)
    top = rated & (position < n)
    known = np.isfinite(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        top_mean = np.where(top & known, y, 0.0).sum(-1) / (top & known).sum(-1)
        all_mean = np.where(rated & known, y, 0.0).sum(-1) / (rated & known).sum(-1)
    member = np.zeros((x.shape[0], x.shape[1], len(layout.names) + 1), dtype=bool)
    w, d, s = np.nonzero(top)
    member[w, d, layout.symbol[d, s]] = True
    size = member.sum(-1)
    entered = np.empty(size.shape)
    entered[:, 0] = size[:, 0]
    entered[:, 1:] = (member[:, 1:] & ~member[:, :-1]).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(size > 0, entered / size, np.nan)
    return top_mean - all_mean - 2.0 * share * cost_bps / 10_000.0, share
