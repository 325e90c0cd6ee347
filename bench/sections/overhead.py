"""Overhead of the progress callback, the console bars, a caller's token and the retries.

Each is measured twice: its cost per event directly (a micro-benchmark), times
the events of a scan (the estimate the target is judged on), and end to end
(bare vs the variant, interleaved, beside the A/A noise of the same rounds).
Checkpoints have their own section (``checkpoint_overhead``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import technic_nb as tn
from technic_nb.engine.progress import MultiStageProgressTracker
from technic_nb.notebook.console import ConsoleProgress
from technic_nb.sources.retry.calls import call_with_retries
from technic_nb.sources.retry.policy import RetryPolicy

from ..common import Bench, judge, log, median, section
from ..stats import per_call_seconds, summarize

#: Progress events per symbol: data_fetching and symbol_scanning advance once each.
EVENTS_PER_SYMBOL = 2


def overhead_rounds(
    rounds: int,
    name: str,
    bare: Callable[[], float],
    variants: dict[str, Callable[[], float]],
) -> tuple[dict[str, list[float]], list[float], list[float]]:
    """Rounds of [bare, variants..., bare (middle)], variant order rotated per round.

    Returns per-variant overheads in % against the mean of the round's two bare
    runs, the A/A differences in % (bare vs bare) and the bare times.
    """
    names = list(variants)
    overhead: dict[str, list[float]] = {v: [] for v in names}
    aa: list[float] = []
    bares: list[float] = []
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        middle = len(order) // 2
        times: dict[str, float] = {}
        bare_times = [bare()]
        for i, variant in enumerate(order):
            if i == middle:
                bare_times.append(bare())
            times[variant] = variants[variant]()
        if len(bare_times) == 1:
            bare_times.append(bare())
        base = sum(bare_times) / 2
        bares.extend(bare_times)
        aa.append(100.0 * (bare_times[1] / bare_times[0] - 1.0))
        for variant, seconds in times.items():
            overhead[variant].append(100.0 * (seconds / base - 1.0))
        log(
            f"overhead {name} round {r + 1}: bare {bare_times[0]:.2f}/{bare_times[1]:.2f}s, "
            + ", ".join(f"{v} {t:.2f}s" for v, t in times.items())
        )
    return overhead, aa, bares


def _progress_micro() -> dict[str, float]:
    """Extra seconds per progress event for a callback and for console bars."""

    def advance_cost(tracker: MultiStageProgressTracker) -> float:
        tracker.start_stage("symbol_scanning", 10**9)

        def one() -> None:
            tracker.advance("symbol_scanning", message="AAPL", symbol="AAPL", ok=True)

        return min(per_call_seconds(one, 2000, repeat=5))

    bare = advance_cost(MultiStageProgressTracker())
    seen: list[int] = []
    callback = advance_cost(
        MultiStageProgressTracker(callback=lambda stage, cur, tot, msg, meta: seen.append(cur))
    )
    tracker = MultiStageProgressTracker()
    with open(os.devnull, "w") as sink, ConsoleProgress(tracker, file=sink):
        console = advance_cost(tracker)
    return {"bare": bare, "callback": callback - bare, "console": console - bare}


def _retry_micro() -> float:
    """Extra seconds per request for going through the backoff decorator (no fault)."""
    policy = RetryPolicy()

    def plain() -> None:
        return None

    direct = min(per_call_seconds(plain, 20000))
    wrapped = min(
        per_call_seconds(lambda: call_with_retries(plain, policy=policy, describe="x"), 5000)
    )
    return max(0.0, wrapped - direct)


def _variants(bench: Bench, make: Callable[[], tn.ScanConfig]) -> dict[str, Callable[[], float]]:
    def with_callback() -> float:
        seen: list[int] = []
        return bench.run_scan(make(), progress_cb=lambda st, cur, tot, msg, meta: seen.append(cur))[
            0
        ]

    def with_console() -> float:
        tracker = MultiStageProgressTracker()
        with open(os.devnull, "w") as sink, ConsoleProgress(tracker, file=sink):
            return bench.run_scan(make(), tracker=tracker)[0]

    def with_token() -> float:
        return bench.run_scan(make(), cancellation_token=tn.ScanCancellation())[0]

    return {
        "progress_callback": with_callback,
        "console_bars": with_console,
        "cancel_token": with_token,
    }


def _record(
    out: dict[str, Any],
    name: str,
    n: int,
    measured: tuple[dict[str, list[float]], list[float], list[float]],
    per_event: dict[str, float],
    retry_cost: float,
) -> None:
    overhead, aa, bares = measured
    bare_median = median(bares)
    out["figures"][f"{name}_bare_s"] = summarize(bares, "s", symbols=n)
    out["figures"][f"{name}_aa_noise_pct"] = summarize(aa, "% (bare vs bare)")
    for variant, values in overhead.items():
        figure = summarize(values, "% end-to-end")
        if variant == "retry_default":
            est = 100.0 * retry_cost * n / bare_median
            bound = (
                "the backoff decorator runs for every request in both arms (max_tries only "
                f"changes what happens after a failure); its own cost is {retry_cost * 1e6:.1f} "
                f"us/request = {est:.3f}% of the bare scan"
            )
        else:
            cost = per_event[variant]
            est = 100.0 * cost * EVENTS_PER_SYMBOL * n / bare_median
            bound = (
                f"per-event cost {cost * 1e6:.2f} us x {EVENTS_PER_SYMBOL} events/symbol = "
                f"{est:.3f}% of the bare scan"
            )
        figure["estimated_pct"] = est
        out["figures"][f"{name}_{variant}_pct"] = judge(figure, "< 1%", est < 1.0, bound)


def run(bench: Bench) -> dict[str, Any]:
    """The ``overhead`` section."""
    s = bench.sizes
    out = section("Overhead of progress, console bars, token and retries against the bare engine")
    out["notes"].append(
        "Bare engine = no progress callback, no caller token, use_cache=False, and for HTTP "
        "RetryPolicy(max_tries=1).  Each round runs bare, the variants (order rotated per "
        "round) and bare again in the middle; a variant's overhead is its time over the mean "
        "of the round's two bare runs.  The A/A figure (bare vs bare) is the noise floor: an "
        "end-to-end difference smaller than it cannot be resolved on this machine, so each "
        "target is judged on the per-event cost measured directly times the events of a scan "
        "('estimated_pct'), and the end-to-end figure is reported beside it."
    )
    out["notes"].append(
        "Cancellation: the engine always creates a token and a cancel flag the workers check "
        "between symbols; passing your own token only replaces that object, so 'with a "
        "token' vs 'without' measures the same code."
    )
    micro = _progress_micro()
    retry_cost = _retry_micro()
    per_event = {
        "progress_callback": micro["callback"],
        "console_bars": micro["console"],
        "cancel_token": 0.0,
    }
    out["figures"]["micro_progress_callback_us_per_event"] = summarize(
        [micro["callback"] * 1e6], "us/event"
    )
    out["figures"]["micro_console_bars_us_per_event"] = summarize(
        [micro["console"] * 1e6], "us/event"
    )
    out["figures"]["micro_retry_decorator_us_per_request"] = summarize(
        [retry_cost * 1e6], "us/request"
    )

    n_http = s.overhead_http_symbols
    bare_retry = RetryPolicy(max_tries=1)

    def make_http(retry: RetryPolicy = bare_retry) -> tn.ScanConfig:
        return bench.http_config(n_http, bench.http_source(retry), use_cache=False)

    variants = _variants(bench, make_http)
    variants["retry_default"] = lambda: bench.run_scan(make_http(RetryPolicy()))[0]
    log(f"overhead: http, {n_http} symbols")
    measured = overhead_rounds(
        s.overhead_rounds, "http", lambda: bench.run_scan(make_http())[0], variants
    )
    _record(out, "http", n_http, measured, per_event, retry_cost)

    if bench.csv_dir is None:
        out["notes"].append("CSV overheads skipped: the real data folder is absent.")
        return out
    n_csv = len(bench.csv_symbols)
    log(f"overhead: csv, {n_csv} symbols")

    def make_csv() -> tn.ScanConfig:
        return bench.csv_config(use_cache=False)

    measured = overhead_rounds(
        s.overhead_rounds, "csv", lambda: bench.run_scan(make_csv())[0], _variants(bench, make_csv)
    )
    _record(out, "csv", n_csv, measured, per_event, retry_cost)
    return out
