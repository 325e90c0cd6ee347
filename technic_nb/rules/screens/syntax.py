"""Screen expressions: parse the text with :mod:`ast` and check it against the grammar.

The grammar, the refused constructs and the error messages are described in
:mod:`technic_nb.rules.screens.screen`.  :func:`parse_expression` turns the text into a
:class:`ParsedExpression` (the checked tree, its top-level ``and`` clauses and the
columns it uses) or raises a ``config_error`` :class:`~technic_nb.ScanError`.  Pure:
no I/O, no state.
"""

from __future__ import annotations

import ast
from typing import Any, NamedTuple

from technic_nb.core.errors import ErrorType, ScanError

__all__ = [
    "EQUALITY",
    "MEMBERSHIP",
    "ParsedExpression",
    "collect_names",
    "constant_value",
    "parse_expression",
    "screen_error",
    "segment",
]

_ARITHMETIC: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
EQUALITY = (ast.Eq, ast.NotEq)
MEMBERSHIP = (ast.In, ast.NotIn)
_ALLOWED = (
    "comparisons (< <= > >= == !=, in / not in a tuple of constants), and / or / not, "
    "+ - * / **, numbers, strings compared with == / !=, column names and abs(...)"
)
_WHITESPACE = {ord("\n"): " ", ord("\r"): " ", ord("\t"): " ", ord("\f"): " "}


def screen_error(message: str, suggestion: str, **details: Any) -> ScanError:
    """A ``config_error`` about the screen (``details["field"] == "screen"``)."""
    return ScanError(
        ErrorType.CONFIG_ERROR,
        message,
        details={"field": "screen", **details},
        suggestion=suggestion,
    )


def segment(text: str, node: ast.AST) -> str:
    """The part of ``text`` that ``node`` was parsed from (unparsed when unknown)."""
    return ast.get_source_segment(text, node) or ast.unparse(node)


class ParsedExpression(NamedTuple):
    """A checked screen expression.

    Attributes:
        text: the expression text, stripped, tabs and line breaks as spaces.
        tree: the parsed tree (``mode="eval"``).
        clauses: the clauses of the top-level ``and`` chain (``(tree.body,)``
            when the expression is not an ``and``).
        columns: the columns used, in order of appearance, without repeats.
    """

    text: str
    tree: ast.Expression
    clauses: tuple[ast.expr, ...]
    columns: tuple[str, ...]


def parse_expression(raw: str) -> ParsedExpression:
    """Parse and check a screen expression.

    Raises:
        ScanError: a ``config_error`` for an empty text, a syntax error (with its
            position and a caret line) or a construct outside the grammar.
    """
    # Tabs and line breaks become spaces (one character each, so positions hold).
    text = raw.translate(_WHITESPACE)
    stripped = text.strip()
    shift = len(text) - len(text.lstrip())
    if not stripped:
        raise screen_error(
            "Screen: the expression is empty",
            'Write a condition, e.g. "rsi < 35 and close > sma200".',
            expression=raw,
        )
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        offset = (exc.offset or 1) + shift
        caret = " " * (offset - 1) + "^"
        raise screen_error(
            f"screen {raw!r}: syntax error at position {offset}: {exc.msg}",
            "Fix the expression; it is written like a Python condition, "
            'e.g. "rsi < 35 and close > sma200".',
            expression=raw,
            position=offset,
            caret=f"{text}\n{caret}",
        ) from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise screen_error(
            f"screen {raw!r}: cannot be parsed ({exc})",
            "Simplify the expression.",
            expression=raw,
        ) from None
    names: list[str] = []
    _Checker(stripped, names).condition(tree.body)
    return ParsedExpression(
        stripped, tree, tuple(_and_clauses(tree.body)), tuple(dict.fromkeys(names))
    )


class _Checker:
    """Walks a parsed expression, refusing what the grammar does not allow.

    The column names met are appended to ``names`` (in order, with repeats).
    """

    __slots__ = ("names", "text")

    def __init__(self, text: str, names: list[str]) -> None:
        self.text = text
        self.names = names

    def refuse(self, node: ast.AST, what: str) -> ScanError:
        """The error for a refused part ``node`` of the expression."""
        position = getattr(node, "col_offset", 0) + 1
        part = segment(self.text, node)
        return screen_error(
            f"screen {self.text!r}: {what} is not allowed: {part!r} "
            f"at position {position}; allowed are {_ALLOWED}",
            "Rewrite that part with the allowed operations, or pass a callable "
            "table -> mask as the screen.",
            expression=self.text,
            part=part,
            position=position,
        )

    def condition(self, node: ast.expr) -> None:
        """Check a condition: ``and`` / ``or`` / ``not`` of comparisons."""
        if isinstance(node, ast.BoolOp):
            for value in node.values:
                self.condition(value)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self.condition(node.operand)
        elif isinstance(node, ast.Compare):
            self.compare(node)
        elif isinstance(node, ast.Name | ast.BinOp | ast.Constant | ast.Call | ast.UnaryOp):
            self.value(node, text_ok=False)  # refuses nested disallowed parts first
            raise self.refuse(node, "a value without a comparison")
        else:
            raise self.refuse(node, _describe(node))

    def compare(self, node: ast.Compare) -> None:
        """Check a comparison (a chain of ordering, equality or one membership test)."""
        if len(node.ops) > 1 and any(isinstance(op, MEMBERSHIP) for op in node.ops):
            raise self.refuse(node, "'in' inside a chained comparison (use and)")
        operands = [node.left, *node.comparators]
        for index, op in enumerate(node.ops):
            left, right = operands[index], operands[index + 1]
            if isinstance(op, MEMBERSHIP):
                self.value(left, text_ok=False)
                self.constants(right)
            elif isinstance(op, EQUALITY):
                self.value(left, text_ok=True)
                self.value(right, text_ok=True)
            elif isinstance(op, _ORDERING):
                self.value(left, text_ok=False)
                self.value(right, text_ok=False)
            else:
                raise self.refuse(node, f"the operator {_op_text(op)!r}")

    def constants(self, node: ast.expr) -> None:
        """Check the right side of ``in``: a non-empty tuple or list of constants."""
        if not isinstance(node, ast.Tuple | ast.List):
            raise self.refuse(node, "'in' against something other than a tuple of constants")
        if not node.elts:
            raise self.refuse(node, "'in' against an empty tuple")
        for item in node.elts:
            if constant_value(item) is None:
                raise self.refuse(item, "a non-constant inside the 'in' tuple")

    def value(self, node: ast.expr, *, text_ok: bool) -> None:
        """Check a value: a column, a constant, arithmetic or ``abs(...)``."""
        if isinstance(node, ast.Name):
            if "__" in node.id:
                raise self.refuse(node, "a name holding '__'")
            self.names.append(node.id)
        elif isinstance(node, ast.Constant):
            self.constant(node, text_ok=text_ok)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _ARITHMETIC:
                raise self.refuse(node, f"the operator {_op_text(node.op)!r}")
            self.value(node.left, text_ok=False)
            self.value(node.right, text_ok=False)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub | ast.UAdd):
                raise self.refuse(node, f"{_op_text(node.op)!r} inside a value")
            self.value(node.operand, text_ok=False)
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.Compare | ast.BoolOp):
            raise self.refuse(node, "a condition used as a value")
        else:
            raise self.refuse(node, _describe(node))

    def constant(self, node: ast.Constant, *, text_ok: bool) -> None:
        """Check a literal: a number that fits a float, or a string where text is allowed."""
        value = node.value
        if isinstance(value, str):
            if not text_ok:
                raise self.refuse(node, "a string outside == / != / in")
        elif isinstance(value, bool) or value is None:
            raise self.refuse(node, f"the constant {value!r} (compare with numbers instead)")
        elif not isinstance(value, int | float):
            raise self.refuse(node, f"a {type(value).__name__} constant")
        elif isinstance(value, int):
            try:
                float(value)
            except OverflowError:
                raise self.refuse(node, "a number this large") from None

    def call(self, node: ast.Call) -> None:
        """Check a call: only ``abs`` of one plain argument."""
        if not (isinstance(node.func, ast.Name) and node.func.id == "abs"):
            raise self.refuse(node, "a call other than abs(...)")
        if len(node.args) != 1 or node.keywords:
            raise self.refuse(node, "abs(...) with other than one argument")
        if isinstance(node.args[0], ast.Starred):
            raise self.refuse(node, "abs(*...)")
        self.value(node.args[0], text_ok=False)


# -- helpers ---------------------------------------------------------------------------------


def _and_clauses(node: ast.expr) -> list[ast.expr]:
    """The clauses of a top-level ``and`` chain (nested ``and`` flattened), else ``[node]``."""
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        out: list[ast.expr] = []
        for value in node.values:
            out.extend(_and_clauses(value))
        return out
    return [node]


def collect_names(node: ast.AST, names: list[str]) -> None:
    """Column names used by ``node``, in order (the ``abs`` of a call excluded)."""
    if isinstance(node, ast.Call):
        for arg in node.args:
            collect_names(arg, names)
        return
    if isinstance(node, ast.Name):
        names.append(node.id)
        return
    for child in ast.iter_child_nodes(node):
        collect_names(child, names)


def constant_value(node: ast.expr) -> float | str | None:
    """The number or string of a constant (``-3`` included), or None."""
    sign = 1.0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        node = node.operand
        if not isinstance(node, ast.Constant) or isinstance(node.value, str):
            return None
    if not isinstance(node, ast.Constant):
        return None
    value = node.value
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return sign * float(value)
    except OverflowError:
        return None


#: How a refusal names what it refused: constructs a screen cannot hold, and operators.
_REFUSED: dict[type, str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "a subscript",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator",
    ast.IfExp: "an if-expression",
    ast.NamedExpr: "an assignment (:=)",
    ast.JoinedStr: "an f-string",
    ast.Starred: "a starred expression",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.Tuple: "a tuple",
    ast.List: "a list",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.Invert: "~",
    ast.Not: "not",
}


def _describe(node: ast.AST) -> str:
    return _REFUSED.get(type(node), f"the construct {type(node).__name__}")


def _op_text(op: ast.AST) -> str:
    return _REFUSED.get(type(op), type(op).__name__)
