"""The technic-nb command end to end (real subprocesses)."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pandas as pd
import pytest

import technic_nb as tn
from technic_nb.cli import main
from technic_nb.cli.report import failure_cause
from technic_nb.notebook.console import LineProgress

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "technic_nb.cli"]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the command with stdout and stderr on pipes (not a terminal)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="100")
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


class Terminal:
    """The command with its stderr on a terminal (a 40 x 120 pseudo-terminal), its stdout
    on a pipe (a few lines); :meth:`read` what the terminal shows as it comes,
    :meth:`finish` at the end.
    """

    def __init__(self, *args: str) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.proc = subprocess.Popen(
            [*COMMAND, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        os.close(slave)
        self._master = master
        self.screen = ""  # everything written to the terminal so far

    def read(self) -> bool:
        """Read what is there (waiting for it); False once the terminal has nothing more."""
        while True:
            ready, _, _ = select.select([self._master], [], [], 1.0)
            if ready:
                try:
                    data = os.read(self._master, 4096)
                except OSError:  # every process holding the terminal has closed it
                    return False
                self.screen += data.decode(errors="replace")
                return bool(data)
            if self.proc.poll() is not None:
                return False

    def finish(self) -> tuple[int, str, str]:
        """Wait for the command; its exit code, its stdout and the terminal's text."""
        try:
            while self.read():
                pass
            stdout, _ = self.proc.communicate(timeout=300)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            os.close(self._master)
        return self.proc.returncode, stdout, self.screen


def test_scan_demo_end_to_end(tmp_path):
    out = tmp_path / "top.csv"
    proc = run_cli(
        "scan",
        "--source",
        "demo:150",
        "--cache-dir",
        str(tmp_path / "c"),
        "--top-n",
        "10",
        "--jobs",
        "2",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("Scanned 150 symbols")
    assert "signal" in lines[0] and "tech_rating" in lines[0]
    assert len(lines) == 1 + 1 + 10 + 1  # header, index name row, 10 rows, status
    # progress goes to stderr (plain lines: stderr is a pipe here), one per stage at least
    for label in ("overall", "universe", "fetching", "scanning", "finalizing"):
        assert label in proc.stderr
    table = pd.read_csv(out, index_col="symbol")
    assert list(table["rank"]) == list(range(1, 11))


def test_scan_parquet_output_and_resume(tmp_path):
    out = tmp_path / "all.parquet"
    args = [
        "scan",
        "--source",
        "demo:80",
        "--cache-dir",
        str(tmp_path / "c"),
        "--jobs",
        "1",
        "--all",
        "--out",
        str(out),
        "--no-progress",
    ]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    second = run_cli(*args)
    assert "80 from cache" in second.stdout.strip().splitlines()[-1]
    assert len(pd.read_parquet(out)) > 10


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--lookback", "5"], "ScanConfig.lookback_days=5 is invalid"),
        (["--as-of", "yesterday"], "ScanConfig.as_of='yesterday' is invalid"),
        (["--top-n", "0"], "--top-n 0 is invalid"),
        (["--source", "ftp:x"], "ScanConfig.source='ftp:x' is invalid"),
        (["--source", "csv:/no/such/folder"], "does not exist"),
        (["--out", "x.xlsx"], "must end in .csv or .parquet"),
        (["--backend", "spark"], "ScanConfig.backend='spark' is invalid"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(tmp_path, args, needle, capsys):
    code = main(["scan", "--cache-dir", str(tmp_path), "--no-progress", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("technic-nb: error:")
    assert needle in err[0]


def test_symbols_list_with_real_data(real_data_dir, tmp_path):
    proc = run_cli(
        "scan",
        "--source",
        f"csv:{real_data_dir}",
        "--universe",
        "AAPL,MSFT,XOM",
        "--cache-dir",
        str(tmp_path),
        "--jobs",
        "1",
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    assert all(s in proc.stdout for s in ("AAPL", "MSFT", "XOM"))
    assert "as of 2017-11-10" in proc.stdout


def test_ctrl_c_writes_partial_results_exits_130_and_resumes(tmp_path):
    out = tmp_path / "partial.csv"
    args = [
        "scan",
        "--source",
        "demo:3000",
        "--cache-dir",
        str(tmp_path / "c"),
        "--jobs",
        "2",
        "--all",
        "--out",
        str(out),
    ]
    terminal = Terminal(*args)  # Ctrl-C is pressed at a terminal, where the bars are drawn
    # wait until the scanning bar has moved (tqdm writes carriage-return updates)
    while not [
        n for n in re.findall(r"scanning:[^\r\n]*?(\d+)/3000", terminal.screen) if int(n) >= 50
    ]:
        assert terminal.read(), f"the scan ended before it could be interrupted: {terminal.screen}"
    terminal.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the command
    code, stdout, _ = terminal.finish()
    assert code == 130
    status = stdout.strip().splitlines()[-1]
    assert status.startswith("Cancelled after") and "run again to resume" in status
    done = int(status.split()[2])
    assert 0 < done < 3000
    partial = pd.read_csv(out, index_col="symbol")
    assert 0 < len(partial) <= done
    again = run_cli(*args[:-2], "--no-progress", "--max-symbols", "3000")
    assert again.returncode == 0, again.stderr
    last = again.stdout.strip().splitlines()[-1]
    cached = int(last.split(" from cache")[0].split()[-1])
    assert cached >= done


def test_dask_scheduler_that_cannot_be_reached(tmp_path, capsys):
    code = main(
        [
            "scan",
            "--cache-dir",
            str(tmp_path),
            "--no-progress",
            "--dask-client",
            "tcp://127.0.0.1:9",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("technic-nb: error: [system_error]")
    assert "tcp://127.0.0.1:9" in err[-1]


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single ``technic-nb: error:`` line of a command that stopped before scanning."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr  # no progress bars: nothing was scanned
    assert lines[0].startswith("technic-nb: error:")
    assert proc.stdout == ""
    return lines[0]


@pytest.mark.parametrize("rows", ["-3", "0"])
def test_top_n_must_be_positive(tmp_path, rows):
    line = _one_error_line(run_cli("scan", "--cache-dir", str(tmp_path), "--top-n", rows))
    assert f"--top-n {rows} is invalid" in line and "1 or more" in line


@pytest.mark.parametrize("option", ["--out", "--errors-out"])
def test_output_into_a_missing_folder_is_refused_before_the_scan(tmp_path, option):
    target = tmp_path / "no" / "such" / "folder" / "top.csv"
    line = _one_error_line(run_cli("scan", "--cache-dir", str(tmp_path), option, str(target)))
    assert "does not exist" in line and "mkdir -p" in line
    assert str(target.parent) in line
    assert not target.parent.exists()


def test_output_that_is_a_folder_is_refused(tmp_path):
    folder = tmp_path / "out.csv"
    folder.mkdir()
    line = _one_error_line(run_cli("scan", "--cache-dir", str(tmp_path), "--out", str(folder)))
    assert "is a folder" in line


def test_date_error_suggests_the_option_not_itself(tmp_path):
    line = _one_error_line(run_cli("scan", "--cache-dir", str(tmp_path), "--as-of", "yesterday"))
    message, _, suggestion = line.partition(" - ")
    assert "ScanConfig.as_of='yesterday' is invalid" in message
    assert suggestion.startswith("check --as-of") and "e.g. --as-of 2025-06-30" in suggestion
    assert "Pass as_of" not in line  # the API's suggestion restated the message


@pytest.mark.parametrize(
    ("as_of", "where"), [("2001-01-01", "before the data starts"), ("2031-01-01", "after")]
)
def test_as_of_outside_the_demo_data_says_its_range(tmp_path, as_of, where):
    line = _one_error_line(run_cli("scan", "--cache-dir", str(tmp_path), "--as-of", as_of))
    assert f"--as-of {as_of} is {where}" in line
    found = re.search(r"has bars from (\S+) to (\S+) \(read from its benchmark DEMO\)", line)
    assert found, line
    first, last = found.groups()
    assert first < last == "2025-12-31"
    assert re.search(r"choose a date from \S+ \(the first with 200 bars", line)


def test_as_of_outside_a_folder_of_real_data(real_data_dir, tmp_path):
    line = _one_error_line(
        run_cli(
            "scan",
            "--source",
            f"csv:{real_data_dir}",
            "--universe",
            "AAPL,MSFT",
            "--cache-dir",
            str(tmp_path),
            "--as-of",
            "2024-06-28",
        )
    )
    assert "after the data ends" in line and "to 2017-11-10 (read from its benchmark SPY)" in line


def test_console_stage_bars_show_each_stage_own_time(tmp_path):
    code, stdout, screen = Terminal(
        "scan", "--source", "demo:120", "--cache-dir", str(tmp_path), "--jobs", "1"
    ).finish()
    assert code == 0, screen
    assert "\r" in screen and "\x1b[" in screen  # tqdm bars, redrawn in place
    screen = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "\n", screen).replace("\r", "\n")
    universe = [line for line in screen.splitlines() if line.strip().startswith("universe:")]
    final = universe[-1]
    assert "3/3" in final and "step/s" not in final and "s/step" not in final, final
    seconds = float(re.search(r"\[(\d+\.\d+) s\]", final).group(1))
    scan_seconds = float(re.search(r" in (\d+\.\d+)s:", stdout).group(1))
    assert seconds <= scan_seconds  # a stage's own time, not the time until the bars closed


_COUNT_WORKERS_AFTER_MAIN = """
import sys, psutil
from technic_nb.cli import main
code = main(sys.argv[1:])
me = psutil.Process()
workers = [
    p for p in me.children(recursive=True)
    if p.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(p.cmdline())
]
print("workers", len(workers), file=sys.stderr)
sys.exit(code)
"""


def test_a_cli_scan_ends_with_its_worker_processes_gone(tmp_path):
    """``main`` returns only once the scan's loky workers have exited (a notebook keeps
    them warm for the next scan; a command has no next scan)."""
    pytest.importorskip("psutil")
    args = ["scan", "--source", "demo:400", "--cache-dir", str(tmp_path), "--jobs", "2"]
    proc = subprocess.run(
        [sys.executable, "-c", _COUNT_WORKERS_AFTER_MAIN, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "workers 0", proc.stderr


# -- the help ----------------------------------------------------------------------------------


def _sections(text: str) -> dict[str, str]:
    """The sections of a help text by title (``options``, ``exit codes``...)."""
    found: dict[str, str] = {}
    title = ""
    for line in text.splitlines():
        if re.match(r"^[a-z][a-z ]*:$", line):
            title = line[:-1]
            found[title] = ""
        elif title:
            found[title] += line + "\n"
    return found


def _option_helps(text: str) -> dict[str, str]:
    """Each option of a help text -> its help (whitespace made single spaces)."""
    entries = re.split(r"\n(?=  -)", text.split("\n\nstdout and stderr:")[0])
    found = {}
    for entry in entries:
        name = re.match(r"\s*(?:-\w, )?(--[\w-]+)", entry)
        if name:
            found[name.group(1)] = " ".join(entry.split())
    return found


def test_help_has_a_description_examples_and_the_exit_codes():
    proc = run_cli("--help")
    assert proc.returncode == 0, proc.stderr
    sections = _sections(proc.stdout)
    assert "Technical stock-market scans" in proc.stdout
    assert "scan" in sections["positional arguments"] and "--version" in sections["options"]
    examples = sections["examples"].strip().splitlines()
    assert sum(line.lstrip().startswith("technic-nb scan") for line in examples) >= 5
    codes = sections["exit codes"]
    for code in ("0", "1", "2", "130"):
        assert re.search(rf"^  {code} +\S", codes, re.MULTILINE), codes
    assert "every symbol failed" in codes and "Ctrl-C" in codes


def test_scan_help_gives_every_option_with_its_default():
    proc = run_cli("scan", "--help")
    assert proc.returncode == 0, proc.stderr
    helps = _option_helps(proc.stdout)
    usage = proc.stdout.split("\n\n")[0]
    parser_options = set(re.findall(r"\[(--[\w-]+)", usage)) - {"--help"}
    assert set(helps) - {"--help"} == parser_options
    for option, text in helps.items():
        if option != "--help":
            assert "(default: " in text, text
    assert "(default: 20)" in helps["--top-n"] and "(default: demo)" in helps["--source"]
    assert "last close" in helps["--min-price"] and "(default: 1.0)" in helps["--min-price"]
    volume = helps["--min-dollar-volume"]
    assert "last 20 trading days" in volume and "(default: 250000.0)" in volume
    assert "(default: off)" in helps["--all"] and "every ranked row" in helps["--all"]
    assert "top --top-n" in helps["--out"]
    sections = _sections(proc.stdout)
    assert {"examples", "exit codes", "stdout and stderr"} <= set(sections)


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"technic-nb {tn.__version__}\n"


def test_the_help_examples_and_exit_codes_are_those_of_the_reference():
    """``docs/cli.md`` shows the examples of ``--help`` and explains every exit code."""
    reference = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    sections = _sections(run_cli("--help").stdout)
    for line in sections["examples"].splitlines():
        command = line.split("  #")[0].strip()
        if command:
            assert command in reference, command
    for code in re.findall(r"^  (\d+) ", sections["exit codes"], re.MULTILINE):
        assert re.search(rf"^\| *`?{code}`? *\|", reference, re.MULTILINE), code


# -- what the command says on stderr -----------------------------------------------------------


def test_the_universe_notes_are_printed_as_warnings(tmp_path):
    proc = run_cli(
        "scan",
        "--source",
        "demo:20",
        "--universe",
        "EVVB,lae,EVVB,,VANP",
        "--cache-dir",
        str(tmp_path),
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("Scanned 3 symbols")
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: universe: 1 blank entry skipped (position 4)",
        "warning: universe: 1 duplicate skipped after normalising, the first occurrence "
        "kept (EVVB again)",
    ]


def test_the_universe_notes_with_real_tickers(real_data_dir, tmp_path):
    proc = run_cli(
        "scan",
        "--source",
        f"csv:{real_data_dir}",
        "--universe",
        "AAPL,msft,AAPL,,BRK.B",
        "--cache-dir",
        str(tmp_path),
        "--jobs",
        "1",
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    assert all(s in proc.stdout for s in ("AAPL", "MSFT", "BRK.B", "Scanned 3 symbols"))
    assert "warning: universe: 1 blank entry skipped (position 4)" in proc.stderr
    assert "(AAPL again)" in proc.stderr


def test_real_tickers_on_the_demo_source_fail_with_exit_1_and_a_hint(tmp_path):
    proc = run_cli("scan", "--universe", "AAPL,MSFT", "--cache-dir", str(tmp_path), "--no-progress")
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout.strip().splitlines()
    assert out[0] == "(no ranked symbols)" and out[-1].startswith("Scanned 2 symbols")
    err = proc.stderr.strip().splitlines()
    assert err[0].startswith("2 symbols failed; first: AAPL: not a symbol of the synthetic")
    assert err[1] == (
        "technic-nb: error: nothing ranked: every symbol failed "
        "(all 2 symbols: not in the synthetic demo market)"
    )
    assert err[2].startswith("hint: ")
    assert "--source csv:DIR" in err[2] and "--source polygon" in err[2]
    assert len(err) == 3


def test_missing_files_in_a_data_folder_fail_with_a_folder_hint(tmp_path):
    folder = tmp_path / "bars"
    folder.mkdir()
    proc = run_cli(
        "scan",
        "--source",
        f"csv:{folder}",
        "--universe",
        "AAPL",
        "--cache-dir",
        str(tmp_path / "c"),
        "--no-progress",
    )
    assert proc.returncode == 1, proc.stderr
    assert "every symbol failed (all 1 symbol: no file in the data folder)" in proc.stderr
    assert "hint: check the symbols given with --universe" in proc.stderr


def test_the_most_common_cause_gives_the_hint():
    errors = pd.DataFrame(
        {
            "message": [
                "A: not a symbol of the synthetic demo market (500 symbols)",
                "B: not a symbol of the synthetic demo market (500 symbols)",
                "symbol 'x y' is not a valid ticker",
            ],
            "suggestion": ["", "", ""],
        }
    )
    cause, covered = failure_cause(errors)
    assert covered == 2 and cause.what == "not in the synthetic demo market"
    other, n = failure_cause(
        pd.DataFrame({"message": ["A: something new"], "suggestion": ["Do this."]})
    )
    assert n == 1 and other.hint == "Do this."


def test_everything_filtered_is_said_but_is_not_an_error(tmp_path):
    proc = run_cli(
        "scan",
        "--source",
        "demo:30",
        "--min-price",
        "1000000",
        "--cache-dir",
        str(tmp_path),
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("(no ranked symbols)")
    assert "Scanned 30 symbols" in proc.stdout and "30 filtered" in proc.stdout
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(
        "technic-nb: nothing ranked: every symbol was filtered out (30 symbols), none failed"
    )
    assert "30 by --min-price 1,000,000" in line and "lower these filters" in line


# -- --out and --all ---------------------------------------------------------------------------


def test_out_writes_the_rows_shown_and_all_writes_every_ranked_row(tmp_path):
    common = ["scan", "--source", "demo:60", "--cache-dir", str(tmp_path / "c")]
    common += ["--top-n", "5", "--jobs", "1", "--no-progress"]
    top = run_cli(*common, "--out", str(tmp_path / "top.csv"))
    assert top.returncode == 0, top.stderr
    ranked = int(re.search(r": (\d+) ranked", top.stdout).group(1))
    assert ranked > 5
    assert len(pd.read_csv(tmp_path / "top.csv")) == 5
    assert (
        f"technic-nb: wrote the top 5 of {ranked} ranked rows to {tmp_path / 'top.csv'} "
        "(--all writes every ranked row)" in top.stderr
    )
    every = run_cli(*common, "--all", "--out", str(tmp_path / "all.csv"))
    assert every.returncode == 0, every.stderr
    table = pd.read_csv(tmp_path / "all.csv", index_col="symbol")
    assert len(table) == ranked and list(table["rank"]) == list(range(1, ranked + 1))
    assert f"technic-nb: wrote {ranked} ranked rows to {tmp_path / 'all.csv'}" in every.stderr
    assert len(every.stdout.strip().splitlines()) == 1 + 1 + 5 + 1  # still the top 5 printed


# -- progress ----------------------------------------------------------------------------------

_STAGE_LINE = re.compile(
    r"^ *(universe|fetching|scanning|finalizing): (started|done|stopped)\b|"
    r"^ *overall: (\d+% after|done in|stopped at)"
)


def test_progress_into_a_pipe_is_a_few_plain_lines(tmp_path):
    proc = run_cli("scan", "--source", "demo:120", "--cache-dir", str(tmp_path), "--jobs", "1")
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert all(_STAGE_LINE.match(line) for line in lines), lines
    for label in ("universe", "fetching", "scanning", "finalizing"):
        assert sum(re.match(rf"^ *{label}: started", line) is not None for line in lines) <= 1
        assert [line for line in lines if re.match(rf"^ *{label}: done", line)], lines
    assert re.match(r"^ *overall: done in ", lines[-1])
    periodic = [line for line in lines if re.match(r"^ *overall: \d+% after", line)]
    assert len(lines) - len(periodic) <= 9  # a start and an end per stage, and the last line


def test_no_progress_prints_nothing_on_stderr(tmp_path):
    proc = run_cli("scan", "--source", "demo:40", "--cache-dir", str(tmp_path), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.strip().splitlines()[-1].startswith("Scanned 40 symbols")


def test_plain_progress_lines_are_written_at_most_once_per_interval():
    now = [0.0]
    tracker = tn.MultiStageProgressTracker(clock=lambda: now[0])
    sink = io.StringIO()
    with LineProgress(tracker, file=sink, interval=5.0, clock=lambda: now[0]):
        tracker.start_stage("universe_loading", 3)
        tracker.advance("universe_loading", 3)
        tracker.finish_stage("universe_loading")
        tracker.start_stage("data_fetching", 6000)
        tracker.start_stage("symbol_scanning", 6000)
        for _ in range(6000):  # one minute of work, an event every 10 ms
            now[0] += 0.01
            tracker.advance("data_fetching")
            tracker.advance("symbol_scanning")
        tracker.finish_stage("data_fetching")
        tracker.finish_stage("symbol_scanning")
        tracker.start_stage("finalization", 3)
        tracker.advance("finalization", 3)
        tracker.finish_stage("finalization")
    text = sink.getvalue()
    assert "\r" not in text and "\x1b" not in text and text.endswith("\n")
    lines = text.splitlines()
    periodic = [line for line in lines if re.match(r"^ *overall: \d+% after", line)]
    assert 10 <= len(periodic) <= 12  # 60 s of work, a line at most every 5 s
    assert re.search(r"fetching \d+/6,000 symbols, 100 symbols/s; scanning \d+/6,000", periodic[0])
    assert len(lines) - len(periodic) == 9
    assert lines[-2].strip() == "finalizing: done, 3/3 steps in 0.00 s"
    assert lines[-1].strip() == "overall: done in 60.0 s"


def test_plain_progress_of_a_stopped_scan():
    tracker = tn.MultiStageProgressTracker()
    sink = io.StringIO()
    view = LineProgress(tracker, file=sink)
    tracker.start_stage("universe_loading", 1)
    tracker.finish_stage("universe_loading")
    tracker.start_stage("symbol_scanning", 100)
    tracker.advance("symbol_scanning", 40)
    tracker.stop("cancelled")
    view.close("Cancelled after 40 of 100 symbols")
    lines = [line.strip() for line in sink.getvalue().splitlines()]
    assert lines[-2].startswith("scanning: stopped at 40/100 symbols after")
    assert lines[-1].startswith("overall: stopped at")
    assert not [line for line in lines if line.startswith(("fetching", "finalizing"))]
