"""Realistic values of each cache layer, built the way the engine builds them.

* bars: the :class:`~technic_nb.sources.polygon.pages.PolygonRows` one HTTP answer
  of the benchmark's 5-year window parses to (~60 KB), or the same bars as
  :class:`~technic_nb.sources.base.BarsArrays` when no server runs;
* features: ``compute_outcome`` of a symbol: the indicator row with its window
  of bars (300 bars at the engine's default lookback);
* factor: one user factor's value (``tn.factors.bollinger()``);
* replay: a :class:`~technic_nb.research.replay.work.ReplayRecord` of ~140 month-ends.
"""

from __future__ import annotations

import datetime as dt
import pickle
from dataclasses import dataclass
from typing import Any

import pandas as pd

import technic_nb as tn
from technic_nb.engine.cache.envelope import Expected, seal
from technic_nb.engine.config import DEFAULT_LOOKBACK_DAYS
from technic_nb.engine.factor_work import compute_one
from technic_nb.engine.outcomes import Computed, FactorValue
from technic_nb.engine.work import SymbolJob, compute_outcome, trim_bars
from technic_nb.research.replay.work import ReplayRecord, ReplayWork
from technic_nb.sources import DemoSource, DirectorySource
from technic_nb.sources.base import BarsArrays, BarsPayload, DataSource

from ..common import Bench

#: Month-ends of the replay record (140 dates, as a 2006-2017 replay has).
REPLAY_DATES = 140


@dataclass(frozen=True)
class LayerValue:
    """One value to store, what the layer's read expects, and what it is."""

    value: Any
    expected: Expected
    describe: str

    @property
    def payload_kib(self) -> float:
        """KiB of the sealed payload (the value pickled)."""
        return len(seal(self.value)[3]) / 1024


def bars_value(bench: Bench) -> LayerValue:
    """The bars entry of one HTTP symbol (fetched from the benchmark server when it runs)."""
    window = bench.window(bench.sizes.lookback)
    symbol = bench.demo_symbols[0]
    if bench.server is not None:
        source = bench.http_source()
        try:
            rows = source.fetch_payload(symbol, window)
        finally:
            source.close()
        return LayerValue(rows, BarsPayload, f"PolygonRows, {len(rows.columns[0])} bars")
    bars = bench.demo.fetch(symbol, window)
    return LayerValue(BarsArrays.of(bars), BarsPayload, f"BarsArrays, {len(bars)} bars")


def _history(bench: Bench) -> tuple[str, pd.DataFrame]:
    """A long daily history: a real stock's (2005-2017) or 13 years of the demo market."""
    source: DataSource
    if bench.csv_dir is not None:
        source = DirectorySource(bench.csv_dir)
        symbol = "AAPL"
    else:
        source = DemoSource(n_symbols=4, years=13)
        symbol = str(source.universe()["symbol"].iloc[0])
    return symbol, source.fetch(symbol, tn.DateWindow(None, None))


def features_value(bench: Bench, lookback: int = DEFAULT_LOOKBACK_DAYS) -> LayerValue:
    """A features entry: the row and its window of ``lookback`` bars."""
    symbol, bars = _history(bench)
    job = SymbolJob(tn.DateWindow(None, None), lookback, tn.IndicatorParams())
    value = compute_outcome(symbol, bars, job)
    return LayerValue(value, Computed, f"features row + {lookback}-bar window")


def factor_value(bench: Bench) -> LayerValue:
    """A factor entry: ``tn.factors.bollinger()`` on a 300-bar window."""
    symbol, bars = _history(bench)
    job = SymbolJob(tn.DateWindow(None, None), DEFAULT_LOOKBACK_DAYS, tn.IndicatorParams())
    value = compute_one(tn.factors.bollinger(), trim_bars(bars, job), symbol, frozenset())
    return LayerValue(value, FactorValue, "bollinger (2 values)")


def replay_dates(last: dt.date, count: int) -> list[dt.date]:
    """``count`` business month-ends up to ``last``."""
    ends = pd.date_range(end=pd.Timestamp(last), periods=count, freq="BME")
    return [d.date() for d in ends]


def replay_value(bench: Bench) -> LayerValue:
    """A replay record: a symbol's bars and its rows at 140 month-ends."""
    symbol, bars = _history(bench)
    dates = replay_dates(bars.index[-1].date(), REPLAY_DATES)
    work = ReplayWork(tuple(dates))
    job = SymbolJob(tn.DateWindow(None, None), DEFAULT_LOOKBACK_DAYS, tn.IndicatorParams())
    record = work._compute(symbol, bars, None, list(dates), job)
    return LayerValue(
        record, ReplayRecord, f"ReplayRecord, {len(record.block)} dates, {len(bars)} bars"
    )


def pickled_kib(value: Any) -> float:
    """KiB of ``value`` pickled (the C pickler, as the cache seals it)."""
    return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)) / 1024
