"""Running factors on one symbol's bars: their values, or a factor error each.

Output rules (checked by :func:`compute_factors`)
-------------------------------------------------
A value must be a finite real number: ``float``, ``int`` or a NumPy integer or
floating scalar (``bool`` and ``numpy.bool_`` are refused, as are NaN, +-inf,
``None``, strings, lists, arrays and Series).  A dict must map ``str`` keys
(valid column suffixes, see *Names*) to such values; when ``outputs`` is
declared, the keys must be exactly the declared ones.  Any violation, an
exception raised by the factor, or fewer bars than ``min_bars`` makes a
*factor error* for that factor and symbol; the other factors are unaffected.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.errors import ErrorType, ScanError, symbol_error
from technic_nb.core.timeframes import weekly_bars
from technic_nb.rules.factors.define import Factor
from technic_nb.rules.factors.keys import unwrap
from technic_nb.rules.factors.names import key_problem

__all__ = ["FACTOR_ERROR", "compute_factors", "factor_error"]


#: The error type of a failing factor.
FACTOR_ERROR = ErrorType.FACTOR_ERROR


_MAX_MESSAGE_TEXT = 300


_THIS_FILE = __file__


def factor_error(
    symbol: str,
    factor_name: str,
    problem: str,
    suggestion: str,
    **details: Any,
) -> ScanError:
    """The error of a failing factor (``error_type`` ``"factor_error"``); the message reads
    ``"<symbol>: factor '<name>' <problem>"``."""
    return symbol_error(
        FACTOR_ERROR,
        symbol,
        f"factor {factor_name!r} {problem}",
        suggestion,
        factor=factor_name,
        **details,
    )


def _short(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _MAX_MESSAGE_TEXT:
        return text[: _MAX_MESSAGE_TEXT - 3] + "..."
    return text


def _user_frames(func: Any, exc: BaseException) -> list[traceback.FrameSummary]:
    """Frames of the traceback that run the factor's own code file."""
    frames = traceback.extract_tb(exc.__traceback__)
    target = unwrap(func)
    code = getattr(target, "__code__", None)
    if code is None:
        code = getattr(type(target).__dict__.get("__call__"), "__code__", None)
    if code is not None:
        own = [frame for frame in frames if frame.filename == code.co_filename]
        if own:
            return own
    return [frame for frame in frames if frame.filename != _THIS_FILE]


def _exception_error(symbol: str, item: Factor, exc: Exception, timeframe_note: str) -> ScanError:
    kind = type(exc).__name__
    text = str(exc)
    frames = _user_frames(item.func, exc)
    where = ""
    details: dict[str, Any] = {"exception_type": kind, "exception": text}
    if frames:
        last = frames[-1]
        line = (last.line or "").strip()
        where = f" at {last.filename}, line {last.lineno}" + (f": {line}" if line else "")
        details.update(
            file=last.filename,
            line=last.lineno,
            source_line=line,
            frames=[
                f"{f.filename}:{f.lineno} in {f.name}: {(f.line or '').strip()}" for f in frames
            ],
        )
    problem = _short(f"raised {kind}: {text}" if text else f"raised {kind}") + where
    return factor_error(
        symbol,
        item.name,
        problem + timeframe_note,
        "Fix the factor's code at that line (test it on this symbol's bars), "
        "or handle this case and return a number.",
        **details,
    )


def _number(value: Any) -> float | str:
    """``value`` as a finite float, or the text of what is wrong with it."""
    if isinstance(value, bool | np.bool_):
        return f"a bool ({value!r}); return a number"
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return repr(number)
        return number
    if value is None:
        return "None"
    if isinstance(value, pd.Series | pd.DataFrame | np.ndarray):
        shape = getattr(value, "shape", ())
        return (
            f"a {type(value).__name__} of shape {shape}; return the value at the last bar, "
            "e.g. float(series.iloc[-1])"
        )
    return f"a {type(value).__name__} ({_short(repr(value))[:60]})"


def _validated(item: Factor, result: Any) -> dict[str, float] | str:
    """The columns and values of a result, or the text of what is wrong."""
    if isinstance(result, Mapping):
        if not result:
            return "returned an empty dict"
        if item.outputs is not None and set(result) != set(item.outputs):
            return (
                f"returned the keys {sorted(map(str, result))}, "
                f"but declares outputs {list(item.outputs)}"
            )
        out: dict[str, float] = {}
        keys = item.outputs if item.outputs is not None else tuple(result)
        for key in keys:
            problem = key_problem(item.name, key)
            if problem is not None:
                return f"returned the dict key {key!r}, which must be {problem}"
            number = _number(result[key])
            if isinstance(number, str):
                return f"returned {number} for key {key!r} (a finite number is needed)"
            out[f"{item.name}_{key}"] = number
        return out
    if item.outputs is not None:
        return f"returned {_number(result)!s} but declares the outputs {list(item.outputs)}"
    number = _number(result)
    if isinstance(number, str):
        return f"returned {number} (a finite number or a dict of finite numbers is needed)"
    return {item.name: number}


class _Frames:
    """One symbol's bars per timeframe; the weekly bars are built once, when first needed."""

    __slots__ = ("_daily", "_weekly", "_weekly_problem")

    def __init__(self, daily: pd.DataFrame) -> None:
        self._daily = daily
        self._weekly: pd.DataFrame | None = None
        self._weekly_problem: str | None = None

    def get(self, timeframe: str) -> pd.DataFrame | str:
        """The bars of ``timeframe``, or why the weekly bars could not be built."""
        if timeframe != "W":
            return self._daily
        if self._weekly is None and self._weekly_problem is None:
            try:
                self._weekly = weekly_bars(self._daily, drop_partial_first=True)
            except (TypeError, ValueError) as exc:
                self._weekly_problem = str(exc)
        if self._weekly_problem is not None:
            return self._weekly_problem
        assert self._weekly is not None
        return self._weekly


def _no_frame_error(symbol: str, item: Factor, problem: str) -> ScanError:
    """The error of a weekly factor whose weekly bars could not be built."""
    return factor_error(
        symbol,
        item.name,
        f"could not get weekly bars: {problem}",
        "Check the symbol's daily bars.",
    )


def _too_short_error(symbol: str, item: Factor, bars: int) -> ScanError:
    """The error of a factor given fewer bars than its ``min_bars``."""
    return factor_error(
        symbol,
        item.name,
        item._too_short(bars),
        "Give the scan a longer history (lookback) or use shorter periods; "
        "the symbol may simply be too young.",
        min_bars=item.min_bars,
        bars=bars,
        timeframe=item.timeframe,
    )


def _invalid_error(symbol: str, item: Factor, problem: str) -> ScanError:
    """The error of a factor that returned an invalid value."""
    return factor_error(
        symbol,
        item.name,
        problem,
        "Return a finite float (or a dict of finite floats) computed at the last bar.",
    )


def _clash_error(
    symbol: str,
    item: Factor,
    columns: Iterable[str],
    owners: Mapping[str, str],
    reserved: Collection[str],
) -> ScanError | None:
    """The error for the first of ``columns`` already produced or reserved, or None."""
    clash = next((c for c in columns if c in owners or c in reserved), None)
    if clash is None:
        return None
    other = f"factor {owners[clash]!r}" if clash in owners else "a built-in table column"
    return factor_error(
        symbol,
        item.name,
        f"produced the column {clash!r}, which is already {other}",
        "Rename the factor or its output keys.",
        column=clash,
    )


def _run_factor(
    item: Factor, frame: pd.DataFrame, symbol: str
) -> tuple[dict[str, float], None] | tuple[None, ScanError]:
    """Run one factor on the bars of its timeframe: ``(columns, None)`` or ``(None, error)``."""
    note = " (on weekly bars)" if item.timeframe == "W" else ""
    if len(frame) < item.min_bars:
        return None, _too_short_error(symbol, item, len(frame))
    try:
        result = item.func(frame.copy(deep=False), **item.params)
    except Exception as exc:
        return None, _exception_error(symbol, item, exc, note)
    try:
        checked = _validated(item, result)
    except Exception as exc:  # a result object that fails when read (odd Mapping...)
        checked = f"returned a value that could not be read ({type(exc).__name__}: {exc})"
    if isinstance(checked, str):
        return None, _invalid_error(symbol, item, checked + note)
    return checked, None


def compute_factors(
    bars: pd.DataFrame,
    factors: Sequence[Factor],
    symbol: str,
    *,
    reserved: Collection[str] = frozenset(),
) -> tuple[dict[str, float], list[ScanError]]:
    """Run each factor on one symbol's bars.

    Daily factors get ``bars``; weekly factors get ``weekly_bars(bars,
    drop_partial_first=True)`` (built once; the current week partial, a first
    week cut by the start of the window dropped).  Each factor gets its own shallow copy, so
    a factor that adds a column does not affect the next one.

    Args:
        bars: the symbol's validated daily bars (the scan window).
        factors: the factors to run, in order.
        symbol: the symbol, for the error messages.
        reserved: column names a factor must not produce (the built-in columns);
            a result with such a column is an error.

    Returns:
        ``(values, errors)``: ``values`` maps each column of every factor that
        succeeded to a float, in factor order; ``errors`` holds one
        :class:`~technic_nb.ScanError` per failed factor (``error_type``
        ``"factor_error"``).  A factor fails when it has fewer bars
        than its ``min_bars``, raises an exception (the message gives the
        exception and the file, line number and text of the line of the
        factor's code that raised it), returns an invalid value (see the module
        docs), or produces a column already produced by an earlier factor or
        listed in ``reserved``.
    """
    values: dict[str, float] = {}
    errors: list[ScanError] = []
    owners: dict[str, str] = {}
    reserved_set = frozenset(reserved)
    frames = _Frames(bars)
    for item in factors:
        if not isinstance(item, Factor):
            raise TypeError(f"compute_factors: factors must be Factor objects, got {item!r}")
        frame = frames.get(item.timeframe)
        if isinstance(frame, str):
            errors.append(_no_frame_error(symbol, item, frame))
            continue
        checked, error = _run_factor(item, frame, symbol)
        if checked is not None:
            error = _clash_error(symbol, item, checked, owners, reserved_set)
        if error is not None:
            errors.append(error)
            continue
        assert checked is not None
        for column, number in checked.items():
            values[column] = number
            owners[column] = item.name
    return values, errors
