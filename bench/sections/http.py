"""HTTP throughput against the ideal C / L (connections / latency)."""

from __future__ import annotations

import concurrent.futures as cf
import os
import time
from collections.abc import Callable
from typing import Any

import orjson
import urllib3

import technic_nb as tn

from ..common import Bench, judge, log, median, section
from ..http_server import API_KEY
from ..stats import per_call_seconds, summarize, timed


def _fetch_only(bench: Bench, n: int, window: tn.DateWindow, decode: bool) -> float:
    """Seconds to fetch ``n`` symbols from C threads as the scan does, or with the bars built.

    ``decode=False`` is the scan's fetch stage (``PolygonSource.fetch_payload``: the
    requests, each page parsed and checked into columns); ``decode=True`` is
    ``PolygonSource.fetch`` (the bars frame built and validated in the fetching process).
    """
    source = bench.http_source()
    symbols = bench.demo_symbols[:n]
    get = source.fetch if decode else source.fetch_payload
    try:
        with cf.ThreadPoolExecutor(bench.sizes.concurrency) as pool:
            seconds, _ = timed(lambda: list(pool.map(lambda x: get(x, window), symbols)))
    finally:
        source.close()
    return seconds


def _thread_cpu(fn: Callable[[], Any]) -> float:
    started = time.thread_time()
    fn()
    return time.thread_time() - started


def _raw_body(bench: Bench, symbol: str, window: tn.DateWindow) -> bytes:
    assert bench.server is not None
    client = urllib3.PoolManager(headers={"Authorization": f"Bearer {API_KEY}"})
    try:
        response = client.request(
            "GET",
            f"{bench.server.base_url}/v2/aggs/ticker/{symbol}/range/1/day/"
            f"{window.start}/{window.end}",
            fields={"adjusted": "true", "sort": "asc", "limit": "50000"},
        )
        return response.data
    finally:
        client.clear()


def _client_cpu(bench: Bench, window: tn.DateWindow) -> dict[str, float]:
    """CPU per response: the request with its page parsed (this process), the bars (a worker)."""
    symbol = bench.demo_symbols[0]
    source = bench.http_source()
    body = _raw_body(bench, symbol, window)
    try:
        rows = source.fetch_payload(symbol, window)
        request = median(per_call_seconds(lambda: source.fetch_payload(symbol, window), 20, 5))
        cpu = _thread_cpu(lambda: [source.fetch_payload(symbol, window) for _ in range(20)]) / 20
        return {
            "bars": float(len(rows.columns[0])),
            "body_kib": len(body) / 1024,
            "json_decode": median(per_call_seconds(lambda: orjson.loads(body), 50, 5)),
            "bars_frame": median(per_call_seconds(lambda: rows.bars(symbol, window), 20, 5)),
            # wall time of one request at L; its CPU is what the fetch threads spend
            "request_cpu": min(request, cpu),
        }
    finally:
        source.close()


def _rounds(bench: Bench, window: tn.DateWindow, half: int) -> dict[str, list[float]]:
    s = bench.sizes
    n = s.fetch_only_symbols
    rates: dict[str, list[float]] = {"fetch": [], "decode": [], "half_scan": []}
    for r in range(s.http_repeats):
        rates["fetch"].append(n / _fetch_only(bench, n, window, decode=False))
        rates["decode"].append(n / _fetch_only(bench, n, window, decode=True))
        source = bench.http_source(connections=half)
        config = bench.http_config(s.http_symbols, source, fetch_concurrency=half)
        rates["half_scan"].append(s.http_symbols / bench.cold_seconds(config))
        log(
            f"http round {r + 1}: fetch stage {rates['fetch'][-1]:.0f}/s, fetch+bars "
            f"{rates['decode'][-1]:.0f}/s, scan with C={half} {rates['half_scan'][-1]:.0f}/s"
        )
    return rates


def run(bench: Bench) -> dict[str, Any]:
    """The ``http_throughput`` section."""
    s = bench.sizes
    out = section("HTTP throughput against the ideal C / L")
    ideal = s.concurrency / s.latency
    half = max(1, s.concurrency // 2)
    out["notes"].append(
        f"Ideal = C / L = {s.concurrency} connections / {s.latency * 1000:.0f} ms = "
        f"{ideal:.0f} requests/s (one request per symbol).  The server runs in its own "
        "process with every answer encoded in advance (FakePolygonServer.preload), so the "
        "figures measure the client.  The scan's fetch stage is PolygonSource.fetch_payload "
        "in C threads (each page parsed with orjson and checked there; the bars frame is "
        "built in the workers)."
    )
    window = bench.window(s.lookback)
    cpu = _client_cpu(bench, window)
    for key in ("request_cpu", "json_decode", "bars_frame"):
        out["figures"][f"client_{key}_ms"] = summarize(
            [cpu[key] * 1e3], "ms/response", bars=cpu["bars"], body_kib=round(cpu["body_kib"], 1)
        )
    rates = _rounds(bench, window, half)
    n = s.fetch_only_symbols
    out["figures"]["fetch_fraction_of_ideal"] = judge(
        summarize([x / ideal for x in rates["fetch"]], "fraction of C/L", symbols=n),
        ">= 0.8",
        median(rates["fetch"]) / ideal >= 0.8,
        f"the scan's fetch stage alone: {s.concurrency} threads, one connection each; "
        f"{cpu['request_cpu'] * 1e3:.2f} ms of this process's CPU per request (urllib3 + "
        f"orjson {cpu['json_decode'] * 1e3:.2f} ms + checks)",
    )
    out["figures"]["fetch_and_bars_fraction_of_ideal"] = judge(
        summarize([x / ideal for x in rates["decode"]], "fraction of C/L", symbols=n),
        "diagnostic",
        None,
        "PolygonSource.fetch from the same threads: every answer also turned into a validated "
        f"bars frame in this process ({cpu['bars_frame'] * 1e3:.1f} ms each under one GIL)",
    )
    scan_rate = [s.http_symbols / t for t in bench.cold_http]
    per_symbol = cpu["request_cpu"] + cpu["bars_frame"] + bench.compute_seconds_per_symbol
    ceiling = (os.cpu_count() or 1) / per_symbol
    if scan_rate:
        out["figures"]["scan_fraction_of_ideal"] = judge(
            summarize([r / ideal for r in scan_rate], "fraction of C/L", symbols_per_s=scan_rate),
            "diagnostic",
            None,
            f"CPU: a symbol costs ~{per_symbol * 1e3:.1f} ms of CPU (request "
            f"{cpu['request_cpu'] * 1e3:.1f}, bars {cpu['bars_frame'] * 1e3:.1f}, indicators "
            f"{bench.compute_seconds_per_symbol * 1e3:.1f}) plus two checkpoint writes: "
            f"{os.cpu_count()} cores give at most ~{ceiling:.0f} symbols/s before the server "
            f"process takes its share, against the {ideal:.0f}/s ideal",
        )
    half_ideal = half / s.latency
    out["figures"]["scan_half_connections_fraction_of_ideal"] = judge(
        summarize(
            [x / half_ideal for x in rates["half_scan"]], "fraction of C/L", symbols=s.http_symbols
        ),
        ">= 0.8",
        median(rates["half_scan"]) / half_ideal >= 0.8,
        f"the whole cold scan (fetch, bars, indicators, checkpoints) with C = {half}: an ideal "
        f"of {half_ideal:.0f} symbols/s, below the CPU ceiling, so the network is the bound "
        "and the scan must keep every connection busy",
    )
    return out
