"""The built-in synthetic market: deterministic daily bars with no network.

:class:`DemoSource` generates a clearly labelled *synthetic* stock market for
demos, tests and benchmarks.  Nothing in it is real market data: tickers,
company names and prices are invented.  The same arguments give the same bars
on every machine and in every process.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from technic_nb.core.bars import BAR_COLUMNS
from technic_nb.core.cancel import ScanCancellation
from technic_nb.core.errors import data_error
from technic_nb.sources.base import DataSource, DateWindow

__all__ = ["DEMO_SECTORS", "DemoSource"]

#: The eleven sectors of the synthetic market, in a fixed order.
DEMO_SECTORS: tuple[str, ...] = (
    "Information Technology",
    "Health Care",
    "Financials",
    "Consumer Discretionary",
    "Communication Services",
    "Industrials",
    "Consumer Staples",
    "Energy",
    "Utilities",
    "Real Estate",
    "Materials",
)

_BENCHMARK = "DEMO"
_COLUMNS = pd.Index(BAR_COLUMNS)  # built once: building an Index of strings is slow
_TRADING_DAYS_PER_YEAR = 252
_MAX_SYMBOLS = 20_000
_MAX_YEARS = 40.0

# Stream tags: each kind of randomness has its own SeedSequence([seed, tag, ...]).
_TAG_MARKET = 1
_TAG_SECTOR = 2
_TAG_ATTRIBUTES = 3
_TAG_PATH = 4
_TAG_BENCHMARK = 5


@dataclass(frozen=True)
class _Sector:
    weight: float  # share of the symbols
    beta: float  # mean market beta of its members
    factor_vol: float  # daily volatility of the sector factor (calm regime)
    idio_vol: float  # multiplier of the members' idiosyncratic volatility
    words: tuple[str, ...]  # industry words used in company names


_SECTOR_SPECS: tuple[_Sector, ...] = (
    _Sector(0.15, 1.20, 0.0085, 1.20, ("Robotics", "Software", "Semiconductor", "Networks",
                                       "Cloud", "Data", "Photonics", "Analytics",
                                       "Microsystems", "Computing")),
    _Sector(0.13, 0.90, 0.0075, 1.30, ("Therapeutics", "Biosciences", "Medical", "Health",
                                       "Diagnostics", "Genomics", "Pharma", "Biologics",
                                       "Surgical", "Care")),
    _Sector(0.14, 1.10, 0.0080, 0.80, ("Bancorp", "Financial", "Capital", "Insurance", "Trust",
                                       "Credit", "Payments", "Asset Management", "Savings",
                                       "Securities")),
    _Sector(0.11, 1.15, 0.0080, 1.20, ("Apparel", "Motors", "Retail", "Leisure", "Restaurants",
                                       "Home", "Outdoor", "Hotels", "Brands", "Travel")),
    _Sector(0.05, 1.05, 0.0080, 1.20, ("Media", "Telecom", "Communications", "Broadcasting",
                                       "Interactive", "Studios", "Wireless", "Publishing",
                                       "Entertainment", "Streaming")),
    _Sector(0.15, 1.05, 0.0070, 0.90, ("Industries", "Aerospace", "Machinery", "Logistics",
                                       "Engineering", "Rail", "Defense", "Electric", "Tools",
                                       "Freight")),
    _Sector(0.07, 0.65, 0.0055, 0.70, ("Foods", "Beverages", "Grocers", "Household", "Farms",
                                       "Brewing", "Consumer", "Organics", "Bakeries", "Dairy")),
    _Sector(0.05, 1.10, 0.0120, 1.20, ("Energy", "Petroleum", "Drilling", "Pipelines",
                                       "Oil & Gas", "Resources", "Midstream", "Refining",
                                       "Offshore", "Solar")),
    _Sector(0.05, 0.55, 0.0055, 0.60, ("Power", "Utilities", "Water", "Electric", "Gas", "Light",
                                       "Grid", "Renewables", "Energy Services", "Hydro")),
    _Sector(0.06, 0.85, 0.0070, 0.80, ("Realty", "Properties", "REIT", "Land", "Estates",
                                       "Residential", "Storage", "Office Trust", "Towers",
                                       "Housing")),
    _Sector(0.04, 1.00, 0.0090, 1.00, ("Materials", "Chemicals", "Mining", "Steel", "Metals",
                                       "Packaging", "Minerals", "Paper", "Gold", "Cement")),
)  # fmt: skip

_SECTOR_CUMULATIVE = np.cumsum([s.weight for s in _SECTOR_SPECS]) / sum(
    s.weight for s in _SECTOR_SPECS
)

_NAME_PREFIXES: tuple[str, ...] = (
    "Northwind", "Bluefield", "Ironbridge", "Silverline", "Stonegate", "Clearwater", "Brightpath",
    "Harborview", "Lakeshore", "Maplewood", "Oakridge", "Pinecrest", "Riverbend", "Sandstone",
    "Westbrook", "Eastgate", "Southport", "Crestview", "Fairhaven", "Goldleaf", "Larkspur",
    "Nimbus", "Quarrystone", "Ravenwood", "Tidewater", "Upland", "Willowmere", "Zephyr",
    "Cobaltine", "Driftwood", "Emberlight", "Glacierpoint", "Indigo", "Juniper", "Kestrel",
    "Lumenfield", "Obsidian", "Quillon", "Radiant", "Topaz", "Verdant", "Whitestone", "Yarrow",
    "Alderbrook", "Birchwood", "Cedarline", "Dunmore", "Elmhurst", "Fernhill", "Grovewell",
    "Heronsgate", "Jasperton", "Kiteview", "Lindenhall", "Mesaverde", "Onyxbay", "Ashcombe",
    "Brambleton", "Copperfield", "Deepwater", "Foxglove", "Greywater", "Hawthorne", "Ivoryton",
    "Kingsmere", "Larchmont", "Moonstone", "Norcastle", "Oldmill", "Pebblebrook", "Quailridge",
    "Rosemount", "Saltmarsh", "Thornbury", "Valemont", "Wrenfield", "Amberly", "Bellhaven",
)  # fmt: skip

_NAME_SUFFIXES: tuple[str, ...] = (
    "Corp", "Inc", "Holdings", "Group", "Co", "Ltd", "Partners", "International",
)  # fmt: skip

# Tickers: odd indices get 3 letters, even indices 4 letters; each index is
# scrambled by an invertible mixing so that neighbouring indices look unrelated.
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TICKER_MIX: dict[int, tuple[int, int, int, int]] = {
    # length: (multiplier 1, offset 1, multiplier 2, offset 2); multipliers are
    # coprime with 26**length so each affine step is a bijection.
    3: (7919, 4831, 5003, 911),
    4: (104729, 271828, 86969, 31415),
}


# --------------------------------------------------------------------------- regimes
@dataclass(frozen=True)
class _Regimes:
    """A three-state (up, sideways, down) Markov chain with per-state drift and volatility."""

    drift: tuple[float, float, float]  # daily log drift
    vol: tuple[float, float, float]  # multiplier of the factor's base volatility
    duration: tuple[float, float, float]  # mean length of a phase in trading days
    # cumulative probabilities of moving to (up, sideways, down) when a phase ends
    moves: tuple[tuple[float, float, float], ...]


_MARKET_REGIMES = _Regimes(
    drift=(0.001, 0.0, -0.0012),
    vol=(0.85, 1.05, 1.7),
    duration=(160.0, 90.0, 60.0),
    moves=((0.0, 0.6, 1.0), (0.6, 0.6, 1.0), (0.5, 1.0, 1.0)),
)
_SECTOR_REGIMES = _Regimes(
    drift=(0.0006, 0.0, -0.0006),
    vol=(0.9, 1.0, 1.4),
    duration=(120.0, 90.0, 70.0),
    moves=((0.0, 0.6, 1.0), (0.5, 0.5, 1.0), (0.5, 1.0, 1.0)),
)
_MARKET_VOL = 0.0095
_GARCH_ALPHA = 0.07
_GARCH_BETA = 0.90
_T_DOF = 5.0


def _rng(*words: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(words))))


def _factor_path(
    rng: np.random.Generator, n: int, regimes: _Regimes, base_vol: float
) -> tuple[np.ndarray, np.ndarray]:
    """Daily log returns and volatility of one factor: regime drift + GARCH(1,1) noise.

    The recursion runs once per process on Python floats (exact IEEE arithmetic).
    """
    shocks = (rng.standard_t(_T_DOF, size=n) * math.sqrt((_T_DOF - 2.0) / _T_DOF)).tolist()
    draws = rng.random(2 * n + 1).tolist()
    state = min(int(draws[-1] * 3.0), 2)
    persistence = 1.0 - _GARCH_ALPHA - _GARCH_BETA
    variance = (base_vol * regimes.vol[state]) ** 2
    last_shock = 0.0
    returns = [0.0] * n
    vols = [0.0] * n
    for t in range(n):
        if draws[2 * t] < 1.0 / regimes.duration[state]:
            move = draws[2 * t + 1]
            nxt = (
                0 if move < regimes.moves[state][0] else 1 if move < regimes.moves[state][1] else 2
            )
            state = nxt if nxt != state else (state + 1) % 3
        target = (base_vol * regimes.vol[state]) ** 2
        variance = persistence * target + _GARCH_ALPHA * last_shock**2 + _GARCH_BETA * variance
        variance = min(variance, 9.0 * target)
        vol = math.sqrt(variance)
        last_shock = vol * shocks[t]
        returns[t] = regimes.drift[state] + last_shock
        vols[t] = vol
    return np.array(returns), np.array(vols)


@dataclass(frozen=True)
class _Factors:
    """The shared market: dates, market and sector factor returns and volatilities."""

    dates: pd.DatetimeIndex
    market: np.ndarray  # (n,) market factor log returns
    market_vol: np.ndarray  # (n,)
    sector: np.ndarray  # (11, n) sector factor log returns
    sector_vol: np.ndarray  # (11, n)
    idio_scale: np.ndarray  # (11, n) shared part of idiosyncratic vol clustering (mean ~1)


@dataclass(frozen=True)
class _Attributes:
    sector: int
    name: str
    beta: float
    gamma: float
    idio_vol: float
    price: float
    volume: float
    overnight: float  # share of the daily move that happens overnight


# --------------------------------------------------------------------------- tickers
def _to_digits(value: int, length: int) -> list[int]:
    digits = []
    for _ in range(length):
        value, digit = divmod(value, 26)
        digits.append(digit)
    return digits[::-1]


def _from_digits(digits: list[int]) -> int:
    value = 0
    for digit in digits:
        value = value * 26 + digit
    return value


def _chain(digits: list[int]) -> list[int]:
    out = list(digits)
    for j in range(1, len(out)):
        out[j] = (out[j] + out[j - 1]) % 26
    return out


def _unchain(digits: list[int]) -> list[int]:
    return [digits[0]] + [(digits[j] - digits[j - 1]) % 26 for j in range(1, len(digits))]


def _ticker(index: int) -> str:
    """The ticker of symbol ``index`` (independent of the market size and seed)."""
    length = 3 if index % 2 else 4
    size = 26**length
    a1, b1, a2, b2 = _TICKER_MIX[length]
    value = (a1 * (index // 2) + b1) % size
    value = _from_digits(_chain(_to_digits(value, length)))
    value = (a2 * value + b2) % size
    return "".join(_LETTERS[d] for d in _chain(_to_digits(value, length)))


def _ticker_index(symbol: str) -> int | None:
    """The inverse of :func:`_ticker`, or None when ``symbol`` is not a demo ticker."""
    length = len(symbol)
    if length not in _TICKER_MIX or not all("A" <= c <= "Z" for c in symbol):
        return None
    size = 26**length
    a1, b1, a2, b2 = _TICKER_MIX[length]
    value = _from_digits(_unchain([ord(c) - 65 for c in symbol]))
    value = (pow(a2, -1, size) * (value - b2)) % size
    value = _from_digits(_unchain(_to_digits(value, length)))
    half = (pow(a1, -1, size) * (value - b1)) % size
    return 2 * half + (1 if length == 3 else 0)


# --------------------------------------------------------------------------- the model
class _Market:
    """The model that generates the synthetic market's bars (see :class:`DemoSource`).

    Its bars depend only on ``seed``, ``n_days`` and ``end`` (and a symbol's index).
    The shared factor paths and the benchmark bars are computed once, lazily.
    """

    def __init__(self, seed: int, n_days: int, end: dt.date) -> None:
        self.seed = seed
        self.n_days = n_days
        self.end = end
        self._factors: _Factors | None = None
        self._benchmark: np.ndarray | None = None

    def factors(self) -> _Factors:
        """The dates and the market and sector factor paths (computed on first use)."""
        if self._factors is None:
            n = self.n_days
            dates = pd.bdate_range(end=self.end, periods=n, name="date")
            market, market_vol = _factor_path(
                _rng(self.seed, _TAG_MARKET), n, _MARKET_REGIMES, _MARKET_VOL
            )
            sector = np.empty((len(_SECTOR_SPECS), n))
            sector_vol = np.empty((len(_SECTOR_SPECS), n))
            for k, spec in enumerate(_SECTOR_SPECS):
                sector[k], sector_vol[k] = _factor_path(
                    _rng(self.seed, _TAG_SECTOR, k), n, _SECTOR_REGIMES, spec.factor_vol
                )
            base = np.array([s.factor_vol for s in _SECTOR_SPECS])[:, None]
            idio_scale = np.sqrt(market_vol / _MARKET_VOL) * np.sqrt(sector_vol / base)
            self._factors = _Factors(
                dates=dates,
                market=market,
                market_vol=market_vol,
                sector=sector,
                sector_vol=sector_vol,
                idio_scale=idio_scale,
            )
        return self._factors

    def attributes(self, index: int) -> _Attributes:
        """Sector, name and the parameters of the bars of symbol ``index``."""
        words = np.random.SeedSequence([self.seed, _TAG_ATTRIBUTES, index]).generate_state(
            10, dtype=np.uint64
        )
        u = ((words >> np.uint64(11)).astype(np.float64) * 2.0**-53).tolist()
        sector = min(int(np.searchsorted(_SECTOR_CUMULATIVE, u[0], "right")), 10)
        spec = _SECTOR_SPECS[sector]
        name = " ".join(
            (
                _NAME_PREFIXES[int(u[1] * len(_NAME_PREFIXES))],
                spec.words[int(u[2] * len(spec.words))],
                _NAME_SUFFIXES[int(u[3] * len(_NAME_SUFFIXES))],
            )
        )
        penny = u[6] < 0.03
        # penny-like names start at $1-3, the others log-uniform in $5-500
        price = 1.0 + 2.0 * u[7] if penny else 5.0 * math.exp(u[7] * math.log(100.0))
        idio_vol = 0.016 * spec.idio_vol * (0.6 + 0.9 * u[8]) * (2.2 if penny else 1.0)
        volume = math.exp(math.log(2e5) + u[9] * math.log(100.0)) * (3.0 if penny else 1.0)
        return _Attributes(
            sector=sector,
            name=name,
            beta=spec.beta + 0.6 * (u[4] - 0.5),
            gamma=0.5 + 0.8 * u[5],
            idio_vol=idio_vol,
            price=price,
            volume=volume,
            overnight=0.15 + 0.2 * u[3],
        )

    def symbol_bars(self, index: int) -> np.ndarray:
        """The (n_days, 5) open, high, low, close, volume array of symbol ``index``."""
        factors = self.factors()
        a = self.attributes(index)
        rng = _rng(self.seed, _TAG_PATH, index)
        n = self.n_days
        window = 20
        z = rng.standard_normal(4 * n + window)
        ext = rng.standard_exponential(3 * n)
        u = rng.random(4 * n)
        z_idio, z_overnight, z_volume = z[:n], z[n : 2 * n], z[2 * n : 3 * n]
        # smooth symbol-specific volatility path: a 20-day moving sum of normals
        # (cumulative-sum difference; unit variance, correlated over ~20 days)
        csum = np.cumsum(z[3 * n :])
        smooth = (csum[window:] - csum[:-window]) * (1.0 / math.sqrt(window))
        idio_vol = a.idio_vol * factors.idio_scale[a.sector] * np.exp(0.3 * smooth - 0.045)
        market = a.beta * factors.market
        sector = a.gamma * factors.sector[a.sector]
        sigma = np.sqrt(
            (a.beta * factors.market_vol) ** 2
            + (a.gamma * factors.sector_vol[a.sector]) ** 2
            + idio_vol**2
        )
        jump_days = u[:n] < 0.012
        jump_sign = np.where(u[3 * n :] < 0.5, -1.0, 1.0)
        jumps = np.where(jump_days, 3.5 * sigma * ext[2 * n :] * jump_sign, 0.0)
        base = market + sector + idio_vol * z_idio + jumps
        returns = base + _trend(rng, n, np.cumsum(base))
        overnight = a.overnight * (returns - jumps) + 0.25 * sigma * z_overnight + jumps
        spikes = np.where(u[n : 2 * n] < 0.015, 2.0 + 4.0 * u[2 * n : 3 * n], 1.0)
        return _bars(a.price, returns, overnight, sigma, ext, a.volume, z_volume, spikes, jump_days)

    def benchmark_bars(self) -> np.ndarray:
        """The bars of the benchmark index (computed on first use; the cached array itself)."""
        if self._benchmark is None:
            factors = self.factors()
            rng = _rng(self.seed, _TAG_BENCHMARK)
            n = self.n_days
            z = rng.standard_normal(2 * n)
            ext = rng.standard_exponential(2 * n)
            u = rng.random(2 * n)
            sigma = factors.market_vol
            returns = factors.market
            overnight = 0.3 * returns + 0.1 * sigma * z[:n]
            spikes = np.where(u[:n] < 0.01, 1.5 + 1.5 * u[n:], 1.0)
            self._benchmark = _bars(
                1000.0, returns, overnight, sigma, ext, 8e8, z[n:], spikes, np.zeros(n, dtype=bool)
            )
        return self._benchmark


def _trend(rng: np.random.Generator, n: int, moved: np.ndarray) -> np.ndarray:
    """Per-symbol drift episodes (15 days + exponential with mean 55 days).

    ``moved`` is the cumulative log return without the trend; each episode's
    direction leans against the total move so far, so prices stay plausible.
    """
    count = n // 15 + 2
    lengths = (15.0 + 55.0 * rng.standard_exponential(count)).astype(np.int64).tolist()
    draws = rng.random(3 * count).tolist()
    drifts = []
    total = 0.0  # accumulated trend in log units
    used = 0
    for j in range(count):
        kind, size, side = draws[3 * j], draws[3 * j + 1], draws[3 * j + 2]
        if kind < 0.4:
            magnitude = 0.0025 + 0.0035 * size
        elif kind < 0.8:
            magnitude = 0.0012 * size
        else:
            magnitude = 0.0
        excursion = total + (float(moved[used - 1]) if used else 0.0)
        up = side < 1.0 / (1.0 + math.exp(min(excursion / 0.5, 50.0)))
        drift = magnitude if up else -magnitude
        total += drift * lengths[j]
        drifts.append(drift)
        used += lengths[j]
        if used >= n:
            break
    return np.repeat(np.array(drifts), lengths[: len(drifts)])[:n]


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
            or not 1 <= n_symbols <= _MAX_SYMBOLS
        ):
            raise ValueError(
                f"DemoSource n_symbols={n_symbols!r} is invalid: "
                f"n_symbols must be an integer from 1 to {_MAX_SYMBOLS}"
            )
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(
                f"DemoSource seed={seed!r} is invalid: seed must be a non-negative integer"
            )
        if (
            isinstance(years, bool)
            or not isinstance(years, (int, float, np.integer, np.floating))
            or not math.isfinite(years)
            or not 0.0 < years <= _MAX_YEARS
        ):
            raise ValueError(
                f"DemoSource years={years!r} is invalid: "
                f"years must be a number greater than 0 and at most {_MAX_YEARS:g}"
            )
        if isinstance(end, dt.datetime):
            end = end.date()
        if not isinstance(end, dt.date):
            raise ValueError(f"DemoSource end={end!r} is invalid: end must be a datetime.date")
        self.n_symbols = int(n_symbols)
        self.seed = int(seed)
        self.years = float(years)
        self.end = end
        self.n_days = max(1, round(self.years * _TRADING_DAYS_PER_YEAR))
        self._reset_caches()

    # ----------------------------------------------------------------- pickling
    def _reset_caches(self) -> None:
        """A fresh model (no factor paths computed yet) and no universe table."""
        self._market = _Market(self.seed, self.n_days, self.end)
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
        self.n_days = max(1, round(self.years * _TRADING_DAYS_PER_YEAR))
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
        return _BENCHMARK

    def universe(self) -> pd.DataFrame:
        """The synthetic symbols: a frame with columns ``symbol, name, sector``."""
        if self._universe_cache is None:
            rows = []
            for index in range(self.n_symbols):
                attributes = self._market.attributes(index)
                rows.append((_ticker(index), attributes.name, DEMO_SECTORS[attributes.sector]))
            self._universe_cache = pd.DataFrame(rows, columns=["symbol", "name", "sector"])
        return self._universe_cache.copy()

    def symbol_index(self, symbol: str) -> int | None:
        """The position of ``symbol`` in :meth:`universe`, or None if it is not a member."""
        index = _ticker_index(symbol.strip().upper())
        if index is None or index >= self.n_symbols:
            return None
        return index

    def _fetch_raw(
        self, symbol: str, window: DateWindow, cancellation: ScanCancellation | None
    ) -> pd.DataFrame:
        factors = self._market.factors()
        if symbol == _BENCHMARK:
            values = self._market.benchmark_bars().copy()  # the frame must not share the cache
        else:
            index = self.symbol_index(symbol)
            if index is None:
                raise data_error(
                    symbol,
                    f"not a symbol of the synthetic demo market ({self.n_symbols} symbols)",
                    f"List the symbols with DemoSource(n_symbols={self.n_symbols}, "
                    f"seed={self.seed}).universe(); the benchmark is {_BENCHMARK!r}.",
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
        return pd.DataFrame(values, index=dates, columns=_COLUMNS, copy=False)


def _bars(
    price: float,
    returns: np.ndarray,
    overnight: np.ndarray,
    sigma: np.ndarray,
    ext: np.ndarray,
    volume: float,
    z_volume: np.ndarray,
    spikes: np.ndarray,
    jump_days: np.ndarray,
) -> np.ndarray:
    """Assemble an (n, 5) array of open, high, low, close, volume from log returns."""
    n = len(returns)
    logs = np.empty((4, n))
    log_close = math.log(price) + np.cumsum(returns)
    logs[3] = log_close
    logs[0, 0] = math.log(price) + overnight[0]
    logs[0, 1:] = log_close[:-1] + overnight[1:]
    body_high = np.maximum(logs[0], log_close)
    body_low = np.minimum(logs[0], log_close)
    logs[1] = body_high + 0.4 * sigma * ext[:n]
    logs[2] = body_low - 0.4 * sigma * ext[n : 2 * n]
    prices = np.exp(logs)
    decimals = 2 if prices[2].min() >= 1.0 else 4
    prices = np.maximum(np.round(prices, decimals), 10.0**-decimals)
    out = np.empty((n, 5))
    out[:, :4] = prices.T
    standardized = np.abs(returns) / sigma
    log_volume = (
        math.log(volume)
        + 0.3 * np.minimum(standardized, 5.0)
        + 0.3 * z_volume
        + np.where(jump_days, 0.5, 0.0)
    )
    out[:, 4] = np.rint(np.exp(log_volume) * spikes)
    return out
