"""Peak memory: the RSS of a scan's process tree in a fresh interpreter (``bench.memory``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from ..common import REPO_ROOT, Bench, judge, log, median, section
from ..stats import summarize


def _measure(size: int, years: float, lookback: int) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run(
        [sys.executable, "-m", "bench.memory", str(size), str(years), str(lookback)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(bench: Bench) -> dict[str, Any]:
    """The ``memory`` section."""
    s = bench.sizes
    out = section("Memory: peak RSS of the scan process and its workers")
    out["notes"].append(
        "Each measurement is a fresh interpreter (python -m bench.memory) running one cold "
        "demo scan (default workers, fresh cache) while a thread samples the RSS of the "
        "process and all its children (loky workers) every 20 ms; shared library pages are "
        "counted once per process."
    )
    small, large = s.memory_sizes
    peaks: dict[int, list[float]] = {small: [], large: []}
    growth: dict[int, list[float]] = {small: [], large: []}
    for r in range(s.memory_repeats):
        for size in (small, large) if r % 2 == 0 else (large, small):
            data = _measure(size, s.years, s.lookback)
            peaks[size].append(data["peak_mib"])
            growth[size].append(data["peak_mib"] - data["baseline_mib"])
            log(f"memory {size}: peak {data['peak_mib']:.0f} MiB ({data['seconds']:.1f}s)")
    for size in (small, large):
        out["figures"][f"peak_rss_{size}_mib"] = summarize(peaks[size], "MiB", symbols=size)
        out["figures"][f"scan_growth_{size}_mib"] = summarize(
            growth[size], "MiB (peak - before the scan)", symbols=size
        )
    ratios = [b / a for a, b in zip(peaks[small], peaks[large], strict=True)]
    extra = [b - a for a, b in zip(peaks[small], peaks[large], strict=True)]
    out["figures"][f"peak_ratio_{large}_over_{small}"] = judge(
        summarize(ratios, "ratio", extra_mib=extra),
        "bounded by work in flight (ratio ~1)",
        median(ratios) < 1.25,
        "what grows with the universe is the result itself: one feature row per symbol plus "
        "the universe table, kept in the main process; bars are only held for the tasks in "
        "flight (and each symbol's window inside its features entry, on disk)",
    )
    return out
