"""The end of every scan: the collected outcomes become a :class:`~technic_nb.ScanResult`.

:class:`Collected` gathers each symbol's outcome as it arrives (rows, errors,
counts, notes); :func:`finalize` filters, scores, screens and ranks the rows,
builds the error table and the status line, and folds the notes into
``result.warnings``.  The result reads its symbols' bars back through the
checkpoint cache (:class:`~technic_nb.engine.bars.ScanBars`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from technic_nb.core.errors import ScanError
from technic_nb.core.regime import MarketRegime
from technic_nb.core.scoring import apply_filters, rank_table, score_frame
from technic_nb.core.scoring.columns import ERROR_COLUMNS, LEADING_COLUMNS
from technic_nb.engine.bars import ScanBars
from technic_nb.engine.cache.envelope import summarize_notes
from technic_nb.engine.config import ScanConfig
from technic_nb.engine.outcomes import SymbolOutcome
from technic_nb.engine.plan import ScanPlan
from technic_nb.engine.result import ScanResult

__all__ = [
    "Collected",
    "error_table",
    "finalize",
    "present_filtered",
    "present_table",
    "score_rows",
    "status_line",
    "universe_meta",
]


@dataclass
class Collected:
    """The outcomes gathered so far (rows, errors) and what the run noted."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, ScanError] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    from_cache: int = 0
    computed: int = 0
    extra_stats: dict[str, Any] = field(default_factory=dict)
    #: symbol -> the errors of its user factors (the symbol keeps its row)
    factor_errors: dict[str, tuple[ScanError, ...]] = field(default_factory=dict)
    #: factor values computed (not read from the cache)
    factors_computed: int = 0

    def add(self, outcome: SymbolOutcome) -> None:
        """Record one symbol's outcome."""
        if outcome.features is not None:
            self.rows[outcome.symbol] = outcome.features
            if outcome.factor_errors:
                self.factor_errors[outcome.symbol] = outcome.factor_errors
            self.factors_computed += outcome.factors_computed
        elif outcome.error is not None:
            self.errors[outcome.symbol] = outcome.error
        if outcome.from_cache:
            self.from_cache += 1
        else:
            self.computed += 1
        self.warnings.extend(outcome.warnings)

    @property
    def done(self) -> int:
        """Symbols with an outcome."""
        return self.from_cache + self.computed


def score_rows(
    rows: dict[str, dict[str, Any]], config: ScanConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Filter, score, screen and rank feature rows: ``(ranked table, filtered rows)``.

    The filters run first, then the scoring; the config's screen then removes
    rows (their ``reason`` says which clause failed) before the ranking.
    """
    features = _factor_columns_last(pd.DataFrame.from_dict(rows, orient="index"), config)
    features.index.name = "symbol"
    kept, rejected = apply_filters(
        features,
        min_price=config.min_price,
        min_dollar_volume=config.min_dollar_volume,
        min_bars=config.min_bars,
    )
    scored = score_frame(kept, config.scoring)
    if config.screen is not None and len(scored):
        passed, reasons = config.screen.apply(scored)
        screened = scored.loc[~passed.to_numpy()].copy()
        screened["reason"] = reasons.loc[screened.index]
        scored = scored.loc[passed.to_numpy()]
        rejected = pd.concat([rejected, screened]) if len(rejected) else screened
    return rank_table(scored), rejected


def _factor_columns_last(features: pd.DataFrame, config: ScanConfig) -> pd.DataFrame:
    """The factor columns after the built-in ones, in the config's factor order (the rows
    of symbols whose factors failed lack them, so the frame's own order may vary)."""
    if not config.factors:
        return features
    names = [f.name for f in config.factors]
    owner: dict[str, int] = {}
    for column in features.columns:
        for position, name in enumerate(names):
            if column == name or str(column).startswith(f"{name}_"):
                owner[column] = position
                break
    builtin = [c for c in features.columns if c not in owner]
    factor = sorted(owner, key=lambda c: owner[c])  # stable: keeps each factor's own order
    return features[builtin + factor]


def finalize(
    plan: ScanPlan,
    collected: Collected,
    *,
    cancelled: bool,
    elapsed: float,
    stage_seconds: dict[str, float] | None = None,
    regime: MarketRegime | None = None,
) -> ScanResult:
    """The :class:`~technic_nb.ScanResult` of the outcomes collected."""
    config = plan.config
    meta = universe_meta(plan.universe)
    table, rejected = score_rows(collected.rows, config)
    table = present_table(table, meta, config)
    errors = error_table({**plan.invalid, **collected.errors})
    factor_errors, notes = factor_error_table(collected)
    if len(factor_errors):
        errors = pd.concat([errors, factor_errors], ignore_index=True)
    collected.warnings.extend(notes)
    filtered = present_filtered(rejected, meta)
    # Every entry scanned is counted once: symbols = ranked + filtered + failed when done
    # (invalid entries are errors; "ranked" counts every ranked row, "shown" the top_n kept).
    stats: dict[str, Any] = {
        "symbols": len(plan.universe) + len(plan.invalid),
        "done": collected.done + len(plan.invalid),
        "from_cache": collected.from_cache,
        "computed": collected.computed,
        "ranked": len(collected.rows) - len(rejected),
        "shown": len(table),
        "invalid": len(plan.invalid),
        "failed": len(errors) - len(factor_errors),
        "factor_errors": len(factor_errors),
        "factors_computed": collected.factors_computed,
        "filtered": len(rejected),
        "elapsed": elapsed,
        "stage_seconds": dict(stage_seconds or {}),
        "window": plan.window.key(),
    }
    stats.update(collected.extra_stats)
    retry = getattr(plan.source, "retry_stats", None)
    if retry is not None:
        for name, value in retry.snapshot().items():
            stats[f"fetch_{name}"] = value - plan.retry_before.get(name, 0)
    return ScanResult(
        table=table,
        errors=errors,
        status=status_line(cancelled, table, stats, regime),
        stats=stats,
        cancelled=cancelled,
        filtered=filtered,
        regime=regime,
        warnings=summarize_notes(
            [*plan.warnings, *collected.warnings],
            plan.job.cache.location if plan.job.cache is not None else None,
        ),
        config=config,
        bars_reader=ScanBars.of(plan),
    )


def universe_meta(universe: pd.DataFrame) -> pd.DataFrame:
    """``name`` and ``sector`` by symbol."""
    return universe.set_index("symbol")[["name", "sector"]]


def present_table(scored: pd.DataFrame, meta: pd.DataFrame, config: ScanConfig) -> pd.DataFrame:
    """The ranked table as a scan returns it: names and sectors, the leading columns
    first, ``rank`` as a nullable integer, the best ``top_n`` rows."""
    table = scored.join(meta, how="left")
    table["rank"] = table["rank"].astype("Int64")  # NaN-rated rows have no rank
    leading = [c for c in LEADING_COLUMNS if c in table.columns]
    table = table[leading + [c for c in table.columns if c not in leading]]
    if config.top_n is not None:
        table = table.head(config.top_n)
    return table


def present_filtered(rejected: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """The filtered rows with names and sectors, by symbol (the same columns when
    nothing was filtered, as in a scan cancelled early)."""
    return rejected.join(meta, how="left").sort_index()


def status_line(
    cancelled: bool, table: pd.DataFrame, stats: dict[str, Any], regime: MarketRegime | None
) -> str:
    """The one-line status of a scan.

    Its counts add up: the symbols scanned are ranked + filtered + errors (the
    errors include the universe's invalid symbols, said in brackets); with
    ``top_n`` it says how many of the ranked rows the table shows.
    """
    done, total = stats["done"], stats["symbols"]
    ranked = stats["ranked"]
    shown = stats.get("shown", ranked)
    ranked_text = f"{ranked} ranked" + (f" (top {shown} shown)" if shown < ranked else "")
    invalid = stats.get("invalid", 0)
    errors_text = f"{stats['failed']} errors" + (
        f" ({invalid} invalid symbol{'s' if invalid != 1 else ''})" if invalid else ""
    )
    if cancelled:
        return (
            f"Cancelled after {done} of {total} symbols - run again to resume "
            f"({ranked_text} so far, {stats['filtered']} filtered, {errors_text})"
        )
    as_of = ""
    if len(table) and "last_date" in table.columns:
        as_of = f" | as of {table['last_date'].max()}"
    label = f" | regime {regime.label}" if regime is not None else ""
    return (
        f"Scanned {total} symbols in {stats['elapsed']:.1f}s: {ranked_text}, "
        f"{stats['filtered']} filtered, {errors_text}, "
        f"{stats['from_cache']} from cache{as_of}{label}"
    )


def factor_error_table(collected: Collected) -> tuple[pd.DataFrame, list[str]]:
    """One row per failed (symbol, factor); a factor that failed for every symbol with a
    row is one row (symbol ``*``) and a warning, not a row per symbol. Rows are sorted
    by factor, then symbol, whatever order the symbols finished in."""
    by_factor: dict[str, list[tuple[str, ScanError]]] = {}
    for symbol, errors in sorted(collected.factor_errors.items()):
        for error in errors:
            name = str(error.details.get("factor", "?"))
            by_factor.setdefault(name, []).append((symbol, error))
    records: list[tuple[str, ScanError]] = []
    notes: list[str] = []
    for name, failures in sorted(by_factor.items()):
        if len(failures) == len(collected.rows) and len(failures) > 1:
            first = failures[0][1]
            summary = ScanError(
                first.error_type,
                f"factor {name!r} failed for all {len(failures)} symbols; the first: "
                f"{first.message}",
                details={**first.details, "symbols": len(failures)},
                suggestion=first.suggestion,
            )
            records.append(("*", summary))
            notes.append(f"factor {name!r} failed for every symbol: {first.message}")
        else:
            records.extend(failures)
    return _error_records(records), notes


def error_table(errors: Mapping[str, ScanError]) -> pd.DataFrame:
    """One row per failed symbol, sorted by symbol."""
    return _error_records(sorted(errors.items()))


def _error_records(errors: list[tuple[str, ScanError]]) -> pd.DataFrame:
    records = [
        {
            "symbol": symbol,
            "error_type": e.error_type.value,
            "message": e.message,
            "suggestion": e.suggestion,
            "recoverable": e.recoverable,
            "details": dict(e.details),
        }
        for symbol, e in errors
    ]
    return pd.DataFrame.from_records(records, columns=list(ERROR_COLUMNS))
