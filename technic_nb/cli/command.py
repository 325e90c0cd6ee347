"""The ``technic-nb`` terminal command.

``technic-nb scan`` runs a scan with progress on stderr (tqdm bars on a
terminal, a few plain lines otherwise) and prints the top of the ranked table
on stdout; the scan's warnings, its failed symbols and, when nothing was
ranked, why, go to stderr.  Exit codes (:mod:`technic_nb.cli.parser`): 0
success (symbols ranked, or every symbol filtered out), 1 failure (nothing
ranked because every symbol failed, a scan-wide failure, results that could
not be written), 2 bad input, 130 cancelled by Ctrl-C (partial results are
still written with ``--out``; run the same command again to resume from the
cache).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from technic_nb.cli.checks import check_as_of, check_output, check_rows, error_text
from technic_nb.cli.parser import (
    EXIT_BAD_INPUT,
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    build_parser,
)
from technic_nb.cli.report import failed_lines, filtered_lines, warning_lines, written_line
from technic_nb.core.cancel import ScanCancellation
from technic_nb.core.errors import ErrorType, ScanError
from technic_nb.core.scoring import SUBSCORES
from technic_nb.engine.config import ScanConfig
from technic_nb.engine.progress import MultiStageProgressTracker
from technic_nb.engine.result import ScanResult
from technic_nb.engine.scan import scan
from technic_nb.notebook.console import ConsoleProgress, LineProgress
from technic_nb.notebook.text import RESULT_COLUMNS, count
from technic_nb.sources.polygon.config import redact

__all__ = ["build_parser", "main"]

#: The columns printed: the panel's final table without the subscores, with the
#: sector and three indicators beside the trade plan.
DISPLAY_COLUMNS = [
    "rank",
    "sector",
    *(c for c in RESULT_COLUMNS if c != "rank" and c not in SUBSCORES),
    "rsi",
    "atr_pct",
    "ret_21d_pct",
]


def _config_from_args(args: argparse.Namespace) -> ScanConfig:
    universe: Any = args.universe
    if universe is not None and (
        "," in universe
        or (
            universe.lower() not in ("demo", "source", "all")
            and not universe.lower().endswith(".csv")
            and "/" not in universe
        )
    ):
        universe = universe.split(",")  # blanks and repeats are the universe's notes
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
    out = Path(path).expanduser()
    if out.suffix.lower() == ".parquet":
        table.to_parquet(out)
    else:
        table.to_csv(out)


def _print_errors(errors: pd.DataFrame) -> None:
    """One line on stderr about the failed symbols (redacted: it may quote a URL)."""
    if len(errors):
        first = redact(str(errors["message"].iloc[0]))
        print(f"{count(len(errors), 'symbol')} failed; first: {first}", file=sys.stderr)


def _say(*lines: str) -> None:
    """Print ``lines`` on stderr."""
    for line in lines:
        print(line, file=sys.stderr)


def _fail(text: str) -> int:
    """Print ``technic-nb: error: text`` (redacted) on stderr; the bad-input exit code 2."""
    _say(f"technic-nb: error: {redact(text)}")
    return EXIT_BAD_INPUT


def _checked_config(args: argparse.Namespace) -> ScanConfig | int:
    """The configuration, or the exit code 2 after saying what is wrong with the input.

    Everything is checked before the scan starts: the output files can be
    written, ``--top-n`` is a positive count, the configuration is valid and
    ``--as-of`` falls inside the data.
    """
    if args.out and Path(args.out).suffix.lower() not in (".csv", ".parquet"):
        return _fail(f"--out {args.out!r} must end in .csv or .parquet")
    problem = (
        check_rows(args.top_n)
        or check_output(args.out, "--out")
        or check_output(args.errors_out, "--errors-out")
    )
    if problem:
        return _fail(problem)
    try:
        config = _config_from_args(args)
        problem = check_as_of(config, args.as_of)
    except ScanError as exc:
        return _fail(error_text(exc))
    return _fail(problem) if problem else config


def _progress(
    tracker: MultiStageProgressTracker, no_progress: bool
) -> ConsoleProgress | LineProgress | None:
    """The progress on stderr: tqdm bars on a terminal, plain lines elsewhere, or none."""
    if no_progress:
        return None
    isatty = getattr(sys.stderr, "isatty", None)
    if isatty is not None and isatty():
        return ConsoleProgress(tracker, file=sys.stderr)
    return LineProgress(tracker, file=sys.stderr)


def _run(config: ScanConfig, no_progress: bool) -> ScanResult | int:
    """Scan with progress on stderr; Ctrl-C cancels (a second one stops at once)."""
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
    view = _progress(tracker, no_progress)
    try:
        result = scan(config, cancellation_token=token, tracker=tracker)
    except ScanError as exc:
        if view is not None:
            view.close()
        _say(f"technic-nb: error: {redact(error_text(exc))}")
        bad_input = exc.error_type in (ErrorType.CONFIG_ERROR, ErrorType.DATA_ERROR)
        return EXIT_BAD_INPUT if bad_input else EXIT_FAILED
    except KeyboardInterrupt:
        if view is not None:
            view.close()
        _say("technic-nb: interrupted")
        return EXIT_CANCELLED
    finally:
        signal.signal(signal.SIGINT, previous)
    if view is not None:
        view.close(result.status)
    return result


def _report(result: ScanResult, args: argparse.Namespace) -> int:
    """Write the files asked for, print the top rows, the status and the notes; the exit code.

    stdout gets the table and the status line; stderr the warnings, the failed
    symbols, what ``--out`` wrote and, when nothing was ranked, why.
    """
    table = result.table
    written = table if args.all else table.head(args.top_n)
    _say(*warning_lines(result))
    try:
        if args.out:
            _write_table(written, args.out)
        if args.errors_out:
            result.errors.to_csv(Path(args.errors_out).expanduser(), index=False)
    except OSError as exc:
        _say(f"technic-nb: error: could not write the results: {exc}")
        return EXIT_FAILED
    shown = [c for c in DISPLAY_COLUMNS if c in table.columns]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        if len(table):
            print(table[shown].head(args.top_n).to_string(float_format=lambda v: f"{v:,.2f}"))
        else:
            print("(no ranked symbols)")
    _print_errors(result.errors)
    if args.out:
        _say(written_line(len(written), len(table), args.out, args.all))
    print(result.status)
    if result.cancelled:
        return EXIT_CANCELLED
    if len(table) == 0 and len(result.filtered):
        _say(*filtered_lines(result))
    elif len(table) == 0 and len(result.errors):
        _say(*failed_lines(result))
        return EXIT_FAILED
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    config = _checked_config(args)
    if isinstance(config, int):
        return config
    if "://" in args.source:  # say where the bars come from, never with a key
        print(f"technic-nb: source {redact(args.source)}", file=sys.stderr)
    try:
        result = _run(config, args.no_progress)
    finally:
        _stop_workers(config)
    if isinstance(result, int):
        return result
    return _report(result, args)


def _stop_workers(config: ScanConfig) -> None:
    """End the loky worker processes of the scan before the command returns.

    A notebook keeps its workers warm for the next scan; a command runs one scan,
    so it waits for its workers to exit instead of leaving them to notice that
    their parent is gone.
    """
    if config.backend != "loky":
        return
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
