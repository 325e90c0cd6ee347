"""Styled tables of scan results: signal colours, formatted numbers, narrow headers.

* :func:`style_table` - the ranked table as a pandas ``Styler``: signal colours
  (green shades for longs, red for shorts, grey for neutral), a TechRating bar
  and formatted numbers; ``compact=True`` for narrow headers.
* :func:`errors_html` - the error table with each error's suggestion.
* :func:`signed` - a signed number as the tables write it (``+2``, ``-1``, ``0``).
* :func:`upright` - a header written upwards (a narrow column).
"""

from __future__ import annotations

import functools
import html
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from technic_nb.core.scoring import SUBSCORES
from technic_nb.core.scoring.columns import LEADING_COLUMNS

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

__all__ = [
    "DISPLAY_COLUMNS",
    "SIGNAL_COLOURS",
    "errors_html",
    "signal_css",
    "signed",
    "style_table",
    "upright",
]

#: Background and text colour of each signal.
SIGNAL_COLOURS: Mapping[str, tuple[str, str]] = {
    "Strong Long": ("#1a7f37", "#ffffff"),
    "Long": ("#c6efce", "#0b4f23"),
    "Neutral": ("#e5e7eb", "#374151"),
    "Short": ("#f9cfcf", "#7a1010"),
    "Strong Short": ("#b42318", "#ffffff"),
}

#: The columns :func:`style_table` shows by default (those present, in this order).
DISPLAY_COLUMNS: tuple[str, ...] = (*LEADING_COLUMNS, "rsi", "atr_pct", "ret_21d_pct", "last_date")

_PRICE_COLUMNS = (
    "close",
    "entry",
    "stop",
    "target",
    "atr",
    "high20",
    "high52w",
    "trigger",
    "swing_low",
    "swing_high",
    "low_recent",
    "low52w",
    "base_high",
    "base_low",
    *(f"resistance_{k}" for k in range(1, 5)),
    *(f"support_{k}" for k in range(1, 5)),
    "macd",
    "macd_signal",
    "macd_hist",
)
_TABLE_CSS = [
    {"selector": "", "props": [("border-collapse", "collapse"), ("font-size", "12px")]},
    {
        "selector": "th, td",
        "props": [("padding", "2px 6px"), ("border-bottom", "1px solid #e5e7eb")],
    },
    {"selector": "th", "props": [("text-align", "left"), ("background-color", "#f9fafb")]},
    {"selector": "td", "props": [("text-align", "right"), ("white-space", "nowrap")]},
]
_NA = "–"


def signal_css(value: Any) -> str:
    """CSS of a signal cell (empty for an unknown signal)."""
    colours = SIGNAL_COLOURS.get(str(value))
    if colours is None:
        return ""
    background, text = colours
    return f"background-color: {background}; color: {text}; font-weight: 600; text-align: center"


def signed(value: Any, decimals: int = 0) -> str:
    """A signed number as the tables write it: ``+2``, ``-1``, and ``0`` (never ``+0`` or ``-0``).

    ``decimals`` decimals (``+12.3``, ``0.0``); a value that rounds to zero has no
    sign; anything that is not a finite number is written as it is.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return str(value)
    text = f"{number:+.{decimals}f}"
    return text[1:] if float(text) == 0 else text


def _signed_format(decimals: int) -> Callable[[Any], str]:
    """:func:`signed` with ``decimals`` bound: a formatter for ``Styler.format``."""
    return functools.partial(signed, decimals=decimals)


def _formats(columns: Sequence[str]) -> dict[str, Any]:
    """The format of each of ``columns`` (a format string or a callable), by name."""
    formats: dict[str, Any] = {}
    for name in columns:
        if name in ("rank", "percentile", "bars", "rsi"):
            formats[name] = "{:.0f}"
        elif name == "tech_rating":
            formats[name] = _signed_format(1)
        elif name in SUBSCORES or name == "direction":
            formats[name] = _signed_format(0)
        elif name == "reward_risk":
            formats[name] = "{:.1f}"
        elif name.endswith("_pct"):
            formats[name] = "{:,.1f}%"
        elif name in _PRICE_COLUMNS or name.startswith("sma"):
            formats[name] = "{:,.2f}"
        elif name == "volume_spike":
            formats[name] = "{:.2f}x"
        elif name in ("volume_shares", "dollar_volume20"):
            formats[name] = "{:,.0f}"
    return formats


#: CSS of a header written upwards (a narrow column under a word of any length).
UPRIGHT_CSS = "display:inline-block;writing-mode:vertical-rl;transform:rotate(180deg)"


def upright(label: Any) -> str:
    """``label`` as the HTML of a header written upwards, bottom to top (escaped)."""
    return f"<span style='{UPRIGHT_CSS}'>{html.escape(str(label))}</span>"


def _compact_header(label: Any) -> str:
    """A header of a compact table: a subscore's upright, another's free to wrap after
    an underscore."""
    if label in SUBSCORES:
        return upright(label)
    return html.escape(str(label)).replace("_", "_<wbr>")


def style_table(
    table: pd.DataFrame,
    top: int | None = None,
    columns: Sequence[str] | None = None,
    caption: str | None = None,
    *,
    compact: bool = False,
) -> Styler:
    """The ranked ``table`` as a ``Styler``: signal colours and formatted numbers.

    Args:
        table: a ranked table (``ScanResult.table``) or any part of it.
        top: show only the first ``top`` rows (None: every row).
        columns: the columns to show (default: the :data:`DISPLAY_COLUMNS` present).
        caption: an optional caption.
        compact: narrow headers: the subscores' written upwards (their columns
            are as narrow as their numbers, ``+3``, ``0``, ``-1``) and the others
            free to wrap after an underscore when the table lacks room
            (``reward_`` over ``risk``).

    Long signals are green (dark for Strong Long), shorts red, Neutral grey; the
    TechRating cell carries a bar from zero (green right, red left, scale
    -100..100); prices have two decimals, percents one.
    """
    if columns is None:
        columns = [c for c in DISPLAY_COLUMNS if c in table.columns]
    else:
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise KeyError(f"columns not in the table: {missing}")
        columns = list(columns)
    shown = table.loc[:, columns]
    if top is not None:
        shown = shown.head(top)
    from pandas.io.formats.style import Styler  # needs jinja2

    # no id on cells that carry no style of their own: a third of the HTML
    styler = Styler(shown, cell_ids=False).format(_formats(columns), na_rep=_NA)
    styler = styler.set_table_styles(_TABLE_CSS)
    if "signal" in columns:
        styler = styler.map(signal_css, subset=["signal"])
    if "tech_rating" in columns and len(shown):
        styler = styler.bar(
            subset=["tech_rating"],
            align="zero",
            color=["#f4a6a6", "#9fd8ae"],
            vmin=-100.0,
            vmax=100.0,
            height=70,
        )
    text = [name for name in ("name", "sector", "last_date") if name in columns]
    if text:  # one rule per column, not one per cell
        styler = styler.set_table_styles(
            {name: [{"selector": "td", "props": [("text-align", "left")]}] for name in text},
            overwrite=False,
        )
    if compact:
        styler = styler.format_index(_compact_header, axis="columns")
        tight = [("padding", "2px 3px")]
        styler = styler.set_table_styles(
            {name: [{"selector": "th", "props": tight}] for name in columns if name in SUBSCORES},
            overwrite=False,
        ).set_table_styles(
            [{"selector": "th", "props": [("vertical-align", "bottom")]}], overwrite=False
        )
    if caption:
        styler = styler.set_caption(caption)
    return styler


def errors_html(errors: pd.DataFrame, max_rows: int = 20) -> str:
    """The error table as HTML: symbol, type, message and what to do about it."""
    if errors is None or len(errors) == 0:
        return "<p>No errors.</p>"
    counts = errors["error_type"].astype(str).value_counts()
    summary = ", ".join(f"{count} {html.escape(kind)}" for kind, count in counts.items())
    rows = []
    for record in errors.head(max_rows).to_dict("records"):
        rows.append(
            "<tr>"
            + "".join(
                f"<td style='text-align:left;vertical-align:top;padding:2px 6px'>"
                f"{html.escape(str(record.get(key, '')))}</td>"
                for key in ("symbol", "error_type", "message", "suggestion")
            )
            + "</tr>"
        )
    more = ""
    if len(errors) > max_rows:
        more = f"<p>... and {len(errors) - max_rows} more (see <code>result.errors</code>).</p>"
    head = "".join(
        f"<th style='text-align:left;padding:2px 6px'>{label}</th>"
        for label in ("symbol", "type", "message", "suggestion")
    )
    return (
        f"<p><b>{len(errors)} error(s)</b>: {summary}</p>"
        "<table style='border-collapse:collapse;font-size:12px'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"
    )
