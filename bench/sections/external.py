"""Sections written by other engineers, run when their modules exist.

* ``http_load``: ``bench/http_load.py`` (an 8,000-symbol HTTP scan with 30% faults
  and 50 ms latency);
* ``browser_panel``: ``bench/browser*.py`` / ``bench/panel*.py`` (the notebook panel
  in a browser).

Each module is called in the full run only (they are sized for it).  The entry
point is the first found of: ``section(bench)`` or ``run(bench)`` returning a
section (``{"title", "figures", "notes"}``) or a flat dict of numbers; ``run()``
or ``main()`` without arguments (timed; a returned dict is used as above).
Without such a function the module is run as ``python -m bench.<name>`` and timed,
and the last line of its output is read as JSON when it is a JSON object.  A
failure is recorded in the section's notes and never stops the suite.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ..common import REPO_ROOT, Bench, log, section
from ..stats import summarize

BENCH_DIR = Path(__file__).resolve().parents[1]
#: Modules of the ``browser_panel`` section.
PANEL_PATTERNS = ("browser*.py", "panel*.py")


def skipped(title: str, why: str) -> dict[str, Any]:
    """A section that did not run, with the reason."""
    out = section(title)
    out["skipped"] = True
    out["notes"].append(why)
    return out


def _figures_of(value: Any, prefix: str = "") -> dict[str, Any]:
    """A returned flat dict of numbers (or of ready figures) as figures."""
    figures: dict[str, Any] = {}
    if not isinstance(value, dict):
        return figures
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and {"min", "median", "max"} <= set(item):
            figures[name] = item
        elif (
            isinstance(item, int | float)
            and not isinstance(item, bool)
            and math.isfinite(float(item))
        ):
            figures[name] = summarize([float(item)], "as reported")
    return figures


def _entry(module: Any) -> tuple[Any, bool] | None:
    """The module's entry point and whether it takes the bench."""
    for name in ("section", "run", "main"):
        fn = getattr(module, name, None)
        if not callable(fn):
            continue
        try:
            params = [
                p
                for p in inspect.signature(fn).parameters.values()
                if p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
        except (TypeError, ValueError):
            continue
        if name in ("section", "run") and len(params) == 1:
            return fn, True
        if not params:
            return fn, False
    return None


def _subprocess(name: str) -> tuple[float, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.{name}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=True,
    )
    seconds = time.perf_counter() - started
    lines = proc.stdout.strip().splitlines()
    try:
        return seconds, json.loads(lines[-1]) if lines else None
    except ValueError:
        return seconds, None


def run_module(bench: Bench, name: str, out: dict[str, Any], prefix: str = "") -> None:
    """Run ``bench.<name>`` and put what it reports into ``out``."""
    try:
        module = importlib.import_module(f"bench.{name}")
        entry = _entry(module)
        started = time.perf_counter()
        if entry is None:
            seconds, value = _subprocess(name)
            how = f"python -m bench.{name}"
        else:
            fn, takes_bench = entry
            value = fn(bench) if takes_bench else fn()
            seconds = time.perf_counter() - started
            how = f"bench.{name}.{fn.__name__}({'bench' if takes_bench else ''})"
    except Exception as exc:  # another engineer's module: note it, go on
        log(f"{name} failed: {type(exc).__name__}: {exc}")
        out["notes"].append(
            f"bench/{name}.py failed: {type(exc).__name__}: {exc}\n"
            + "".join(traceback.format_exception_only(exc)).strip()
        )
        return
    if isinstance(value, dict) and "figures" in value:
        out["figures"].update({f"{prefix}{k}": v for k, v in value["figures"].items()})
        out["notes"].extend(value.get("notes", []))
        if value.get("title") and not prefix:
            out["title"] = value["title"]
    else:
        out["figures"].update(_figures_of(value, prefix))
    out["figures"][f"{prefix}wall_s"] = summarize([seconds], "s (the whole call, once)")
    out["notes"].append(f"Ran {how} in {seconds:.0f} s.")


def run_http_load(bench: Bench) -> dict[str, Any]:
    """The ``http_load`` section."""
    title = "HTTP under load: 8,000 symbols, 30% faults, 50 ms latency (bench/http_load.py)"
    if not (BENCH_DIR / "http_load.py").is_file():
        return skipped(title, "bench/http_load.py is not there yet: section skipped.")
    if bench.quick:
        return skipped(title, "bench/http_load.py runs in the full run only (8,000 symbols).")
    out = section(title)
    run_module(bench, "http_load", out)
    return out


def panel_modules() -> list[str]:
    """The ``bench/browser*.py`` and ``bench/panel*.py`` modules present."""
    found = {p.stem for pattern in PANEL_PATTERNS for p in BENCH_DIR.glob(pattern)}
    return sorted(found)


def run_browser_panel(bench: Bench) -> dict[str, Any]:
    """The ``browser_panel`` section."""
    title = "The notebook panel in a browser (bench/browser*.py, bench/panel*.py)"
    names = panel_modules()
    if not names:
        return skipped(title, "no bench/browser*.py or bench/panel*.py yet: section skipped.")
    if bench.quick:
        return skipped(title, f"{', '.join(names)}: run in the full run only.")
    out = section(title)
    for name in names:
        run_module(bench, name, out, prefix=f"{name}_" if len(names) > 1 else "")
    return out
