"""The benchmark of a run: its bars (through the bars cache) and the market regime."""

from __future__ import annotations

from typing import Any

import pandas as pd

from technic_nb.core.cancel import ScanCancellation
from technic_nb.core.errors import ScanError
from technic_nb.core.regime import market_regime
from technic_nb.engine.plan import ScanPlan
from technic_nb.engine.work import trim_bars
from technic_nb.sources.base import BarsPayload

__all__ = ["benchmark_bars", "benchmark_symbol", "scan_regime"]


def benchmark_symbol(plan: ScanPlan) -> str | None:
    """The config's benchmark: its own symbol, the source's (``"auto"``), or None."""
    config = plan.config
    if config.benchmark is None:
        return None
    symbol = plan.source.benchmark_symbol() if config.benchmark == "auto" else config.benchmark
    return symbol or None


def scan_regime(plan: ScanPlan, token: ScanCancellation, warnings: list[str]) -> Any:
    """The market regime of the benchmark (None when unavailable; a warning says why)."""
    symbol = benchmark_symbol(plan)
    if symbol is None:
        return None
    try:
        bars = benchmark_bars(plan, symbol, token, warnings)
        return market_regime(trim_bars(bars, plan.job)["close"])
    except ScanError as exc:
        warnings.append(f"market regime unavailable: {exc}")
        return None


def benchmark_bars(
    plan: ScanPlan, symbol: str, token: ScanCancellation, warnings: list[str]
) -> pd.DataFrame:
    """The benchmark's bars, through the bars cache for network sources."""
    source, job = plan.source, plan.job
    if job.cache is None or not source.cache_bars:
        return source.fetch(symbol, plan.window, cancellation=token)
    payload, _ = job.cache.bars.get(
        job.bars_key(symbol),
        lambda: source.fetch_payload(symbol, plan.window, cancellation=token),
        BarsPayload,
        warnings.append,
    )
    return payload.bars(symbol, plan.window)
