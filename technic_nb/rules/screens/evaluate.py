"""Screen expressions: vectorized evaluation on a table, with true / false / unknown logic.

:class:`TableEvaluation` evaluates the checked tree of a
:class:`~technic_nb.rules.screens.syntax.ParsedExpression` on every row of a table at
once and explains a row that is not kept; the three-valued logic and the reasons
are described in :mod:`technic_nb.rules.screens.screen`.  A value is a :data:`Vector`, a
condition a :data:`Truth`.  Pure: no I/O, no state beyond one evaluation's
column cache.
"""

from __future__ import annotations

import ast
import math
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.errors import ScanError
from technic_nb.rules.screens.syntax import (
    EQUALITY,
    MEMBERSHIP,
    collect_names,
    constant_value,
    screen_error,
)
from technic_nb.rules.screens.syntax import segment as source_segment

__all__ = ["TableEvaluation", "Truth", "Vector", "missing"]

Vector = tuple[str, Any]  # (kind, values): kind "num", "text" or "null"
Truth = tuple[np.ndarray, np.ndarray]  # (true, false); neither = unknown


class TableEvaluation:
    """One evaluation of a checked expression on a table (columns read once, then cached).

    Args:
        text: the expression text (for the error messages and the reasons).
        table: the table; every column the expression uses must exist.
    """

    __slots__ = ("_cache", "_table", "_text")

    def __init__(self, text: str, table: pd.DataFrame) -> None:
        self._text = text
        self._table = table
        self._cache: dict[str, Vector] = {}

    def _segment(self, node: ast.AST) -> str:
        return source_segment(self._text, node)

    def _error(self, node: ast.AST, problem: str, suggestion: str) -> ScanError:
        """The config error about one part of the expression: what is wrong with it."""
        part = self._segment(node)
        return screen_error(
            f"screen {self._text!r}: {part!r} {problem}",
            suggestion,
            expression=self._text,
            part=part,
        )

    def reason(self, clause: ast.expr, is_false: bool, row: int) -> str:
        """Why ``row`` fails ``clause``: the clause, its state and the columns it uses."""
        names: list[str] = []
        collect_names(clause, names)
        shown = ", ".join(
            f"{name}={_format(self.column(name), row)}" for name in dict.fromkeys(names)
        )
        state = "False" if is_false else "unknown"
        text = f"screen: {self._segment(clause)} is {state}"
        return f"{text} ({shown})" if shown else text

    def column(self, name: str) -> Vector:
        """The column ``name`` as a :data:`Vector` (read once per evaluation)."""
        if name not in self._cache:
            self._cache[name] = _column_vector(self._table, name, self._text)
        return self._cache[name]

    def truth(self, node: ast.expr) -> Truth:
        """The (true, false) arrays of a condition over the table's rows."""
        if isinstance(node, ast.BoolOp):
            parts = [self.truth(value) for value in node.values]
            trues = [t for t, _ in parts]
            falses = [f for _, f in parts]
            if isinstance(node.op, ast.And):
                return np.logical_and.reduce(trues), np.logical_or.reduce(falses)
            return np.logical_or.reduce(trues), np.logical_and.reduce(falses)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            true, false = self.truth(node.operand)
            return false, true
        assert isinstance(node, ast.Compare)
        return self._compare_chain(node)

    def _compare_chain(self, node: ast.Compare) -> Truth:
        operands = [node.left, *node.comparators]
        size = len(self._table)
        true = np.ones(size, dtype=bool)
        false = np.zeros(size, dtype=bool)
        left = self.value(operands[0])
        for index, op in enumerate(node.ops):
            right_node = operands[index + 1]
            if isinstance(op, MEMBERSHIP):
                assert isinstance(right_node, ast.Tuple | ast.List)
                result, known = self._member(left, right_node, node)
                if isinstance(op, ast.NotIn):
                    result = ~result
                right = left
            else:
                right = self.value(right_node)
                result, known = self._compare(op, left, right, node)
            result = np.broadcast_to(result, (size,))
            known = np.broadcast_to(known, (size,))
            true = true & result & known
            false = false | (~result & known)
            left = right
        return true, false

    def value(self, node: ast.expr) -> Vector:
        """A value over the table's rows: a column, a constant or arithmetic."""
        if isinstance(node, ast.Name):
            return self.column(node.id)
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, str):
                return "text", value
            assert isinstance(value, int | float)  # checked when parsed
            return "num", float(value)
        if isinstance(node, ast.UnaryOp):
            operand = self._number(node.operand)
            return "num", -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Call):
            return "num", np.abs(self._number(node.args[0]))
        assert isinstance(node, ast.BinOp)
        left = self._number(node.left)
        right = self._number(node.right)
        with np.errstate(all="ignore"):
            if isinstance(node.op, ast.Add):
                return "num", np.add(left, right)
            if isinstance(node.op, ast.Sub):
                return "num", np.subtract(left, right)
            if isinstance(node.op, ast.Mult):
                return "num", np.multiply(left, right)
            if isinstance(node.op, ast.Div):
                return "num", np.divide(left, right)
            return "num", np.power(left, right)

    def _number(self, node: ast.expr) -> Any:
        kind, values = self.value(node)
        if kind == "text":
            raise self._error(
                node,
                "is text; arithmetic and abs() need numbers",
                "Compare text columns with == / != / in only.",
            )
        return values  # a "null" column is already all NaN

    def _compare(self, op: ast.cmpop, left: Vector, right: Vector, node: ast.expr) -> Truth:
        (lkind, lvalues), (rkind, rvalues) = left, right
        if "null" in (lkind, rkind):
            return np.zeros(1, dtype=bool), np.zeros(1, dtype=bool)
        if lkind != rkind:
            raise self._error(
                node,
                "compares text with a number",
                "Compare a text column (such as signal) with a string, a number column "
                "with a number.",
            )
        if lkind == "text":
            if not isinstance(op, EQUALITY):
                raise self._error(
                    node,
                    "orders text; text is compared with == / != / in only",
                    "Use == or != with text columns.",
                )
            known = _text_known(lvalues) & _text_known(rvalues)
            equal = np.asarray(np.equal(lvalues, rvalues, dtype=object), dtype=bool)
            return (equal if isinstance(op, ast.Eq) else ~equal), known
        return _compare_numbers(op, lvalues, rvalues)

    def _member(self, left: Vector, options: ast.Tuple | ast.List, node: ast.expr) -> Truth:
        kind, values = left
        constants = [constant_value(item) for item in options.elts]
        if kind == "null":
            return np.zeros(1, dtype=bool), np.zeros(1, dtype=bool)
        wanted = str if kind == "text" else float
        if any(not isinstance(c, wanted) for c in constants):
            what = "strings" if kind == "text" else "numbers"
            raise self._error(
                node,
                f"mixes types; "
                f"the left side is {'text' if kind == 'text' else 'a number'}, so the "
                f"tuple must hold {what} only",
                f"Put only {what} in the tuple.",
            )
        if kind == "text":
            known = _text_known(values)
            array = np.asarray(values, dtype=object)
            result = np.zeros(np.shape(array), dtype=bool)
            for constant in constants:
                result |= (array == constant).astype(bool)
            return result, known
        numbers = np.asarray(values, dtype=np.float64)
        known = np.isfinite(numbers)
        result = np.isin(numbers, np.asarray(constants, dtype=np.float64))
        return result, known


# -- helpers ---------------------------------------------------------------------------------


def _compare_numbers(op: ast.cmpop, lvalues: Any, rvalues: Any) -> Truth:
    """A numeric comparison; known where both sides are finite."""
    known = np.isfinite(lvalues) & np.isfinite(rvalues)
    with np.errstate(invalid="ignore"):
        if isinstance(op, ast.Lt):
            result = np.less(lvalues, rvalues)
        elif isinstance(op, ast.LtE):
            result = np.less_equal(lvalues, rvalues)
        elif isinstance(op, ast.Gt):
            result = np.greater(lvalues, rvalues)
        elif isinstance(op, ast.GtE):
            result = np.greater_equal(lvalues, rvalues)
        elif isinstance(op, ast.Eq):
            result = np.equal(lvalues, rvalues)
        else:
            result = np.not_equal(lvalues, rvalues)
    return np.asarray(result, dtype=bool), np.asarray(known, dtype=bool)


def _text_known(values: Any) -> np.ndarray:
    if isinstance(values, str):
        return np.ones(1, dtype=bool)
    return np.array([isinstance(v, str) for v in values], dtype=bool)


def _column_vector(table: pd.DataFrame, name: str, text: str) -> Vector:
    """A column as ("num", float64 array), ("text", object array) or ("null", NaN array)."""
    column = table[name]
    if isinstance(column, pd.DataFrame):
        raise screen_error(
            f"screen {text!r}: the table has several columns named {name!r}",
            "Give every column a distinct name.",
            expression=text,
            column=name,
        )
    if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype):
        return "num", column.to_numpy(dtype=np.float64, na_value=np.nan)
    if not (
        isinstance(column.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(column.dtype)
        or pd.api.types.is_string_dtype(column.dtype)
    ):
        raise screen_error(
            f"screen {text!r}: column {name!r} has dtype {column.dtype}, "
            "which screens cannot compare",
            "Screen on number or text columns.",
            expression=text,
            column=name,
        )
    return _object_vector(column.astype(object).to_numpy(dtype=object), name, text)


def _object_vector(values: np.ndarray, name: str, text: str) -> Vector:
    """An object column as text, numbers or all missing ("null")."""
    present = [v for v in values if not missing(v)]
    if not present:
        return "null", np.full(len(values), np.nan)
    if all(isinstance(v, str) for v in present):
        return "text", np.array([None if missing(v) else v for v in values], dtype=object)
    if all(_is_real(v) for v in present):
        numbers = [np.nan if missing(v) else float(v) for v in values]
        return "num", np.asarray(numbers, dtype=np.float64)
    raise screen_error(
        f"screen {text!r}: column {name!r} mixes text and numbers",
        "Screen on columns holding only numbers or only text.",
        expression=text,
        column=name,
    )


def missing(value: Any) -> bool:
    """True for None, ``pd.NA``, ``pd.NaT`` and float NaN."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _format(vector: Vector, row: int) -> str:
    kind, values = vector
    value = values[row]
    if kind == "text":
        return "None" if value is None else repr(value)
    return f"{float(value):.6g}"
