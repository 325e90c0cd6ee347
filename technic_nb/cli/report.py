"""What ``technic-nb`` says on stderr about a finished scan, worded for the command line.

The scan's warnings, one line each; why nothing was ranked when nothing was
(every symbol failed: the most common cause and what to do about it; or every
symbol was filtered out: by which filters); and what ``--out`` wrote.  Pure
functions from a :class:`~technic_nb.ScanResult` to lines of text.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import pandas as pd

from technic_nb.engine.config import ScanConfig
from technic_nb.engine.result import ScanResult
from technic_nb.notebook.text import count
from technic_nb.sources.polygon.config import redact

__all__ = [
    "Cause",
    "failed_lines",
    "failure_cause",
    "filtered_lines",
    "warning_lines",
    "written_line",
]


def warning_lines(result: ScanResult) -> list[str]:
    """``warning: ...`` for each of ``result.warnings`` (redacted: a note may quote a URL)."""
    return [f"warning: {redact(str(note))}" for note in result.warnings]


@dataclass(frozen=True)
class Cause:
    """Why symbols failed, as the command line sees it.

    Attributes:
        what: what the symbols have in common, e.g. "not in the synthetic demo market".
        hint: what to do, naming the options to change.
    """

    what: str
    hint: str


#: Error messages -> the cause they share (the first pattern that matches wins).
_CAUSES: tuple[tuple[re.Pattern[str], Cause], ...] = (
    (
        re.compile(r"not a symbol of the synthetic demo market"),
        Cause(
            "not in the synthetic demo market",
            "the demo source is a made-up market without real tickers: give your own data "
            "with --source csv:DIR (a folder of SYMBOL.csv files) or --source polygon "
            "(needs POLYGON_API_KEY), or leave out --universe to scan the demo market",
        ),
    ),
    (
        re.compile(r"no file \S+\.csv, .* in "),
        Cause(
            "no file in the data folder",
            "check the symbols given with --universe, and that --source csv:DIR names the "
            "folder holding their SYMBOL.csv files",
        ),
    ),
    (
        re.compile(r"unknown symbol at the data service"),
        Cause(
            "unknown to the data service",
            "check the tickers given with --universe (spelling, and whether they are listed)",
        ),
    ),
    (
        re.compile(r"no bars on or before|: no bars$"),
        Cause(
            "no bars in the scan's window",
            "choose a later --as-of, or a source with bars for these symbols",
        ),
    ),
    (
        re.compile(r"is not a valid ticker"),
        Cause(
            "not a valid ticker",
            "give tickers such as AAPL or BRK.B with --universe (1-10 letters or digits, "
            "an optional class suffix)",
        ),
    ),
    (
        re.compile(r"the data service|request .* failed|timed out", re.IGNORECASE),
        Cause(
            "the data service failed",
            "check the network and POLYGON_API_KEY, then run the same command again "
            "(symbols already finished come from the cache)",
        ),
    ),
)


def _cause(message: str, suggestion: str) -> Cause:
    for pattern, cause in _CAUSES:
        if pattern.search(message):
            return cause
    return Cause("other errors", suggestion or "see the errors with --errors-out errors.csv")


def failure_cause(errors: pd.DataFrame) -> tuple[Cause, int]:
    """The most common cause among ``errors`` (the error table) and how many it covers."""
    causes = Counter(
        _cause(str(message), str(suggestion or ""))
        for message, suggestion in zip(errors["message"], errors["suggestion"], strict=True)
    )
    cause, covered = causes.most_common(1)[0]
    return cause, covered


def failed_lines(result: ScanResult) -> list[str]:
    """Why nothing was ranked when every symbol failed: the error line and the hint."""
    errors = result.errors
    cause, covered = failure_cause(errors)
    which = "all" if covered == len(errors) else f"{covered:,} of"
    return [
        f"technic-nb: error: nothing ranked: every symbol failed "
        f"({which} {count(len(errors), 'symbol')}: {cause.what})",
        f"hint: {redact(cause.hint)}"
        + ("; --errors-out FILE lists every error" if covered < len(errors) else ""),
    ]


#: The columns the filters of ``apply_filters`` test (the first word of each part of a
#: filtered row's reason) -> the filter.
_FILTER_OF = {"close": "min_price", "dollar_volume20": "min_dollar_volume", "bars": "min_bars"}
#: The filters the command has an option for.
_OPTIONS = {"min_price": "--min-price", "min_dollar_volume": "--min-dollar-volume"}


def _amount(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def filtered_lines(result: ScanResult) -> list[str]:
    """Why nothing was ranked when symbols were filtered out: how many by each filter.

    A symbol that fails several filters counts once for each.
    """
    config: ScanConfig = result.config
    reasons = result.filtered["reason"] if "reason" in result.filtered else pd.Series([])
    by_filter: Counter[str] = Counter()
    for reason in reasons.astype(str):
        parts = reason.split("; ")
        by_filter.update({_FILTER_OF.get(part.split(" ")[0], "screen") for part in parts})
    described = []
    for name, n in by_filter.most_common():
        if name in _OPTIONS:
            value = _amount(getattr(config, name))
            described.append(f"{n:,} by {_OPTIONS[name]} {value}")
        elif name == "min_bars":
            described.append(f"{n:,} with fewer than the {config.min_bars} bars a rank needs")
        else:
            described.append(f"{n:,} by the screen")
    failed, filtered = len(result.errors), len(result.filtered)
    if failed:
        head = f"{count(filtered, 'symbol')} filtered out, {failed:,} failed"
    else:
        head = f"every symbol was filtered out ({count(filtered, 'symbol')}), none failed"
    advice = "; lower these filters to rank them" if set(by_filter) & set(_OPTIONS) else ""
    return [f"technic-nb: nothing ranked: {head} - filtered {', '.join(described)}{advice}"]


def written_line(rows: int, ranked: int, path: str, everything: bool) -> str:
    """What ``--out`` wrote: the top rows (say how many were ranked) or all of them."""
    if everything or rows >= ranked:
        return f"technic-nb: wrote {count(rows, 'ranked row')} to {path}"
    return (
        f"technic-nb: wrote the top {rows:,} of {count(ranked, 'ranked row')} to {path} "
        "(--all writes every ranked row)"
    )
