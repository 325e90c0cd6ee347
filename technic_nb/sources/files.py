"""A folder of per-symbol files: ``SYMBOL.csv``, ``SYMBOL.csv.gz`` or ``SYMBOL.parquet``."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import pandas as pd

from technic_nb.core.errors import ErrorType, ScanError, data_error
from technic_nb.core.symbols import validate_symbol
from technic_nb.sources.base import DataSource, DateWindow

__all__ = ["DirectorySource"]

#: File endings tried for a symbol, in this order.
EXTENSIONS: tuple[str, ...] = (".parquet", ".csv.gz", ".csv")
_BENCHMARK_CANDIDATES = ("SPY", "IVV", "VOO")


class DirectorySource(DataSource):
    """Bars from one file per symbol in a folder.

    Each file has the columns ``date,open,high,low,close,volume`` (any case).
    A ``universe.csv`` with ``symbol,name,sector`` is used as the universe when
    present; otherwise the universe is every symbol file in the folder.  The
    benchmark for the market regime is ``SPY`` (or ``IVV``/``VOO``) found in the
    folder or in its ``benchmarks/`` sub-folder.

    Symbols keep class suffixes with a dot (``BRK.B.csv.gz``); the symbol is
    validated before any path is built, so no symbol can name a file outside
    the folder.
    """

    fetch_in_worker = True
    cache_bars = False

    def __init__(self, path: str | Path, benchmark: str | None = "auto") -> None:
        root = Path(path).expanduser()
        if not root.is_dir():
            raise ScanError(
                ErrorType.CONFIG_ERROR,
                f"data folder {str(root)!r} does not exist or is not a folder",
                details={"field": "source", "path": str(root)},
                suggestion="Pass source='csv:DIR' with a folder of SYMBOL.csv[.gz] or "
                "SYMBOL.parquet files.",
            )
        self.root = root.resolve()
        self._benchmark = benchmark
        self._universe: pd.DataFrame | None = None

    @property
    def identity(self) -> str:
        return f"dir:{self.root}"

    # -- files ---------------------------------------------------------------
    def path_for(self, symbol: str) -> Path | None:
        """The file holding ``symbol`` (validated first), or None if there is none."""
        symbol = validate_symbol(symbol)
        for folder in (self.root, self.root / "benchmarks"):
            for ext in EXTENSIONS:
                candidate = folder / f"{symbol}{ext}"
                if candidate.is_file():
                    if self.root not in candidate.resolve().parents:  # symlinks out of the folder
                        raise data_error(symbol, "file resolves outside the data folder")
                    return candidate
        return None

    def fingerprint(self, symbol: str, window: DateWindow) -> str:
        path = self.path_for(symbol)
        if path is None:
            stamp = "missing"
        else:
            stat = path.stat()
            stamp = f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"
        return f"{self.identity}|{symbol}|{window.key()}|1d|{stamp}"

    def _fetch_raw(self, symbol, window, cancellation) -> pd.DataFrame:
        path = self.path_for(symbol)
        if path is None:
            raise data_error(
                symbol,
                f"no file {symbol}.csv, {symbol}.csv.gz or {symbol}.parquet in {self.root}",
                "Check the symbol, or remove it from the universe.",
            )
        return read_bars_file(path, symbol)

    # -- universe ------------------------------------------------------------
    @property
    def universe_file(self) -> Path | None:
        """The folder's ``universe.csv``, if it has one."""
        listing = self.root / "universe.csv"
        return listing if listing.is_file() else None

    def universe(self) -> pd.DataFrame:
        if self._universe is None:
            listing = self.root / "universe.csv"
            if listing.is_file():
                self._universe = read_universe_csv(listing)
            else:
                names = (_strip_extension(p.name) for p in self.root.iterdir() if p.is_file())
                symbols = sorted({name for name in names if name is not None})
                self._universe = pd.DataFrame(
                    {"symbol": symbols, "name": symbols, "sector": ["Unknown"] * len(symbols)}
                )
        return self._universe

    def benchmark_symbol(self) -> str | None:
        if self._benchmark != "auto":
            return self._benchmark
        for candidate in _BENCHMARK_CANDIDATES:
            if self.path_for(candidate) is not None:
                return candidate
        return None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_universe"] = None  # workers never need it; keep pickles small
        return state


def _strip_extension(name: str) -> str | None:
    for ext in EXTENSIONS:
        if name.endswith(ext) and name != ext:
            return name[: -len(ext)]
    return None


def read_bars_file(path: Path, symbol: str) -> pd.DataFrame:
    """Read one bars file, turning any parse failure into a data error naming the file."""
    try:
        if path.name.endswith(".parquet"):
            frame = pd.read_parquet(path)
        else:
            data = path.read_bytes()
            if path.name.endswith(".gz"):
                data = gzip.decompress(data)  # much faster than pandas' streaming gzip reader
            frame = pd.read_csv(io.BytesIO(data), engine="c")
            frame.attrs["first_line"] = 2  # the line below the header
            if b"\n\n" in data or b"\n\r\n" in data:  # read_csv skips blank lines
                frame.attrs["lines"] = _data_lines(data)
        frame.attrs["file"] = path.name
        return frame
    except (
        ValueError,
        OSError,
        EOFError,
        zlib.error,
        gzip.BadGzipFile,
        UnicodeDecodeError,
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
    ) as exc:
        raise data_error(
            symbol,
            f"cannot read {path.name}: {type(exc).__name__}: {exc}".rstrip(": "),
            "Check that the file is a complete CSV (or Parquet) file with the header "
            "date,open,high,low,close,volume.",
            path=str(path),
        ) from None


def _data_lines(data: bytes) -> list[int]:
    """The line number of each data row of a CSV with blank lines (header: line 1)."""
    numbers = [n for n, line in enumerate(data.splitlines(), start=1) if line.strip()]
    return numbers[1:]


UNIVERSE_HELP = "Give a CSV file with the header symbol,name,sector."


def universe_rows(path: Path) -> pd.DataFrame:
    """A universe file's rows as text, blank lines included (as rows of empty text), with
    lower-case column names; a ``config_error`` when it cannot be read or has no
    ``symbol`` column."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ScanError(
            ErrorType.CONFIG_ERROR,
            f"cannot read universe file {str(path)!r}: {exc}",
            details={"field": "universe", "path": str(path)},
            suggestion=UNIVERSE_HELP,
        ) from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "symbol" not in frame.columns:
        raise ScanError(
            ErrorType.CONFIG_ERROR,
            f"universe file {str(path)!r} has no 'symbol' column (columns: {list(frame.columns)})",
            details={"field": "universe", "path": str(path)},
            suggestion=UNIVERSE_HELP,
        )
    return frame


def read_universe_csv(path: Path) -> pd.DataFrame:
    """Read a ``symbol,name,sector`` universe file (name and sector optional)."""
    frame = universe_rows(path)
    frame["symbol"] = frame["symbol"].str.strip()
    if "name" not in frame.columns:
        frame["name"] = frame["symbol"]
    if "sector" not in frame.columns:
        frame["sector"] = "Unknown"
    frame["sector"] = frame["sector"].replace("", "Unknown")
    return frame.loc[frame["symbol"] != "", ["symbol", "name", "sector"]].reset_index(drop=True)
