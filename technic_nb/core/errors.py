"""Structured errors raised and collected by a scan.

Every problem a scan meets becomes a :class:`ScanError`: an exception with a
machine-readable :class:`ErrorType`, a one-line message, details, and a
suggestion that tells the user what to do next.  Per-symbol errors do not stop
a scan; they are collected into the result's error table.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "ErrorType",
    "ScanError",
    "cache_error",
    "config_error",
    "data_error",
    "symbol_error",
    "unexpected_error",
]


class ErrorType(enum.StrEnum):
    """The kind of a :class:`ScanError`."""

    API_ERROR = "api_error"
    CACHE_ERROR = "cache_error"
    DATA_ERROR = "data_error"
    TIMEOUT_ERROR = "timeout_error"
    CONFIG_ERROR = "config_error"
    SYSTEM_ERROR = "system_error"
    FACTOR_ERROR = "factor_error"


class ScanError(Exception):
    """An error met by a scan, with enough structure to act on.

    Attributes:
        error_type: what kind of error (:class:`ErrorType`).
        message: one line saying what went wrong.
        details: extra facts (the symbol, the HTTP status, the attempt count...).
        suggestion: what the user can do about it.
        recoverable: True when running again later may succeed (network trouble),
            False when something must change first (a bad symbol or config value).
        retry_after: seconds the server asked us to wait, when it said so.
        affected_symbols: the symbols this error concerns.
        fatal: True when the error concerns the whole scan (a bad API key), so the
            scan stops at once instead of failing every symbol one by one.
    """

    def __init__(
        self,
        error_type: ErrorType | str,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        suggestion: str = "",
        recoverable: bool = False,
        retry_after: float | None = None,
        affected_symbols: Iterable[str] = (),
        fatal: bool = False,
    ) -> None:
        self.error_type = ErrorType(error_type)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.suggestion = suggestion
        self.recoverable = recoverable
        self.retry_after = retry_after
        self.affected_symbols: tuple[str, ...] = tuple(affected_symbols)
        self.fatal = fatal
        super().__init__(message)

    def __str__(self) -> str:
        text = f"[{self.error_type.value}] {self.message}"
        if self.suggestion:
            text += f" - {self.suggestion}"
        return text

    def __repr__(self) -> str:
        return f"ScanError({self.error_type.value!r}, {self.message!r})"

    def __reduce__(self):  # keep every field when crossing process boundaries
        return (_rebuild_scan_error, (self.to_dict(),))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of every field."""
        return {
            "error_type": self.error_type.value,
            "message": self.message,
            "details": dict(self.details),
            "suggestion": self.suggestion,
            "recoverable": self.recoverable,
            "retry_after": self.retry_after,
            "affected_symbols": list(self.affected_symbols),
            "fatal": self.fatal,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScanError:
        """Rebuild an error from :meth:`to_dict` output."""
        return cls(
            data["error_type"],
            data["message"],
            details=data.get("details"),
            suggestion=data.get("suggestion", ""),
            recoverable=data.get("recoverable", False),
            retry_after=data.get("retry_after"),
            affected_symbols=data.get("affected_symbols", ()),
            fatal=data.get("fatal", False),
        )


def _rebuild_scan_error(data: Mapping[str, Any]) -> ScanError:
    return ScanError.from_dict(data)


def config_error(
    field: str, value: Any, allowed: str, *, owner: str = "ScanConfig", fatal: bool = False
) -> ScanError:
    """The error for an invalid configuration value: names field, value and what is allowed.

    ``owner`` is the class whose argument it is (``ScanConfig``, ``PolygonSource``...).
    """
    return ScanError(
        ErrorType.CONFIG_ERROR,
        f"{owner}.{field}={value!r} is invalid: {field} must be {allowed}",
        details={"field": field, "value": repr(value), "allowed": allowed},
        suggestion=f"Pass {field} as {allowed}.",
        fatal=fatal,
    )


def symbol_error(
    error_type: ErrorType | str,
    symbol: str,
    message: str,
    suggestion: str,
    *,
    recoverable: bool = False,
    **details: Any,
) -> ScanError:
    """The error of one symbol: the message starts with the symbol it concerns."""
    return ScanError(
        error_type,
        f"{symbol}: {message}",
        details={"symbol": symbol, **details},
        suggestion=suggestion,
        recoverable=recoverable,
        affected_symbols=(symbol,),
    )


def data_error(symbol: str, message: str, suggestion: str = "", **details: Any) -> ScanError:
    """The error for bad or missing bars of one symbol."""
    return symbol_error(
        ErrorType.DATA_ERROR,
        symbol,
        message,
        suggestion or "Fix or remove this symbol's data, or exclude the symbol.",
        **details,
    )


def unexpected_error(symbol: str, exc: BaseException, while_: str = "") -> ScanError:
    """A bug, or a library's unexpected error, met on one symbol: a system error that the
    scan reports for the symbol (never caches) and goes on."""
    during = f" {while_}" if while_ else ""
    return symbol_error(
        ErrorType.SYSTEM_ERROR,
        symbol,
        f"unexpected {type(exc).__name__}{during}: {exc}",
        "This is a bug in technic_nb or a library; please report it with the symbol, "
        "the source and the data.",
        exception=type(exc).__name__,
    )


def cache_error(folder: object, problem: str, suggestion: str = "") -> ScanError:
    """The error for a checkpoint folder that cannot be created, read or written."""
    return ScanError(
        ErrorType.CACHE_ERROR,
        f"cannot use the cache folder {str(folder)!r}: {problem}",
        details={"cache_dir": str(folder)},
        suggestion=suggestion
        or "Check the folder's permissions, pass cache_dir= another folder, or use_cache=False.",
    )
