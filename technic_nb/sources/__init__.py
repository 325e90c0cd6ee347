"""Data sources: one small interface, several implementations.

* :class:`DemoSource` - the built-in deterministic synthetic market (no network).
* :class:`DirectorySource` - a folder of ``SYMBOL.csv[.gz]`` / ``SYMBOL.parquet`` files.
* :class:`InMemorySource` - DataFrames you already hold.
* :class:`PolygonSource` - daily aggregates over HTTP (Polygon-style API).

:func:`resolve_source` turns a short spec such as ``"demo"`` or ``"csv:DIR"`` into a source.
"""

from __future__ import annotations

from technic_nb.core.errors import ErrorType, ScanError
from technic_nb.sources.base import DataSource, DateWindow
from technic_nb.sources.demo import DemoSource
from technic_nb.sources.files import DirectorySource
from technic_nb.sources.memory import InMemorySource
from technic_nb.sources.polygon.source import PolygonSource

__all__ = [
    "DataSource",
    "DateWindow",
    "DemoSource",
    "DirectorySource",
    "InMemorySource",
    "PolygonSource",
    "resolve_source",
]

_SPEC_HELP = (
    "a DataSource, or one of 'demo', 'demo:N' (N synthetic symbols), 'csv:DIR' "
    "(also 'dir:DIR' or 'parquet:DIR'), 'polygon' or 'polygon:BASE_URL'"
)


def resolve_source(spec: DataSource | str) -> DataSource:
    """The data source for ``spec`` (a source object is returned as is)."""
    if isinstance(spec, DataSource):
        return spec
    if not isinstance(spec, str):
        raise _bad_spec(spec)
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "demo":
        if not arg:
            return DemoSource()
        try:
            count = int(arg)
        except ValueError:
            raise _bad_spec(spec) from None
        try:
            return DemoSource(n_symbols=count)
        except ValueError as exc:
            raise ScanError(
                ErrorType.CONFIG_ERROR,
                f"ScanConfig.source={spec!r} is invalid: {exc}",
                details={"field": "source", "value": spec},
                suggestion="Use 'demo:N' with N from 1 to 20000.",
            ) from None
    if kind in ("csv", "dir", "parquet", "files"):
        if not arg:
            raise _bad_spec(spec)
        return DirectorySource(arg)
    if kind == "polygon":
        if arg and not arg.startswith(("http://", "https://")):
            raise _bad_spec(spec)
        return PolygonSource(base_url=arg) if arg else PolygonSource()
    raise _bad_spec(spec)


def _bad_spec(spec: object) -> ScanError:
    from technic_nb.sources.polygon.config import redact

    shown = redact(repr(spec))  # a spec may hold a key (polygon:URL?apiKey=...)
    return ScanError(
        ErrorType.CONFIG_ERROR,
        f"ScanConfig.source={shown} is invalid: source must be {_SPEC_HELP}",
        details={"field": "source", "value": shown, "allowed": _SPEC_HELP},
        suggestion=f"Pass source as {_SPEC_HELP}.",
    )
