"""The benchmark suite runs end to end in its quick mode and writes both result files.

No timing is asserted: the figures depend on the machine; only their presence and
shape are checked.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SECTIONS = (
    "cold_throughput",
    "overhead",
    "resume",
    "cancel_latency",
    "scaling",
    "memory",
    "http_throughput",
    "dask",
)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_quick_benchmark_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "bench-out"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["TECHNIC_NB_CACHE_DIR"] = str(tmp_path / "cache")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (out / "RESULTS.md").is_file()
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["mode"] == "quick"
    assert results["meta"]["machine"]["logical_cores"] >= 1
    assert set(SECTIONS) <= set(results["sections"])
    for name in SECTIONS:
        figures = results["sections"][name]["figures"]
        assert figures, f"section {name} has no figure"
        for key, figure in figures.items():
            for stat in ("min", "median", "max"):
                value = figure[stat]
                assert isinstance(value, (int, float)) and math.isfinite(value), (name, key, stat)
            assert figure["min"] <= figure["median"] <= figure["max"], (name, key)
    text = (out / "RESULTS.md").read_text()
    assert "python -m bench --quick" in text
    for name in SECTIONS:
        assert f"`{name}`" in text
