"""The package's floor plan holds: layers point one way, and no import cycle anywhere.

Every import of every module in ``technic_nb/`` is read from the AST: the ones at
the top of a module, the ones inside functions, and the ones under
``if TYPE_CHECKING:``, since each of them is a dependency of the design.  The
layers, from the bottom::

    core, compat  <-  rules, display  <-  sources  <-  engine  <-  research  <-  notebook  <-  cli

A module may import its own package and the packages of lower layers, never a
higher layer nor another package of its own layer.  ``technic_nb/__init__.py`` is
the public namespace and may import anything; nothing inside the package
imports it.  ``testing/`` (the fake data service shipped for tests) may import
the layers below the engine, and nothing imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "technic_nb"
NAME = "technic_nb"

#: The top-level part of a module's name -> its layer.
LAYERS = {
    "core": 0,
    "compat": 0,
    "_version": 0,
    "rules": 1,
    "display": 1,
    "factors": 1.5,  # the public module of ready-made factors (over rules)
    "sources": 2,
    "testing": 2.5,  # beside the sources: a fake data service
    "engine": 3,
    "research": 4,
    "notebook": 5,
    "cli": 6,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base.pop()
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(name: str) -> set[str]:
    """The package's modules ``name`` imports (the most precise module each names)."""
    path = MODULES[name]
    return _imports_in(name, path.name == "__init__.py", path.read_text())


def _imports_in(name: str, is_package: bool, source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(name, is_package, node)
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == NAME or target.startswith(NAME + "."):
                while target not in MODULES:  # an attribute: its module
                    target = target.rpartition(".")[0]
                found.add(target)
    found.discard(name)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _top(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def _problem(importer: str, imported: str) -> str | None:
    if importer == NAME:
        return None  # the public namespace
    if imported == NAME:
        return "imports the top-level package (import the module that defines the name)"
    here, there = _top(importer), _top(imported)
    if here not in LAYERS or there not in LAYERS:
        return f"is in no layer ({here or there!r}): add its package to LAYERS"
    if there == "testing" and here != "testing":
        return "imports the test helpers"
    if here == there:
        return None
    if LAYERS[there] >= LAYERS[here]:
        return f"imports upward or sideways ({here}, layer {LAYERS[here]} -> {there})"
    return None


def test_every_import_points_down_the_layers():
    problems = [
        f"{importer} -> {imported}: {problem}"
        for importer, targets in GRAPH.items()
        for imported in sorted(targets)
        if (problem := _problem(importer, imported)) is not None
    ]
    assert not problems, "\n".join(problems)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_outside_the_test_helpers():
    graph = {
        name: {t for t in targets if _top(t) != "testing"}
        for name, targets in GRAPH.items()
        if _top(name) != "testing" and name != NAME
    }
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checks_see_what_they_should():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _problem("technic_nb.core.bars", "technic_nb.engine.config") is not None
    assert _problem("technic_nb.engine.config", "technic_nb.core.bars") is None
    assert _problem("technic_nb.rules.screens.screen", "technic_nb.display.charts") is not None
    assert _problem("technic_nb.engine.scan", "technic_nb") is not None


@pytest.mark.parametrize("limit", [500])
def test_no_module_over_500_lines_and_no_class_over_250(limit):
    long_modules = []
    long_classes = []
    for name, path in MODULES.items():
        text = path.read_text()
        if text.count("\n") > limit:
            long_modules.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 250:
                long_classes.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1}")
    assert not long_modules and not long_classes, long_modules + long_classes


def test_imports_inside_functions_and_for_type_checking_count():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from technic_nb.engine.config import ScanConfig\n"
        "def f():\n"
        "    from ..sources import base\n"
        "    import technic_nb.core.errors\n"
    )
    found = _imports_in("technic_nb.core.bars", False, source)
    assert found == {
        "technic_nb.engine.config",
        "technic_nb.sources.base",
        "technic_nb.core.errors",
    }
