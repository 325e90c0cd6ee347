"""Every third-party import is declared in ``pyproject.toml``.

A fresh machine installs only what ``pyproject.toml`` names (the README's
``pip install -e ".[dev]"``), so a module that happens to be installed here but
is not declared would break there.  This reads the imports (AST, function-level
ones included) of ``technic_nb/``, ``tests/``, ``bench/`` and the notebooks'
code cells and checks each against the declared distributions:

* the package itself (``technic_nb/``) may import a core dependency anywhere;
  a module of an optional extra only inside ``try: ... except ImportError:``,
  whose handler names the extra (``technic_nb[dask]``), so that a user without
  it is told what to install;
* tests, benchmarks and notebooks may import anything in the core dependencies
  or in ``dev`` (which includes every extra).

Which distribution provides an import name is read from the installed
packages' metadata (``importlib.metadata.packages_distributions``).
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "technic_nb"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(requirements: list[str]) -> set[str]:
    return {_norm(re.split(r"[<>=!~\[; ]", r.strip(), maxsplit=1)[0]) for r in requirements}


@cache
def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = {name: _names(reqs) for name, reqs in project["optional-dependencies"].items()}
    return _names(project["dependencies"]), extras


@dataclass(frozen=True)
class Import:
    module: str  # the top-level name
    where: str  # file (and line)
    guard: str | None  # the text of the ImportError handler around it, if any


def _guards(tree: ast.AST) -> dict[int, str]:
    """Line -> the text of the ``except ImportError`` handlers of the try around it."""
    guarded: dict[int, str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        handlers = [
            h
            for h in node.handlers
            if h.type is not None
            and re.search(r"\b(ImportError|ModuleNotFoundError)\b", ast.unparse(h.type))
        ]
        if not handlers:
            continue
        text = "\n".join(ast.unparse(h) for h in handlers)
        for statement in node.body:
            for sub in ast.walk(statement):
                if isinstance(sub, ast.Import | ast.ImportFrom):
                    guarded[sub.lineno] = text
    return guarded


def _imports(source: str, where: str) -> list[Import]:
    tree = ast.parse(source)
    guards = _guards(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            found.append(Import(top, f"{where}:{node.lineno}", guards.get(node.lineno)))
    return found


def _sources() -> list[tuple[str, str, str]]:
    """``(area, file, source)`` for every Python file and notebook the test reads."""
    out = []
    for area in (PACKAGE, "tests", "bench"):
        for path in sorted((REPO_ROOT / area).rglob("*.py")):
            out.append((area, str(path.relative_to(REPO_ROOT)), path.read_text()))
    for path in sorted((REPO_ROOT / "notebooks").glob("*.py")):
        out.append(("notebooks", str(path.relative_to(REPO_ROOT)), path.read_text()))
    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join(
            "".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"
        ).splitlines()
        # IPython's magics and shell escapes are not Python
        text = "\n".join(line for line in code if not line.lstrip().startswith(("%", "!")))
        out.append(("notebooks", str(path.relative_to(REPO_ROOT)), text))
    return out


def _local_modules() -> set[str]:
    """Import names that are the repository's own (packages, test helpers, notebook helpers)."""
    names = {PACKAGE, "bench", "tests", "notebooks", "conftest"}
    for folder in ("tests", "bench", "notebooks"):
        names |= {p.stem for p in (REPO_ROOT / folder).rglob("*.py")}
    return names


@cache
def _distributions() -> dict[str, list[str]]:
    return {
        name: [_norm(d) for d in dists]
        for name, dists in importlib.metadata.packages_distributions().items()
    }


def _problem(imp: Import, area: str, source: str) -> str | None:
    """Why ``imp`` is not declared (None when it is)."""
    if imp.module in sys.stdlib_module_names or imp.module in _local_modules():
        return None
    if f"{imp.module}.py" in source:  # a module the test writes itself
        return None
    core, extras = _declared()
    dists = _distributions().get(imp.module)
    if not dists:
        return f"{imp.module} ({imp.where}) is not installed, so no declared package provides it"
    if area != PACKAGE:
        allowed = core | extras.get("dev", set())
        if not allowed & set(dists):
            return (
                f"{imp.module} ({imp.where}) comes from {dists[0]}, which neither the core "
                "dependencies nor the dev extra declare"
            )
        return None
    if core & set(dists):
        return None
    named = [extra for extra, members in extras.items() if extra != "dev" and members & set(dists)]
    if not named:
        return (
            f"{imp.module} ({imp.where}) comes from {dists[0]}, which is neither a core "
            "dependency nor in an optional extra"
        )
    if imp.guard is None:
        return (
            f"{imp.module} ({imp.where}) comes from the optional extra {named[0]!r}, but its "
            "import is not guarded by try/except ImportError"
        )
    if not any(f"{PACKAGE}[{extra}]" in imp.guard for extra in named):
        return (
            f"{imp.module} ({imp.where}) is guarded, but its ImportError handler does not name "
            f"the extra to install ({PACKAGE}[{named[0]}])"
        )
    return None


def test_every_import_is_declared_in_pyproject():
    problems = []
    for area, where, source in _sources():
        for imp in _imports(source, where):
            problem = _problem(imp, area, source)
            if problem is not None:
                problems.append(problem)
    assert not problems, "undeclared imports:\n" + "\n".join(sorted(set(problems)))


def test_dev_includes_every_extra_so_that_ci_exercises_them():
    _, extras = _declared()
    for name, members in extras.items():
        assert members <= extras["dev"], f"the extra {name!r} is not in dev: {members}"


# -- the checker itself --------------------------------------------------------------


def _check(text: str, area: str = PACKAGE) -> list[str]:
    return [p for imp in _imports(text, "x.py") if (p := _problem(imp, area, text)) is not None]


def test_the_checker_flags_an_undeclared_module():
    if "pytest_timeout" not in _distributions() and "pytest_timeout" not in sys.modules:
        pytest.skip("pytest-timeout is not installed")
    # pytest-timeout is in dev, so the package may not import it
    (problem,) = _check("import pytest_timeout\n")
    assert "pytest_timeout (x.py:1)" in problem and "neither a core" in problem


def test_the_checker_reads_imports_inside_functions_and_from_imports():
    text = "def f():\n    from hypothesis import given\n"
    (problem,) = _check(text)
    assert "hypothesis (x.py:2)" in problem
    assert _check(text, area="tests") == []


def test_the_checker_wants_an_extra_named_where_its_import_is_guarded():
    unguarded = "import distributed\n"
    (problem,) = _check(unguarded)
    assert "optional extra 'dask'" in problem and "not guarded" in problem
    silent = "try:\n    import distributed\nexcept ImportError:\n    distributed = None\n"
    (problem,) = _check(silent)
    assert "technic_nb[dask]" in problem
    named = (
        "try:\n    import distributed\nexcept ImportError:\n"
        "    raise RuntimeError('pip install \"technic_nb[dask]\"')\n"
    )
    assert _check(named) == []


def test_the_checker_knows_a_module_that_nothing_installs():
    (problem,) = _check("import surely_not_a_module_here\n", area="tests")
    assert "not installed" in problem


#: Packages that a library imports only when one of its features is used: pandas' Styler
#: (the styled tables, a result's notebook display) needs jinja2, and its parquet reader
#: and writer need pyarrow.  No import statement names them, so they are listed here.
LAZY = {"jinja2": "pandas' Styler", "pyarrow": "pandas' parquet files"}


@pytest.mark.parametrize("distribution", sorted(LAZY))
def test_packages_that_libraries_import_lazily_are_core_dependencies(distribution):
    core, _ = _declared()
    assert _norm(distribution) in core, f"{distribution} ({LAZY[distribution]}) is not declared"
