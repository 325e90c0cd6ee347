"""The names of factors and of the columns they make.

Names
-----
A factor name must be an ASCII Python identifier that is not a keyword, does
not start with ``_`` and holds no ``__``; the same holds for every column it
produces (so a dict key must be made of letters, digits and single
underscores).  Names must not be built-in table columns (the ``reserved`` set
given by the engine) and the columns of two factors must not collide.
"""

from __future__ import annotations

import keyword

from technic_nb.core.errors import config_error

__all__ = ["NAME_RULE", "check_name", "key_problem", "name_problem"]


def name_problem(name: object) -> str | None:
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


NAME_RULE = (
    "an ASCII identifier that is not a Python keyword, does not start with '_' and holds no '__'"
)


def check_name(name: object, field_name: str, owner: str) -> str:
    problem = name_problem(name)
    if problem is not None:
        raise config_error(field_name, name, f"{NAME_RULE} ({problem})", owner=owner)
    assert isinstance(name, str)
    return name


def key_problem(name: str, key: object) -> str | None:
    """Why ``key`` cannot be an output key of factor ``name``, or None."""
    if not isinstance(key, str):
        return f"a string, not {type(key).__name__}"
    if key == "":
        return "non-empty"
    column = f"{name}_{key}"
    if name_problem(column) is not None or key.startswith("_"):
        return (
            "made of ASCII letters, digits and single underscores, not starting with '_' "
            f"(the column would be {column!r})"
        )
    return None
