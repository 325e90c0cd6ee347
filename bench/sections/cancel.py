"""Cancel latency: ``token.cancel()`` from another thread to ``scan()`` returning."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import technic_nb as tn
from technic_nb.engine.executors import CANCEL_GRACE, POLL_SECONDS

from ..common import Bench, judge, log, section
from ..stats import percentile, summarize


def _trial(bench: Bench, n: int, backend: str, target: int) -> float | None:
    """One cancelled scan; the seconds from ``cancel()`` to the return (None: not cancelled)."""
    reached = threading.Event()
    token = tn.ScanCancellation()
    stamp: list[float] = []

    def progress(stage: str, current: int, total: int, message: str, metadata: Any) -> None:
        if stage == "symbol_scanning" and current >= target:
            reached.set()

    def canceller() -> None:
        if reached.wait(600):
            stamp.append(time.perf_counter())
            token.cancel()

    thread = threading.Thread(target=canceller, daemon=True)
    thread.start()
    config = bench.demo_config(n, backend=backend)
    try:
        result = tn.scan(config, progress_cb=progress, cancellation_token=token)
        ended = time.perf_counter()
    finally:
        reached.set()
        thread.join()
        bench.drop(config.cache_dir)
    if not result.cancelled or not stamp:
        return None
    return ended - stamp[0]


def run(bench: Bench) -> dict[str, Any]:
    """The ``cancel_latency`` section."""
    s = bench.sizes
    out = section("Cancel latency: token.cancel() from another thread to scan() returning")
    out["notes"].append(
        "Each trial cancels at a random point (after a random 5-60% of the symbols, "
        "signalled by the progress callback through a threading.Event); the canceller "
        "thread stamps the time just before token.cancel().  Demo source, checkpoints on."
    )
    rng = random.Random(20240611)
    n = s.cancel_symbols
    for backend in ("loky", "threading"):
        latencies: list[float] = []
        skipped = 0
        for _ in range(s.cancel_trials):
            target = rng.randint(max(1, n // 20), max(2, n * 6 // 10))
            latency = _trial(bench, n, backend, target)
            if latency is None:
                skipped += 1
            else:
                latencies.append(latency)
        if not latencies:
            raise RuntimeError(f"no cancel trial succeeded on {backend}")
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        figure = summarize(latencies, "s", p50=p50, p95=p95, skipped=skipped)
        bound = (
            "cooperative: the feeder stops, every running task sees the scan's cancel flag "
            "between two symbols and returns what it finished; the scanning thread polls its "
            f"results every {POLL_SECONDS * 1000:.0f} ms and waits at most CANCEL_GRACE = "
            f"{CANCEL_GRACE:g} s for the tasks in flight; the loky workers stay up"
        )
        out["figures"][f"{backend}_cancel_latency_s"] = judge(
            figure, "p95 < 0.5 s", p95 < 0.5, bound
        )
        log(f"cancel {backend}: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")
    return out
