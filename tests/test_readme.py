"""Every README code block and CLI example runs as a user would run it.

Python blocks are written to a script and run in a fresh interpreter; the
``technic-nb`` lines of the shell blocks are run as commands.  Both run in an
empty folder with their own cache.  A block the README marks with
``<!-- readme-test: skip: <reason> -->`` on the line before it is not run, and the
reason must be given.  Placeholders in the shell examples are replaced by what
a user would type here: ``path/to/folder`` by the real data folder beside the
repository (skipped when it is absent) and the scheduler address by a local
Dask cluster's.  When a block is followed by a comment giving its printed
output (``# Scanned 500 symbols in 3.2s: ...``), the output must match it, the
numbers that depend on the clock aside.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import technic_nb as tn

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data" / "us_equities_daily"
README = REPO_ROOT / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip:\s*(?P<reason>[^>]*?)\s*-->")
#: Shell lines that are not CLI examples: installing, testing, benchmarking, servers.
NOT_EXAMPLES = ("pip ", "python -m pytest", "python -m bench", "conda ", "dask ")
TIMEOUT = 240


@dataclass(frozen=True)
class Block:
    """One fenced code block of the README."""

    language: str
    code: str
    line: int
    skip: str | None

    @property
    def name(self) -> str:
        return f"{self.language}@{self.line}"


def blocks() -> list[Block]:
    found: list[Block] = []
    lines = README.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[index])
        if not fence:
            index += 1
            continue
        start = index
        index += 1
        body: list[str] = []
        while not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        previous = lines[start - 1] if start else ""
        marker = SKIP.search(previous)
        found.append(
            Block(fence.group(1), "\n".join(body), start + 1, marker["reason"] if marker else None)
        )
        index += 1
    return found


def python_blocks() -> list[Block]:
    return [b for b in blocks() if b.language == "python"]


def cli_lines() -> list[tuple[str, str | None]]:
    """``(command, reason to skip or None)`` for every ``technic-nb`` line of the shell blocks."""
    out = []
    for block in blocks():
        if block.language != "bash":
            continue
        for raw in block.code.splitlines():
            command = raw.split("  #")[0].strip()
            if not command or command.startswith(NOT_EXAMPLES):
                continue
            assert command.startswith("technic-nb "), f"README line {block.line}: {raw!r}"
            out.append((command, block.skip))
    return out


def environment(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TECHNIC_NB_CACHE_DIR"] = str(folder / "cache")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def expected_output(code: str) -> str | None:
    """The output a block documents in the comment after a ``print(...)`` line."""
    lines = code.splitlines()
    for position, line in enumerate(lines[:-1]):
        if line.startswith("print(") and lines[position + 1].startswith("# "):
            return lines[position + 1][2:]
    return None


def pattern_of(text: str) -> re.Pattern[str]:
    """``text`` with every number free (timings, counts that vary) and the rest exact."""
    parts = re.split(r"\d+(?:\.\d+)?", text)
    return re.compile(r"\d+(?:\.\d+)?".join(re.escape(p) for p in parts))


def test_the_readme_has_code_to_run():
    assert len(python_blocks()) >= 5 and len(cli_lines()) >= 5
    for block in blocks():
        if block.skip is not None:
            assert len(block.skip) > 10, f"README line {block.line}: say why it is not run"


@pytest.mark.parametrize("block", python_blocks(), ids=lambda b: b.name)
def test_a_python_block_runs_as_a_script(block, tmp_path):
    if block.skip is not None:
        pytest.skip(block.skip)
    script = tmp_path / "example.py"
    script.write_text(block.code + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"README line {block.line}:\n{done.stdout}\n{done.stderr}"
    expected = expected_output(block.code)
    if expected is not None:
        first = done.stdout.splitlines()[0] if done.stdout else ""
        assert pattern_of(expected).fullmatch(first), (
            f"README line {block.line} says\n  {expected}\nbut the block prints\n  {first}"
        )


@pytest.fixture(scope="module")
def scheduler():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def polygon_server():
    """A local Polygon-style server over 20 demo symbols, in place of the real API."""
    from technic_nb.testing import FakePolygonServer

    demo = tn.DemoSource(n_symbols=20)
    with FakePolygonServer(demo, api_key="readme-key") as server:
        yield server, list(demo.universe()["symbol"])


@pytest.mark.parametrize(("command", "skip"), cli_lines(), ids=lambda v: str(v)[:60])
def test_a_cli_example_runs(command, skip, tmp_path, request):
    if skip is not None:
        pytest.skip(skip)
    env = environment(tmp_path)
    if "--source polygon " in command:  # the real API needs a key and the network
        server, symbols = request.getfixturevalue("polygon_server")
        command = command.replace("--source polygon ", f"--source polygon:{server.base_url} ")
        env["POLYGON_API_KEY"] = "readme-key"
        (tmp_path / "universe.csv").write_text("symbol\n" + "\n".join(symbols) + "\n")
    if "path/to/folder" in command:
        if not (SHARED_DATA / "universe.csv").is_file():
            pytest.skip(f"the example reads a data folder; {SHARED_DATA} is absent")
        command = command.replace("path/to/folder", str(SHARED_DATA))
    if "--dask-client" in command:
        address = request.getfixturevalue("scheduler")
        command = re.sub(r"tcp://\S+", address, command)
    args = shlex.split(command)
    program = shutil.which("technic-nb")  # the console script pip installed
    head = [program] if program else [sys.executable, "-m", "technic_nb.cli"]
    done = subprocess.run(
        [*head, *args[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    assert "Scanned" in done.stdout or "Scanned" in done.stderr
