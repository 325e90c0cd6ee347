"""Scaling with the number of workers (n_jobs 1 vs 2) and with the universe size."""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil

from ..common import Bench, judge, log, median, section, tree_cpu_seconds
from ..stats import loglog_slope, summarize


def _spin(stop: Any) -> None:
    value = 0
    while not stop.is_set():
        for i in range(100_000):
            value += i * i


@contextlib.contextmanager
def _busy_sibling() -> Iterator[None]:
    """A separate process spinning on one CPU for the duration of the block."""
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    process = ctx.Process(target=_spin, args=(stop,), daemon=True)
    process.start()
    time.sleep(0.5)  # let it start spinning
    try:
        yield
    finally:
        stop.set()
        process.join(timeout=10)


def _own_cpu(fn: Callable[[], Any]) -> float:
    """CPU seconds this process spends in ``fn()``."""
    before = psutil.Process().cpu_times()
    fn()
    after = psutil.Process().cpu_times()
    return (after.user + after.system) - (before.user + before.system)


def _workers(bench: Bench, out: dict[str, Any]) -> None:
    s = bench.sizes
    n = s.njobs_symbols
    speedups: list[float] = []
    cpu_ratio: list[float] = []
    cores: dict[int, list[float]] = {1: [], 2: []}
    for r in range(s.njobs_pairs):
        times: dict[int, float] = {}
        cpu: dict[int, float] = {}
        for jobs in (1, 2) if r % 2 == 0 else (2, 1):
            config = bench.demo_config(n, n_jobs=jobs, use_cache=False)
            before = tree_cpu_seconds()
            times[jobs] = bench.run_scan(config)[0]
            cpu[jobs] = tree_cpu_seconds() - before
            cores[jobs].append(cpu[jobs] / times[jobs])
        speedups.append(times[1] / times[2])
        cpu_ratio.append(cpu[2] / cpu[1])
        log(
            f"n_jobs round {r + 1}: 1 -> {times[1]:.2f}s ({cpu[1]:.2f} CPU-s), "
            f"2 -> {times[2]:.2f}s ({cpu[2]:.2f} CPU-s)"
        )
    out["figures"]["njobs_2_over_1_speedup"] = judge(
        summarize(speedups, "x (time n_jobs=1 / n_jobs=2)", symbols=n),
        ">= 1.7x",
        median(speedups) >= 1.7,
        "CPU the machine grants: see cores_obtained_* (CPU seconds of the process tree per "
        "wall second); the work itself grows by cpu_2_over_1 when split over two workers, "
        "so the speed-up is (cores obtained with 2 workers / with 1) / cpu_2_over_1",
    )
    out["figures"]["cpu_2_over_1"] = summarize(
        cpu_ratio, "x (CPU seconds n_jobs=2 / n_jobs=1: dispatch and pickling cost)"
    )
    for jobs in (1, 2):
        out["figures"][f"cores_obtained_njobs_{jobs}"] = summarize(
            cores[jobs], "CPU-s per wall-s (process + workers)"
        )
    out["notes"].append(
        "n_jobs figures: demo source, use_cache=False (only the CPU-bound part), loky."
    )


def _sibling(bench: Bench, out: dict[str, Any]) -> None:
    """Are the two vCPUs independent?  The same in-process scan alone and beside a spinner."""
    n = bench.sizes.njobs_symbols
    inflation: list[float] = []
    for _ in range(bench.sizes.njobs_pairs):
        config = bench.demo_config(n, n_jobs=1, use_cache=False)
        alone = _own_cpu(functools.partial(bench.run_scan, config))
        with _busy_sibling():
            config = bench.demo_config(n, n_jobs=1, use_cache=False)
            shared = _own_cpu(functools.partial(bench.run_scan, config))
        inflation.append(shared / alone)
        log(f"busy sibling: {alone:.2f} -> {shared:.2f} CPU-s for the same scan")
    out["figures"]["cpu_inflation_busy_sibling"] = judge(
        summarize(inflation, "x (CPU-s with the other vCPU busy / alone)"),
        "diagnostic",
        None,
        "above 1 the two vCPUs share execution resources (hyper-threads or host contention): "
        "the same code needs more CPU seconds when both run, which caps any 2-worker speed-up",
    )


def _universe(bench: Bench, out: dict[str, Any]) -> None:
    s = bench.sizes
    times: dict[int, list[float]] = {size: [] for size in s.scaling_sizes}
    slopes: list[float] = []
    for r in range(s.scaling_rounds):
        order = list(s.scaling_sizes) if r % 2 == 0 else list(reversed(s.scaling_sizes))
        this_round = {}
        for size in order:
            this_round[size] = bench.cold_seconds(bench.demo_config(size))
            times[size].append(this_round[size])
        sizes = list(s.scaling_sizes)
        slopes.append(loglog_slope(sizes, [this_round[x] for x in sizes]))
        log(f"sizes round {r + 1}: " + ", ".join(f"{k}: {v:.2f}s" for k, v in this_round.items()))
    for size in s.scaling_sizes:
        out["figures"][f"universe_{size}_s_per_1000"] = summarize(
            [t / size * 1000 for t in times[size]], "s/1000 symbols", symbols=size
        )
    medians = [median(times[x]) for x in s.scaling_sizes]
    out["figures"]["loglog_exponent"] = judge(
        summarize(slopes, "exponent", of_medians=loglog_slope(list(s.scaling_sizes), medians)),
        "~1 (linear)",
        None,
        "fixed per-scan costs (universe, dispatch, finalization) pull it below 1 at small sizes",
    )


def run(bench: Bench) -> dict[str, Any]:
    """The ``scaling`` section."""
    out = section("Scaling: workers and universe size")
    bench.warm_pools()
    _workers(bench, out)
    _sibling(bench, out)
    _universe(bench, out)
    return out
