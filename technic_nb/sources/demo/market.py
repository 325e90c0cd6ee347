"""The synthetic market behind :class:`~technic_nb.DemoSource`: how its bars are made.

Deterministic: the same seed gives the same market on every machine.  A market
factor and one per sector follow regime-switching GARCH paths with Student-t
shocks; each symbol mixes them with its own path and trend; tickers and company
names are invented from the symbol's index (and read back from a ticker).
Nothing in it is real market data.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from technic_nb.core.bars import BAR_COLUMNS
from technic_nb.sources.demo.names import NAME_PREFIXES, NAME_SUFFIXES

__all__ = [
    "BENCHMARK",
    "COLUMNS",
    "DEMO_SECTORS",
    "MAX_SYMBOLS",
    "MAX_YEARS",
    "TRADING_DAYS_PER_YEAR",
    "Market",
]


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


BENCHMARK = "DEMO"


COLUMNS = pd.Index(BAR_COLUMNS)  # built once: building an Index of strings is slow


TRADING_DAYS_PER_YEAR = 252


MAX_SYMBOLS = 20_000


MAX_YEARS = 40.0


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


# --------------------------------------------------------------------------- the model
class Market:
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
                NAME_PREFIXES[int(u[1] * len(NAME_PREFIXES))],
                spec.words[int(u[2] * len(spec.words))],
                NAME_SUFFIXES[int(u[3] * len(NAME_SUFFIXES))],
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
