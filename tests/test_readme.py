"""Every code block and CLI example of the README and of ``docs/`` runs as a user would run it.

The documents are ``README.md`` and every ``docs/*.md``.  Their Python blocks are
written to a script and run in a fresh interpreter; the ``technic-nb`` lines of
their shell blocks are run as commands.  Both run in an empty folder with their
own cache.  A block marked with ``<!-- readme-test: skip: <reason> -->`` on the
line before it is not run, and the reason must be given.  Placeholders in the
shell examples are replaced by what a user would type here: ``path/to/folder``
by the real data folder beside the repository (skipped when it is absent) and
the scheduler address by a local Dask cluster's.  When a block is followed by a
comment giving its printed output (``# Scanned 500 symbols in 3.2s: ...``), the
output must match it, the numbers that depend on the clock aside.

The documents also hold together: the README fits on a screen, every relative
link points to a file (and every ``#anchor`` to a heading) that exists, and
every page of ``docs/`` is linked from the README or from ``docs/README.md``.
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

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data" / "us_equities_daily"
README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
DOCS_INDEX = DOCS / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip:\s*(?P<reason>[^>]*?)\s*-->")
#: Shell lines that are not CLI examples: installing, testing, benchmarking, servers,
#: opening JupyterLab.
NOT_EXAMPLES = ("pip ", "python -m pytest", "python -m bench", "conda ", "dask ", "jupyter ")
TIMEOUT = 240
#: The README is read on one screen; the reference material lives in docs/.
README_MAX_LINES = 130
#: The picture of the panel in the README: a screenshot the browser test takes
#: (tests/test_browser.py writes test-artifacts/panel-running.png).
PANEL_PICTURE = REPO_ROOT / "docs" / "images" / "panel.png"


def documents() -> list[Path]:
    """The README, then every page of docs/ in name order."""
    return [README, *sorted(DOCS.glob("*.md"))]


def relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


@dataclass(frozen=True)
class Block:
    """One fenced code block of a document."""

    document: str
    language: str
    code: str
    line: int
    skip: str | None

    @property
    def name(self) -> str:
        return f"{self.document}:{self.language}@{self.line}"


@dataclass(frozen=True)
class CliLine:
    """One ``technic-nb`` line of a shell block."""

    document: str
    line: int
    command: str
    skip: str | None

    @property
    def name(self) -> str:
        return f"{self.document}:bash@{self.line}:{self.command}"


def blocks(path: Path) -> list[Block]:
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
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
            Block(
                relative(path),
                fence.group(1),
                "\n".join(body),
                start + 1,
                marker["reason"] if marker else None,
            )
        )
        index += 1
    return found


def python_blocks(paths: list[Path]) -> list[Block]:
    return [b for path in paths for b in blocks(path) if b.language == "python"]


def cli_lines(paths: list[Path]) -> list[CliLine]:
    """Every ``technic-nb`` line of the shell blocks of ``paths``."""
    out = []
    for path in paths:
        for block in blocks(path):
            if block.language != "bash":
                continue
            for offset, raw in enumerate(block.code.splitlines(), start=1):
                command = raw.split("  #")[0].strip()
                if not command or command.startswith(NOT_EXAMPLES):
                    continue
                where = f"{block.document} line {block.line + offset}"
                assert command.startswith("technic-nb "), f"{where}: {raw!r}"
                out.append(CliLine(block.document, block.line + offset, command, block.skip))
    return out


def prose(path: Path, *, code: bool = False) -> list[tuple[int, str]]:
    """``(line number, text)`` of the lines outside code blocks; the inside of inline
    code is removed unless ``code``."""
    out = []
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, line if code else re.sub(r"`[^`]*`", "``", line)))
    return out


#: ``[text](target)``, ``![alt](target)`` and ``[text](target "title")``; the text may
#: hold inline code, which :func:`prose` has emptied.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?(?P<target>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
#: ``[label]: target`` reference definitions.
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(?P<target>[^\s>]+)>?")


def links(path: Path) -> list[tuple[int, str]]:
    """``(line number, target)`` of every link of ``path`` outside code blocks."""
    out = []
    for number, line in prose(path):
        out.extend((number, m["target"]) for m in LINK.finditer(line))
        out.extend((number, m["target"]) for m in REFERENCE.finditer(line))
    return out


def is_external(target: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target) is not None


def anchors(path: Path) -> set[str]:
    """The ``#anchors`` GitHub gives the headings of ``path``."""
    seen: dict[str, int] = {}
    out = set()
    for _, line in prose(path, code=True):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def resolve(path: Path, target: str) -> tuple[Path, str]:
    """The file a relative link of ``path`` points to, and its anchor ('' if none)."""
    file_part, _, anchor = target.partition("#")
    return ((path.parent / file_part).resolve() if file_part else path.resolve()), anchor


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
    pages = documents()[1:]
    assert len(python_blocks([README])) >= 1 and len(cli_lines([README])) >= 1
    assert len(python_blocks(pages)) >= 5 and len(cli_lines(pages)) >= 5
    for path in documents():
        for block in blocks(path):
            if block.skip is not None:
                assert len(block.skip) > 10, f"{block.name}: say why it is not run"


def test_the_readme_fits_on_a_screen():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move reference material "
        "to a page of docs/"
    )


@pytest.mark.parametrize("path", documents(), ids=relative)
def test_every_relative_link_points_to_a_file_that_exists(path):
    broken = []
    for number, target in links(path):
        if is_external(target):
            continue
        file, anchor = resolve(path, target)
        name = relative(file) if file.is_relative_to(REPO_ROOT) else str(file)
        if not file.exists():
            broken.append(f"line {number}: {target} ({name} does not exist)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"line {number}: {target} (no heading #{anchor} in {name})")
    assert not broken, f"{relative(path)}:\n" + "\n".join(broken)


def test_the_readme_shows_a_picture_of_the_panel():
    assert f"]({relative(PANEL_PICTURE)})" in README.read_text(encoding="utf-8")
    data = PANEL_PICTURE.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < len(data) < 300_000


def test_every_page_of_docs_is_linked_from_the_readme_or_the_docs_index():
    linked = set()
    for path in (README, DOCS_INDEX):
        for _, target in links(path):
            if not is_external(target):
                linked.add(resolve(path, target)[0])
    missing = [relative(page) for page in sorted(DOCS.glob("*.md")) if page.resolve() not in linked]
    assert not missing, f"not linked from README.md or docs/README.md: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("block", python_blocks(documents()), ids=lambda b: b.name)
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
    assert done.returncode == 0, f"{block.name}:\n{done.stdout}\n{done.stderr}"
    expected = expected_output(block.code)
    if expected is not None:
        first = done.stdout.splitlines()[0] if done.stdout else ""
        assert pattern_of(expected).fullmatch(first), (
            f"{block.name} says\n  {expected}\nbut the block prints\n  {first}"
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


@pytest.mark.slow
@pytest.mark.parametrize("example", cli_lines(documents()), ids=lambda c: c.name)
def test_a_cli_example_runs(example, tmp_path, request):
    if example.skip is not None:
        pytest.skip(example.skip)
    command = example.command
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
    assert done.returncode == 0, f"{example.name}\n{done.stdout}\n{done.stderr}"
    assert "Scanned" in done.stdout or "Scanned" in done.stderr
