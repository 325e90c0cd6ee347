"""The bars side of :class:`~technic_nb.testing.FakePolygonServer`: each symbol's
bars encoded once as Polygon result rows, and the pages of an answer sliced from them."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from technic_nb.core.errors import ErrorType, ScanError
from technic_nb.sources.base import DataSource, DateWindow
from technic_nb.testing._faults import error_body

__all__ = ["BarsBook"]

logger = logging.getLogger("technic_nb.testing")

NEW_YORK = ZoneInfo("America/New_York")

#: Encoded bars kept for repeated requests: at most this many entries and bytes.
_CACHE_ENTRIES = 4096
_CACHE_BYTES = 512 * 2**20


class BarsBook:
    """The answers to bars requests, from ``source`` (encoded once per symbol and window).

    Args:
        source: where the bars come from; a data error (an unknown symbol) is a 404.
        page_size: at most this many bars per page (None: only the request's ``limit``).
        next_url_key: a key to put into ``next_url`` as ``apiKey=`` (None: none).
    """

    def __init__(self, source: DataSource, page_size: int | None, next_url_key: str | None) -> None:
        self.source = source
        self.page_size = page_size
        self.next_url_key = next_url_key
        self._lock = threading.Lock()
        self._encoded: dict[tuple[str, str, str], _EncodedRows | None] = {}
        self._encoded_bytes = 0

    def answer(
        self, symbol: str, start_text: str, end_text: str, query: Mapping[str, str], url: str
    ) -> tuple[int, bytes]:
        """``(status, body)`` of the request for ``symbol`` (``url``: its address
        without the query, for ``next_url``); 200 bodies are pages of bars."""
        try:
            start, end = _parse_day(start_text), _parse_day(end_text)
            offset = int(query.get("cursor", "0"))
            limit = int(query.get("limit", "5000"))
            if offset < 0 or not 1 <= limit <= 50000:
                raise ValueError("cursor must be >= 0 and limit in 1..50000")
        except ValueError as exc:
            return 400, json.dumps(error_body("ERROR", str(exc))).encode()
        try:
            encoded = self.encoded_for(symbol, start, end)
        except Exception as exc:  # the source broke: a server error
            logger.debug("source failed for %s", symbol, exc_info=True)
            return 500, json.dumps(error_body("ERROR", type(exc).__name__)).encode()
        if encoded is None:
            body = error_body("NOT_FOUND", f"ticker {symbol} not found", "message")
            return 404, json.dumps(body).encode()
        return 200, self._page(encoded, symbol, offset, limit, query, url)

    def _page(
        self,
        encoded: _EncodedRows,
        symbol: str,
        offset: int,
        limit: int,
        query: Mapping[str, str],
        url: str,
    ) -> bytes:
        total = len(encoded)
        size = min(limit, self.page_size or limit)
        count = max(0, min(size, total - offset))
        body: dict[str, Any] = {
            "ticker": symbol,
            "queryCount": total,
            "resultsCount": count,
            "adjusted": query.get("adjusted", "true") != "false",
            "status": "OK",
            "request_id": uuid.uuid4().hex,
        }
        if offset + size < total:
            params = (
                f"cursor={offset + size}&adjusted={query.get('adjusted', 'true')}"
                f"&sort={query.get('sort', 'asc')}&limit={limit}"
            )
            if self.next_url_key is not None:
                params += f"&apiKey={self.next_url_key}"
            body["next_url"] = f"{url}?{params}"
        data = json.dumps(body).encode()
        if count:
            results = encoded.page(offset, count, descending=query.get("sort", "asc") == "desc")
            data = b"".join((data[:-1], b', "results": [', results, b"]}"))
        return data

    def encoded_for(self, symbol: str, start: dt.date, end: dt.date) -> _EncodedRows | None:
        """The source's bars as encoded result rows (None for an unknown symbol), kept for
        repeated requests: the server shares one GIL, so each symbol is encoded once."""
        key = (symbol, start.isoformat(), end.isoformat())
        with self._lock:
            if key in self._encoded:
                return self._encoded[key]
        try:
            bars = self.source.fetch(symbol, DateWindow(start, end))
        except ScanError as exc:
            if exc.error_type is not ErrorType.DATA_ERROR:
                raise
            encoded = None
        else:
            encoded = _EncodedRows(bars)
        size = encoded.nbytes if encoded is not None else 0
        with self._lock:
            if len(self._encoded) >= _CACHE_ENTRIES or self._encoded_bytes + size > _CACHE_BYTES:
                self._encoded.clear()
                self._encoded_bytes = 0
            if key not in self._encoded:
                self._encoded[key] = encoded
                self._encoded_bytes += size
        return encoded


class _EncodedRows:
    """Polygon result rows of one bars frame as JSON text, sliceable into pages.

    ``text`` holds every row in ascending order separated by ``", "``;
    ``starts``/``ends`` are the byte offsets of each row, so a page of
    consecutive rows is one slice of ``text``.  The text equals
    ``json.dumps(_rows(bars))`` without its brackets.
    """

    def __init__(self, bars: pd.DataFrame) -> None:
        pieces = _row_texts(bars)
        lengths = np.fromiter((len(piece) for piece in pieces), dtype=np.int64, count=len(pieces))
        self.starts = np.concatenate(([0], np.cumsum(lengths + 2)[:-1])).astype(np.int64)
        self.ends = self.starts + lengths
        self.text = ", ".join(pieces).encode("ascii")

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def nbytes(self) -> int:
        return len(self.text) + self.starts.nbytes + self.ends.nbytes

    def page(self, offset: int, count: int, descending: bool = False) -> bytes:
        """Rows ``offset .. offset + count - 1`` (of the ascending or descending order)."""
        if not descending:
            return self.text[self.starts[offset] : self.ends[offset + count - 1]]
        total = len(self.starts)
        positions = range(total - 1 - offset, total - 1 - offset - count, -1)
        return b", ".join(self.text[self.starts[k] : self.ends[k]] for k in positions)


def _bar_arrays(
    bars: pd.DataFrame,
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
    """``(t, [o, h, l, c], v, vw)``: ``t`` is New York midnight in epoch milliseconds."""
    index = pd.DatetimeIndex(bars.index).normalize()
    stamps = index.tz_localize(NEW_YORK).as_unit("ms").asi8
    columns = [bars[c].to_numpy(dtype="float64") for c in ("open", "high", "low", "close")]
    volume = bars["volume"].to_numpy(dtype="float64")
    weighted = (columns[1] + columns[2] + columns[3]) / 3.0
    return stamps, columns, volume, weighted


def _row_texts(bars: pd.DataFrame) -> list[str]:
    """The JSON text of each row of :func:`_rows` (the same text ``json.dumps`` gives)."""
    if bars.empty:
        return []
    stamps, columns, volume, weighted = _bar_arrays(bars)
    if not (np.isfinite(volume).all() and all(np.isfinite(c).all() for c in columns)):
        return [json.dumps(row) for row in _rows(bars)]  # NaN/Infinity: json's own spelling
    template = '{"v": %r, "vw": %r, "o": %r, "c": %r, "h": %r, "l": %r, "t": %d, "n": %d}'
    return [
        template % (v, round(w, 4), o, c, h, lo, t, max(1, v // 100))
        for t, o, h, lo, c, v, w in zip(
            stamps.tolist(),
            *(column.tolist() for column in columns),
            volume.tolist(),
            weighted.tolist(),
            strict=True,
        )
    ]


def _parse_day(text: str) -> dt.date:
    """A ``YYYY-MM-DD`` date or an epoch-milliseconds timestamp (as New York date)."""
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text) / 1000, tz=NEW_YORK).date()
    return dt.date.fromisoformat(text)


def _rows(bars: pd.DataFrame) -> list[dict[str, Any]]:
    """Bars as Polygon result rows: ``t`` is New York midnight in epoch milliseconds."""
    if bars.empty:
        return []
    stamps, columns, volume, weighted = _bar_arrays(bars)
    return [
        {
            "v": float(v),
            "vw": round(float(w), 4),
            "o": float(o),
            "c": float(c),
            "h": float(h),
            "l": float(lo),
            "t": int(t),
            "n": int(max(1, v // 100)) if np.isfinite(v) else 0,
        }
        for t, o, h, lo, c, v, w in zip(stamps, *columns, volume, weighted, strict=True)
    ]
