"""The ``technic-nb`` terminal command.

``technic-nb scan`` runs a scan with console progress bars on stderr and prints
the top of the ranked table on stdout.  Exit codes: 0 success, 2 bad input
(configuration, universe, data folder), 1 other failures, 130 cancelled by
Ctrl-C (partial results are still written with ``--out``; run the same command
again to resume from the cache).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from ._cancel import ScanCancellation
from ._config import ScanConfig
from ._console import ConsoleProgress
from ._engine import scan
from ._errors import ErrorType, ScanError
from ._progress import MultiStageProgressTracker

__all__ = ["build_parser", "main"]

DISPLAY_COLUMNS = [
    "rank",
    "sector",
    "signal",
    "tech_rating",
    "close",
    "entry",
    "stop",
    "target",
    "reward_risk",
    "rsi",
    "atr_pct",
    "ret_21d_pct",
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``technic-nb``."""
    parser = argparse.ArgumentParser(
        prog="technic-nb", description="Technical stock-market scans with ranked TechRatings."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("scan", help="run a scan and print the ranked table")
    p.add_argument(
        "--universe",
        default="demo",
        help="'demo', 'source', a CSV file (symbol,name,sector) or comma-separated symbols",
    )
    p.add_argument(
        "--source",
        default="demo",
        help="'demo', 'demo:N', 'csv:DIR' or 'polygon[:BASE_URL]' (default: demo)",
    )
    p.add_argument(
        "--lookback", type=int, default=None, help="trading bars of history (default 300)"
    )
    p.add_argument("--as-of", default=None, help="scan as of this date (YYYY-MM-DD)")
    p.add_argument(
        "--top-n", type=int, default=20, help="rows printed (and kept with --out unless --all)"
    )
    p.add_argument("--all", action="store_true", help="write every ranked row with --out")
    p.add_argument("--sectors", default=None, help="comma-separated sector filter")
    p.add_argument("--max-symbols", type=int, default=None, help="scan at most this many symbols")
    p.add_argument("--min-price", type=float, default=None)
    p.add_argument("--min-dollar-volume", type=float, default=None)
    p.add_argument("--cache-dir", default=None, help="checkpoint folder")
    p.add_argument("--no-cache", action="store_true", help="do not read or write checkpoints")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (-1: all cores)")
    p.add_argument("--backend", default=None, help="joblib backend (loky, threading, dask, ...)")
    p.add_argument(
        "--dask-client",
        default=None,
        help="Dask scheduler address such as tcp://127.0.0.1:8786 (implies --backend dask)",
    )
    p.add_argument("--out", default=None, help="write the table to FILE (.csv or .parquet)")
    p.add_argument("--errors-out", default=None, help="write the error table to FILE (.csv)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return parser


def _config_from_args(args: argparse.Namespace) -> ScanConfig:
    universe: Any = args.universe
    if "," in universe or (
        universe.lower() not in ("demo", "source", "all")
        and not universe.lower().endswith(".csv")
        and "/" not in universe
    ):
        universe = [s for s in universe.split(",") if s.strip()]
    options: dict[str, Any] = {"universe": universe, "source": args.source}
    for name, value in (
        ("lookback_days", args.lookback),
        ("as_of", args.as_of),
        ("max_symbols", args.max_symbols),
        ("min_price", args.min_price),
        ("min_dollar_volume", args.min_dollar_volume),
        ("cache_dir", args.cache_dir),
        ("n_jobs", args.jobs),
        ("backend", args.backend),
    ):
        if value is not None:
            options[name] = value
    if args.sectors:
        options["sectors"] = [s for s in args.sectors.split(",") if s.strip()]
    if args.no_cache:
        options["use_cache"] = False
    if args.dask_client:
        options["dask_client"] = args.dask_client
        options.setdefault("backend", "dask")
    return ScanConfig(**options)


def _write_table(table: pd.DataFrame, path: str) -> None:
    out = Path(path)
    if out.suffix.lower() == ".parquet":
        table.to_parquet(out)
    else:
        table.to_csv(out)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    if args.out and Path(args.out).suffix.lower() not in (".csv", ".parquet"):
        print(
            f"technic-nb: error: --out {args.out!r} must end in .csv or .parquet", file=sys.stderr
        )
        return 2
    try:
        config = _config_from_args(args)
    except ScanError as exc:
        print(f"technic-nb: error: {exc}", file=sys.stderr)
        return 2

    token = ScanCancellation()
    interrupts = 0

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            raise KeyboardInterrupt
        token.cancel("interrupted")

    previous = signal.signal(signal.SIGINT, on_sigint)
    tracker = MultiStageProgressTracker()
    view = ConsoleProgress(tracker, file=sys.stderr, disable=args.no_progress)
    try:
        result = scan(config, cancellation_token=token, tracker=tracker)
    except ScanError as exc:
        view.close()
        print(f"technic-nb: error: {exc}", file=sys.stderr)
        return 2 if exc.error_type in (ErrorType.CONFIG_ERROR, ErrorType.DATA_ERROR) else 1
    except KeyboardInterrupt:
        view.close()
        print("technic-nb: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
    view.close(result.status)

    table = result.table
    if args.out:
        _write_table(table if args.all else table.head(args.top_n), args.out)
    if args.errors_out:
        result.errors.to_csv(args.errors_out, index=False)
    shown = [c for c in DISPLAY_COLUMNS if c in table.columns]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        if len(table):
            print(table[shown].head(args.top_n).to_string(float_format=lambda v: f"{v:,.2f}"))
        else:
            print("(no ranked symbols)")
    if len(result.errors):
        print(
            f"{len(result.errors)} symbol(s) failed; first: {result.errors['message'].iloc[0]}",
            file=sys.stderr,
        )
    print(result.status)
    return 130 if result.cancelled else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
