"""Cold throughput against the plain loops (TA-Lib, pandas), and resume (warm vs cold).

One set of rounds per source (demo, real CSV, HTTP): our cold scan and its warm
re-run, the TA-Lib loop and the pandas loop, the order rotated per round.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import technic_nb as tn
from technic_nb.sources import DemoSource

from .. import reference
from ..common import DATA_DIR, Bench, judge, log, median, section
from ..http_server import API_KEY
from ..stats import summarize, timed

#: Columns compared between the scan's table and the TA-Lib loop.
AGREEMENT_COLUMNS = ("rsi", "atr", "sma50", "macd_hist", "high52w", "ret_21d_pct")


def _agreement(values: dict[str, dict[str, float]], table: Any) -> dict[str, float]:
    """Largest relative difference between the TA-Lib loop and the scan (same data)."""
    if table is None or not len(table):
        return {}
    worst: dict[str, float] = {}
    for symbol, features in list(values.items())[:25]:
        if symbol not in table.index:
            continue
        row = table.loc[symbol]
        for key in AGREEMENT_COLUMNS:
            if key not in row.index or key not in features:
                continue
            ours, theirs = float(row[key]), features[key]
            scale = max(abs(ours), abs(theirs), 1e-12)
            worst[key] = max(worst.get(key, 0.0), abs(ours - theirs) / scale)
    return worst


def _ours(
    bench: Bench, name: str, make_config: Callable[[], tn.ScanConfig]
) -> tuple[float, float, Any]:
    """One cold scan and its warm re-run (into a fresh cache); the table of the cold one."""
    config = make_config()
    seconds, result = bench.run_scan(config)
    warm_seconds, warm_result = bench.run_scan(config)
    bench.drop(config.cache_dir)
    if warm_result.stats["from_cache"] != warm_result.stats["symbols"]:
        raise RuntimeError(f"{name}: the warm re-run was not fully cached")
    return seconds, warm_seconds, result.table


def _cold_reference_resume(
    bench: Bench,
    name: str,
    n: int,
    make_config: Callable[[], tn.ScanConfig],
    loader_factory: Callable[[], Any],
    ref_symbols: Sequence[str],
    after_cold: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Rounds of [our cold scan + warm re-run, TA-Lib loop, pandas loop], order rotated."""
    lookback = bench.sizes.lookback
    ours: list[float] = []
    warm: list[float] = []
    refs: dict[str, list[float]] = {"talib": [], "pandas": []}
    ratio: dict[str, list[float]] = {"talib": [], "pandas": []}
    check: dict[str, float] = {}
    steps = ["ours", "talib", "pandas"]
    table = None
    for r in range(bench.sizes.repeats):
        order = steps[r % 3 :] + steps[: r % 3]
        per_1000: dict[str, float] = {}
        for step in order:
            if step == "ours":
                seconds, warm_seconds, table = _ours(bench, name, make_config)
                ours.append(seconds)
                warm.append(warm_seconds)
                if after_cold is not None:
                    after_cold(seconds)
                per_1000["ours"] = seconds / n * 1000
                continue
            with loader_factory() as loader:
                seconds, values = timed(
                    functools.partial(reference.run_loop, step, loader, ref_symbols, lookback)
                )
            refs[step].append(seconds)
            per_1000[step] = seconds / len(ref_symbols) * 1000
            if step == "talib" and not check:
                check = _agreement(values, table)
        for step in ("talib", "pandas"):
            ratio[step].append(per_1000["ours"] / per_1000[step])
        log(
            f"{name} round {r + 1}: " + ", ".join(f"{k} {v:.2f}s/1000" for k, v in per_1000.items())
        )
    refs_n = len(ref_symbols)
    figures = {
        f"{name}_symbols_per_s": summarize([n / s for s in ours], "symbols/s", symbols=n),
        f"{name}_s_per_1000": summarize([s / n * 1000 for s in ours], "s/1000 symbols"),
        f"{name}_ref_talib_s_per_1000": summarize(
            [s / refs_n * 1000 for s in refs["talib"]], "s/1000 symbols", symbols=refs_n
        ),
        f"{name}_ref_pandas_s_per_1000": summarize(
            [s / refs_n * 1000 for s in refs["pandas"]], "s/1000 symbols", symbols=refs_n
        ),
        f"{name}_ours_over_talib_loop": summarize(ratio["talib"], "ratio (lower is better)"),
        f"{name}_ours_over_pandas_loop": summarize(ratio["pandas"], "ratio (lower is better)"),
    }
    return {
        "figures": figures,
        "resume": summarize([c / w for c, w in zip(ours, warm, strict=True)], "x (cold / warm)"),
        "warm": summarize(warm, "s", symbols=n),
        "check": check,
    }


def _demo(bench: Bench, cold: dict[str, Any], resume: dict[str, Any]) -> None:
    s = bench.sizes
    n = s.demo_symbols
    log(f"demo: {n} symbols x {s.years:g} years, lookback {s.lookback}")
    demo_source = DemoSource(n_symbols=n, years=s.years)
    out = _cold_reference_resume(
        bench,
        "demo",
        n,
        lambda: bench.demo_config(n),
        lambda: reference.demo_loader(demo_source),
        list(demo_source.universe()["symbol"]),
    )
    cold["figures"].update(out["figures"])
    resume["figures"]["demo_warm_s"] = out["warm"]
    resume["figures"]["demo_speedup"] = judge(
        out["resume"],
        "none (in-memory source)",
        None,
        "a warm re-run reads one features entry per symbol (a joblib.Memory lookup: argument "
        "hash, output.pkl read and verified) in the workers and still ranks, filters "
        "and scores the whole table; cold compute (synthetic bars, generated in the workers) "
        "is only ~1 ms per symbol",
    )
    if out["check"]:
        cold["notes"].append(
            "The TA-Lib loop computes the same values as the scan: largest relative "
            "difference on the demo data "
            + ", ".join(f"{k} {v:.1e}" for k, v in out["check"].items())
            + " (the pandas loop seeds RSI/ATR/MACD differently, as typical scripts do)."
        )


def _csv(bench: Bench, cold: dict[str, Any], resume: dict[str, Any]) -> None:
    if bench.csv_dir is None:
        message = (
            f"real CSV data skipped: {DATA_DIR} is absent (it lives beside the repository, "
            "in shared/data/us_equities_daily)"
        )
        log(message)
        cold["notes"].append(message)
        resume["notes"].append(message)
        return
    n_csv = len(bench.csv_symbols)
    log(f"csv: {n_csv} real symbols from {bench.csv_dir}")
    folder = bench.csv_dir
    out = _cold_reference_resume(
        bench,
        "csv",
        n_csv,
        bench.csv_config,
        lambda: reference.csv_loader(folder),
        bench.csv_symbols,
    )
    cold["figures"].update(out["figures"])
    ratio = cold["figures"]["csv_ours_over_talib_loop"]
    judge(
        ratio,
        "<= 0.5x",
        median(ratio["values"]) <= 0.5,
        "checkpoints on (the default), a fresh cache: the scan reads, validates, computes "
        "and writes one features entry per symbol in 2 loky workers; the loop reads and "
        "computes in one process.  The scan's extra work is validation, the features "
        "entry (with its window of bars) and the process dispatch; the ratio is bounded "
        "below by 1 / (cores obtained), ~0.5 on 2 shared vCPUs",
    )
    resume["figures"]["csv_warm_s"] = out["warm"]
    speed = out["resume"]
    resume["figures"]["csv_speedup"] = judge(
        speed,
        ">= 5x",
        median(speed["values"]) >= 5,
        "warm: one features-entry lookup per symbol in the workers (plus the cache key's "
        "stat of each data file, so an edited file is recomputed) and the table's ranking "
        "and scoring; cold: gzip + read_csv + validation + indicators + the entry's write",
    )


def _http(bench: Bench, cold: dict[str, Any], resume: dict[str, Any]) -> None:
    s = bench.sizes
    server = bench.server
    assert server is not None
    n_http = s.http_symbols
    window = bench.window(s.lookback)
    log(
        f"http: {n_http} symbols, latency {s.latency * 1000:.0f} ms, "
        f"{s.concurrency} connections, window {window.key()}"
    )
    out = _cold_reference_resume(
        bench,
        "http",
        n_http,
        lambda: bench.http_config(n_http),
        lambda: reference.http_loader(server.base_url, API_KEY, window.start, window.end),
        bench.demo_symbols[: s.http_ref_symbols],
        after_cold=bench.cold_http.append,
    )
    cold["figures"].update(out["figures"])
    cold["notes"].append(
        f"HTTP reference loops run on the first {s.http_ref_symbols} of the {n_http} symbols "
        "(a sequential loop is linear in the symbol count); ratios compare seconds per "
        "1,000 symbols of the same round."
    )
    resume["figures"]["http_warm_s"] = out["warm"]
    speed = out["resume"]
    resume["figures"]["http_speedup"] = judge(
        speed,
        ">= 20x",
        median(speed["values"]) >= 20,
        "warm: no request at all, one features-entry lookup per symbol in the workers; "
        f"cold: {s.latency * 1000:.0f} ms latency per request over {s.concurrency} "
        "connections, the bars entry written by the fetch thread, decoding, indicators and "
        "the features entry in the workers",
    )


def run(bench: Bench) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``cold_throughput`` and ``resume`` sections."""
    cold = section("Cold scan throughput and reference loops")
    resume = section("Resume: warm re-run (everything cached) vs cold run")
    cold["notes"].append(
        "Cold = a fresh cache folder, checkpoints on (the default); the worker pool is "
        "already started (one warm-up scan before the first figure), as in a notebook "
        f"session after its first scan.  Lookback {bench.sizes.lookback} bars."
    )
    _demo(bench, cold, resume)
    _csv(bench, cold, resume)
    _http(bench, cold, resume)
    return cold, resume
