"""Pages of a Polygon aggregates answer: parsed and checked, then joined into rows.

A 200 answer is trusted only once it checks out (:func:`parse_page`); anything
else is a :class:`~technic_nb.sources.retry.TransientFetchError`, retried like a 503
and never cached, so a damaged page can never become a symbol's bars or its
permanent error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import pandas as pd

from technic_nb.core.bars import normalize_bars
from technic_nb.core.errors import data_error
from technic_nb.sources.base import BarsPayload, DateWindow
from technic_nb.sources.polygon.config import KEY_PARAMS, _Secret, redact
from technic_nb.sources.retry.policy import TransientFetchError

__all__ = ["Page", "PolygonRows", "parse_page", "without_key"]

NEW_YORK = ZoneInfo("America/New_York")
_DAY_MS = 86_400_000
_ROW_KEYS = ("t", "o", "h", "l", "c", "v")


@dataclass(frozen=True)
class Page:
    """One page of an answer: its bar columns (float64 arrays) and its ``next_url``."""

    columns: tuple[np.ndarray, ...]  # t, o, h, l, c, v
    next_url: str | None


def _transient(text: str) -> TransientFetchError:
    return TransientFetchError(f"HTTP 200 {text}", status=200)


def _checked_results(payload: dict[str, Any]) -> list[Any]:
    """The page's ``results``, checked against the counts the page announces."""
    results = payload.get("results")
    count = payload.get("resultsCount", payload.get("queryCount", 0))
    if results is None:
        if isinstance(count, int | float) and count > 0:
            raise _transient(f"without the {count:g} results it announces")
        return []
    if not isinstance(results, list):
        raise _transient("whose 'results' is not a list")
    announced = payload.get("resultsCount")
    if isinstance(announced, int) and announced != len(results):
        raise _transient(f"with {len(results)} results where it announces {announced}")
    return results


def parse_page(body: bytes, symbol: str, shown_url: str, secret: _Secret | None) -> Page:
    """Parse and check one 200 answer; anything that does not check out is transient.

    ``secret`` stays wrapped: this frame is in the traceback of what it raises.

    Raises:
        TransientFetchError: the body is not valid JSON (cut short, an HTML page),
            not an object, says it failed (a ``status`` other than ``OK`` or
            ``DELAYED``), lacks the ``results`` its counts promise or holds fewer
            or more, or holds malformed rows.  Retried like a 503.
        ScanError: a data error for ``NOT_FOUND`` (the symbol is unknown).
    """
    try:
        payload = orjson.loads(body)  # several times faster than json
    except ValueError:  # orjson.JSONDecodeError is a ValueError
        raise _transient(f"with a body that is not valid JSON ({len(body)} bytes)") from None
    if not isinstance(payload, dict):
        raise _transient("with a JSON body that is not an object")
    state = str(payload.get("status", "OK")).upper()
    if state == "NOT_FOUND":
        raise data_error(
            symbol,
            "unknown symbol at the data service (status NOT_FOUND)",
            "Check the ticker spelling and whether it is listed; exclude the symbol.",
            status=200,
            url=shown_url,
        )
    if state not in ("OK", "DELAYED"):
        message = redact(str(payload.get("error") or payload.get("message") or ""), secret)
        raise _transient(f"with status {state}" + (f": {message[:200]}" if message else ""))
    results = _checked_results(payload)
    next_url = payload.get("next_url")
    if next_url is not None and not isinstance(next_url, str):
        raise _transient("with a malformed next_url")
    return Page(_row_columns(results), without_key(next_url) if next_url else None)


def _row_columns(rows: list[Any]) -> tuple[np.ndarray, ...]:
    """The t, o, h, l, c, v columns of Polygon rows; malformed rows are transient."""
    try:
        return tuple(
            np.fromiter((row[key] for row in rows), dtype="float64", count=len(rows))
            for key in _ROW_KEYS
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _transient(
            f"with malformed bar rows ({type(exc).__name__}: {str(exc)[:80]})"
        ) from None


def without_key(url: str) -> str:
    """``url`` without ``apiKey``/``api_key`` query parameters (and without a fragment)."""
    split = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(split.query, keep_blank_values=True)
        if k.lower() not in KEY_PARAMS
    ]
    return urlunsplit((split.scheme, split.netloc, split.path, urlencode(query), ""))


@dataclass(frozen=True)
class PolygonRows(BarsPayload):
    """The checked answer for one symbol: every page's rows as columns of numbers.

    Returned by :meth:`PolygonSource.fetch_payload` and stored in the bars cache;
    holds no API key, so it can be shipped to worker processes, where
    :meth:`bars` turns it into the bars :meth:`PolygonSource.fetch` returns.
    """

    symbol: str
    window: str
    columns: tuple[np.ndarray, ...]  # t (epoch ms), o, h, l, c, v

    @classmethod
    def join(cls, symbol: str, window: str, pages: list[Page]) -> PolygonRows:
        """The rows of every page, in page order."""
        columns = tuple(
            np.concatenate([page.columns[i] for page in pages]) if pages else np.empty(0)
            for i in range(len(_ROW_KEYS))
        )
        return cls(symbol, window, columns)

    def __repr__(self) -> str:
        return f"PolygonRows({self.symbol!r}, {self.window}, {len(self.columns[0])} bars)"

    def raw_frame(self) -> pd.DataFrame:
        """The rows as one frame (columns date, open ... volume; not validated).

        Raises:
            ScanError: a data error when there are no bars or a timestamp is malformed.
        """
        stamps = self.columns[0]
        if not len(stamps):
            start, _, end = self.window.partition("..")
            raise data_error(
                self.symbol,
                f"no daily bars from {start} to {end} at the data service",
                "Check the ticker, whether it traded in this date window, or exclude the symbol.",
                window=self.window,
            )
        if not np.isfinite(stamps).all() or (np.abs(stamps) > 4e12).any():
            raise data_error(self.symbol, "the data service answered with malformed bar timestamps")
        local = (
            pd.DatetimeIndex(stamps.astype("int64").astype("datetime64[ms]"))
            .tz_localize("UTC")
            .tz_convert(NEW_YORK)
            .tz_localize(None)
            .as_unit("ms")
            .asi8
        )
        # Midnight of each local day, by integer arithmetic: DatetimeIndex.normalize()
        # gives the same dates but also infers a frequency, which costs more than the rest.
        dates = pd.DatetimeIndex((local - local % _DAY_MS).astype("datetime64[ms]")).as_unit("us")
        _, o, h, low, c, v = self.columns
        return pd.DataFrame(
            {"date": dates, "open": o, "high": h, "low": low, "close": c, "volume": v}
        )

    def bars(self, symbol: str, window: DateWindow) -> pd.DataFrame:
        """Validated bars inside ``window`` (what :meth:`PolygonSource.fetch` returns)."""
        return window.clip(normalize_bars(self.raw_frame(), symbol))
