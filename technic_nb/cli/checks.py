"""Checks the ``technic-nb`` command makes before it scans, and how it words errors.

Everything a newcomer can get wrong on the command line is caught before the
scan starts, with one line that says what is wrong and what to do: an output
file that cannot be written, a row count that is not a positive number, a
date outside the data.  Configuration errors are worded for the command line
(the option's name, an example), not for the Python API.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from technic_nb.core.errors import ScanError
from technic_nb.engine.config import ScanConfig
from technic_nb.engine.plan import window_ending
from technic_nb.sources import resolve_source
from technic_nb.sources.base import DataSource

__all__ = ["check_as_of", "check_output", "check_rows", "error_text"]

#: Options of the command for the ScanConfig fields, with an example value.
_OPTIONS = {
    "as_of": ("--as-of", "a date written YYYY-MM-DD, e.g. --as-of 2025-06-30"),
    "lookback_days": ("--lookback", "e.g. --lookback 300"),
    "max_symbols": ("--max-symbols", "e.g. --max-symbols 100"),
    "min_price": ("--min-price", "e.g. --min-price 5"),
    "min_dollar_volume": ("--min-dollar-volume", "e.g. --min-dollar-volume 1000000"),
    "n_jobs": ("--jobs", "e.g. --jobs 2, or --jobs -1 for every core"),
    "backend": ("--backend", "e.g. --backend loky or --backend threading"),
    "source": ("--source", "e.g. --source demo, demo:2000, csv:path/to/folder or polygon"),
    "universe": ("--universe", "e.g. --universe demo, source, AAPL,MSFT or universe.csv"),
    "sectors": ("--sectors", "e.g. --sectors Technology,Energy"),
    "cache_dir": ("--cache-dir", "a folder you can write to, or --no-cache"),
}


def error_text(exc: ScanError) -> str:
    """One line for ``exc``: the message, and what to do on the command line.

    A configuration error's own suggestion ("Pass as_of as ...") restates its
    message; for the command line it becomes the option to fix, with an example.
    """
    text = f"[{exc.error_type}] {exc.message}"
    field = exc.details.get("field")
    suggestion = exc.suggestion
    if field in _OPTIONS:
        option, example = _OPTIONS[str(field)]
        restated = not suggestion or suggestion.startswith(f"Pass {field} as ")
        suggestion = f"check {option}: {example}" if restated else suggestion
    return f"{text} - {suggestion}" if suggestion else text


def check_rows(top_n: int) -> str | None:
    """The problem with ``--top-n``, or None."""
    if top_n < 1:
        return f"--top-n {top_n} is invalid: give the number of rows to print, 1 or more"
    return None


def check_output(path: str | None, option: str) -> str | None:
    """The problem with writing ``path`` (``--out``, ``--errors-out``), or None."""
    if not path:
        return None
    out = Path(path).expanduser()
    folder = out.parent
    if out.is_dir():
        return f"{option} {path!r} is a folder: give a file name, e.g. {out / 'top.csv'}"
    if not folder.exists():
        return (
            f"{option} {path!r}: the folder {str(folder)!r} does not exist - "
            f"create it first (mkdir -p {folder}) or write elsewhere"
        )
    if not folder.is_dir():
        return f"{option} {path!r}: {str(folder)!r} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{option} {path!r}: no permission to write into {str(folder)!r}"
    if out.exists() and not os.access(out, os.W_OK):
        return f"{option} {path!r}: the file exists and cannot be overwritten"
    return None


def data_range(
    source: DataSource, need: int = 1, sample: int = 3
) -> tuple[dt.date, dt.date, dt.date, str] | None:
    """What a local source's bars cover: the first and last date, the first date with
    ``need`` bars before it, and what was read (its benchmark, else the first
    ``sample`` symbols of its universe).  None for network sources (asking them
    costs requests) or when nothing could be read."""
    if source.cache_bars:  # a network source
        return None
    benchmark = source.benchmark_symbol()
    universe = source.universe()
    symbols = [benchmark] if benchmark else []
    if not symbols and universe is not None:
        symbols = [str(s) for s in universe["symbol"].head(sample)]
    spans: list[tuple[dt.date, dt.date, dt.date]] = []
    for symbol in symbols:
        try:
            dates = source.fetch(symbol).index
        except ScanError:
            continue
        if len(dates):
            full = dates[min(len(dates), max(1, need)) - 1]
            spans.append((dates[0].date(), dates[-1].date(), full.date()))
    if not spans:
        return None
    what = f"its benchmark {benchmark}" if benchmark else "the symbols " + ", ".join(symbols)
    return (
        min(s[0] for s in spans),
        max(s[1] for s in spans),
        min(s[2] for s in spans),
        what,
    )


def check_as_of(config: ScanConfig, raw: str | None) -> str | None:
    """The problem with ``--as-of`` for the data the source holds, or None.

    A date before the data starts, or so late that the scan's window holds no
    bar, would make every symbol fail with "no bars"; this says which dates the
    source covers and which dates give a full scan instead.
    """
    as_of: Any = config.as_of
    if raw is None or not isinstance(as_of, dt.date):
        return None
    source = resolve_source(config.source)
    try:
        covered = data_range(source, need=config.min_bars)
    finally:
        if not isinstance(config.source, DataSource):
            source.close()
    if covered is None:
        return None
    first, last, full, what = covered
    window = window_ending(as_of, config.lookback_days)
    if first <= as_of and (window.start is None or window.start <= last):
        return None
    where = "before the data starts" if as_of < first else "after the data ends"
    return (
        f"--as-of {raw} is {where}: the source {config.source} has bars from {first} to "
        f"{last} (read from {what}) - choose a date from {full} (the first with "
        f"{config.min_bars} bars, what a symbol needs to be ranked) to {last}"
    )
