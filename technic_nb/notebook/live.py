"""The live "top so far" of a running scan, kept incrementally.

The scanning thread hands every symbol's outcome to :meth:`LiveTop.add` (an
append under a lock: O(1), no pandas).  The panel's tick calls
:meth:`LiveTop.catch_up`, which rates what arrived since the last call as one
small table (:func:`rate_rows`: the scan's filters, then its subscores, rating
and signal; the whole scoring when the config has a screen) and offers the
batch's best rows to a bounded heap of the best ``size`` rows, keyed like the
scan's ranking by ``(-tech_rating, symbol)``: O(log size) per row kept, O(1)
per row turned away.  Each row is rated once, so an update costs what the
rows that arrived since the last one cost, whatever the number before.

Every column shown depends on that row alone (so the live values are the final
ones), except ``rank`` and ``percentile``, which depend on the whole universe:
the live table leaves them out, and the trade plans too (computing them costs
more than everything else), and its caption says the final table has them.
When the scoring has a cross-sectional part (a user subscore mapped by a rank,
a screen given as a callable), the live ratings are provisional (each batch is
ranked within itself) and :attr:`LiveTop.exact` is False, which the caption
says.
"""

from __future__ import annotations

import heapq
import logging
import operator
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.scoring import plan_gated, signals, subscores, tech_rating, trade_plan
from technic_nb.core.scoring.ranking import renamed_inputs
from technic_nb.engine.config import ScanConfig
from technic_nb.engine.finalize import score_rows
from technic_nb.notebook.live_estimate import estimable, estimate_ratings

__all__ = ["LiveCounts", "LiveTop", "exact_live_ratings"]

logger = logging.getLogger("technic_nb.runner")


def exact_live_ratings(config: ScanConfig) -> bool:
    """True when every rating depends on its own row only (the live values are final)."""
    from technic_nb.core.scoring.user import ThresholdMapper

    for extra in getattr(config.scoring, "user_subscores", ()):
        if not isinstance(getattr(extra, "mapper", None), ThresholdMapper):
            return False
    screen = getattr(config, "screen", None)  # an expression is row by row; a callable may not be
    return screen is None or getattr(screen, "expression", None) is not None


class _Entry:
    """A rated row in the heap; the heap's smallest entry is the *worst* kept row."""

    __slots__ = ("key", "row")

    def __init__(self, key: tuple[float, str], row: dict[str, Any]) -> None:
        self.key = key  # (-tech_rating, symbol): the scan's order, best first
        self.row = row

    def __lt__(self, other: _Entry) -> bool:
        return self.key > other.key  # worse sorts first


@dataclass(frozen=True)
class LiveCounts:
    """What the live table has seen: symbols done, rated, filtered out, failed."""

    done: int = 0
    rated: int = 0
    filtered: int = 0
    failed: int = 0


class LiveTop:
    """The best ``size`` rows of a running scan, updated as symbols finish.

    Args:
        config: the scan's configuration (filters, scoring, screen).
        size: rows kept.

    Thread-safe: :meth:`add` from the scanning thread, :meth:`catch_up` and
    :meth:`table` from the panel's tick.
    """

    def __init__(self, config: ScanConfig, size: int = 10) -> None:
        self.config = config
        self.size = int(size)
        self.exact = exact_live_ratings(config)
        self.estimable = estimable(config)
        self._inbox_lock = threading.Lock()
        self._inbox: list[tuple[str, dict[str, Any] | None]] = []
        self._lock = threading.Lock()
        self._heap: list[_Entry] = []
        self._counts = LiveCounts()
        self._version = 0
        self._broken = False

    def add(self, symbol: str, features: dict[str, Any] | None) -> None:
        """One symbol finished (``features`` None when it failed); O(1), any thread."""
        with self._inbox_lock:
            self._inbox.append((symbol, features))

    @property
    def pending(self) -> int:
        """Outcomes received and not scored yet."""
        with self._inbox_lock:
            return len(self._inbox)

    @property
    def counts(self) -> LiveCounts:
        """Symbols taken into account so far."""
        return self._counts

    @property
    def version(self) -> int:
        """Bumped whenever the kept rows change."""
        return self._version

    def catch_up(self, up_to: int | None = None) -> bool:
        """Rate what arrived since the last call, or only until :attr:`counts` ``.done``
        reaches ``up_to`` (the rest waits for the next call); True when the kept rows
        changed.  The panel passes the done count its counters show, so the live list
        is never ahead of them."""
        with self._inbox_lock:
            if up_to is None:
                batch, self._inbox = self._inbox, []
            else:
                room = max(0, up_to - self._counts.done)
                batch, self._inbox = self._inbox[:room], self._inbox[room:]
        if not batch:
            return False
        with self._lock:
            rows = {symbol: f for symbol, f in batch if f is not None}
            failed = len(batch) - len(rows)
            rated, filtered, changed = self._rate(rows)
            c = self._counts
            self._counts = LiveCounts(
                c.done + len(batch), c.rated + rated, c.filtered + filtered, c.failed + failed
            )
            if changed:
                self._version += 1
            return changed

    def _rate(self, rows: dict[str, dict[str, Any]]) -> tuple[int, int, bool]:
        """Rate ``rows`` and offer them to the heap: ``(rated, filtered out, changed)``."""
        if not rows or self._broken:
            return 0, 0, False
        try:
            batch = (fast_rows if self.estimable else rate_rows)(rows, self.config)
            ratings, symbols = batch.ratings, batch.symbols
            known = np.flatnonzero(~np.isnan(ratings))
            best = _best(known, ratings, symbols, self.size)
            keys = [(-float(ratings[i]), str(symbols[i])) for i in best]
            entering = [i for i, key in zip(best, keys, strict=True) if self._beats(key)]
            new_rows = batch.rows(entering)
        except Exception:  # the final table reports the problem; the live one stops
            self._broken = True
            logger.debug("the live table could not rate the rows", exc_info=True)
            return 0, 0, False
        for position, row in zip(entering, new_rows, strict=True):
            self._keep(_Entry((-float(ratings[position]), str(symbols[position])), row))
        return len(known), batch.filtered, bool(entering)

    def _beats(self, key: tuple[float, str]) -> bool:
        """True when a row of ``key`` would be kept now: O(1)."""
        return len(self._heap) < self.size or key < self._heap[0].key

    def _keep(self, entry: _Entry) -> None:
        """Keep ``entry``, dropping the worst kept row when full: O(log size)."""
        if len(self._heap) < self.size:
            heapq.heappush(self._heap, entry)
        elif entry.key < self._heap[0].key:
            heapq.heapreplace(self._heap, entry)

    def table(self) -> pd.DataFrame:
        """The kept rows, best first, with their subscores, rating and signal.

        No ``rank`` nor ``percentile`` (they depend on the whole universe), and no
        trade plan columns (the plan is computed only to check the signals shown).
        """
        with self._lock:
            entries = sorted(self._heap, key=lambda e: e.key)
        if not entries:
            return pd.DataFrame()
        frame = pd.DataFrame([e.row for e in entries], index=[e.key[1] for e in entries])
        frame.index.name = "symbol"
        return frame


def _best(known: np.ndarray, ratings: np.ndarray, symbols: np.ndarray, size: int) -> list[Any]:
    """Positions of the best ``size`` of ``known`` in the scan's order (rating down, then
    symbol): a partition, then a sort of those few (ties at the edge included)."""
    if len(known) > size:
        edge = np.partition(ratings[known], len(known) - size)[len(known) - size]
        known = known[ratings[known] >= edge]
    return sorted(known, key=lambda i: (-ratings[i], symbols[i]))[:size]


@dataclass(frozen=True)
class Rated:
    """Rows rated in one batch: their symbols, ratings, and the full row of any of them."""

    symbols: np.ndarray
    ratings: np.ndarray
    filtered: int
    features: pd.DataFrame | None  # the input rows (None when ``scores`` has every column)
    scores: pd.DataFrame  # the subscores, tech_rating and signal, by position
    params: Any = None  # the scoring params (needed with ``features``)

    def rows(self, positions: list[Any]) -> list[dict[str, Any]]:
        """The rows at ``positions``: features (renamed as the scan renames them), scores."""
        out = []
        for position in positions:
            row: dict[str, Any] = {}
            if self.features is not None:
                renamed = renamed_inputs(self.features.columns)
                features = self.features.iloc[position]
                row = {renamed.get(name, name): value for name, value in features.items()}
            row.update(self.scores.iloc[position].to_dict())
            out.append(row)
        if self.features is not None and out:  # the signals after the plan check
            frame = self.features.iloc[positions]
            rating_signal = pd.Series([row["signal"] for row in out], index=frame.index)
            for row, signal in zip(out, _gated(frame, rating_signal, self.params), strict=True):
                row["signal"] = signal
        return out


class _FastRated:
    """Rows rated by :func:`fast_rows`; the signals of the rows asked for, in one call."""

    def __init__(self, rows: dict[str, dict[str, Any]], config: ScanConfig, params: Any) -> None:
        ratings, passed, subs = estimate_ratings(list(rows.values()), config)
        keep = np.flatnonzero(passed)
        self.symbols = np.array(list(rows), dtype=object)[keep]
        self.ratings = ratings[keep]
        self.filtered = len(rows) - len(keep)
        self._subs = {name: values[keep] for name, values in subs.items()}
        self._features = [rows[str(s)] for s in self.symbols]
        self._params = params

    def rows(self, positions: list[Any]) -> list[dict[str, Any]]:
        if not positions:
            return []
        index = pd.Index([self.symbols[p] for p in positions])
        subs = pd.DataFrame({k: v[positions] for k, v in self._subs.items()}, index=index)
        rating = pd.Series(self.ratings[positions], index=index)
        frame = pd.DataFrame.from_records([self._features[p] for p in positions], index=index)
        signal = _gated(frame, signals(rating, subs, self._params), self._params)
        out = []
        for i, position in enumerate(positions):
            features = self._features[position]
            renamed = renamed_inputs(pd.Index(list(features)))
            row = {renamed.get(name, name): value for name, value in features.items()}
            row.update({name: float(subs.iloc[i][name]) for name in subs.columns})
            row.update(tech_rating=float(rating.iloc[i]), signal=signal[i])
            out.append(row)
        return out


def fast_rows(rows: dict[str, dict[str, Any]], config: ScanConfig) -> _FastRated:
    """The rows that pass the filters, rated with numpy (:mod:`technic_nb.notebook.live_estimate`):
    the same values as :func:`rate_rows`, for a small fraction of its cost."""
    return _FastRated(rows, config, config.scoring)


def rate_rows(rows: dict[str, dict[str, Any]], config: ScanConfig) -> Rated:
    """The rows that pass the filters (and screen), with their subscores, ``tech_rating``
    and ``signal``, by the scan's own functions.

    The values are those :func:`~technic_nb.engine.plan.score_rows` gives these rows: the
    liquidity filters as one vectorized mask, then the subscores, rating and signal
    (no copy of the rows; the trade plan that checks the signals is computed only
    for the rows shown, by :meth:`Rated.rows`).  With a screen, which may read any
    scored column, the scan's whole scoring runs.
    """
    if getattr(config, "screen", None) is not None:
        table, rejected = score_rows(rows, config)
        return Rated(
            table.index.to_numpy(dtype=object),
            table["tech_rating"].to_numpy(dtype="float64"),
            len(rejected),
            None,
            table,
        )
    features = _frame(rows)
    kept = features.loc[_passes_filters(features, config)]
    params = config.scoring
    scores = subscores(kept, params)
    rating = tech_rating(scores, kept, params)
    scores["tech_rating"] = rating
    scores["signal"] = signals(rating, scores, params)
    return Rated(
        kept.index.to_numpy(dtype=object),
        rating.to_numpy(dtype="float64"),
        len(features) - len(kept),
        kept,
        scores,
        params,
    )


def _gated(features: pd.DataFrame, rating_signal: pd.Series, params: Any) -> list[Any]:
    """The signals of ``features`` after the plan check of the scan
    (:func:`~technic_nb.core.scoring.plan_gated`)."""
    plan = trade_plan(features, rating_signal, params)
    return list(plan_gated(rating_signal, plan, params)[0])


def _frame(rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """``pd.DataFrame.from_records(rows)`` (same columns and dtypes), a few times faster
    when every row has the same keys (a scan's feature rows do)."""
    values = list(rows.values())
    names = list(values[0])
    if len(names) < 2 or any(len(v) != len(names) for v in values):
        return pd.DataFrame.from_records(values, index=list(rows))
    try:
        columns = zip(*map(operator.itemgetter(*names), values), strict=True)
        data = {}
        for name, column in zip(names, columns, strict=True):
            array = np.asarray(column)
            # numbers and booleans as numpy made them; anything else as pandas infers it
            data[name] = array if array.dtype.kind in "fib" else pd.Series(column).array
    except KeyError:  # rows with other keys
        return pd.DataFrame.from_records(values, index=list(rows))
    return pd.DataFrame(data, index=list(rows), copy=False)


def _passes_filters(features: pd.DataFrame, config: ScanConfig) -> np.ndarray:
    """:func:`~technic_nb.core.scoring.apply_filters`' test as a mask (an unknown
    value fails)."""
    passed = np.ones(len(features), dtype=bool)
    for column, minimum in (
        ("close", config.min_price),
        ("dollar_volume20", config.min_dollar_volume),
        ("bars", config.min_bars),
    ):
        values = pd.to_numeric(features[column], errors="coerce").to_numpy(dtype="float64")
        with np.errstate(invalid="ignore"):
            passed &= values >= float(minimum)  # NaN compares False
    return passed
