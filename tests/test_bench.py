"""The benchmark suite runs end to end in its quick mode and writes both result files.

No timing is asserted: the figures depend on the machine; only their presence and
shape are checked (every section, every figure a set of repeats with min <= median
<= max, targets marked, the command and the machine stated).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Every section of the suite, in the order of the run (``bench.cases.ORDER``).
SECTIONS = (
    "cold_throughput",
    "resume",
    "overhead",
    "checkpoint_overhead",
    "cache_layers",
    "joblib_cost",
    "cancel_latency",
    "scaling",
    "memory",
    "http_throughput",
    "dask",
    "replay",
    "research",
    "user_factors",
    "http_load",
    "browser_panel",
)
#: Sections written by other engineers: they may be skipped (absent, or full run only).
OPTIONAL = ("http_load", "browser_panel")
#: Figures each new section must report (names as in results.json).
REQUIRED_FIGURES = {
    "checkpoint_overhead": (
        "http80ms_checkpoint_pct",
        "http20ms_checkpoint_pct",
        "demo_checkpoint_pct",
    ),
    "cache_layers": tuple(
        f"{layer}_{op}_ms"
        for layer in ("bars", "features", "factor", "replay")
        for op in ("write", "read", "miss")
    ),
    "joblib_cost": (
        "features_miss_total_ms",
        "features_miss_dump_item_ms",
        "features_miss_store_metadata_ms",
        "features_miss_seal_ms",
        "features_hit_get_metadata_ms",
        "features_hit_load_item_ms",
        "features_hit_unseal_ms",
        "features_hit_ours_share_pct",
    ),
    "resume": ("http_speedup", "demo_speedup"),
    "cancel_latency": ("loky_cancel_latency_s", "threading_cancel_latency_s"),
    "replay": ("replay_over_loop_speedup", "replay_warm_speedup", "loop_of_scans_s"),
    "user_factors": ("five_factors_overhead_pct", "add_one_factor_speedup"),
    "research": (
        "load_from_cache_s",
        "panel_first_s",
        "returns_first_s",
        "ic_summary_s",
        "plan_evaluation_s",
        "ic_decay_s",
        "sweep_32_s",
        "walk_forward_32_s",
        "to_alphalens_s",
    ),
}


def _run_quick(out: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["TECHNIC_NB_CACHE_DIR"] = str(tmp_path / "cache")
    return subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _check_figure(section: str, name: str, figure: dict[str, Any]) -> None:
    for stat in ("min", "median", "max"):
        value = figure[stat]
        assert isinstance(value, (int, float)) and math.isfinite(value), (section, name, stat)
    assert figure["min"] <= figure["median"] <= figure["max"], (section, name)
    assert figure["n"] == len(figure["values"]) >= 1, (section, name)
    assert isinstance(figure["unit"], str) and figure["unit"], (section, name)
    if "target" in figure:
        assert figure["met"] in (True, False, None), (section, name)
        assert isinstance(figure.get("bound"), str) and figure["bound"], (section, name)


def _check_results(results: dict[str, Any]) -> None:
    meta = results["meta"]
    assert meta["mode"] == "quick"
    assert meta["command"].startswith("python -m bench --quick")
    assert meta["machine"]["logical_cores"] >= 1
    assert meta["seconds"] > 0
    assert list(results["sections"]) == list(SECTIONS)
    for name, section in results["sections"].items():
        assert "error" not in section, (name, section.get("error"))
        assert section["title"] and isinstance(section["notes"], list)
        figures = section["figures"]
        if name in OPTIONAL and section.get("skipped"):
            assert section["notes"], f"skipped section {name} does not say why"
            continue
        assert figures, f"section {name} has no figure"
        for key, figure in figures.items():
            _check_figure(name, key, figure)
        for key in REQUIRED_FIGURES.get(name, ()):
            assert key in figures, (name, key)


def _check_markdown(text: str, results: dict[str, Any]) -> None:
    assert text.startswith("# Benchmark results")
    assert "python -m bench --quick" in text
    assert "## Machine" in text and "## Targets" in text
    for name, section in results["sections"].items():
        assert f"`{name}`" in text
        assert f"## {section['title']}" in text
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            cells = line.count(" | ")
            assert cells >= 1, line
    judged = [
        figure
        for section in results["sections"].values()
        for figure in section["figures"].values()
        if figure.get("met") is not None
    ]
    assert judged, "no figure is judged against a target"
    assert text.count("| met |") + text.count("| **missed** |") >= len(judged)


@pytest.mark.slow
@pytest.mark.timeout(360)
def test_quick_benchmark_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "bench-out"
    proc = _run_quick(out, tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (out / "RESULTS.md").is_file()
    results = json.loads((out / "results.json").read_text())
    _check_results(results)
    _check_markdown((out / "RESULTS.md").read_text(), results)


def test_section_order_matches_the_suite() -> None:
    sys.path.insert(0, str(REPO_ROOT))
    try:
        from bench import cases
    finally:
        sys.path.remove(str(REPO_ROOT))
    assert tuple(cases.ORDER) == SECTIONS
    assert set(cases.SECTIONS) | {"cold_throughput", "resume"} == set(SECTIONS)


def test_render_rewrites_results_md_from_results_json(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    try:
        from bench import report
    finally:
        sys.path.remove(str(REPO_ROOT))
    figure = {"unit": "s", "min": 1.0, "median": 2.0, "max": 3.0, "n": 3, "values": [1, 2, 3]}
    results = {
        "meta": {
            "mode": "full",
            "command": "python -m bench",
            "started": "now",
            "seconds": 1.0,
            "machine": report.machine(),
        },
        "sections": {
            "demo": {
                "title": "Demo",
                "figures": {"x": {**figure, "target": "< 5 s", "met": True, "bound": "cpu"}},
                "notes": ["a note"],
            },
            "http_load": {"title": "Skipped", "figures": {}, "notes": ["absent"], "skipped": True},
        },
    }
    json_path, md_path = report.write(tmp_path, results)
    assert json.loads(json_path.read_text()) == results
    text = md_path.read_text()
    assert "| x | s | 1.000 | 2.000 | 3.000 | 3 | < 5 s | met |" in text
    assert "bound: cpu" in text and "> a note" in text
    assert "No figure: skipped." in text and "> absent" in text
