"""Per-symbol write and read cost of each cache layer, calling ``CheckpointCache`` directly.

For each layer (bars, features, factor, replay) and a realistic value
(:mod:`bench.sections.values`): a **write** (a miss: the value produced and
stored through the layer's method, a new key each call), a **read** (a hit:
the stored value loaded, checked and unpickled) and a **miss lookup** (the
layer's ``peek`` of an absent key: what a cold run asks before computing).
One fresh ``joblib.Memory`` per layer, in the scratch folder, in this process.
"""

from __future__ import annotations

import itertools
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from technic_nb.engine.cache.checkpoints import CheckpointCache

from ..common import Bench, log, median, section
from ..stats import summarize
from .values import LayerValue, bars_value, factor_value, features_value, replay_value

#: op -> (layer -> a function of (cache, key, value, warnings) doing that op once)
Op = Callable[[CheckpointCache, tuple[Any, ...], LayerValue, list[str]], Any]


def _key(layer: str, i: int) -> tuple[Any, ...]:
    if layer == "bars":
        return ("polygon:http://127.0.0.1", f"S{i}", "2020-11-17..2025-12-31|1d")
    return (f"csv:/data|S{i}|123|456", "params", 300, "v")


def _write(layer: str) -> Op:
    def write(cache: CheckpointCache, key: Any, item: LayerValue, warn: list[str]) -> Any:
        produce = lambda: item.value  # noqa: E731 - a producer, as the engine passes one
        if layer == "bars":
            return cache.bars.get(key, produce, item.expected, warn.append)
        if layer == "features":
            return cache.features.get(key, produce, item.expected, warn.append)
        if layer == "factor":
            return cache.factor.get(key, produce, item.expected, warn.append)
        return cache.replay.store(key, item.value, warn.append)

    return write


def _read(layer: str) -> Op:
    def read(cache: CheckpointCache, key: Any, item: LayerValue, warn: list[str]) -> Any:
        if layer == "bars":
            value, hit = cache.bars.get(key, _no_producer, item.expected, warn.append)
        elif layer == "features":
            value, hit = cache.features.get(key, _no_producer, item.expected, warn.append)
        elif layer == "factor":
            value = cache.factor.peek(key, item.expected, warn.append)
            hit = value is not None
        else:
            value = cache.replay.peek(key, item.expected, warn.append)
            hit = value is not None
        if not hit:
            raise RuntimeError(f"{layer}: a read missed")
        return value

    return read


def _peek(layer: str) -> Op:
    def peek(cache: CheckpointCache, key: Any, item: LayerValue, warn: list[str]) -> Any:
        if getattr(cache, layer).peek(key, item.expected, warn.append) is not None:
            raise RuntimeError(f"{layer}: an absent key was found")

    return peek


def _no_producer() -> Any:
    raise RuntimeError("a read had to produce its value")


def measure_layer(
    folder: Path, layer: str, item: LayerValue, calls: int, repeats: int
) -> dict[str, list[float]]:
    """Seconds per write, read and miss lookup (one value per repeat of ``calls`` calls)."""
    cache = CheckpointCache.at(folder)
    counter = itertools.count()
    warnings: list[str] = []
    out: dict[str, list[float]] = {"write": [], "read": [], "miss": []}
    ops = {"write": _write(layer), "read": _read(layer), "miss": _peek(layer)}
    # untimed: the first lookup writes joblib's func_code.py (a forced store's call() skips it)
    ops["miss"](cache, _key(layer, next(counter)), item, warnings)
    for _ in range(repeats):
        keys = [_key(layer, next(counter)) for _ in range(calls)]
        absent = [_key(layer, next(counter)) for _ in range(calls)]
        for op, these in (("write", keys), ("read", keys), ("miss", absent)):
            out[op].append(_per_call(ops[op], cache, these, item, warnings))
    if warnings:
        raise RuntimeError(f"{layer}: the cache warned: {warnings[0]}")
    return out


def _per_call(
    op: Op, cache: CheckpointCache, keys: list[Any], item: LayerValue, warn: list[str]
) -> float:
    started = time.perf_counter()
    for key in keys:
        op(cache, key, item, warn)
    return (time.perf_counter() - started) / len(keys)


def _entry_bytes(folder: Path) -> float:
    """Mean bytes on disk of one entry under ``folder`` (output.pkl, and metadata.json
    where a plain joblib store wrote one)."""
    sizes = []
    for output in folder.rglob("output.pkl"):
        meta = output.with_name("metadata.json")
        sizes.append(output.stat().st_size + (meta.stat().st_size if meta.exists() else 0))
    return sum(sizes) / len(sizes) if sizes else 0.0


def layer_values(bench: Bench) -> dict[str, LayerValue]:
    """The four layers' values (features also at the scans' lookback)."""
    return {
        "bars": bars_value(bench),
        "features": features_value(bench),
        f"features_{bench.sizes.lookback}": features_value(bench, bench.sizes.lookback),
        "factor": factor_value(bench),
        "replay": replay_value(bench),
    }


def run(bench: Bench) -> dict[str, Any]:
    """The ``cache_layers`` section."""
    s = bench.sizes
    out = section("Cache layers: per-symbol write and read cost of each layer")
    out["notes"].append(
        "CheckpointCache methods called directly in this process, one fresh joblib.Memory "
        f"per layer; {s.layer_calls} calls per repeat, {s.layer_repeats} repeats, a new key "
        "for every write.  write = a miss that produces the value and stores it "
        "(bars.get(), features.get(), factor.get(); replay.store() for the replay layer, "
        "which the engine calls after a peek); read = a hit (bars.get() and features.get() "
        "as the engine reads them, factor.peek(), replay.peek()); miss = peek of an absent key."
    )
    out["notes"].append(
        "What the engine does per symbol: HTTP cold = features.peek miss (resume pass) + bars "
        "write (fetch thread) + features write (worker); local source cold = features write; "
        "warm = one features read; each user factor cold = factor.peek miss + factor write; "
        "replay cold = replay.peek miss + replay.store."
    )
    for layer, item in layer_values(bench).items():
        folder = bench.scratch / f"layer_{layer}"
        base = layer.split("_")[0]
        values = measure_layer(folder, base, item, s.layer_calls, s.layer_repeats)
        disk_kib = _entry_bytes(folder) / 1024
        shutil.rmtree(folder, ignore_errors=True)
        for op, seconds in values.items():
            out["figures"][f"{layer}_{op}_ms"] = summarize(
                [x * 1e3 for x in seconds],
                "ms/call",
                payload_kib=round(item.payload_kib, 1),
                entry_kib=round(disk_kib, 1),
            )
        log(
            f"cache layer {layer} ({item.describe}, {item.payload_kib:.1f} KiB): "
            + ", ".join(f"{op} {median(v) * 1e3:.3f} ms" for op, v in values.items())
        )
        out["notes"].append(f"{layer}: {item.describe}, payload {item.payload_kib:.1f} KiB.")
    return out
