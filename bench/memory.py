"""Peak resident memory of a scan: this process and all of its children (loky workers).

Run as ``python -m bench.memory N_SYMBOLS YEARS LOOKBACK`` it runs one cold demo
scan in a fresh interpreter and prints one JSON line with the peak, so every
measurement starts from the same baseline.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from typing import Any

import psutil

MIB = 2**20


def tree_rss(process: psutil.Process, exclude: frozenset[int] = frozenset()) -> int:
    """Resident bytes of ``process`` plus every live descendant (minus ``exclude`` pids)."""
    total = 0
    try:
        total += process.memory_info().rss
        children = process.children(recursive=True)
    except psutil.Error:
        return total
    for child in children:
        if child.pid in exclude:
            continue
        with contextlib.suppress(psutil.Error):  # a worker that just exited
            total += child.memory_info().rss
    return total


class RssSampler:
    """Samples :func:`tree_rss` in a background thread; ``peak`` is the largest sample."""

    def __init__(self, interval: float = 0.02, exclude: frozenset[int] = frozenset()) -> None:
        self.interval = interval
        self.exclude = exclude
        self.process = psutil.Process()
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            self.peak = max(self.peak, tree_rss(self.process, self.exclude))
            self.samples += 1
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.process, self.exclude))


def measure(n_symbols: int, years: float, lookback: int) -> dict[str, Any]:
    """One cold demo scan (fresh cache, default workers) with memory sampling."""
    import technic_nb as tn
    from technic_nb.sources import DemoSource

    baseline = tree_rss(psutil.Process())
    with tempfile.TemporaryDirectory(prefix="technic_nb_bench_mem_") as cache:
        config = tn.ScanConfig(
            universe="demo",
            source=DemoSource(n_symbols=n_symbols, years=years),
            lookback_days=lookback,
            cache_dir=cache,
        )
        with RssSampler() as sampler:
            started = time.perf_counter()
            result = tn.scan(config)
            seconds = time.perf_counter() - started
    return {
        "symbols": n_symbols,
        "done": result.stats["done"],
        "seconds": seconds,
        "baseline_mib": baseline / MIB,
        "peak_mib": sampler.peak / MIB,
        "samples": sampler.samples,
        "pid": os.getpid(),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n_symbols, years, lookback = int(args[0]), float(args[1]), int(args[2])
    print(json.dumps(measure(n_symbols, years, lookback)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
