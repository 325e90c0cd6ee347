"""Turning ``ScanConfig.universe`` into a table of symbols to scan.

Every entry is accounted for.  Symbols are normalised (stripped, upper-cased)
before anything else, then:

* a blank entry (an empty line or an empty ``symbol`` cell of a CSV, an empty
  string in a list) is skipped;
* a repeat of a symbol already listed (``aapl`` and `` AAPL `` after
  ``AAPL``) is skipped, the first occurrence kept (with its name and sector);
* an entry that is not a valid ticker (``../x``, ``A B``) is not scanned: it
  becomes that entry's error in ``result.errors``.

Each of the three is named in one note of :attr:`Universe.notes` (the scan
puts them in ``result.warnings``), with the lines or positions concerned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from technic_nb.core.errors import ErrorType, ScanError, config_error
from technic_nb.core.symbols import validate_symbol
from technic_nb.engine.config import ScanConfig
from technic_nb.sources.base import DataSource
from technic_nb.sources.files import UNIVERSE_HELP, universe_rows

__all__ = ["Universe", "load_universe", "read_universe"]

#: Examples named in one note at most.
_SHOWN = 10


@dataclass
class Universe:
    """The symbols to scan and what was set aside on the way.

    Attributes:
        frame: ``symbol, name, sector`` of each symbol to scan, in universe order.
        invalid: one ``ScanError`` per entry that is not a valid ticker.
        notes: one line per kind of entry skipped (blank, repeated, invalid).
    """

    frame: pd.DataFrame
    invalid: list[ScanError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_universe(config: ScanConfig, source: DataSource) -> tuple[pd.DataFrame, list[ScanError]]:
    """The symbols to scan (``symbol, name, sector``) and the errors of invalid symbols
    (:func:`read_universe` without its notes)."""
    universe = read_universe(config, source)
    return universe.frame, universe.invalid


def read_universe(config: ScanConfig, source: DataSource) -> Universe:
    """The :class:`Universe` of ``config``: cleaned, then the sector filter and
    ``max_symbols`` applied.

    Raises:
        ScanError: a ``config_error`` when the universe cannot be read or holds
            no symbol at all.
    """
    spec = config.universe
    raw, place = _universe_frame(spec, source)
    universe = _clean(raw, place)
    frame = universe.frame
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        frame = _with_source_names(frame, source)
    if config.sectors is not None:
        frame = _in_sectors(frame, config.sectors)
    if config.max_symbols is not None:
        frame = frame.iloc[: config.max_symbols].reset_index(drop=True)
    if frame.empty and not universe.invalid:
        raise config_error("universe", spec, "a universe with at least one symbol")
    universe.frame = frame
    return universe


def _universe_frame(
    spec: str | Sequence[str] | Path | None, source: DataSource
) -> tuple[pd.DataFrame, tuple[str, int]]:
    """The raw entries of ``spec`` (``symbol`` as given, ``name``, ``sector``) and how
    to name an entry's place: ``("line", 2)`` means CSV line = index + 2."""
    if spec == "demo":
        from technic_nb.sources.demo import DemoSource

        if not isinstance(source, DemoSource):
            raise config_error(
                "universe",
                spec,
                f"'source' (or a list or CSV path) when the source is not the demo market "
                f"(source is {source!r})",
            )
        return source.universe(), ("row", 1)
    if spec is None or spec in ("source", "all"):
        listing = getattr(source, "universe_file", None)
        if isinstance(listing, Path):  # a folder's universe.csv: its blank lines are reported
            return _csv_frame(listing), ("line", 2)
        frame = source.universe()
        if frame is None:
            raise config_error(
                "universe",
                spec,
                f"a list of symbols or a CSV path: the source {source!r} lists no symbols "
                "of its own",
            )
        return frame, ("row", 1)
    if isinstance(spec, Path):
        return _csv_frame(spec), ("line", 2)
    return pd.DataFrame({"symbol": list(spec)}), ("position", 1)


def _csv_frame(path: Path) -> pd.DataFrame:
    """A universe file's rows, blank ones included (so that they can be reported)."""
    if not path.is_file():
        raise ScanError(
            ErrorType.CONFIG_ERROR,
            f"universe file {str(path)!r} does not exist",
            details={"field": "universe", "path": str(path)},
            suggestion=UNIVERSE_HELP,
        )
    return universe_rows(path)


def _text(value: object) -> str:
    """A cell as text ('' for missing values)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _clean(raw: pd.DataFrame, place: tuple[str, int]) -> Universe:
    """Normalised, unique, valid symbols with names and sectors, and the notes."""
    word, offset = place
    blanks: list[str] = []
    repeats: list[str] = []
    invalid: dict[str, ScanError] = {}
    rows: dict[str, tuple[str, str]] = {}
    names = raw["name"].tolist() if "name" in raw.columns else None
    sectors = raw["sector"].tolist() if "sector" in raw.columns else None
    for position, value in enumerate(raw["symbol"].tolist()):
        text = _text(value)
        if not text.strip():
            blanks.append(str(position + offset))
            continue
        try:
            symbol = validate_symbol(text)
        except ScanError as exc:
            if text in invalid:
                repeats.append(f"{text!r} repeats itself")
            invalid.setdefault(text, exc)
            continue
        if symbol in rows:
            repeats.append(f"{text!r} repeats {symbol}" if text != symbol else f"{symbol} again")
            continue
        name = _text(names[position]).strip() if names is not None else ""
        sector = _text(sectors[position]).strip() if sectors is not None else ""
        rows[symbol] = (name or symbol, sector or "Unknown")
    frame = pd.DataFrame(
        [(s, n, sec) for s, (n, sec) in rows.items()], columns=["symbol", "name", "sector"]
    )
    notes = _notes(word, blanks, repeats, list(invalid))
    return Universe(frame, list(invalid.values()), notes)


def _some(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _notes(word: str, blanks: list[str], repeats: list[str], invalid: list[str]) -> list[str]:
    notes = []
    if blanks:
        places = f"{word}{'s' if len(blanks) > 1 else ''} {_some(blanks)}"
        notes.append(
            f"universe: {len(blanks)} blank entr{'ies' if len(blanks) > 1 else 'y'} "
            f"skipped ({places})"
        )
    if repeats:
        notes.append(
            f"universe: {len(repeats)} duplicate{'s' if len(repeats) > 1 else ''} skipped "
            f"after normalising, the first occurrence kept ({_some(repeats)})"
        )
    if invalid:
        shown = _some([repr(text) for text in invalid])
        notes.append(
            f"universe: {len(invalid)} invalid symbol{'s' if len(invalid) > 1 else ''} not "
            f"scanned, each listed in result.errors ({shown})"
        )
    return notes


def _with_source_names(frame: pd.DataFrame, source: DataSource) -> pd.DataFrame:
    """Listed symbols with the name and sector the source knows (by normalised symbol)."""
    known = source.universe()
    if known is None or frame.empty:
        return frame
    known = known.loc[:, ["symbol", "name", "sector"]].drop_duplicates("symbol")
    merged = frame[["symbol"]].merge(known, on="symbol", how="left")
    merged["name"] = merged["name"].fillna(merged["symbol"]).astype(str)
    merged["sector"] = merged["sector"].fillna("Unknown").astype(str)
    return merged


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
