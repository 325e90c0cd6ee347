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

The names a factor may take are in :mod:`~technic_nb.rules.factors.names`, its cache
key in :mod:`~technic_nb.rules.factors.keys`, and running factors on one symbol's
bars in :mod:`~technic_nb.rules.factors.run`.
"""

from __future__ import annotations

import hashlib
import inspect
import numbers
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import pandas as pd

from technic_nb.core.errors import config_error
from technic_nb.rules.factors.keys import KEY_VERSION, function_text, is_plain, stable_repr, unwrap
from technic_nb.rules.factors.names import NAME_RULE, check_name, key_problem, name_problem

__all__ = ["TIMEFRAMES", "Factor", "check_factor_names", "factor"]


#: The allowed timeframes: daily and weekly bars.
TIMEFRAMES: dict[str, str] = {"D": "daily", "W": "weekly"}


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
        return hash(stable_repr(sorted(self.items())))

    def __repr__(self) -> str:
        return repr(dict(self))


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
            name = getattr(unwrap(self.func), "__name__", "")
            if name_problem(name) is not None:
                raise config_error(
                    "name",
                    name,
                    f"{NAME_RULE}; give the factor an explicit name, e.g. factor(name='my_factor')",
                    owner=owner,
                )
        object.__setattr__(self, "name", check_name(name, "name", owner=owner))
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
            if not is_plain(value):
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
            problem = key_problem(self.name, key)
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
                problem = key_problem(self.name, key)
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
        text = self.key_text(set())
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def key_text(self, seen: set[int]) -> str:
        """The text hashed by :meth:`code_key`; ``seen`` guards against reference cycles."""
        seen.add(id(self))
        func = unwrap(self.func)
        home = getattr(func, "__module__", None)
        parts = [
            KEY_VERSION,
            f"name={self.name}",
            f"timeframe={self.timeframe}",
            f"params={stable_repr(sorted(self.params.items()))}",
            f"outputs={stable_repr(self.outputs)}",
            f"min_bars={self.min_bars}",
            function_text(self.func, home, seen),
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
        func = unwrap(self.func)
        where = f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', '?')}"
        text = f"Factor({self.name!r}, timeframe={self.timeframe!r}, func={where}"
        if self.params:
            text += f", params={dict(self.params)!r}"
        if self.outputs is not None:
            text += f", outputs={self.outputs!r}"
        return text + f", min_bars={self.min_bars})"


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
