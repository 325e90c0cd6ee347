"""The options of the ``technic-nb`` command, their help texts and the exit codes.

``technic-nb --help`` and ``technic-nb scan --help`` show a description,
examples, the exit codes and every option's default; ``docs/cli.md`` is the
longer reference.
"""

from __future__ import annotations

import argparse

from technic_nb._version import __version__
from technic_nb.engine.config import ScanConfig

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "EXIT_OK",
    "build_parser",
]

#: The scan ran and ranked symbols (or every symbol was filtered out, said on stderr).
EXIT_OK = 0
#: The scan failed: nothing ranked because every symbol failed, a scan-wide failure,
#: or the results could not be written.
EXIT_FAILED = 1
#: Bad input, found before anything was scanned.
EXIT_BAD_INPUT = 2
#: Cancelled with Ctrl-C (the partial results are still written with --out).
EXIT_CANCELLED = 130

DESCRIPTION = """\
Technical stock-market scans with ranked TechRatings.

`technic-nb scan` reads daily bars (the synthetic demo market by default, a
folder of files, or the Polygon API), computes the indicators of every symbol
in parallel, checkpoints each symbol, then filters, scores and ranks them.  The
top of the ranked table and a status line go to stdout; progress, warnings and
errors go to stderr.  Run the same command again and every finished symbol
comes from the checkpoint cache."""

EXAMPLES = """\
examples:
  technic-nb scan                                   # the demo market: 500 made-up symbols
  technic-nb scan --source demo:2000 --jobs 2 --out top.csv
                                                    # 2,000 symbols, the top 20 rows to top.csv
  technic-nb scan --source demo:2000 --jobs 2 --all --out ranked.parquet
                                                    # every ranked row to a Parquet file
  technic-nb scan --source csv:path/to/folder       # your files: SYMBOL.csv[.gz] or .parquet
  technic-nb scan --source csv:path/to/folder --universe AAPL,MSFT --as-of 2017-06-30
  technic-nb scan --source polygon --universe universe.csv   # needs POLYGON_API_KEY
  technic-nb scan --source demo:2000 --dask-client tcp://127.0.0.1:8786"""

EXIT_CODES = """\
exit codes:
  0    success: symbols were ranked, or every symbol was filtered out (said on stderr)
  1    failure: nothing ranked because every symbol failed (a hint on stderr), a
       scan-wide failure (a refused API key, an unreachable Dask scheduler), or
       the results could not be written
  2    bad input, found before scanning: an option's value, a data folder, a
       universe file, an output file that cannot be written
  130  cancelled with Ctrl-C: the partial results are still written with --out;
       run the same command again to resume from the cache"""

#: Shown after the scan options: what goes to stdout and what to stderr.
STREAMS = """\
stdout and stderr:
  stdout  the top --top-n rows of the ranked table, then the status line
  stderr  progress (bars on a terminal, a few plain lines otherwise; none with
          --no-progress), one "warning: ..." line per warning of the scan, the
          failed symbols, and why nothing was ranked when nothing was"""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every option's default in its help, and the description and epilog as written.

    A help text that states its default itself (``(default: ...)``) is left
    alone; an on/off flag says ``(default: off)``.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "(default:" in text:
            return text
        if isinstance(action, argparse._StoreTrueAction):
            return f"{text} (default: off)"
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``technic-nb``."""
    parser = argparse.ArgumentParser(
        prog="technic-nb",
        description=DESCRIPTION,
        epilog=f"{EXAMPLES}\n\n{EXIT_CODES}\n\nRun `technic-nb scan --help` for the options.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"technic-nb {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "scan",
        help="run a scan and print the ranked table",
        description=DESCRIPTION,
        epilog=f"{STREAMS}\n\n{EXAMPLES}\n\n{EXIT_CODES}",
        formatter_class=HelpFormatter,
    )
    _scope_options(p)
    _output_options(p)
    _execution_options(p)
    return parser


def _scope_options(p: argparse.ArgumentParser) -> None:
    """What is scanned: the source, the symbols, the dates and the filters."""
    group = p.add_argument_group("what to scan")
    group.add_argument(
        "--source",
        default="demo",
        help="where the daily bars come from: 'demo' (the synthetic demo market, 500 "
        "made-up symbols), 'demo:N' (N symbols), 'csv:DIR' (a folder of SYMBOL.csv, "
        ".csv.gz or .parquet files, with an optional universe.csv) or "
        "'polygon[:BASE_URL]' (the Polygon API; needs POLYGON_API_KEY)",
    )
    group.add_argument(
        "--universe",
        default=None,
        metavar="SYMBOLS|FILE",
        help="comma-separated symbols (AAPL,MSFT), a CSV file with columns "
        "symbol,name,sector, 'demo' (the demo market's symbols, with a demo source) or "
        "'source' (default: 'source', every symbol the source lists)",
    )
    group.add_argument(
        "--as-of",
        default=None,
        metavar="YYYY-MM-DD",
        help="scan as of the close of this date, ignoring later bars (default: the latest bar)",
    )
    group.add_argument(
        "--lookback",
        type=int,
        default=ScanConfig.lookback_days,
        metavar="BARS",
        help="trading bars of history per symbol, 30 to 20000",
    )
    group.add_argument(
        "--sectors",
        default=None,
        help="comma-separated sectors to keep, e.g. Energy,Utilities (default: every sector)",
    )
    group.add_argument(
        "--max-symbols",
        type=int,
        default=None,
        metavar="N",
        help="scan at most the first N symbols of the universe (default: no limit)",
    )
    group.add_argument(
        "--min-price",
        type=float,
        default=ScanConfig.min_price,
        metavar="DOLLARS",
        help="drop a symbol whose last close is below this price; counted as filtered, not ranked",
    )
    group.add_argument(
        "--min-dollar-volume",
        type=float,
        default=ScanConfig.min_dollar_volume,
        metavar="DOLLARS",
        help="drop a symbol whose mean dollar volume (close x volume) over its last 20 "
        "trading days is below this; counted as filtered, not ranked",
    )


def _output_options(p: argparse.ArgumentParser) -> None:
    """What is printed and written."""
    group = p.add_argument_group("output")
    group.add_argument(
        "--top-n",
        type=int,
        default=20,
        metavar="N",
        help="rows of the ranked table printed, and written with --out unless --all",
    )
    group.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="write the rows printed (the top --top-n) to FILE, .csv or .parquet; with "
        "--all every ranked row (default: no file)",
    )
    group.add_argument(
        "--all", action="store_true", help="with --out: write every ranked row, not the top"
    )
    group.add_argument(
        "--errors-out",
        default=None,
        metavar="FILE",
        help="write every failed symbol with its error and suggestion to FILE (.csv) "
        "(default: no file)",
    )
    group.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress at all on stderr (warnings and errors are still shown)",
    )


def _execution_options(p: argparse.ArgumentParser) -> None:
    """How it runs: the cache and the workers."""
    group = p.add_argument_group("how it runs")
    group.add_argument(
        "--cache-dir",
        default=None,
        metavar="DIR",
        help="checkpoint folder (default: $TECHNIC_NB_CACHE_DIR, else "
        "$XDG_CACHE_HOME/technic_nb, else ~/.cache/technic_nb)",
    )
    group.add_argument("--no-cache", action="store_true", help="do not read or write checkpoints")
    group.add_argument(
        "--jobs",
        type=int,
        default=ScanConfig.n_jobs,
        metavar="N",
        help="worker processes for the indicators; -1 uses every core",
    )
    group.add_argument(
        "--backend",
        default=None,
        help="joblib backend: loky (processes), threading, multiprocessing, sequential "
        "or dask (default: loky, or dask with --dask-client)",
    )
    group.add_argument(
        "--dask-client",
        default=None,
        metavar="ADDRESS",
        help="run on a Dask cluster: its scheduler address, e.g. tcp://127.0.0.1:8786; "
        "implies --backend dask (default: no cluster)",
    )
