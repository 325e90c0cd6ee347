"""The words and numbers of the scan panel: counts, durations, status lines, tables.

Pure functions (no widgets), shared by the panel's parts.  Numbers are
written one way everywhere: counts with thousands separators (``20,000``),
nouns agreeing with their count (``1 symbol``, ``2 symbols``), durations as
``0.4 s``, ``12.3 s``, ``1:05`` or ``1:02:03``.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from technic_nb.core.scoring import SUBSCORES
from technic_nb.display.tables import _formats, errors_html, signal_css, style_table, upright

__all__ = [
    "LIVE_COLUMNS",
    "RESULT_COLUMNS",
    "count",
    "counters_html",
    "duration",
    "error_html",
    "header_html",
    "live_caption",
    "live_table_html",
    "rate",
    "result_html",
    "scrolling",
    "status_html",
    "tidy_status",
]

#: Columns of the live "top so far" table (what each row's own data decides), in the
#: order a trader reads them: the signal and rating, the price, the six subscores.
LIVE_COLUMNS = ("signal", "tech_rating", "close", *SUBSCORES, "rsi", "ret_21d_pct")
#: Columns of the panel's final table: the rating, the trade plan beside the price, then
#: the six subscores (``result.styled()`` and ``result.table`` have every column).
RESULT_COLUMNS = (
    "rank",
    "signal",
    "tech_rating",
    "close",
    "entry",
    "stop",
    "target",
    "reward_risk",
    *SUBSCORES,
)

STATUS_COLOURS = {
    "pending": "#374151",
    "running": "#1d4ed8",
    "cancelling": "#b45309",
    "cancelled": "#b45309",
    "finished": "#047857",
    "failed": "#b91c1c",
}
_STATUS_ICONS = {"cancelled": "⚠ ", "finished": "✓ ", "failed": "✗ ", "cancelling": "… "}

_IRREGULAR = {"was": "were"}


def count(n: int, noun: str) -> str:
    """``n`` with thousands separators and ``noun`` agreeing: ``1 symbol``, ``2,000 symbols``."""
    word = noun if n == 1 else _IRREGULAR.get(noun, noun + "s")
    return f"{n:,} {word}"


def duration(seconds: float | None) -> str:
    """``0.07 s``, ``4.2 s``, ``1:05``, ``1:02:03``; ``–`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = max(0.0, float(seconds))
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def rate(per_second: float, unit: str = "symbols") -> str:
    """A throughput: ``2,310 symbols/s``, ``4.5 symbols/s``; ``– symbols/s`` when unknown."""
    if not per_second or not math.isfinite(per_second):
        return f"– {unit}/s"
    if per_second >= 10:
        return f"{per_second:,.0f} {unit}/s"
    return f"{per_second:.1f} {unit}/s"


# Counts in a scan's status line ("Scanned 20000 symbols ... 1 errors"): grouped and
# agreeing, like the rest of the panel.  Dates ("2025-12-31") and decimals are left alone.
_BIG_COUNT = re.compile(r"(?<![\d.,:/-])(\d{4,})(?![\d.,:/-])")
_ONE = re.compile(r"(?<![\d.,])\b1 (symbol|error)s\b")


def tidy_status(text: str) -> str:
    """A status line with counts written as the panel writes them (``20,000``, ``1 error``)."""
    text = _BIG_COUNT.sub(lambda m: f"{int(m.group(1)):,}", text)
    return _ONE.sub(r"1 \1", text)


def status_html(state: str, text: str) -> str:
    """The status line, coloured for ``state``; long text wraps rather than being cut."""
    colour = STATUS_COLOURS.get(state, "#374151")
    icon = _STATUS_ICONS.get(state, "")
    return (
        f"<span style='color:{colour};font-weight:600;line-height:1.4;padding-left:8px;"
        f"white-space:normal;overflow-wrap:anywhere'>{icon}{html.escape(tidy_status(text))}</span>"
    )


def scrolling(inner: str, caption: str = "") -> str:
    """``inner`` (a wide table) in a box that scrolls sideways; ``caption`` above it, wrapped."""
    head = (
        f"<div style='font-size:12px;margin:4px 0 2px;white-space:normal'>{caption}</div>"
        if caption
        else ""
    )
    return f"{head}<div style='overflow-x:auto;max-width:100%'>{inner}</div>"


def _cell(column: str, value: Any, formats: dict[str, Any]) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "<td style='text-align:right'>–</td>"
    if column == "signal":
        return f"<td style='{signal_css(value)}'>{html.escape(str(value))}</td>"
    if isinstance(value, float):
        value += 0.0  # -0.0 (a sign times nothing) reads as 0
    fmt = formats.get(column)
    try:
        text = fmt(value) if callable(fmt) else fmt.format(value) if fmt else str(value)
    except (TypeError, ValueError):
        text = str(value)
    return f"<td style='text-align:right'>{html.escape(text)}</td>"


_TABLE_STYLE = (
    "<style>.tn-live{border-collapse:collapse;font-size:12px}"
    ".tn-live td,.tn-live th{padding:2px 6px;border-bottom:1px solid #e5e7eb;white-space:nowrap}"
    ".tn-live th{text-align:left;vertical-align:bottom;background:#f9fafb}"
    ".tn-live th.tn-sub{padding:2px 3px}</style>"
)


def _head(column: str) -> str:
    """A header of the live table; a subscore's is written upwards (a narrow column)."""
    if column in SUBSCORES:
        return f"<th class='tn-sub'>{upright(column)}</th>"
    return f"<th>{html.escape(column)}</th>"


def live_table_html(top: pd.DataFrame, caption: str, columns: Sequence[str] = LIVE_COLUMNS) -> str:
    """The live table: position so far, symbol and ``columns``, best first (plain HTML).

    The subscores' headers are written upwards, so their columns are as narrow as
    their numbers (``+3``, ``0``, ``-1``): with :data:`LIVE_COLUMNS` the table fits a
    notebook in a 1,000 px window.
    """
    shown = [c for c in columns if c in top.columns]
    formats = _formats(shown)
    head = "".join(_head(c) for c in ["#", "symbol", *shown])
    rows = []
    for position, (symbol, row) in enumerate(top.iterrows(), start=1):
        cells = "".join(_cell(c, row.get(c), formats) for c in shown)
        rows.append(
            f"<tr><td style='text-align:right'>{position}</td>"
            f"<td><b>{html.escape(str(symbol))}</b></td>{cells}</tr>"
        )
    table = (
        f"{_TABLE_STYLE}<table class='tn-live'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return scrolling(table, caption)


def counters_html(
    done: int,
    total: int,
    counters: dict[str, int],
    per_second: float,
    elapsed: float,
    eta: float | None,
) -> str:
    """The counters line: done, from cache, failed, retrying, throughput, ETA and elapsed.

    ``eta`` None leaves the ETA out (a scan that is not running has none).
    """
    parts = [
        f"<b>{done:,}</b> of {count(total, 'symbol')} done",
        f"{counters.get('from_cache', 0):,} from cache",
        f"{counters.get('failed', 0):,} failed",
        f"{counters.get('retrying', 0):,} retrying",
        rate(per_second),
        f"elapsed {duration(elapsed)}",
    ]
    if eta is not None:
        parts.append(f"ETA {duration(eta)}")
    return "<span style='font-size:12px'>" + " · ".join(parts) + "</span>"


def live_caption(shown: int, done: int, rated: int, filtered: int, failed: int, exact: bool) -> str:
    """The live table's caption: what it covers, and what only the final table has."""
    text = (
        f"<b>Top {shown:,} so far</b> of the {count(done, 'symbol')} done "
        f"({rated:,} rated, {filtered:,} filtered out, {failed:,} failed). "
        "Ranks, percentiles and trade plans come with the final table"
    )
    if not exact:
        text += (
            "; the ratings are provisional: a subscore or screen of this scan compares "
            "symbols with each other, so they are final only when every symbol is in"
        )
    return text + "."


def header_html(config: Any, kind: str = "scan") -> str:
    """The panel's first line: what runs (``scan`` or ``replay``), the source and the
    cache folder."""
    title = f"<b>technic_nb {html.escape(kind)}</b>"
    if config is None:
        return title
    return (
        f"{title} · source <code>{html.escape(config.source_label)}</code>"
        f" · cache <code>{html.escape(str(config.resolved_cache_dir))}</code>"
    )


def error_html(error: BaseException) -> str:
    """The error box: the error, its kind, and what to do about it."""
    suggestion = getattr(error, "suggestion", "")
    kind = getattr(error, "error_type", None)
    title = f"{type(error).__name__}" + (f" ({kind})" if kind is not None else "")
    body = f"<b style='color:#b91c1c'>{html.escape(title)}</b>: {html.escape(str(error))}"
    if suggestion:
        body += f"<br><b>What to do:</b> {html.escape(str(suggestion))}"
    return body + "<br><small>The full traceback is in the log below.</small>"


def result_html(result: Any, rows: int) -> str:
    """The final results: the top ``rows`` of the ranked table and the errors (scrolling)."""
    table = result.table
    if not isinstance(table, pd.DataFrame):  # a replay: its own summary
        summary = getattr(result, "_repr_html_", None)
        return scrolling(summary()) if callable(summary) else ""
    parts = []
    if len(table):
        shown = min(rows, len(table))
        what = "ranked so far (partial: cancelled)" if result.cancelled else "ranked"
        caption = f"<b>Top {shown:,} of {len(table):,} {what}</b>"
        caption += (
            " · every row and column: <code>runner.result.table</code>"
            " (styled: <code>runner.result.styled()</code>)"
        )
        columns = [c for c in RESULT_COLUMNS if c in table.columns]
        styled = style_table(table, top=rows, columns=columns, compact=True)
        parts.append(scrolling(styled.to_html(), caption))
    else:
        parts.append("<p>No ranked symbols.</p>")
    parts.append(scrolling(errors_html(result.errors)))
    return "".join(parts)
