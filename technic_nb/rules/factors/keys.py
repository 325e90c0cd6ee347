"""The cache key of a factor: a fingerprint of its code and the plain values it reads.

Cache key
---------
:meth:`Factor.code_key <technic_nb.Factor.code_key>` is a SHA-256 over: the function's
source text (from ``inspect.getsource`` when the source is available: files, Jupyter cells) and
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
import linecache
import types
from typing import Any

import numpy as np

__all__ = ["KEY_VERSION", "function_text", "is_plain", "stable_repr", "unwrap"]


KEY_VERSION = "technic_nb.factor.v1"


_MAX_ARRAY_BYTES = 1_000_000


def is_plain(value: Any, depth: int = 0) -> bool:
    """True for numbers, strings, bytes, None and containers of those."""
    if depth > 20:
        return False
    if value is None or isinstance(value, str | bytes | bool | int | float | complex):
        return True
    if isinstance(value, np.generic):
        return isinstance(value, np.number | np.bool_ | np.str_ | np.bytes_)
    if isinstance(value, tuple | list | set | frozenset):
        return all(is_plain(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(is_plain(k, depth + 1) and is_plain(v, depth + 1) for k, v in value.items())
    return False


def stable_repr(value: Any) -> str:
    """A process-independent text of a plain value (sets and dicts in sorted order)."""
    if isinstance(value, np.generic):
        return f"{type(value).__name__}({value.item()!r})"
    if isinstance(value, list):
        return "[" + ",".join(stable_repr(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ",".join(stable_repr(v) for v in value) + ",)"
    if isinstance(value, set | frozenset):
        return f"{type(value).__name__}{{" + ",".join(sorted(stable_repr(v) for v in value)) + "}"
    if isinstance(value, dict):
        items = sorted((stable_repr(k), stable_repr(v)) for k, v in value.items())
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
            consts.append(stable_repr(const))
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
    key_text = getattr(type(value), "key_text", None)
    if callable(key_text):  # a factor (or anything that fingerprints itself the same way)
        if id(value) in seen:  # e.g. a factor whose function refers to its own global name
            return f"factor:{getattr(value, 'name', '?')}:recursive"
        return f"factor:{key_text(value, seen)}"
    if is_plain(value):
        return stable_repr(value)
    if isinstance(value, np.ndarray):
        if value.dtype != object and value.nbytes <= _MAX_ARRAY_BYTES:
            digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
            return f"ndarray({value.dtype},{value.shape},{digest})"
        return f"ndarray({value.dtype},{value.shape})"
    if isinstance(value, types.ModuleType):
        return f"module:{value.__name__}@{_package_version(value.__name__)}"
    if isinstance(value, types.FunctionType | functools.partial):
        return function_text(value, home, seen)
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


def function_text(func: Any, home: str | None, seen: set[int]) -> str:
    """Fingerprint text of a function: source, bytecode, defaults, closure and globals."""
    if isinstance(func, functools.partial):
        return (
            f"partial({function_text(func.func, home, seen)},"
            f"{_value_text(func.args, home, seen)},{_value_text(func.keywords, home, seen)})"
        )
    if not isinstance(func, types.FunctionType):
        call = type(func).__dict__.get("__call__")
        inner = function_text(call, home, seen) if isinstance(call, types.FunctionType) else ""
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


def unwrap(func: Any) -> Any:
    while isinstance(func, functools.partial):
        func = func.func
    return func
