"""Reference loops: what a user could write by hand, on the same data.

* ``talib``: a careful single-process loop (load each symbol, TA-Lib for every
  indicator, keep the last values) - the floor of plain sequential code.
* ``pandas``: a typical hand-written script (pandas ``rolling``/``ewm`` for the
  same indicators, columns added to the frame, last row kept).
* :func:`careful_replay_loop`: the careful loop over many dates, what a replay is
  measured against: each file loaded once (``pandas.read_csv``, then numpy arrays),
  then at each date the same TA-Lib features on each symbol's last ``lookback`` bars
  up to that date (array slices, one process, one thread).

Both compute RSI 14, ATR 14, SMA 20/50/200, MACD 12/26/9, the 20- and 252-bar
highest high, the 10- and 20-bar lowest low, ROC 1/5/21/63, the 20-bar std of
log returns, the 20-bar mean dollar volume and the volume spike, on the last
``lookback`` bars of each symbol.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import talib
import urllib3

from technic_nb.sources import DemoSource

OHLCV = ["open", "high", "low", "close", "volume"]
Loader = Callable[[str], pd.DataFrame]


def talib_features(bars: pd.DataFrame) -> dict[str, float]:
    """Last values of every indicator with TA-Lib (the careful loop)."""
    return talib_array_features(
        bars["high"].to_numpy(dtype=np.float64),
        bars["low"].to_numpy(dtype=np.float64),
        bars["close"].to_numpy(dtype=np.float64),
        bars["volume"].to_numpy(dtype=np.float64),
    )


def talib_array_features(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray
) -> dict[str, float]:
    """:func:`talib_features` of contiguous float64 arrays (at least two bars)."""
    macd, signal, hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
    out = {
        "rsi": talib.RSI(close, timeperiod=14)[-1],
        "atr": talib.ATR(high, low, close, timeperiod=14)[-1],
        "sma20": talib.SMA(close, timeperiod=20)[-1],
        "sma50": talib.SMA(close, timeperiod=50)[-1],
        "sma200": talib.SMA(close, timeperiod=200)[-1],
        "macd": macd[-1],
        "macd_signal": signal[-1],
        "macd_hist": hist[-1],
        "high20": talib.MAX(high, timeperiod=20)[-1],
        "high52w": talib.MAX(high, timeperiod=252)[-1],
        "low52w": talib.MIN(low, timeperiod=252)[-1],
        "low_recent": talib.MIN(low, timeperiod=20)[-1],
        "rvol20_pct": talib.STDDEV(np.log(close[1:] / close[:-1]), timeperiod=20)[-1]
        * math.sqrt(20 / 19)
        * 100
        * math.sqrt(252),
        "dollar_volume20": talib.SMA(close * volume, timeperiod=20)[-1],
        "volume_spike": volume[-1] / talib.SMA(volume, timeperiod=20)[-2],
    }
    for n in (1, 5, 21, 63):
        out[f"ret_{n}d_pct"] = talib.ROC(close, timeperiod=n)[-1]
    return {k: float(v) for k, v in out.items()}


def pandas_features(bars: pd.DataFrame) -> dict[str, float]:
    """Last values of every indicator with pandas rolling/ewm (a typical script)."""
    df = bars.copy()
    c, h, lo, v = df["close"], df["high"], df["low"], df["volume"]
    delta = c.diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
    loss = (-delta.clip(upper=0)).ewm(alpha=1 / 14, adjust=False).mean()
    df["rsi"] = 100 - 100 / (1 + gain / loss)
    prev = c.shift()
    true_range = pd.concat([h - lo, (h - prev).abs(), (lo - prev).abs()], axis=1).max(axis=1)
    df["atr"] = true_range.ewm(alpha=1 / 14, adjust=False).mean()
    for n in (20, 50, 200):
        df[f"sma{n}"] = c.rolling(n).mean()
    df["macd"] = c.ewm(span=12, adjust=False).mean() - c.ewm(span=26, adjust=False).mean()
    df["macd_signal"] = df["macd"].ewm(span=9, adjust=False).mean()
    df["macd_hist"] = df["macd"] - df["macd_signal"]
    df["high20"] = h.rolling(20).max()
    df["high52w"] = h.rolling(252).max()
    df["low52w"] = lo.rolling(252).min()
    df["low_recent"] = lo.rolling(20).min()
    for n in (1, 5, 21, 63):
        df[f"ret_{n}d_pct"] = c.pct_change(n) * 100
    df["rvol20_pct"] = np.log(c).diff().rolling(20).std() * 100 * math.sqrt(252)
    df["dollar_volume20"] = (c * v).rolling(20).mean()
    df["volume_spike"] = v / v.rolling(20).mean().shift()
    return {k: float(x) for k, x in df.iloc[-1].items()}


FEATURES: dict[str, Callable[[pd.DataFrame], dict[str, float]]] = {
    "talib": talib_features,
    "pandas": pandas_features,
}


def run_loop(
    kind: str, loader: Loader, symbols: Sequence[str], lookback: int
) -> dict[str, dict[str, float]]:
    """Load and compute every symbol in turn (one process, one thread)."""
    compute = FEATURES[kind]
    out = {}
    for symbol in symbols:
        bars = loader(symbol)
        out[symbol] = compute(bars.iloc[-lookback:])
    return out


def careful_replay_loop(
    folder: Path, symbols: Sequence[str], dates: Sequence[Any], lookback: int
) -> dict[str, Any]:
    """The careful TA-Lib loop over ``dates``: load every file once, then at each date the
    :func:`talib_array_features` of each symbol's last ``lookback`` bars up to that date
    (symbols with fewer than two bars by then are skipped).

    Returns ``load_s`` and ``compute_s`` (seconds), ``rows`` (symbol-dates computed) and
    ``features`` (the last date's values by symbol, to check them).
    """
    started = time.perf_counter()
    arrays = {}
    for symbol in symbols:
        bars = pd.read_csv(folder / f"{symbol}.csv.gz", index_col="date", parse_dates=True)
        stamps = bars.index.to_numpy(dtype="datetime64[ns]")
        columns = [np.ascontiguousarray(bars[c].to_numpy(np.float64)) for c in OHLCV[1:]]
        arrays[symbol] = (stamps, *columns)
    loaded = time.perf_counter()
    rows = 0
    features: dict[str, dict[str, float]] = {}
    for date in dates:
        stamp = np.datetime64(pd.Timestamp(date).date(), "ns")
        features = {}
        for symbol, (stamps, high, low, close, volume) in arrays.items():
            end = int(np.searchsorted(stamps, stamp, "right"))
            first = max(0, end - lookback)
            if end - first < 2:
                continue
            features[symbol] = talib_array_features(
                high[first:end], low[first:end], close[first:end], volume[first:end]
            )
            rows += 1
    done = time.perf_counter()
    return {
        "load_s": loaded - started,
        "compute_s": done - loaded,
        "rows": rows,
        "features": features,
    }


# -- loaders: the plain way to read each kind of source ---------------------------


@contextmanager
def demo_loader(source: DemoSource) -> Iterator[Loader]:
    """``DemoSource.fetch``: the synthetic bars, generated in this process."""
    yield source.fetch


@contextmanager
def csv_loader(folder: Path) -> Iterator[Loader]:
    """``pandas.read_csv`` of ``SYMBOL.csv.gz`` (gzip inferred from the name)."""

    def load(symbol: str) -> pd.DataFrame:
        return pd.read_csv(folder / f"{symbol}.csv.gz", index_col="date", parse_dates=True)

    yield load


@contextmanager
def http_loader(base_url: str, api_key: str, start: Any, end: Any) -> Iterator[Loader]:
    """Sequential ``urllib3`` GETs on one keep-alive connection, ``json`` decoding."""
    client = urllib3.PoolManager(headers={"Authorization": f"Bearer {api_key}"}, timeout=30.0)

    def load(symbol: str) -> pd.DataFrame:
        response = client.request(
            "GET",
            f"{base_url}/v2/aggs/ticker/{symbol}/range/1/day/{start}/{end}",
            fields={"adjusted": "true", "sort": "asc", "limit": "50000"},
        )
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status} for {symbol}")
        rows = json.loads(response.data)["results"]
        frame = pd.DataFrame(rows)
        frame = frame.rename(
            columns={"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"}
        )
        frame.index = pd.to_datetime(frame["t"], unit="ms")
        return frame[OHLCV]

    try:
        yield load
    finally:
        client.clear()
