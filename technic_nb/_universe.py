"""Turning ``ScanConfig.universe`` into a table of symbols to scan."""

from __future__ import annotations

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
    if spec == "demo":
        from .sources._demo import DemoSource

        if not isinstance(source, DemoSource):
            raise config_error(
                "universe",
                spec,
                f"'source' (or a list or CSV path) when the source is not the demo market "
                f"(source is {source!r})",
            )
        frame = source.universe()
    elif spec in ("source", "all"):
        frame = source.universe()
        if frame is None:
            raise config_error(
                "universe", spec, f"a list of symbols or a CSV path: {source!r} lists no universe"
            )
    elif isinstance(spec, Path):
        if not spec.is_file():
            raise ScanError(
                ErrorType.CONFIG_ERROR,
                f"universe file {str(spec)!r} does not exist",
                details={"field": "universe", "path": str(spec)},
                suggestion="Give the path of a CSV file with the header symbol,name,sector.",
            )
        frame = read_universe_csv(spec)
    else:
        symbols = [str(s).strip() for s in spec]
        frame = pd.DataFrame({"symbol": symbols})
        known = source.universe()
        if known is not None:
            frame = frame.merge(known, on="symbol", how="left")
        for column, fill in (("name", None), ("sector", "Unknown")):
            if column not in frame.columns:
                frame[column] = pd.NA
            frame[column] = frame[column].fillna(frame["symbol"] if fill is None else fill)
    frame = frame.loc[:, ["symbol", "name", "sector"]].astype(str)

    errors: list[ScanError] = []
    valid = []
    for raw in frame["symbol"]:
        try:
            valid.append(validate_symbol(raw))
        except ScanError as exc:
            errors.append(exc)
            valid.append(None)
    frame["symbol"] = valid
    frame = frame.dropna(subset=["symbol"]).drop_duplicates("symbol").reset_index(drop=True)

    if config.sectors is not None:
        wanted = {s.casefold() for s in config.sectors}
        available = sorted(set(frame["sector"].astype(str)))
        mask = frame["sector"].astype(str).str.casefold().isin(wanted)
        if not mask.any():
            raise config_error(
                "sectors",
                list(config.sectors),
                f"sector names present in the universe: {available}",
            )
        frame = frame.loc[mask].reset_index(drop=True)
    if config.max_symbols is not None:
        frame = frame.iloc[: config.max_symbols].reset_index(drop=True)
    if frame.empty and not errors:
        raise config_error("universe", spec, "a universe with at least one symbol")
    return frame, errors
