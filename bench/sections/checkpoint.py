"""Checkpoint overhead end to end: the same cold scan with ``use_cache=True`` vs ``False``.

Rounds of ``off on on off`` (:func:`bench.common.interleaved_pairs`), every
``on`` run into a fresh cache folder (a cold run that writes every entry).
Beside the wall time, the CPU seconds of the whole process tree (this process,
the loky workers and the HTTP server) give the CPU the checkpoints add per
symbol, which bounds what they can cost once the cores are saturated.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import technic_nb as tn

from ..common import Bench, interleaved_pairs, judge, log, median, section, tree_cpu_seconds
from ..http_server import ServerProcess
from ..stats import summarize


class _Arm:
    """One side of the comparison: runs a config cold and keeps its CPU seconds."""

    def __init__(self, bench: Bench, make: Callable[[], tn.ScanConfig]) -> None:
        self.bench = bench
        self.make = make
        self.cpu: list[float] = []

    def __call__(self) -> float:
        config = self.make()
        if config.use_cache:
            config = self.bench.fresh(config)
        before = tree_cpu_seconds()
        try:
            seconds = self.bench.run_scan(config)[0]
        finally:
            self.cpu.append(tree_cpu_seconds() - before)
            if config.use_cache:
                self.bench.drop(config.cache_dir)
        return seconds


def compare(
    bench: Bench, name: str, n: int, make: Callable[[bool], tn.ScanConfig], rounds: int
) -> dict[str, Any]:
    """Interleaved rounds of the scan without and with checkpoints; the figures' values."""
    off = _Arm(bench, lambda: make(False))
    on = _Arm(bench, lambda: make(True))
    ratios, aa, off_times = interleaved_pairs(rounds, off, on)
    extra_cpu = [
        (sum(on.cpu[2 * i : 2 * i + 2]) - sum(off.cpu[2 * i : 2 * i + 2])) / (2 * n)
        for i in range(rounds)
    ]
    log(
        f"checkpoint {name}: overhead "
        + ", ".join(f"{100 * (r - 1):+.1f}%" for r in ratios)
        + f" (A/A {', '.join(f'{100 * (a - 1):+.1f}%' for a in aa)}), off {median(off_times):.2f}s"
    )
    return {
        "overhead_pct": [100.0 * (r - 1.0) for r in ratios],
        "aa_pct": [100.0 * (a - 1.0) for a in aa],
        "off_s": off_times,
        "extra_cpu_ms": [c * 1e3 for c in extra_cpu],
    }


def _record(
    out: dict[str, Any], name: str, n: int, values: dict[str, Any], target: str | None, bound: str
) -> None:
    cores = os.cpu_count() or 1
    off_median = median(values["off_s"])
    cpu_ms = median(values["extra_cpu_ms"])
    share = 100.0 * cpu_ms / 1e3 * n / (off_median * cores)
    figure = summarize(values["overhead_pct"], "% end-to-end (on / off - 1)", symbols=n)
    figure["cpu_share_pct"] = share
    full_bound = (
        f"{bound}; checkpoints add {cpu_ms:.2f} ms of CPU per symbol (process tree, on - off), "
        f"{share:.2f}% of the run's {cores}-core capacity: what they would cost if every core "
        "were busy"
    )
    if target is None:
        out["figures"][f"{name}_checkpoint_pct"] = judge(figure, "report", None, full_bound)
    else:
        limit = float(target.strip("<% "))
        met = median(values["overhead_pct"]) < limit
        out["figures"][f"{name}_checkpoint_pct"] = judge(figure, target, met, full_bound)
    out["figures"][f"{name}_aa_noise_pct"] = summarize(values["aa_pct"], "% (off vs off)")
    out["figures"][f"{name}_off_s"] = summarize(values["off_s"], "s", symbols=n)
    out["figures"][f"{name}_extra_cpu_ms_per_symbol"] = summarize(
        values["extra_cpu_ms"], "ms CPU/symbol (on - off)"
    )


def _http(bench: Bench, out: dict[str, Any], latency: float, n: int, target: str) -> None:
    s = bench.sizes
    name = f"http{round(latency * 1000)}ms"
    server = bench.server
    own: ServerProcess | None = None
    if server is None or abs(latency - s.latency) > 1e-9:
        log(f"checkpoint: starting a server process with {latency * 1000:.0f} ms latency")
        own = ServerProcess(n, s.years, latency, [bench.window_dates()]).__enter__()
        server = own
    try:

        def make(use_cache: bool) -> tn.ScanConfig:
            return bench.http_config(
                n, bench.http_source(server=server), use_cache=use_cache, cache_dir=None
            )

        values = compare(bench, name, n, make, s.ckpt_rounds)
    finally:
        if own is not None:
            own.__exit__(None, None, None)
    ideal = s.concurrency / latency
    _record(
        out,
        name,
        n,
        values,
        target,
        f"{latency * 1000:.0f} ms per request over {s.concurrency} connections (C/L = "
        f"{ideal:.0f} symbols/s): the bars entry is written by the fetch thread as its answer "
        "arrives and the features entry by a worker, both while other requests wait on the "
        "network",
    )


def run(bench: Bench) -> dict[str, Any]:
    """The ``checkpoint_overhead`` section."""
    s = bench.sizes
    out = section("Checkpoint overhead end to end: use_cache=True vs use_cache=False")
    out["notes"].append(
        "Each round runs off, on, on, off (one process, the same warm worker pool); the "
        "overhead is (on1 + on2) / (off1 + off2) - 1 and the A/A figure off2 / off1 - 1 is "
        "the noise floor of the same rounds.  Every 'on' run writes into a fresh cache "
        "folder: one bars entry per symbol (network sources) and one features entry per "
        "symbol, each a joblib.Memory entry (a folder and its output.pkl; the store "
        "writes no metadata.json)."
    )
    _http(bench, out, 0.08, s.ckpt_http80_symbols, "< 1%")
    _http(bench, out, s.latency, s.ckpt_http20_symbols, "< 5%")
    if bench.csv_dir is None:
        out["notes"].append("CSV skipped: the real data folder is absent.")
    else:
        n_csv = len(bench.csv_symbols)
        values = compare(
            bench,
            "csv",
            n_csv,
            lambda use_cache: bench.csv_config(use_cache=use_cache, cache_dir=None),
            s.ckpt_rounds,
        )
        _record(
            out,
            "csv",
            n_csv,
            values,
            None,
            "CPU-bound on 2 cores (gzip, read_csv, validation, indicators in the workers): "
            "the features entry's write adds to the workers' CPU directly",
        )
    n_demo = s.ckpt_demo_symbols
    values = compare(
        bench,
        "demo",
        n_demo,
        lambda use_cache: bench.demo_config(n_demo, use_cache=use_cache, cache_dir=None),
        s.ckpt_rounds,
    )
    _record(
        out,
        "demo",
        n_demo,
        values,
        None,
        "CPU-bound, and the demo's compute is only ~1 ms per symbol, so a per-entry cost "
        "of a fraction of a millisecond is a large share",
    )
    return out
