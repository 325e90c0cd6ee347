"""Turning ``ScanConfig.universe`` into a table of symbols to scan."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ._config import ScanConfig
from ._errors import ErrorType, ScanError, config_error
from ._symbols import validate_symbol
from .sources._base import DataSource
from .sources._files import read_universe_csv

__all__ = ["load_universe"]


def load_universe(config: ScanConfig, source: DataSource) -> tuple[pd.DataFrame, list[ScanError]]:
    """The symbols to scan (``symbol, name, sector``) and the errors of invalid symbols.

    Applies the sector filter and ``max_symbols``; removes duplicates keeping the
    first occurrence.
    """
    spec = config.universe
    frame = _universe_frame(spec, source).loc[:, ["symbol", "name", "sector"]].astype(str)
    frame, errors = _valid_symbols(frame)
    if config.sectors is not None:
        frame = _in_sectors(frame, config.sectors)
    if config.max_symbols is not None:
        frame = frame.iloc[: config.max_symbols].reset_index(drop=True)
    if frame.empty and not errors:
        raise config_error("universe", spec, "a universe with at least one symbol")
    return frame, errors


def _universe_frame(spec: str | Sequence[str] | Path, source: DataSource) -> pd.DataFrame:
    """The universe ``spec`` of a ScanConfig as a frame with (at least) ``symbol, name, sector``."""
    if spec == "demo":
        from .sources._demo import DemoSource

        if not isinstance(source, DemoSource):
            raise config_error(
                "universe",
                spec,
                f"'source' (or a list or CSV path) when the source is not the demo market "
                f"(source is {source!r})",
            )
        return source.universe()
    if spec in ("source", "all"):
        frame = source.universe()
        if frame is None:
            raise config_error(
                "universe", spec, f"a list of symbols or a CSV path: {source!r} lists no universe"
            )
        return frame
    if isinstance(spec, Path):
        if not spec.is_file():
            raise ScanError(
                ErrorType.CONFIG_ERROR,
                f"universe file {str(spec)!r} does not exist",
                details={"field": "universe", "path": str(spec)},
                suggestion="Give the path of a CSV file with the header symbol,name,sector.",
            )
        return read_universe_csv(spec)
    return _listed_symbols(spec, source)


def _listed_symbols(symbols: Sequence[str], source: DataSource) -> pd.DataFrame:
    """A list of symbols with the name and sector the source knows (else the symbol, "Unknown")."""
    frame = pd.DataFrame({"symbol": [str(s).strip() for s in symbols]})
    known = source.universe()
    if known is not None:
        frame = frame.merge(known, on="symbol", how="left")
    for column, fill in (("name", None), ("sector", "Unknown")):
        if column not in frame.columns:
            frame[column] = pd.NA
        frame[column] = frame[column].fillna(frame["symbol"] if fill is None else fill)
    return frame


def _valid_symbols(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[ScanError]]:
    """``frame`` without invalid or repeated symbols (the others normalized), and the errors.

    Each invalid symbol gives one ``ScanError``; a repeated symbol keeps its first row.
    """
    errors: list[ScanError] = []
    valid: list[str | None] = []
    for raw in frame["symbol"]:
        try:
            valid.append(validate_symbol(raw))
        except ScanError as exc:
            errors.append(exc)
            valid.append(None)
    frame["symbol"] = valid
    frame = frame.dropna(subset=["symbol"]).drop_duplicates("symbol").reset_index(drop=True)
    return frame, errors


def _in_sectors(frame: pd.DataFrame, sectors: Sequence[str]) -> pd.DataFrame:
    """The rows of ``frame`` in one of ``sectors`` (case-insensitive); none is a config error."""
    wanted = {s.casefold() for s in sectors}
    available = sorted(set(frame["sector"].astype(str)))
    mask = frame["sector"].astype(str).str.casefold().isin(wanted)
    if not mask.any():
        raise config_error(
            "sectors",
            list(sectors),
            f"sector names present in the universe: {available}",
        )
    return frame.loc[mask].reset_index(drop=True)
