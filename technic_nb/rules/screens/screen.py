"""Screens: keep the rows of a result table that satisfy a condition.

A :class:`Screen` is built from an expression over the table's columns::

    Screen("rsi < 35 and close > sma200 and bollinger_width < 0.05")
    Screen('signal in ("Long", "Strong Long") and abs(ret_5d_pct) <= 8')

or from a callable ``table -> boolean mask``.  This module is pure: no I/O, no
state.

Expression language
-------------------
The text is parsed with :mod:`ast` (it is never given to ``eval``) and checked
against this grammar; anything else raises a ``config_error``
:class:`~technic_nb.ScanError` naming the offending part and its position:

* conditions: comparisons ``<  <=  >  >=  ==  !=`` (chains such as
  ``30 < rsi < 70`` mean ``30 < rsi and rsi < 70``), ``x in (c1, c2, ...)`` and
  ``x not in (...)`` against a tuple or list of constants, combined with
  ``and``, ``or``, ``not`` and parentheses;
* values: column names, numbers, ``+ - * / **``, unary ``-`` and ``+``,
  ``abs(value)``;
* strings: only as an operand of ``==``, ``!=`` or inside the constants of
  ``in``, compared with a text column (``signal == "Long"``).

Refused: attribute access, subscripts, calls other than ``abs``, lambdas,
comprehensions, ``//`` and ``%``, ``is``, ``True``/``False``/``None``, names
holding ``__``, and an expression that is not a condition (``rsi + 1``).  The
text may span several lines; tabs and line breaks count as spaces.

Missing values (three-valued logic)
-----------------------------------
A comparison that involves a missing value (NaN, +-inf, None; also a division by
zero) is *unknown*.  ``and`` is false if any part is false, true if every part
is true, unknown otherwise; ``or`` is true if any part is true, false if every
part is false, unknown otherwise; ``not`` of unknown is unknown.  A row is kept
only when the whole expression is *true*.  So a NaN in a compared column makes
the comparison fail, and ``not (rsi < 35)`` does not keep a row whose ``rsi``
is NaN either.

Reasons
-------
:meth:`Screen.apply` explains every screened-out row by the first clause of the
top-level ``and`` chain that is not true (the whole expression when it is not
an ``and``), with the values of the columns it uses, e.g.
``screen: rsi < 35 is False (rsi=52.1)`` or
``screen: rsi < 35 is unknown (rsi=nan)``.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.errors import ScanError
from technic_nb.rules.screens.evaluate import TableEvaluation, missing
from technic_nb.rules.screens.syntax import parse_expression, screen_error

__all__ = ["Screen", "as_screen"]

_MAX_SHOWN_COLUMNS = 30


class Screen:
    """A condition on the rows of a result table (see the module docs).

    Args:
        condition: an expression string, or a callable ``table -> mask``
            returning a boolean array or Series aligned with the table.
        name: a label for a callable screen in the reasons (default its
            ``__name__``).

    Raises:
        ScanError: a ``config_error`` for a syntax error (with its position) or
            a construct outside the expression language (naming it).  Unknown
            columns are checked by :meth:`validate` (and by :meth:`apply`).
    """

    __slots__ = ("_clauses", "_columns", "_func", "_name", "_text", "_tree")

    def __init__(self, condition: str | Callable[[pd.DataFrame], Any], *, name: str = "") -> None:
        self._func: Callable[[pd.DataFrame], Any] | None = None
        self._text = ""
        self._tree: ast.Expression | None = None
        self._clauses: tuple[ast.expr, ...] = ()
        self._columns: tuple[str, ...] = ()
        if isinstance(condition, str):
            self._name = name or "screen"
            parsed = parse_expression(condition)
            self._text, self._tree = parsed.text, parsed.tree
            self._clauses, self._columns = parsed.clauses, parsed.columns
        elif callable(condition):
            self._func = condition
            self._name = name or getattr(condition, "__name__", "") or "callable"
            if self._name == "<lambda>":
                self._name = "lambda"
        else:
            raise screen_error(
                f"Screen: condition must be an expression string or a callable table -> mask; "
                f"got {type(condition).__name__}",
                'Write the condition as text, e.g. "rsi < 35 and close > sma200".',
                value=repr(condition),
            )

    # -- properties ------------------------------------------------------------------

    @property
    def expression(self) -> str | None:
        """The expression text (tabs and line breaks as spaces), or None for a callable."""
        return self._text if self._func is None else None

    @property
    def func(self) -> Callable[[pd.DataFrame], Any] | None:
        """The callable of a callable screen, else None."""
        return self._func

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the expression uses, in order of appearance (empty for a callable)."""
        return self._columns

    def __repr__(self) -> str:
        if self._func is not None:
            return f"Screen(<callable {self._name}>)"
        return f"Screen({self._text!r})"

    # -- validation ----------------------------------------------------------------------

    def validate(self, columns: Iterable[Any]) -> None:
        """Check that every column the expression uses exists.

        Args:
            columns: the table's column names (a DataFrame's columns work too).

        Raises:
            ScanError: a ``config_error`` naming the first unknown column and
                its close matches (``difflib.get_close_matches``).
        """
        if isinstance(columns, pd.DataFrame):
            columns = columns.columns
        known = [str(c) for c in columns]
        known_set = set(known)
        for name in self._columns:
            if name in known_set:
                continue
            matches = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            if matches:
                hint = f"did you mean {', '.join(repr(m) for m in matches)}?"
            else:
                shown = ", ".join(sorted(known)[:_MAX_SHOWN_COLUMNS])
                more = ", ..." if len(known) > _MAX_SHOWN_COLUMNS else ""
                hint = f"the columns are {shown}{more}"
            raise screen_error(
                f"screen {self._text!r}: unknown column {name!r}; {hint}",
                "Use a column of the result table (a factor's columns are its name, or "
                "name_<key> for a factor returning a dict).",
                expression=self._text,
                column=name,
                close_matches=matches,
            )

    # -- evaluation -----------------------------------------------------------------------

    def apply(self, table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        """Evaluate the screen on every row of ``table``.

        Returns:
            ``(kept, reasons)``: ``kept`` is a boolean Series with the table's
            index (True = the row passes); ``reasons`` is a Series of text,
            indexed by the screened-out rows only, saying why each failed.

        Raises:
            ScanError: a ``config_error`` for an unknown column, a comparison of
                text with a number, arithmetic on text, or a callable that raises
                or returns something other than a boolean mask of the table's
                length.
        """
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"Screen.apply: table must be a DataFrame, got {type(table).__name__}")
        if self._func is not None:
            kept_values = self._call(table)
            kept = pd.Series(kept_values, index=table.index, dtype=bool)
            failed = table.index[~kept_values]
            reasons = pd.Series(
                [f"screen: {self._name} is False"] * len(failed), index=failed, dtype=object
            )
            return kept, reasons
        self.validate(table.columns)
        return self._apply_expression(table)

    def _apply_expression(self, table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        evaluation = TableEvaluation(self._text, table)
        clauses = [evaluation.truth(clause) for clause in self._clauses]
        true = np.logical_and.reduce([t for t, _ in clauses]) if clauses else np.ones(0, bool)
        kept = pd.Series(true, index=table.index, dtype=bool)
        rows = np.flatnonzero(~true)
        texts = []
        for row in rows:
            for clause, (t, f) in zip(self._clauses, clauses, strict=True):
                if not t[row]:
                    texts.append(evaluation.reason(clause, bool(f[row]), int(row)))
                    break
        reasons = pd.Series(texts, index=table.index[rows], dtype=object)
        return kept, reasons

    def _call(self, table: pd.DataFrame) -> np.ndarray:
        assert self._func is not None
        try:
            result = self._func(table)
        except Exception as exc:
            raise screen_error(
                f"screen {self._name}: raised {type(exc).__name__}: {exc}",
                "Fix the screen function; it gets the result table and returns a boolean mask.",
                exception_type=type(exc).__name__,
                exception=str(exc),
            ) from exc
        return _mask(result, table, self._name)


def _mask(result: Any, table: pd.DataFrame, name: str) -> np.ndarray:
    """A callable screen's result as a boolean array aligned with ``table``."""

    def refuse(why: str) -> ScanError:
        return screen_error(
            f"screen {name}: must return a boolean array or Series aligned with the table "
            f"({len(table)} rows); {why}",
            "Return a comparison of table columns, e.g. lambda t: t['rsi'] < 35.",
            returned=type(result).__name__,
        )

    if isinstance(result, pd.DataFrame):
        raise refuse("got a DataFrame")
    if isinstance(result, pd.Series):
        if not result.index.equals(table.index):
            if (
                len(result.index) == len(table.index)
                and result.index.is_unique
                and set(result.index) == set(table.index)
            ):
                result = result.reindex(table.index)
            else:
                raise refuse("got a Series whose index is not the table's index")
        series = result
    else:
        array = np.asarray(result)
        if array.ndim != 1 or len(array) != len(table):
            raise refuse(f"got {type(result).__name__} of shape {array.shape}")
        series = pd.Series(array, index=table.index)
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return series.fillna(False).to_numpy(dtype=bool)
    if pd.api.types.is_object_dtype(dtype) and all(
        isinstance(v, bool | np.bool_) or missing(v) for v in series
    ):
        return np.array([bool(v) if not missing(v) else False for v in series], dtype=bool)
    raise refuse(f"got values of dtype {dtype}")


def as_screen(value: Screen | str | Callable[[pd.DataFrame], Any] | None) -> Screen | None:
    """``value`` as a :class:`Screen` (None stays None; a Screen is returned as is)."""
    if value is None or isinstance(value, Screen):
        return value
    return Screen(value)
