"""Symbol validation: a symbol is checked before it touches a path or a URL."""

from __future__ import annotations

import re

from technic_nb.core.errors import ErrorType, ScanError

__all__ = ["SYMBOL_PATTERN", "validate_symbol"]

#: Upper-case letters and digits, optionally with one class suffix after a dot or a dash
#: (``BRK.B``, ``BF-B``), at most 15 characters.  No slashes, no ``..``, no spaces.
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{1,10}(?:[.\-][A-Z0-9]{1,4})?$")


def validate_symbol(symbol: object) -> str:
    """Return ``symbol`` stripped and upper-cased, or raise a data :class:`ScanError`.

    Symbols are used in file names and URLs, so anything outside
    :data:`SYMBOL_PATTERN` (path separators, ``..``, spaces, control characters)
    is refused before any I/O happens.
    """
    if not isinstance(symbol, str):
        raise ScanError(
            ErrorType.DATA_ERROR,
            f"symbol {symbol!r} is not a string",
            details={"symbol": repr(symbol)},
            suggestion="Pass symbols as strings such as 'AAPL' or 'BRK.B'.",
        )
    cleaned = symbol.strip().upper()
    if not SYMBOL_PATTERN.match(cleaned):
        raise ScanError(
            ErrorType.DATA_ERROR,
            f"symbol {symbol!r} is not a valid ticker",
            details={"symbol": symbol, "pattern": SYMBOL_PATTERN.pattern},
            suggestion="Use 1-10 letters or digits with an optional class suffix such as "
            "'BRK.B' or 'BF-B'; paths and spaces are not allowed.",
            affected_symbols=(symbol,),
        )
    return cleaned
