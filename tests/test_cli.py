"""The technic-nb command end to end (real subprocesses)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from technic_nb.cli import main


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "technic_nb.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
    )


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
    # progress bars go to stderr, one per stage
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
        sys.executable,
        "-m",
        "technic_nb.cli",
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
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        # wait until the scanning bar has moved (tqdm writes carriage-return updates)
        buffer = ""
        while not [n for n in re.findall(r"scanning:[^\r\n]*?(\d+)/3000", buffer) if int(n) >= 50]:
            chunk = proc.stderr.read(64)
            assert chunk, f"the scan ended before it could be interrupted: {buffer[-500:]}"
            buffer += chunk
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the command
        stdout, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    status = stdout.strip().splitlines()[-1]
    assert status.startswith("Cancelled after") and "run again to resume" in status
    done = int(status.split()[2])
    assert 0 < done < 3000
    partial = pd.read_csv(out, index_col="symbol")
    assert 0 < len(partial) <= done
    again = run_cli(*args[3:-2], "--no-progress", "--max-symbols", "3000")
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
