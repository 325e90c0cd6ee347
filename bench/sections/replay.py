"""Replay: ``tn.replay`` against a loop of ``tn.scan(config.replace(as_of=d))``.

On the real data (505 stocks, every business month-end of the replay span):

* cold replay vs the careful TA-Lib loop (:func:`bench.reference.careful_replay_loop`:
  each file loaded once, then the same features on the last ``lookback`` bars at each
  date, one process), in interleaved rounds ``loop replay replay loop`` with the A/A
  ratio of the two loops of each round beside it;
* cold replay vs the loop of cold scans over the same dates.  The loop is split
  into chunks run between the cold replays (replay, chunk, replay, chunk, ...,
  replay), so both share the machine's slow and fast phases.  With
  ``replay_loop_dates`` set, only that many evenly spaced dates are scanned and
  the loop's time is extrapolated (per-date mean x all dates), and the figures
  say so;
* warm re-run vs cold (everything from the cache);
* adding dates to a finished replay: only the new dates are computed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

import technic_nb as tn
from technic_nb.engine.hooks import ScanHooks

from ..common import Bench, interleaved_pairs, judge, log, median, section
from ..reference import careful_replay_loop
from ..stats import summarize, timed


class _Computed(ScanHooks):
    """Counts the dates a replay computed (the rest came from the cache)."""

    def __init__(self) -> None:
        self.dates = 0

    def symbol_done(self, outcome: Any) -> None:
        self.dates += int(getattr(outcome, "computed", 0))


def setup(bench: Bench) -> tuple[tn.ScanConfig, list[dt.date], str]:
    """The replay's config (engine defaults, a fresh cache), its dates and what data it is."""
    s = bench.sizes
    if bench.csv_dir is not None:
        config = tn.ScanConfig(
            source=f"csv:{bench.csv_dir}",
            universe="source",
            max_symbols=s.csv_max,
            cache_dir=bench.fresh_cache(),
        )
        dates = pd.date_range(s.replay_first, s.replay_last, freq="BME")
        label = f"the real data ({len(bench.csv_symbols)} stocks)"
    else:
        n = s.csv_max or 500
        config = tn.ScanConfig(source=f"demo:{n}", universe="demo", cache_dir=bench.fresh_cache())
        dates = pd.date_range("2023-01-01", "2025-10-31", freq="BME")
        if s.replay_loop_dates is not None:
            dates = dates[-12:]
        label = f"the demo market ({n} symbols; the real data folder is absent)"
    return config, [d.date() for d in dates], label


def _replay(config: tn.ScanConfig, dates: list[dt.date]) -> tuple[float, tn.ReplayResult, int]:
    hooks = _Computed()
    seconds, result = timed(lambda: tn.replay(config, dates, hooks=hooks))
    if result.cancelled or result.stats["done"] != result.stats["symbols"]:
        raise RuntimeError(f"incomplete replay: {result.status}")
    return seconds, result, hooks.dates


def loop_dates(dates: list[dt.date], count: int | None) -> list[dt.date]:
    """Every date, or ``count`` evenly spaced ones (first and last included)."""
    if count is None or count >= len(dates):
        return list(dates)
    step = (len(dates) - 1) / max(1, count - 1)
    return [dates[round(i * step)] for i in range(count)]


def _chunks(items: list[dt.date], parts: int) -> list[list[dt.date]]:
    size = -(-len(items) // parts)
    return [items[i : i + size] for i in range(0, len(items), size)]


class _Loop:
    """The scans of the loop, one cold scan (fresh cache) per date."""

    def __init__(self, bench: Bench, config: tn.ScanConfig) -> None:
        self.bench = bench
        self.config = config
        self.seconds: list[float] = []
        self.first_table: pd.DataFrame | None = None
        self.first_date: dt.date | None = None

    def run(self, dates: list[dt.date]) -> None:
        for date in dates:
            config = self.bench.fresh(self.config.replace(as_of=date))
            seconds, result = self.bench.run_scan(config)
            self.bench.drop(config.cache_dir)
            self.seconds.append(seconds)
            if self.first_table is None:
                self.first_table, self.first_date = result.table, date


def _agreement(loop: _Loop, replayed: tn.ReplayResult) -> str:
    if loop.first_table is None or loop.first_date is None:
        return ""
    ours = replayed.table(loop.first_date)
    common = loop.first_table.index.intersection(ours.index)
    if not len(common):
        return ""
    diff = (ours.loc[common, "tech_rating"] - loop.first_table.loc[common, "tech_rating"]).abs()
    return (
        f"At {loop.first_date} the replay's table and the scan's agree on {len(common)} "
        f"symbols: largest TechRating difference {float(diff.max()):.2g}."
    )


def _cold_vs_loop(
    bench: Bench, config: tn.ScanConfig, dates: list[dt.date]
) -> tuple[list[float], list[float], _Loop, tn.ReplayResult, list[dt.date]]:
    s = bench.sizes
    scanned = loop_dates(dates, s.replay_loop_dates)
    chunks = _chunks(scanned, s.replay_rounds)
    loop = _Loop(bench, config)
    cold: list[float] = []
    warm: list[float] = []
    result: tn.ReplayResult | None = None
    for i in range(len(chunks) + 1):
        fresh = bench.fresh(config)
        seconds, result, computed = _replay(fresh, dates)
        warm_seconds, _, recomputed = _replay(fresh, dates)
        bench.drop(fresh.cache_dir)
        if recomputed:
            raise RuntimeError(f"the warm replay computed {recomputed} dates")
        cold.append(seconds)
        warm.append(warm_seconds)
        log(f"replay cold {seconds:.2f}s ({computed} symbol-dates), warm {warm_seconds:.2f}s")
        if i < len(chunks):
            loop.run(chunks[i])
            log(f"loop chunk {i + 1}: {len(chunks[i])} scans, {sum(loop.seconds):.1f}s so far")
    assert result is not None
    return cold, warm, loop, result, scanned


def _against_careful_loop(
    bench: Bench, config: tn.ScanConfig, dates: list[dt.date], out: dict[str, Any]
) -> None:
    """Interleaved rounds of the careful TA-Lib loop (A) and the cold replay (B)."""
    assert bench.csv_dir is not None
    folder = bench.csv_dir
    symbols = bench.csv_symbols
    loads: list[float] = []
    replays: list[float] = []

    def loop() -> float:
        found = careful_replay_loop(folder, symbols, dates, config.lookback_days)
        loads.append(found["load_s"])
        return float(found["load_s"] + found["compute_s"])

    def replay() -> float:
        fresh = bench.fresh(config)
        seconds = _replay(fresh, dates)[0]
        bench.drop(fresh.cache_dir)
        replays.append(seconds)
        return seconds

    warm = bench.fresh(config)
    _replay(warm, dates[-2:])  # the workers up, as for the loop of scans
    bench.drop(warm.cache_dir)
    ratios, aa, loop_times = interleaved_pairs(bench.sizes.replay_pairs, loop, replay)
    log(
        "replay / careful TA-Lib loop: "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + f" (A/A loop/loop {', '.join(f'{a:.2f}' for a in aa)})"
    )
    figures = out["figures"]
    figures["careful_talib_loop_s"] = summarize(
        loop_times, "s (load included)", load_s=median(loads), dates=len(dates)
    )
    figures["replay_cold_paired_s"] = summarize(replays, "s", dates=len(dates))
    figures["replay_over_careful_talib_loop"] = judge(
        summarize(ratios, "ratio (replay / loop, lower is better)"),
        "<= 1.0",
        median(ratios) <= 1.0,
        "the replay validates every window (running counts of suspect bars, the exact "
        "check only where one lies), computes the scan's features and chart levels (TA-Lib "
        "RSI, ATR and MACD per window, the rest for every date at once) and writes one "
        "checkpoint entry per symbol, on 2 workers; the loop computes the features only, "
        "on one core",
    )
    figures["careful_talib_loop_aa"] = summarize(aa, "ratio (loop / loop, noise)")


def _added(bench: Bench, config: tn.ScanConfig, dates: list[dt.date]) -> tuple[list[float], int]:
    """Seconds to replay every date after a finished replay of all but the last ones."""
    k = bench.sizes.replay_added_dates
    times: list[float] = []
    computed = 0
    for _ in range(max(1, bench.sizes.replay_rounds - 1)):
        fresh = bench.fresh(config)
        _replay(fresh, dates[:-k])
        seconds, _, computed = _replay(fresh, dates)
        bench.drop(fresh.cache_dir)
        times.append(seconds)
        log(f"replay +{k} dates: {seconds:.2f}s, {computed} symbol-dates computed")
    return times, computed


def _loop_figure(loop: _Loop, scanned: list[dt.date], dates: list[dt.date]) -> dict[str, Any]:
    per_date = sum(loop.seconds) / len(loop.seconds)
    total = per_date * len(dates)
    extrapolated = len(scanned) < len(dates)
    return summarize(
        [total],
        "s (loop over every date)" + (", extrapolated" if extrapolated else ""),
        dates_scanned=len(scanned),
        dates=len(dates),
        per_scan_s=per_date,
        per_scan_min_s=min(loop.seconds),
        per_scan_max_s=max(loop.seconds),
    )


def run(bench: Bench) -> dict[str, Any]:
    """The ``replay`` section."""
    out = section("Replay: tn.replay against a loop of tn.scan(as_of=d)")
    config, dates, label = setup(bench)
    k = bench.sizes.replay_added_dates
    if bench.csv_dir is not None:
        _against_careful_loop(bench, config, dates, out)
    cold, warm, loop, result, scanned = _cold_vs_loop(bench, config, dates)
    loop_fig = _loop_figure(loop, scanned, dates)
    loop_total = loop_fig["median"]
    out["figures"]["replay_cold_s"] = summarize(cold, "s", dates=len(dates))
    out["figures"]["loop_of_scans_s"] = loop_fig
    speed = summarize([loop_total / c for c in cold], "x (loop / cold replay)")
    out["figures"]["replay_over_loop_speedup"] = judge(
        speed,
        ">= 30x",
        median(speed["values"]) >= 30,
        "the loop reads, validates and checkpoints every symbol's file once per date and pays "
        "each scan's fixed costs (universe, dispatch, finalization, regime); the replay reads "
        "each file once and computes every date from array slices in the same worker call "
        "(one replay entry per symbol), then ranks every date",
    )
    out["figures"]["replay_warm_s"] = summarize(warm, "s", dates=len(dates))
    resume = summarize([c / w for c, w in zip(cold, warm, strict=True)], "x (cold / warm)")
    out["figures"]["replay_warm_speedup"] = judge(
        resume,
        ">= 10x",
        median(resume["values"]) >= 10,
        "warm: one replay-entry read per symbol (its bars and every date's rows, ~180 KiB "
        "each), then every date ranked and the result built again",
    )
    added, computed = _added(bench, config, dates)
    out["figures"][f"replay_add_{k}_dates_s"] = summarize(
        added, "s", computed_symbol_dates=computed, dates=len(dates)
    )
    out["figures"][f"replay_add_{k}_dates_speedup"] = judge(
        summarize([median(cold) / a for a in added], "x (cold replay / adding dates)"),
        "report",
        None,
        f"only the {k} new dates are computed, but each symbol's entry is read, its "
        f"bars rebuilt and the entry rewritten, and all {len(dates)} dates are ranked again",
    )
    out["notes"].append(
        f"Data: {label}; {len(dates)} business month-ends {dates[0]} .. {dates[-1]}; engine "
        "defaults (lookback 300, 2 loky workers), checkpoints on, a fresh cache folder for "
        "every cold run and every scan of the loop."
    )
    if len(scanned) < len(dates):
        out["notes"].append(
            f"The loop scanned {len(scanned)} evenly spaced dates of the {len(dates)} "
            "(chunks between the cold replays) and its time over every date is extrapolated "
            "as the mean seconds per scan x the dates: an estimate, not a measurement."
        )
    else:
        out["notes"].append(
            f"The loop scanned every one of the {len(dates)} dates once, in "
            f"{bench.sizes.replay_rounds} chunks run between the {len(cold)} cold replays; "
            "the speed-up's spread is the replays' spread against that one loop."
        )
    agreement = _agreement(loop, result)
    if agreement:
        out["notes"].append(agreement)
    return out
