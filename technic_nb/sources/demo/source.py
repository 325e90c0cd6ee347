"""The built-in synthetic market: deterministic daily bars with no network.

:class:`DemoSource` generates a clearly labelled *synthetic* stock market for
demos, tests and benchmarks.  Nothing in it is real market data: tickers,
company names and prices are invented.  The same arguments give the same bars
on every machine and in every process.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.cancel import ScanCancellation
from technic_nb.core.errors import data_error
from technic_nb.sources.base import DataSource, DateWindow
from technic_nb.sources.demo.market import (
    BENCHMARK,
    COLUMNS,
    DEMO_SECTORS,
    MAX_SYMBOLS,
    MAX_YEARS,
    TRADING_DAYS_PER_YEAR,
    Market,
)
from technic_nb.sources.demo.names import ticker, ticker_index

__all__ = ["DemoSource"]


# --------------------------------------------------------------------------- the source
class DemoSource(DataSource):
    """A deterministic, synthetic daily stock market (no network, no real data).

    Everything here is invented: tickers, company names, sectors and prices are
    synthetic and only meant for demos, tests and benchmarks.

    **Calendar.**  ``round(years * 252)`` business days (Monday-Friday) ending at
    ``end`` (or the last business day before it).  Exchange holidays are not
    modelled.

    **Symbols.**  Symbol ``i`` (``0 <= i < n_symbols``) has a 3-letter (odd ``i``)
    or 4-letter (even ``i``) ticker that depends only on ``i``; its name, sector
    and bars depend only on ``i``, ``seed``, ``years`` and ``end``, so symbol ``i``
    is the same in a 100-symbol and a 5000-symbol market.  Sectors follow eleven
    GICS-like groups of uneven size (see :data:`DEMO_SECTORS`).  The benchmark
    ``"DEMO"`` is an index of the market factor; it can be fetched like any
    symbol but is not part of :meth:`universe`.

    **Model.**  Daily log returns of symbol ``i`` in sector ``k`` are::

        r[t] = beta_i * M[t] + gamma_i * S_k[t] + trend_i[t] + sigma_i * v_i[t] * z[t] + jumps

    * ``M`` (market) and ``S_k`` (sectors) are factors with regimes: a Markov
      chain of up, sideways and down phases with persistent drift (phases last
      months), and GARCH(1,1) volatility clustering with fat-tailed (Student-t)
      shocks; down phases are more volatile.
    * ``trend_i`` is a per-symbol drift that changes in episodes of a few weeks to
      a few months; about 40% of episodes are strong trends (0.25-0.6% a day), so
      on any day some symbols are in strong up trends and some in strong down
      trends.  Episode directions lean against the symbol's accumulated move, which
      keeps prices in a plausible range.
    * ``v_i`` clusters idiosyncratic volatility: the market and sector volatility
      paths times a smooth symbol-specific random path; ``z`` is standard normal.
    * About three overnight jumps a year (earnings-like gaps).
    * Prices start between $5 and $500 (log-uniform); about 3% of the symbols are
      penny-like names starting at $1-3 with higher volatility.  Prices are rounded
      to cents (to 1/100 cent for a symbol whose price ever falls below $1).
    * Bars: part of each move happens overnight (open vs previous close); high
      and low extend the open-close body by amounts proportional to the day's
      volatility, so ``low <= open, close <= high`` and every price is positive.
    * Volume is lognormal around a per-symbol level, rises with the absolute
      standardized return, and has occasional spikes of 2-6x.

    **Determinism.**  Randomness comes from ``numpy.random.Generator(PCG64)``
    seeded by ``SeedSequence([seed, stream, i])``; no global state, no ``hash()``.
    The shared factor paths are computed once per process, lazily, and are not
    pickled, so the source is cheap to send to worker processes.
    """

    fetch_in_worker = True
    cache_bars = False

    def __init__(
        self,
        n_symbols: int = 500,
        seed: int = 7,
        years: float = 5.0,
        end: dt.date = dt.date(2025, 12, 31),
    ) -> None:
        if (
            isinstance(n_symbols, bool)
            or not isinstance(n_symbols, (int, np.integer))
            or not 1 <= n_symbols <= MAX_SYMBOLS
        ):
            raise ValueError(
                f"DemoSource n_symbols={n_symbols!r} is invalid: "
                f"n_symbols must be an integer from 1 to {MAX_SYMBOLS}"
            )
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(
                f"DemoSource seed={seed!r} is invalid: seed must be a non-negative integer"
            )
        if (
            isinstance(years, bool)
            or not isinstance(years, (int, float, np.integer, np.floating))
            or not math.isfinite(years)
            or not 0.0 < years <= MAX_YEARS
        ):
            raise ValueError(
                f"DemoSource years={years!r} is invalid: "
                f"years must be a number greater than 0 and at most {MAX_YEARS:g}"
            )
        if isinstance(end, dt.datetime):
            end = end.date()
        if not isinstance(end, dt.date):
            raise ValueError(f"DemoSource end={end!r} is invalid: end must be a datetime.date")
        self.n_symbols = int(n_symbols)
        self.seed = int(seed)
        self.years = float(years)
        self.end = end
        self.n_days = max(1, round(self.years * TRADING_DAYS_PER_YEAR))
        self._reset_caches()

    # ----------------------------------------------------------------- pickling
    def _reset_caches(self) -> None:
        """A fresh model (no factor paths computed yet) and no universe table."""
        self._market = Market(self.seed, self.n_days, self.end)
        self._universe_cache: pd.DataFrame | None = None

    def __getstate__(self) -> dict[str, Any]:
        # only the arguments: the cached factor paths are rebuilt lazily where needed
        return {
            "n_symbols": self.n_symbols,
            "seed": self.seed,
            "years": self.years,
            "end": self.end,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.n_symbols = state["n_symbols"]
        self.seed = state["seed"]
        self.years = state["years"]
        self.end = state["end"]
        self.n_days = max(1, round(self.years * TRADING_DAYS_PER_YEAR))
        self._reset_caches()

    # ----------------------------------------------------------------- DataSource API
    @property
    def identity(self) -> str:
        """``demo:seed=...:years=...:end=...`` (bars do not depend on ``n_symbols``)."""
        return f"demo:seed={self.seed}:years={self.years!r}:end={self.end.isoformat()}"

    def __repr__(self) -> str:
        return (
            f"DemoSource(synthetic market: n_symbols={self.n_symbols}, seed={self.seed}, "
            f"years={self.years!r}, end={self.end.isoformat()})"
        )

    def benchmark_symbol(self) -> str:
        """``"DEMO"``: a synthetic index of the market factor."""
        return BENCHMARK

    def universe(self) -> pd.DataFrame:
        """The synthetic symbols: a frame with columns ``symbol, name, sector``."""
        if self._universe_cache is None:
            rows = []
            for index in range(self.n_symbols):
                attributes = self._market.attributes(index)
                rows.append((ticker(index), attributes.name, DEMO_SECTORS[attributes.sector]))
            self._universe_cache = pd.DataFrame(rows, columns=["symbol", "name", "sector"])
        return self._universe_cache.copy()

    def symbol_index(self, symbol: str) -> int | None:
        """The position of ``symbol`` in :meth:`universe`, or None if it is not a member."""
        index = ticker_index(symbol.strip().upper())
        if index is None or index >= self.n_symbols:
            return None
        return index

    def _fetch_raw(
        self, symbol: str, window: DateWindow, cancellation: ScanCancellation | None
    ) -> pd.DataFrame:
        factors = self._market.factors()
        if symbol == BENCHMARK:
            values = self._market.benchmark_bars().copy()  # the frame must not share the cache
        else:
            index = self.symbol_index(symbol)
            if index is None:
                raise data_error(
                    symbol,
                    f"not a symbol of the synthetic demo market ({self.n_symbols} symbols)",
                    f"List the symbols with DemoSource(n_symbols={self.n_symbols}, "
                    f"seed={self.seed}).universe(); the benchmark is {BENCHMARK!r}.",
                )
            values = self._market.symbol_bars(index)
        lo, hi = 0, len(values)
        if window.start is not None:
            lo = int(factors.dates.searchsorted(pd.Timestamp(window.start), "left"))
        if window.end is not None:
            hi = int(factors.dates.searchsorted(pd.Timestamp(window.end), "right"))
        hi = max(hi, lo)
        dates = factors.dates
        if lo or hi < len(values):
            values, dates = values[lo:hi], dates[lo:hi]
        return pd.DataFrame(values, index=dates, columns=COLUMNS, copy=False)
