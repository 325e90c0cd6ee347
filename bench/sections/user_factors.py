"""User factors: what five factors cost a cold scan, and adding one to a finished scan.

The factors are those of ``notebooks/03_custom_scoring.ipynb``: ``squeeze``
written in Python (pandas rolling windows), and ``tn.factors.bollinger()``,
``adx()``, ``ichimoku()`` and ``weekly_trend()``.  Engine defaults (lookback
300), the real CSV data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pandas as pd

import technic_nb as tn
from technic_nb.engine.config import DEFAULT_LOOKBACK_DAYS
from technic_nb.engine.factor_work import compute_one
from technic_nb.sources import DemoSource, DirectorySource

from ..common import Bench, interleaved_pairs, judge, log, median, section
from ..stats import per_call_seconds, summarize


@tn.factor
def squeeze(bars: pd.DataFrame) -> float:
    """Bollinger width today against its range over the last 120 bars (0 = tightest)."""
    close = bars["close"]
    width = 4 * close.rolling(20).std() / close.rolling(20).mean()
    recent = width.iloc[-120:]
    return float((recent.iloc[-1] - recent.min()) / (recent.max() - recent.min()))


def ready_made() -> list[tn.Factor]:
    """The four ready-made factors of the notebook."""
    return [
        tn.factors.bollinger(20, 2.0),
        tn.factors.adx(14),
        tn.factors.ichimoku(),
        tn.factors.weekly_trend(30),
    ]


def base_config(bench: Bench) -> tuple[tn.ScanConfig, int, str]:
    """The bare scan (no factor), its symbol count and what data it reads."""
    if bench.csv_dir is not None:
        config = bench.csv_config(lookback_days=DEFAULT_LOOKBACK_DAYS)
        return config, len(bench.csv_symbols), "the real CSV data"
    n = bench.sizes.demo_symbols
    return bench.demo_config(n, lookback_days=DEFAULT_LOOKBACK_DAYS), n, "the demo market"


def _window(bench: Bench) -> pd.DataFrame:
    if bench.csv_dir is not None:
        bars = DirectorySource(bench.csv_dir).fetch("AAPL", tn.DateWindow(None, None))
    else:
        source = DemoSource(n_symbols=4, years=2)
        bars = source.fetch(str(source.universe()["symbol"].iloc[0]), tn.DateWindow(None, None))
    return bars.iloc[-DEFAULT_LOOKBACK_DAYS:]


def _compute_costs(bench: Bench, out: dict[str, Any]) -> None:
    """Each factor's compute time on one 300-bar window, in this process."""
    window = _window(bench)
    for item in [squeeze, *ready_made()]:
        seconds = per_call_seconds(
            functools.partial(compute_one, item, window, "AAPL", frozenset()), 50, 5
        )
        out["figures"][f"compute_{item.name}_ms"] = summarize(
            [x * 1e3 for x in seconds], "ms/symbol (compute only, one process)"
        )


def _cost_of_five(bench: Bench, out: dict[str, Any], config: tn.ScanConfig, n: int) -> None:
    factors = [squeeze, *ready_made()]

    def bare() -> float:
        return bench.cold_seconds(config)

    def five() -> float:
        return bench.cold_seconds(config.replace(factors=factors))

    ratios, aa, bare_times = interleaved_pairs(bench.sizes.factor_rounds, bare, five)
    extra_ms = [(r - 1.0) * t / n * 1e3 for r, t in zip(ratios, bare_times[::2], strict=True)]
    log("factors: five cost " + ", ".join(f"{100 * (r - 1):+.0f}%" for r in ratios))
    out["figures"]["bare_cold_s"] = summarize(bare_times, "s", symbols=n)
    out["figures"]["five_factors_overhead_pct"] = judge(
        summarize([100 * (r - 1) for r in ratios], "% (cold with 5 factors / bare - 1)"),
        "report",
        None,
        "per symbol and factor: the factor's compute on the scan's window (see compute_*_ms; "
        "weekly_trend resamples to weeks first) plus a peek miss and a write of its cache "
        "entry (see cache_layers factor_*), in the workers, 2 cores",
    )
    out["figures"]["five_factors_extra_ms_per_symbol"] = summarize(
        extra_ms, "ms wall/symbol (with 5 factors - bare)"
    )
    out["figures"]["five_factors_aa_noise_pct"] = summarize(
        [100 * (a - 1) for a in aa], "% (bare vs bare)"
    )


def _add_one(bench: Bench, out: dict[str, Any], config: tn.ScanConfig, n: int) -> None:
    four = config.replace(factors=ready_made())
    five = config.replace(factors=[*ready_made(), squeeze])
    cold: list[float] = []
    added: list[float] = []
    computed: list[int] = []

    def cold_five() -> None:
        cold.append(bench.cold_seconds(five))

    def add_to_four() -> None:
        folder = bench.fresh_cache()
        bench.run_scan(four.replace(cache_dir=folder))
        seconds, result = bench.run_scan(five.replace(cache_dir=folder))
        bench.drop(folder)
        added.append(seconds)
        computed.append(int(result.stats["factors_computed"]))

    steps: list[Callable[[], None]] = [cold_five, add_to_four]
    for r in range(bench.sizes.factor_rounds):
        for step in steps if r % 2 == 0 else steps[::-1]:
            step()
        log(f"factors: cold with squeeze {cold[-1]:.2f}s, adding squeeze {added[-1]:.2f}s")
    out["figures"]["add_one_factor_s"] = summarize(
        added, "s (warm re-run with one factor added)", factors_computed=computed[-1], symbols=n
    )
    out["figures"]["cold_with_that_factor_s"] = summarize(cold, "s", symbols=n)
    speed = summarize([c / a for c, a in zip(cold, added, strict=True)], "x (cold / added)")
    out["figures"]["add_one_factor_speedup"] = judge(
        speed,
        ">= 5x",
        median(speed["values"]) >= 5,
        "adding a factor reads each symbol's features entry (it keeps the scan's window of "
        "bars, so no file is read), computes the new factor on that window and writes its "
        "entry; the four others are read from their entries; then the table is scored",
    )


def run(bench: Bench) -> dict[str, Any]:
    """The ``user_factors`` section."""
    out = section("User factors: five factors on a cold scan, and adding one")
    config, n, label = base_config(bench)
    out["notes"].append(
        f"Data: {label}, {n} symbols, lookback {DEFAULT_LOOKBACK_DAYS}; every cold run into a "
        "fresh cache folder.  Five factors: squeeze (Python, pandas rolling), bollinger(20, "
        "2.0), adx(14), ichimoku(), weekly_trend(30).  Cost: rounds of bare, five, five, bare.  "
        "Adding one: a finished scan with the four ready-made factors, then the same scan "
        "with squeeze added (timed), against a cold scan with all five; rounds alternate."
    )
    _compute_costs(bench, out)
    _cost_of_five(bench, out, config, n)
    _add_one(bench, out, config, n)
    return out
