"""Small statistics helpers: every figure is a set of repeats, never one time."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any


def summarize(values: Iterable[float], unit: str, **extra: Any) -> dict[str, Any]:
    """``min``/``median``/``max`` (and ``n`` and the raw ``values``) of repeated measurements."""
    data = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not data:
        raise ValueError("no finite measurement to summarize")
    figure: dict[str, Any] = {
        "unit": unit,
        "min": min(data),
        "median": statistics.median(data),
        "max": max(data),
        "n": len(data),
        "values": [round(v, 6) for v in data],
    }
    figure.update(extra)
    return figure


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between ranks."""
    data = sorted(values)
    if not data:
        raise ValueError("no value")
    if len(data) == 1:
        return data[0]
    position = (len(data) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (position - low)


def loglog_slope(sizes: Sequence[float], times: Sequence[float]) -> float:
    """Least-squares slope of log(time) against log(size): 1.0 is linear scaling."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(t) for t in times]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    num = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    den = sum((x - mean_x) ** 2 for x in xs)
    return num / den


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """``(seconds, result)`` of one call, on the monotonic performance clock."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def per_call_seconds(fn: Callable[[], Any], number: int, repeat: int = 5) -> list[float]:
    """Seconds per call of ``fn``, one value per repeat of ``number`` calls."""
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        out.append((time.perf_counter() - started) / number)
    return out
