"""What a replay produced, and its evaluation against what happened next.

:class:`ReplayResult` holds every symbol's features at every replayed date,
ranks each date exactly as a scan would (:meth:`ReplayResult.table`), and
evaluates the ranked panel with :mod:`technic_nb.research.evaluation`: forward returns
from each symbol's own bars (every row kept, with a status saying why a return
is missing), Spearman information coefficients with Newey-West t-statistics,
quantile spreads, signal statistics, trade-plan walks, turnover and an
alphalens-reloaded export.

The universe of a replay is the one given, at every date: symbols that left
the market before the data was gathered are not in it, so results carry
survivorship bias unless the universe comes from point-in-time lists.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.cancel import ScanCancellation
from technic_nb.core.errors import ScanError
from technic_nb.core.scoring import SUBSCORES, apply_filters, score_frame
from technic_nb.core.scoring.columns import ERROR_COLUMNS
from technic_nb.engine.benchmark import benchmark_bars, benchmark_symbol
from technic_nb.engine.cache.envelope import summarize_notes
from technic_nb.engine.config import ScanConfig
from technic_nb.engine.finalize import (
    Collected,
    present_filtered,
    present_table,
    score_rows,
    universe_meta,
)
from technic_nb.engine.plan import ScanPlan
from technic_nb.research import evaluation as ev
from technic_nb.research.replay.baselines import ReplayBaselines
from technic_nb.research.replay.display import ReplayDisplay
from technic_nb.research.replay.out_of_sample import ReplayOutOfSample
from technic_nb.research.replay.portfolios import ReplayPortfolios
from technic_nb.research.replay.stability import ReplayStability
from technic_nb.research.replay.trading import ReplayTrading
from technic_nb.research.replay.work import ReplayOutcome
from technic_nb.sources.base import BarsArrays

__all__ = ["ReplayResult", "build_replay_result", "diff"]


@dataclass
class ReplayResult(
    ReplayDisplay,
    ReplayTrading,
    ReplayBaselines,
    ReplayPortfolios,
    ReplayStability,
    ReplayOutOfSample,
):
    """The scan replayed at many dates, and the tools to evaluate it.

    Attributes:
        dates: the replayed dates (ascending).
        horizons: the forward-return horizons (trading bars).
        features: every (date, symbol) feature row computed (before filters).
        errors: one row per failed (date, symbol): ``date`` (NaT when the
            symbol's bars could not be read at all), ``symbol``, then the scan's
            error columns.
        status: the one-line status.
        stats: counters and timings.
        cancelled: True when the replay was cancelled (the symbols finished so
            far are in the result; running again resumes).
        warnings: notes (damaged cache entries recomputed...).
        config: the scan configuration replayed.
    """

    dates: tuple[dt.date, ...]
    horizons: tuple[int, ...]
    features: pd.DataFrame
    errors: pd.DataFrame
    status: str
    stats: dict[str, Any]
    cancelled: bool
    warnings: list[str]
    config: ScanConfig
    universe: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    bars_arrays: dict[str, BarsArrays] = field(repr=False, default_factory=dict)
    benchmark: pd.Series | None = field(repr=False, default=None)

    def __repr__(self) -> str:
        symbols = self.features.index.get_level_values("symbol").nunique()
        return (
            f"ReplayResult({len(self.dates)} dates, {symbols} symbols, "
            f"cancelled={self.cancelled}, status={self.status!r})"
        )

    # -- the tables ----------------------------------------------------------------------
    def table(self, date: Any) -> pd.DataFrame:
        """The ranked table as of ``date``: what ``tn.scan(config.replace(as_of=date))``
        returns (same rows, columns and numbers)."""
        day = self._date(date)
        return self._tables(day)[0]

    def filtered(self, date: Any) -> pd.DataFrame:
        """The rows the filters removed at ``date``, with the reason."""
        return self._tables(self._date(date))[1]

    @functools.cached_property
    def panel(self) -> pd.DataFrame:
        """Every ranked row of every date: (date, symbol) index, the table's columns
        (before ``top_n``), ``rank`` per date."""
        kept, _ = self._filtered_panel
        if kept.empty:
            return kept
        scored = score_frame(kept, self.config.scoring)
        ranked = _rank_by_date(scored)
        meta = universe_meta(self.universe)
        symbols = ranked.index.get_level_values("symbol")
        ranked["name"] = meta["name"].reindex(symbols).to_numpy()
        ranked["sector"] = meta["sector"].reindex(symbols).to_numpy()
        return ranked

    @functools.cached_property
    def filtered_panel(self) -> pd.DataFrame:
        """Every filtered (date, symbol) row with its reason."""
        return self._filtered_panel[1]

    @functools.cached_property
    def _filtered_panel(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        if self.features.empty:
            return self.features, self.features
        return apply_filters(
            self.features,
            min_price=self.config.min_price,
            min_dollar_volume=self.config.min_dollar_volume,
            min_bars=self.config.min_bars,
        )

    def _tables(self, day: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
        cache = self.__dict__.setdefault("_table_cache", {})
        if day not in cache:
            cache[day] = self._rank_date(day)
        return cache[day]

    def _rank_date(self, day: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The scan's own ranking of the date's rows (the same function, the same rows)."""
        stamp = pd.Timestamp(day)
        rows: dict[str, dict[str, Any]] = {}
        if stamp in self._dates_present:
            rows = self.features.xs(stamp, level="date").to_dict(orient="index")
        meta = universe_meta(self.universe)
        scored, rejected = score_rows(rows, self.config)
        return present_table(scored, meta, self.config), present_filtered(rejected, meta)

    @functools.cached_property
    def _dates_present(self) -> frozenset[pd.Timestamp]:
        return frozenset(self.features.index.get_level_values("date"))

    def _date(self, date: Any) -> dt.date:
        day = pd.Timestamp(date).date()
        if day not in self.dates:
            raise ValueError(
                f"{day} was not replayed; the dates are {self.dates[0]} .. {self.dates[-1]} "
                f"({len(self.dates)} dates): pick one of result.dates"
            )
        return day

    # -- bars and forward returns ----------------------------------------------------------
    @functools.cached_property
    def bars(self) -> dict[str, pd.DataFrame]:
        """Each symbol's bars as read by the replay (its whole history)."""
        return {symbol: arrays.frame() for symbol, arrays in self.bars_arrays.items()}

    @functools.cached_property
    def bad_bars(self) -> dict[str, np.ndarray]:
        """Per symbol, a mask of the bars the scan's checks reject (no path crosses one)."""
        return ev.find_bad_bars(self.bars)

    @functools.cached_property
    def returns(self) -> pd.DataFrame:
        """Forward returns of every ranked row: ``fwd_{h}d``, ``excess_{h}d`` (over the
        benchmark) and ``status_{h}d`` (``ok``, ``delisted``: the symbol stopped
        trading, return to its last bar; ``no_future``: the data ends first; ``no_bars``;
        ``bad_bar``: one of :attr:`bad_bars` on the way), from each symbol's own bars."""
        index = self.panel.index
        known = self.__dict__.get("_known_returns")  # a subset's rows: their returns as they were
        if known is not None and index.isin(known.index).all():
            return known.reindex(index)
        return ev.forward_returns(
            index, self.bars, self.horizons, self.benchmark, bad_bars=self.bad_bars
        )

    def dropped(self) -> pd.DataFrame:
        """Per date and horizon: rows without a forward return, by reason."""
        return ev.dropped_summary(self.returns)

    def coverage(self) -> pd.DataFrame:
        """Per date: symbols in the universe, ranked, filtered, failed."""
        universe = len(self.universe)
        out = pd.DataFrame(
            index=pd.DatetimeIndex([pd.Timestamp(d) for d in self.dates], name="date")
        )
        out["universe"] = universe
        out["ranked"] = _count_by_date(self.panel, out.index)
        out["filtered"] = _count_by_date(self.filtered_panel, out.index)
        dated = self.errors.dropna(subset=["date"])
        out["errors"] = dated.groupby("date").size().reindex(out.index, fill_value=0)
        out["unreadable"] = int(self.errors["date"].isna().sum())
        return out

    @property
    def spacing(self) -> float:
        """Median trading bars between two replayed dates (for the overlap of horizons)."""
        calendar = self.benchmark.index if self.benchmark is not None else None
        return ev.replay_spacing(self.dates, calendar)

    # -- evaluation ---------------------------------------------------------------------------
    def ic(self, factors: Iterable[str] | None = None, column: str = "fwd") -> pd.DataFrame:
        """Spearman rank IC per date, (factor, horizon) columns; ``column`` is ``"fwd"``
        (raw returns) or ``"excess"`` (over the benchmark)."""
        names = (factors,) if isinstance(factors, str) else tuple(factors or self._factors())
        panel = self._scored_panel(names)
        return ev.information_coefficient(panel, self.returns, names, self.horizons, column)

    def ic_summary(
        self, factors: Iterable[str] | None = None, column: str = "fwd", hac_lags: int | None = None
    ) -> pd.DataFrame:
        """Mean, std, IR, share positive and t-statistics (plain and Newey-West with
        ``hac_lags`` lags, by default matching the overlap of each horizon) of the IC of
        each factor and horizon."""
        return ev.ic_summary(self.ic(factors, column), self.spacing, hac_lags)

    def quantiles(
        self, factor: str = "tech_rating", horizon: int | None = None, quantiles: int = 5
    ) -> ev.QuantileReport:
        """Mean forward return by quantile of ``factor``, the top-minus-bottom spread and
        its cumulative return."""
        return ev.quantile_returns(
            self._scored_panel([factor]),
            self.returns,
            factor,
            self._horizon(horizon),
            quantiles,
            spacing_bars=self.spacing,
        )

    def signals(self, horizon: int | None = None, hac_lags: int | None = None) -> pd.DataFrame:
        """Per signal, per-date mean return, hit rate and excess over the ranked universe,
        averaged over dates, with a Newey-West t of the excess (``hac_lags``, by default
        the overlap of the horizon) and the share of rows from the 6 busiest dates."""
        spacing = self.spacing if len(self.dates) > 1 else None
        h = self._horizon(horizon)
        return ev.signal_stats(self.panel, self.returns, h, hac_lags=hac_lags, spacing_bars=spacing)

    def turnover(self, top_n: int = 20) -> pd.Series:
        """Share of the top ``top_n`` that changed from one date to the next."""
        return ev.top_turnover(self.panel, top_n)

    def diff(self, first: Any, second: Any, top_n: int | None = None) -> pd.DataFrame:
        """What changed between the tables of two dates: entered, left, rank and signal moves."""
        return ev.diff_tables(self.table(first), self.table(second), top_n=top_n)

    def to_alphalens(self, score: str = "tech_rating", quantiles: int = 5) -> pd.DataFrame:
        """alphalens-reloaded's ``factor_data``: (date, asset) index, ``5D``-style forward
        returns, ``factor`` and ``factor_quantile``."""
        return ev.to_alphalens(self.panel, self.returns, score, self.horizons, quantiles)

    def rescore(self, scoring: Any) -> ReplayResult:
        """The same replay scored with other weights (nothing is recomputed)."""
        config = self.config.replace(scoring=scoring)
        return replace(self, config=config, stats=dict(self.stats), warnings=list(self.warnings))

    def _factors(self) -> tuple[str, ...]:
        """The rating, the built-in subscores and the user subscores."""
        names = ("tech_rating", *SUBSCORES, *(s.name for s in self.config.scoring.user_subscores))
        return tuple(c for c in names if c in self.panel.columns)

    def _horizon(self, horizon: int | None) -> int:
        if horizon is None:
            return self.horizons[len(self.horizons) // 2]
        if horizon not in self.horizons:
            raise ValueError(f"horizon {horizon} was not replayed; horizons are {self.horizons}")
        return horizon


def _count_by_date(frame: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.Series:
    if frame.empty:
        return pd.Series(0, index=dates)
    return frame.groupby(level="date").size().reindex(dates, fill_value=0)


def _rank_by_date(scored: pd.DataFrame) -> pd.DataFrame:
    """``rank`` and ``percentile`` within each date (the scan's rule: rating descending,
    ties by symbol, unrated last), rows sorted by date then rank."""
    rating = scored["tech_rating"].to_numpy(dtype="float64")
    dates = scored.index.get_level_values("date")
    symbols = scored.index.get_level_values("symbol").astype(str).to_numpy()
    unrated = np.isnan(rating)
    order = np.lexsort((symbols, np.where(unrated, 0.0, -rating), unrated, dates.asi8))
    out = scored.iloc[order].copy()
    rated = ~np.isnan(out["tech_rating"].to_numpy(dtype="float64"))
    day = out.index.get_level_values("date")
    position = out.groupby(level="date").cumcount().to_numpy() + 1.0
    out["rank"] = pd.array(np.where(rated, position, np.nan), dtype="Int64")
    counts = pd.Series(rated).groupby(day.asi8).transform("sum").to_numpy()
    below = out["tech_rating"].groupby(level="date").rank(method="min").to_numpy() - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        percentile = np.where(counts > 1, 100.0 * below / (counts - 1), 100.0)
    out["percentile"] = np.where(rated, percentile, np.nan)
    return out


def _error_rows(
    outcomes: Mapping[str, ReplayOutcome], invalid: Mapping[str, ScanError]
) -> pd.DataFrame:
    records: list[dict[str, Any]] = []
    for symbol, error in invalid.items():
        records.append({"date": pd.NaT, "symbol": symbol, **_error_fields(error)})
    for symbol, outcome in outcomes.items():
        if outcome.error is not None:
            records.append({"date": pd.NaT, "symbol": symbol, **_error_fields(outcome.error)})
        for day, data in outcome.errors.items():
            records.append({"date": pd.Timestamp(day), "symbol": symbol, **_error_fields(data)})
        for day, errors in outcome.factor_errors.items():
            for error in errors:
                records.append(
                    {"date": pd.Timestamp(day), "symbol": symbol, **_error_fields(error)}
                )
    columns = ["date", *ERROR_COLUMNS]
    frame = pd.DataFrame.from_records(records, columns=columns)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.sort_values(["date", "symbol"], na_position="first").reset_index(drop=True)


def _error_fields(error: ScanError) -> dict[str, Any]:
    return {
        "error_type": error.error_type.value,
        "message": error.message,
        "suggestion": error.suggestion,
        "recoverable": error.recoverable,
        "details": dict(error.details),
    }


def _feature_frame(outcomes: Mapping[str, ReplayOutcome]) -> pd.DataFrame:
    """Every symbol's feature rows as one frame: (date, symbol) index, ``last_date`` first,
    then the numeric columns in the rows' order (each symbol's block aligned on them)."""
    blocks = [(s, outcomes[s].block) for s in sorted(outcomes) if len(outcomes[s].block)]
    if not blocks:
        index = pd.MultiIndex.from_arrays([[], []], names=["date", "symbol"])
        return pd.DataFrame(index=index)
    columns = list(dict.fromkeys(c for _, block in blocks for c in block.columns))
    values = np.vstack([block.aligned(columns) for _, block in blocks])
    dates = pd.DatetimeIndex(
        np.concatenate([np.array(b.dates, "datetime64[D]") for _, b in blocks])
    )
    symbols = np.concatenate(
        [np.full(len(block), symbol, dtype=object) for symbol, block in blocks]
    )
    index = pd.MultiIndex.from_arrays([dates.as_unit("ns"), symbols], names=["date", "symbol"])
    frame = pd.DataFrame(values, index=index, columns=columns)
    last = np.concatenate([np.array(b.last_dates, dtype=object) for _, b in blocks])
    frame.insert(0, "last_date", last)
    return frame.sort_index()


def _benchmark(plan: ScanPlan, token: ScanCancellation, warnings: list[str]) -> pd.Series | None:
    symbol = benchmark_symbol(plan)
    if symbol is None:
        return None
    try:
        return benchmark_bars(plan, symbol, token, warnings)["close"]
    except ScanError as exc:
        warnings.append(f"benchmark {symbol} unavailable, excess returns are NaN: {exc}")
        return None


def build_replay_result(
    plan: ScanPlan,
    outcomes: Mapping[str, ReplayOutcome],
    dates: tuple[dt.date, ...],
    horizons: tuple[int, ...],
    *,
    cancelled: bool,
    collected: Collected,
    elapsed: float,
    token: ScanCancellation,
) -> ReplayResult:
    """The :class:`ReplayResult` of the outcomes gathered."""
    location = plan.job.cache.location if plan.job.cache is not None else None
    warnings = summarize_notes([*plan.warnings, *collected.warnings], location)
    features = _feature_frame(outcomes)
    errors = _error_rows(outcomes, plan.invalid)
    benchmark = None if cancelled else _benchmark(plan, token, warnings)
    stats = {
        "symbols": len(plan.universe),
        "dates": len(dates),
        "done": len(outcomes),
        "from_cache": collected.from_cache,
        "computed": collected.computed,
        "rows": len(features),
        "errors": len(errors),
        "elapsed": elapsed,
    }
    span = f"{dates[0]} .. {dates[-1]}"
    if cancelled:
        status = (
            f"Cancelled after {len(outcomes)} of {len(plan.universe)} symbols - run again to "
            f"resume ({len(features):,} symbol-dates so far)"
        )
    else:
        status = (
            f"Replayed {len(plan.universe):,} symbols at {len(dates)} dates ({span}) in "
            f"{elapsed:.1f}s: {len(features):,} symbol-dates, {len(errors):,} errors, "
            f"{collected.from_cache:,} symbols from cache"
        )
    return ReplayResult(
        dates,
        horizons,
        features,
        errors,
        status,
        stats,
        cancelled,
        warnings,
        plan.config,
        plan.universe,
        {s: o.bars for s, o in outcomes.items() if o.bars is not None},
        benchmark,
    )


def diff(first: Any, second: Any, top_n: int | None = None) -> pd.DataFrame:
    """What changed from one ranked table to another: entered, left, rank and signal moves.

    ``first`` and ``second`` are :class:`~technic_nb.ScanResult` objects or ranked
    tables (index symbol, columns ``rank``, ``signal``, ``tech_rating``).
    """
    a = getattr(first, "table", first)
    b = getattr(second, "table", second)
    return ev.diff_tables(a, b, top_n=top_n)
