"""User factors: indicators written by the researcher, computed per symbol.

A *factor* is a function of the bars of one symbol that returns a number, or a
dict of named numbers, at the last bar::

    @tn.factor
    def squeeze(bars):
        width = bars["high"].rolling(20).max() - bars["low"].rolling(20).min()
        return float(width.iloc[-1] / bars["close"].iloc[-1])

    @tn.factor(name="wk", timeframe="W", outputs=("ret", "range"))
    def weekly(bars):
        return {"ret": ..., "range": ...}

This module is pure (no I/O, no global state).  It holds:

* :class:`Factor`: the frozen description of one factor (function, name,
  timeframe, bound parameters, declared outputs, bars needed), with its
  :meth:`~Factor.code_key` for caches;
* :func:`factor`: the decorator that builds a :class:`Factor`;
* :func:`check_factor_names`: name checks against the built-in table columns
  and between factors;
* :func:`compute_factors`: runs factors on one symbol's bars and collects their
  values and per-factor errors.

Columns
-------
A factor named ``n`` that returns a number gives the table column ``n``; one
that returns a dict gives the column ``n_<key>`` for each key (``bollinger``
returning ``{"pct_b": .., "width": ..}`` gives ``bollinger_pct_b`` and
``bollinger_width``).

Names
-----
A factor name must be an ASCII Python identifier that is not a keyword, does
not start with ``_`` and holds no ``__``; the same holds for every column it
produces (so a dict key must be made of letters, digits and single
underscores).  Names must not be built-in table columns (the ``reserved`` set
given by the engine) and the columns of two factors must not collide.

Timeframes
----------
``timeframe="D"`` factors get the daily bars of the scan (typically the last
300 bars up to the scan date).  ``timeframe="W"`` factors get
:func:`technic_nb.core.timeframes.weekly_bars` of those daily bars, *including the
partial current week* (its close is the close of the scan date), so a weekly
value as of a date never uses a later bar; the first week is dropped when the
daily window starts after a Monday (``drop_partial_first=True``: a week cut by
the window's start would have a wrong open, high and low).  :meth:`Factor.__call__` takes bars
of the factor's own timeframe; :func:`compute_factors` does the resampling.

Output rules (checked by :func:`compute_factors`)
-------------------------------------------------
A value must be a finite real number: ``float``, ``int`` or a NumPy integer or
floating scalar (``bool`` and ``numpy.bool_`` are refused, as are NaN, +-inf,
``None``, strings, lists, arrays and Series).  A dict must map ``str`` keys
(valid column suffixes, see *Names*) to such values; when ``outputs`` is
declared, the keys must be exactly the declared ones.  Any violation, an
exception raised by the factor, or fewer bars than ``min_bars`` makes a
*factor error* for that factor and symbol; the other factors are unaffected.

Cache key
---------
:meth:`Factor.code_key` is a SHA-256 over: the function's source text (from
``inspect.getsource`` when the source is available: files, Jupyter cells) and
always its bytecode (``co_code``, constants, names, nested code objects), its
default arguments, the factor's name, timeframe, params, outputs and
``min_bars``, and the values of the closure cells and module globals the code
refers to when they are plain values (numbers, strings, bytes, ``None``, and
tuples, lists, sets and dicts of those; small NumPy arrays by content).
Referenced functions of the same module are included recursively (a helper
defined in the same notebook changes the key when it is edited); functions,
classes and modules from other modules count by qualified name and the
package's ``__version__``; other objects count by type only, so pass such
values through ``params`` or as plain values.  Nothing process-specific enters
the key (no ``id``, no ``hash()``, no file name), so the same definition gives
the same key in another process with the same Python version.  Compute the key
where the factor was defined (the process that builds the scan): a function
shipped to a worker by cloudpickle has no source there, so its key falls back
to the bytecode alone and differs.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import keyword
import linecache
import math
import numbers
import traceback
import types
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import pandas as pd

from technic_nb.core.errors import config_error
from technic_nb.core.timeframes import weekly_bars

__all__ = [
    "FACTOR_ERROR",
    "TIMEFRAMES",
    "Factor",
    "check_factor_names",
    "compute_factors",
    "factor",
    "factor_error",
]

#: The allowed timeframes: daily and weekly bars.
TIMEFRAMES: dict[str, str] = {"D": "daily", "W": "weekly"}
#: The error type of a failing factor (to become ``ErrorType.FACTOR_ERROR``).
FACTOR_ERROR = "factor_error"

_KEY_VERSION = "technic_nb.factor.v1"
_MAX_MESSAGE_TEXT = 300
_MAX_ARRAY_BYTES = 1_000_000
_THIS_FILE = __file__


# -- names ------------------------------------------------------------------------


def _name_problem(name: object) -> str | None:
    """What is wrong with ``name`` as a factor name or column, or None when it is fine."""
    if not isinstance(name, str):
        return f"got a {type(name).__name__} instead of a string"
    if not name.isascii() or not name.isidentifier():
        return "it is not an ASCII identifier (letters, digits, '_', no leading digit)"
    if keyword.iskeyword(name):
        return "it is a Python keyword"
    if name.startswith("_"):
        return "it starts with '_'"
    if "__" in name:
        return "it holds a double underscore '__'"
    return None


_NAME_RULE = (
    "an ASCII identifier that is not a Python keyword, does not start with '_' and holds no '__'"
)


def _check_name(name: object, field_name: str, owner: str) -> str:
    problem = _name_problem(name)
    if problem is not None:
        raise config_error(field_name, name, f"{_NAME_RULE} ({problem})", owner=owner)
    assert isinstance(name, str)
    return name


# -- read-only params ---------------------------------------------------------------


class _Params(dict[str, Any]):
    """A read-only dict of bound keyword arguments (picklable, hashable by content)."""

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("Factor.params is read-only; build a new Factor to change a parameter")

    __setitem__ = _readonly
    __delitem__ = _readonly
    clear = _readonly
    pop = _readonly  # type: ignore[assignment, unused-ignore]
    popitem = _readonly  # type: ignore[assignment]
    setdefault = _readonly  # type: ignore[assignment, unused-ignore]
    update = _readonly  # type: ignore[assignment, unused-ignore]
    __ior__ = _readonly  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Params, (dict(self),))

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(_stable_repr(sorted(self.items())))

    def __repr__(self) -> str:
        return repr(dict(self))


# -- stable fingerprints --------------------------------------------------------------


def _is_plain(value: Any, depth: int = 0) -> bool:
    """True for numbers, strings, bytes, None and containers of those."""
    if depth > 20:
        return False
    if value is None or isinstance(value, str | bytes | bool | int | float | complex):
        return True
    if isinstance(value, np.generic):
        return isinstance(value, np.number | np.bool_ | np.str_ | np.bytes_)
    if isinstance(value, tuple | list | set | frozenset):
        return all(_is_plain(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(_is_plain(k, depth + 1) and _is_plain(v, depth + 1) for k, v in value.items())
    return False


def _stable_repr(value: Any) -> str:
    """A process-independent text of a plain value (sets and dicts in sorted order)."""
    if isinstance(value, np.generic):
        return f"{type(value).__name__}({value.item()!r})"
    if isinstance(value, list):
        return "[" + ",".join(_stable_repr(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ",".join(_stable_repr(v) for v in value) + ",)"
    if isinstance(value, set | frozenset):
        return f"{type(value).__name__}{{" + ",".join(sorted(_stable_repr(v) for v in value)) + "}"
    if isinstance(value, dict):
        items = sorted((_stable_repr(k), _stable_repr(v)) for k, v in value.items())
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    return repr(value)


def _code_names(code: types.CodeType) -> set[str]:
    """Global names used by ``code`` and the code objects nested in it."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _code_text(code: types.CodeType) -> str:
    """The bytecode of ``code`` and everything nested, without file names or line numbers."""
    consts = []
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            consts.append(f"<code {const.co_name}: {_code_text(const)}>")
        else:
            consts.append(_stable_repr(const))
    return "|".join(
        [
            code.co_name,
            code.co_code.hex(),
            ",".join(consts),
            ",".join(code.co_names),
            ",".join(code.co_varnames),
            ",".join(code.co_freevars),
            ",".join(code.co_cellvars),
            f"{code.co_argcount},{code.co_posonlyargcount},{code.co_kwonlyargcount}",
            # The low flags (varargs, generator...); not the __future__ ones a compile inherits.
            str(code.co_flags & 0xFFFF),
        ]
    )


def _package_version(module_name: str | None) -> str:
    import sys

    if not module_name:
        return ""
    top = sys.modules.get(module_name.split(".")[0])
    version = getattr(top, "__version__", "")
    return version if isinstance(version, str) else ""


def _value_text(value: Any, home: str | None, seen: set[int]) -> str:
    """Fingerprint text of a value a factor's code refers to."""
    if isinstance(value, Factor):
        if id(value) in seen:  # e.g. a factor whose function refers to its own global name
            return f"factor:{value.name}:recursive"
        return f"factor:{value._key_text(seen)}"
    if _is_plain(value):
        return _stable_repr(value)
    if isinstance(value, np.ndarray):
        if value.dtype != object and value.nbytes <= _MAX_ARRAY_BYTES:
            digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
            return f"ndarray({value.dtype},{value.shape},{digest})"
        return f"ndarray({value.dtype},{value.shape})"
    if isinstance(value, types.ModuleType):
        return f"module:{value.__name__}@{_package_version(value.__name__)}"
    if isinstance(value, types.FunctionType | functools.partial):
        return _function_text(value, home, seen)
    if isinstance(value, type | types.BuiltinFunctionType):
        module = getattr(value, "__module__", None)
        return f"{module}.{getattr(value, '__qualname__', '?')}@{_package_version(module)}"
    module = getattr(type(value), "__module__", None)
    return f"object:{module}.{type(value).__qualname__}@{_package_version(module)}"


def _source(func: types.FunctionType) -> str:
    """The source text of ``func``, or ``""`` when its own file or cell is unavailable.

    ``inspect.getsource`` alone is not trusted: for a function of ``__main__``
    whose file is unknown (``exec`` of a string) it can fall back to the source
    of the running ``__main__`` module through its loader and return unrelated
    lines.  So the code's own file must be readable or registered in
    ``linecache`` (as Jupyter does for cells) first.
    """
    if not linecache.getlines(func.__code__.co_filename):
        return ""
    try:
        return inspect.getsource(func)
    except (OSError, TypeError):
        return ""


def _function_text(func: Any, home: str | None, seen: set[int]) -> str:
    """Fingerprint text of a function: source, bytecode, defaults, closure and globals."""
    if isinstance(func, functools.partial):
        return (
            f"partial({_function_text(func.func, home, seen)},"
            f"{_value_text(func.args, home, seen)},{_value_text(func.keywords, home, seen)})"
        )
    if not isinstance(func, types.FunctionType):
        call = type(func).__dict__.get("__call__")
        inner = _function_text(call, home, seen) if isinstance(call, types.FunctionType) else ""
        state = getattr(func, "__dict__", {})
        return f"callable:{_value_text(func, home, seen)}:{inner}:{_value_text(state, home, seen)}"
    module = func.__module__
    if home is not None and module != home:
        return f"function:{module}.{func.__qualname__}@{_package_version(module)}"
    if id(func) in seen:
        return f"recursive:{func.__qualname__}"
    seen.add(id(func))
    source = _source(func)
    code = func.__code__
    parts = [
        f"qualname={func.__qualname__}",
        f"source={source}",
        f"code={_code_text(code)}",
        f"defaults={_value_text(func.__defaults__, home, seen)}",
        f"kwdefaults={_value_text(func.__kwdefaults__, home, seen)}",
    ]
    for name, cell in zip(code.co_freevars, func.__closure__ or (), strict=False):
        try:
            contents = cell.cell_contents
        except ValueError:  # an empty cell (a name bound later in the enclosing function)
            parts.append(f"free {name}=<empty>")
            continue
        parts.append(f"free {name}={_value_text(contents, module, seen)}")
    scope = func.__globals__
    for name in sorted(_code_names(code)):
        if name in scope:
            parts.append(f"global {name}={_value_text(scope[name], module, seen)}")
    return "\n".join(parts)


# -- the Factor ------------------------------------------------------------------------


def _unwrap(func: Any) -> Any:
    while isinstance(func, functools.partial):
        func = func.func
    return func


@dataclass(frozen=True, eq=False)
class Factor:
    """A user indicator computed per symbol at the last bar.

    Build it with :func:`factor` (or directly).  Every argument is validated on
    construction; an invalid one raises a ``config_error``
    :class:`~technic_nb.ScanError` naming the field, the value and what is
    allowed.

    Attributes:
        func: ``func(bars, **params)`` returns a number or a dict of numbers at
            the last bar of ``bars`` (see the module's *Output rules*).
        name: the column name (or prefix of the column names); ``""`` means
            ``func.__name__`` (a lambda needs an explicit name).
        timeframe: ``"D"`` (daily bars) or ``"W"`` (weekly bars, weeks ending
            Friday, the current week partial).
        params: keyword arguments bound to ``func`` (read-only), e.g.
            ``{"period": 20, "width": 2.0}``; values must be plain (numbers,
            strings, None, tuples...), so that they enter the cache key.
        outputs: the declared keys of a dict result, or ``None`` when the factor
            returns a number or does not declare its keys.
        min_bars: bars (of the factor's timeframe) the factor needs; with fewer,
            :func:`compute_factors` reports a factor error without calling it.
    """

    func: Callable[..., Any]
    name: str = ""
    timeframe: str = "D"
    params: Mapping[str, Any] = field(default_factory=dict)
    outputs: tuple[str, ...] | None = None
    min_bars: int = 1

    def __post_init__(self) -> None:
        owner = "Factor"
        if not callable(self.func):
            raise config_error("func", self.func, "a callable func(bars, **params)", owner=owner)
        name = self.name
        if name == "" or name is None:
            name = getattr(_unwrap(self.func), "__name__", "")
            if _name_problem(name) is not None:
                raise config_error(
                    "name",
                    name,
                    f"{_NAME_RULE}; give the factor an explicit name, "
                    "e.g. factor(name='my_factor')",
                    owner=owner,
                )
        object.__setattr__(self, "name", _check_name(name, "name", owner=owner))
        if self.timeframe not in TIMEFRAMES:
            raise config_error(
                "timeframe", self.timeframe, "'D' (daily) or 'W' (weekly)", owner=owner
            )
        object.__setattr__(self, "params", _Params(self._checked_params(owner)))
        object.__setattr__(self, "outputs", self._checked_outputs(owner))
        minimum = self.min_bars
        if isinstance(minimum, bool) or not isinstance(minimum, numbers.Integral) or minimum < 1:
            raise config_error("min_bars", minimum, "an integer >= 1", owner=owner)
        object.__setattr__(self, "min_bars", int(minimum))

    def _checked_params(self, owner: str) -> dict[str, Any]:
        params = self.params
        if params is None:
            return {}
        if not isinstance(params, Mapping):
            raise config_error("params", params, "a dict of keyword arguments", owner=owner)
        out: dict[str, Any] = {}
        for key, value in params.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise config_error(
                    "params",
                    dict(params),
                    f"a dict with identifier keys (bad key {key!r})",
                    owner=owner,
                )
            if not _is_plain(value):
                raise config_error(
                    f"params[{key!r}]",
                    value,
                    "a plain value: a number, a string, None, or a tuple/list/dict of those",
                    owner=owner,
                )
            out[key] = value
        try:
            signature = inspect.signature(self.func)
        except (TypeError, ValueError):  # no signature (some builtins): cannot check
            return out
        try:
            signature.bind(None, **out)
        except TypeError as exc:
            raise config_error(
                "params",
                out,
                f"keyword arguments accepted by {getattr(self.func, '__name__', 'func')}"
                f"{signature} after the bars ({exc})",
                owner=owner,
            ) from None
        return out

    def _checked_outputs(self, owner: str) -> tuple[str, ...] | None:
        outputs = self.outputs
        if outputs is None:
            return None
        if isinstance(outputs, str) or not isinstance(outputs, Iterable):
            raise config_error(
                "outputs", outputs, "None or a tuple of output names, e.g. ('k', 'd')", owner=owner
            )
        names = tuple(outputs)
        if not names:
            raise config_error(
                "outputs", outputs, "None or a non-empty tuple of names", owner=owner
            )
        for key in names:
            problem = _key_problem(self.name, key)
            if problem is not None:
                raise config_error(
                    "outputs",
                    outputs,
                    f"a tuple of output keys; {key!r} must be {problem}",
                    owner=owner,
                )
        if len(set(names)) != len(names):
            raise config_error("outputs", outputs, "distinct names", owner=owner)
        return names

    # -- behaviour -------------------------------------------------------------------

    def __call__(self, bars: pd.DataFrame) -> Any:
        """``func(bars, **params)`` on bars of the factor's timeframe.

        Raises:
            ValueError: ``bars`` has fewer than :attr:`min_bars` rows.
        """
        if len(bars) < self.min_bars:
            raise ValueError(self._too_short(len(bars)))
        return self.func(bars, **self.params)

    def _too_short(self, count: int) -> str:
        unit = TIMEFRAMES[self.timeframe]
        return f"needs at least {self.min_bars} {unit} bars, got {count}"

    def columns(self, result: Any) -> tuple[str, ...]:
        """The table columns of a result: ``(name,)`` for a number, ``name_<key>`` per dict key.

        Raises:
            ValueError: a dict key is not a valid column suffix.
        """
        if isinstance(result, Mapping):
            out = []
            for key in result:
                problem = _key_problem(self.name, key)
                if problem is not None:
                    raise ValueError(f"factor {self.name!r}: output key {key!r} must be {problem}")
                out.append(f"{self.name}_{key}")
            return tuple(out)
        return (self.name,)

    def declared_columns(self) -> tuple[str, ...] | None:
        """The columns known before running: from ``outputs``, else None (unknown)."""
        if self.outputs is None:
            return None
        return tuple(f"{self.name}_{key}" for key in self.outputs)

    def code_key(self) -> str:
        """A stable SHA-256 hex text of the computation, for caches (see the module docs)."""
        text = self._key_text(set())
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def _key_text(self, seen: set[int]) -> str:
        """The text hashed by :meth:`code_key`; ``seen`` guards against reference cycles."""
        seen.add(id(self))
        func = _unwrap(self.func)
        home = getattr(func, "__module__", None)
        parts = [
            _KEY_VERSION,
            f"name={self.name}",
            f"timeframe={self.timeframe}",
            f"params={_stable_repr(sorted(self.params.items()))}",
            f"outputs={_stable_repr(self.outputs)}",
            f"min_bars={self.min_bars}",
            _function_text(self.func, home, seen),
        ]
        return "\n".join(parts)

    # -- identity --------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Factor):
            return NotImplemented
        return (
            self.func is other.func
            and self.name == other.name
            and self.timeframe == other.timeframe
            and dict(self.params) == dict(other.params)
            and self.outputs == other.outputs
            and self.min_bars == other.min_bars
        )

    def __hash__(self) -> int:
        return hash((self.name, self.timeframe, self.outputs, self.min_bars))

    def __repr__(self) -> str:
        func = _unwrap(self.func)
        where = f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', '?')}"
        text = f"Factor({self.name!r}, timeframe={self.timeframe!r}, func={where}"
        if self.params:
            text += f", params={dict(self.params)!r}"
        if self.outputs is not None:
            text += f", outputs={self.outputs!r}"
        return text + f", min_bars={self.min_bars})"


def _key_problem(name: str, key: object) -> str | None:
    """Why ``key`` cannot be an output key of factor ``name``, or None."""
    if not isinstance(key, str):
        return f"a string, not {type(key).__name__}"
    if key == "":
        return "non-empty"
    column = f"{name}_{key}"
    if _name_problem(column) is not None or key.startswith("_"):
        return (
            "made of ASCII letters, digits and single underscores, not starting with '_' "
            f"(the column would be {column!r})"
        )
    return None


@overload
def factor(func: Callable[..., Any], /) -> Factor: ...


@overload
def factor(
    func: None = None,
    /,
    *,
    name: str = "",
    timeframe: str = "D",
    params: Mapping[str, Any] | None = None,
    outputs: Sequence[str] | None = None,
    min_bars: int = 1,
) -> Callable[[Callable[..., Any]], Factor]: ...


@overload
def factor(
    func: Callable[..., Any],
    /,
    *,
    name: str = "",
    timeframe: str = "D",
    params: Mapping[str, Any] | None = None,
    outputs: Sequence[str] | None = None,
    min_bars: int = 1,
) -> Factor: ...


def factor(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str = "",
    timeframe: str = "D",
    params: Mapping[str, Any] | None = None,
    outputs: Sequence[str] | None = None,
    min_bars: int = 1,
) -> Factor | Callable[[Callable[..., Any]], Factor]:
    """Turn a function of the bars into a :class:`Factor`.

    Use it bare (``@factor``), with arguments (``@factor(name="sq", timeframe="W")``)
    or as a call (``factor(lambda bars: ..., name="last_close")``).

    Args:
        func: ``func(bars, **params)`` returning a number or a dict of numbers.
        name: the column name; default ``func.__name__``.
        timeframe: ``"D"`` for daily bars, ``"W"`` for weekly bars.
        params: keyword arguments bound to ``func``.
        outputs: the keys of a dict result, when known in advance.
        min_bars: bars of the timeframe the factor needs (default 1).

    Returns:
        The :class:`Factor`, or a decorator building it when ``func`` is omitted.

    Raises:
        ScanError: a ``config_error`` for an invalid argument.
    """

    def build(function: Callable[..., Any]) -> Factor:
        return Factor(
            function,
            name=name,
            timeframe=timeframe,
            params=params if params is not None else {},
            outputs=outputs,  # type: ignore[arg-type]  # validated and made a tuple
            min_bars=min_bars,
        )

    if func is None:
        return build
    return build(func)


# -- name checks -----------------------------------------------------------------------


def check_factor_names(factors: Iterable[Factor], reserved: Collection[str]) -> None:
    """Check that the factors' columns are free and distinct.

    The known columns of a factor are ``name`` and, when ``outputs`` is
    declared, ``name_<key>`` per key (a factor without declared outputs may
    produce ``name_<key>`` columns only known after running; those are checked
    again by :func:`compute_factors`).  Raises a ``config_error`` when a factor
    name or column is a ``reserved`` (built-in) column, two factors share a
    name, or a column of one factor equals a column of another.

    Raises:
        ScanError: ``config_error`` naming the factor(s) and the column.
    """
    reserved_set = frozenset(reserved)
    owners: dict[str, str] = {}
    for item in factors:
        if not isinstance(item, Factor):
            raise config_error(
                "factors", item, "Factor objects (use the @factor decorator)", owner="ScanConfig"
            )
        columns = {item.name, *(item.declared_columns() or ())}
        for column in sorted(columns):
            if column in reserved_set:
                raise config_error(
                    "factors",
                    item.name,
                    f"factors whose columns are not built-in table columns ({column!r} is one; "
                    "rename the factor)",
                    owner="ScanConfig",
                )
            if column in owners:
                raise config_error(
                    "factors",
                    item.name,
                    f"factors with distinct columns ({column!r} is also a column of factor "
                    f"{owners[column]!r}; rename one of them)",
                    owner="ScanConfig",
                )
        for column in columns:
            owners[column] = item.name


# -- errors -----------------------------------------------------------------------------


def factor_error(
    symbol: str,
    factor_name: str,
    problem: str,
    suggestion: str,
    **details: Any,
) -> dict[str, Any]:
    """The error dict of a failing factor, with the keys of :meth:`ScanError.to_dict`.

    ``error_type`` is ``"factor_error"``; the message reads
    ``"<symbol>: factor '<name>' <problem>"``.
    """
    return {
        "error_type": FACTOR_ERROR,
        "message": f"{symbol}: factor {factor_name!r} {problem}",
        "details": {"symbol": symbol, "factor": factor_name, **details},
        "suggestion": suggestion,
        "recoverable": False,
        "retry_after": None,
        "affected_symbols": [symbol],
        "fatal": False,
    }


def _short(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _MAX_MESSAGE_TEXT:
        return text[: _MAX_MESSAGE_TEXT - 3] + "..."
    return text


def _user_frames(func: Any, exc: BaseException) -> list[traceback.FrameSummary]:
    """Frames of the traceback that run the factor's own code file."""
    frames = traceback.extract_tb(exc.__traceback__)
    target = _unwrap(func)
    code = getattr(target, "__code__", None)
    if code is None:
        code = getattr(type(target).__dict__.get("__call__"), "__code__", None)
    if code is not None:
        own = [frame for frame in frames if frame.filename == code.co_filename]
        if own:
            return own
    return [frame for frame in frames if frame.filename != _THIS_FILE]


def _exception_error(
    symbol: str, item: Factor, exc: Exception, timeframe_note: str
) -> dict[str, Any]:
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


# -- output validation --------------------------------------------------------------------


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
            problem = _key_problem(item.name, key)
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


# -- compute --------------------------------------------------------------------------------


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


def _no_frame_error(symbol: str, item: Factor, problem: str) -> dict[str, Any]:
    """The error of a weekly factor whose weekly bars could not be built."""
    return factor_error(
        symbol,
        item.name,
        f"could not get weekly bars: {problem}",
        "Check the symbol's daily bars.",
    )


def _too_short_error(symbol: str, item: Factor, bars: int) -> dict[str, Any]:
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


def _invalid_error(symbol: str, item: Factor, problem: str) -> dict[str, Any]:
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
) -> dict[str, Any] | None:
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
) -> tuple[dict[str, float], None] | tuple[None, dict[str, Any]]:
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
) -> tuple[dict[str, float], list[dict[str, Any]]]:
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
        succeeded to a float, in factor order; ``errors`` holds one dict per
        failed factor, with the keys of :meth:`ScanError.to_dict` and
        ``error_type="factor_error"``.  A factor fails when it has fewer bars
        than its ``min_bars``, raises an exception (the message gives the
        exception and the file, line number and text of the line of the
        factor's code that raised it), returns an invalid value (see the module
        docs), or produces a column already produced by an earlier factor or
        listed in ``reserved``.
    """
    values: dict[str, float] = {}
    errors: list[dict[str, Any]] = []
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
