"""What ``joblib.Memory`` itself costs per call: one miss and one hit, broken down.

A miss (``CheckpointCache.features`` of a new key: compute + store) and a hit
(the same key again: load) go through ``MemorizedFunc.call_and_shelve``.  Each
step joblib takes is timed by wrapping it (exclusive times: a step's time
excludes the wrapped steps it calls):

* ``filter_args`` and ``hash_args``: the arguments filtered (``ignore=``) and
  hashed into the entry's folder name (``_get_args_id``; ``filter_args`` runs
  again in ``_persist_input``);
* ``get_func_name``, ``func_info``: the function's name and folder;
* ``check_func_code``: ``_check_previous_func_code`` (in memory after the first call);
* ``contains_item``: is ``output.pkl`` there;
* ``get_metadata``: ``metadata.json`` read by joblib's own store (on a hit
  twice); the checkpoint store (``LeanFileStore``) keeps none, so it is a no-op;
* ``dump_item``: the entry's folder made, ``output.pkl`` written through a
  temporary file and a rename;
* ``persist_input`` + ``store_metadata``: the call's arguments filtered and
  ``repr``-ed again (``store_metadata`` itself is a no-op in ``LeanFileStore``);
* ``load_item``: ``output.pkl`` read and unpickled (joblib's pickler);
* ``seal`` / ``unseal``: ours (pickle with the C pickler + CRC-32, and back);
* ``other``: the rest of joblib's and our glue, and the probes' own cost (see
  ``*_unprobed_ms``: the same calls without probes).
"""

from __future__ import annotations

import contextlib
import itertools
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import joblib.hashing
import joblib.memory

import technic_nb.engine.cache.checkpoints as tn_cache
from technic_nb.engine.cache.checkpoints import CheckpointCache
from technic_nb.engine.cache.envelope import seal

from ..common import Bench, log, median, section
from ..stats import per_call_seconds, summarize
from .values import LayerValue, bars_value, features_value

#: The steps in the order of the report.
STEPS = (
    "filter_args",
    "hash_args",
    "get_func_name",
    "func_info",
    "check_func_code",
    "contains_item",
    "get_metadata",
    "dump_item",
    "persist_input",
    "store_metadata",
    "load_item",
    "seal",
    "unseal",
)
OURS = ("seal", "unseal")


class Probe:
    """Exclusive wall time and call counts of wrapped functions."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[float] = [0.0]

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` timed under ``name`` (its wrapped callees' time subtracted)."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            self._stack.append(0.0)
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                inner = self._stack.pop()
                self.seconds[name] += elapsed - inner
                self.calls[name] += 1
                self._stack[-1] += elapsed

        return timed


@contextlib.contextmanager
def probed(cache: CheckpointCache, memo: Any, probe: Probe) -> Iterator[None]:
    """Wrap joblib's steps (module functions, the memo's and its backend's methods)."""
    backend = memo.store_backend
    patches: list[tuple[Any, str, str]] = [
        (joblib.memory, "filter_args", "filter_args"),
        (joblib.hashing, "hash", "hash_args"),
        (joblib.memory, "get_func_name", "get_func_name"),
        (tn_cache, "seal", "seal"),
        (tn_cache, "unseal", "unseal"),
    ]
    instance: list[tuple[Any, str, str]] = [
        (memo, "_check_previous_func_code", "check_func_code"),
        (memo, "_persist_input", "persist_input"),
        (backend, "get_cached_func_info", "func_info"),
        (backend, "contains_item", "contains_item"),
        (backend, "get_metadata", "get_metadata"),
        (backend, "dump_item", "dump_item"),
        (backend, "store_metadata", "store_metadata"),
        (backend, "load_item", "load_item"),
    ]
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in patches]
    try:
        for owner, attr, name in patches:
            setattr(owner, attr, probe.wrap(name, getattr(owner, attr)))
        for owner, attr, name in instance:
            setattr(owner, attr, probe.wrap(name, getattr(owner, attr)))
        yield
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)
        for owner, attr, _ in instance:
            with contextlib.suppress(AttributeError):
                delattr(owner, attr)


def _ops(cache: CheckpointCache, layer: str) -> tuple[Callable[..., Any], Any]:
    """The layer's load-or-compute method and its memoized function."""
    chosen = cache.bars if layer == "bars" else cache.features
    return chosen.get, chosen._memo


def _key(layer: str, i: int) -> tuple[Any, ...]:
    if layer == "bars":
        return ("polygon:http://127.0.0.1", f"P{i}", "2020-11-17..2025-12-31|1d")
    return (f"csv:/data|P{i}|123|456", "params", 300, "v")


def profile_layer(bench: Bench, layer: str, item: LayerValue) -> dict[str, dict[str, list[float]]]:
    """Per repeat: ms per miss and per hit of each step, the totals, and the unprobed totals."""
    s = bench.sizes
    cache = CheckpointCache.at(bench.scratch / f"profile_{layer}")
    method, memo = _ops(cache, layer)
    counter = itertools.count()
    warnings: list[str] = []

    def miss(key: Any) -> None:
        _, hit = method(key, lambda: item.value, item.expected, warnings.append)
        assert not hit

    def hit(key: Any) -> None:
        _, was_hit = method(key, _never, item.expected, warnings.append)
        assert was_hit

    miss(_key(layer, next(counter)))  # the function's code is written once, untimed
    out: dict[str, dict[str, list[float]]] = {"miss": defaultdict(list), "hit": defaultdict(list)}
    for _ in range(s.layer_repeats):
        keys = [_key(layer, next(counter)) for _ in range(s.profile_calls)]
        for kind, op in (("miss", miss), ("hit", hit)):
            probe = Probe()
            with probed(cache, memo, probe):
                timed_op = probe.wrap("total", op)
                for key in keys:
                    timed_op(key)
            _collect(out[kind], probe, len(keys))
        plain = [_key(layer, next(counter)) for _ in range(s.profile_calls)]
        out["miss"]["unprobed"].append(_plain_ms(miss, plain))
        out["hit"]["unprobed"].append(_plain_ms(hit, plain))
    if warnings:
        raise RuntimeError(f"profile {layer}: the cache warned: {warnings[0]}")
    return out


def _never() -> Any:
    raise RuntimeError("a hit had to compute")


def _plain_ms(op: Callable[[Any], None], keys: list[Any]) -> float:
    started = time.perf_counter()
    for key in keys:
        op(key)
    return (time.perf_counter() - started) / len(keys) * 1e3


def _collect(into: dict[str, list[float]], probe: Probe, n: int) -> None:
    total = probe.seconds["total"] + sum(probe.seconds[s] for s in STEPS)
    into["total"].append(total / n * 1e3)
    for step in STEPS:
        into[step].append(probe.seconds[step] / n * 1e3)
        into[f"{step}__calls"].append(probe.calls[step] / n)
    into["other"].append(probe.seconds["total"] / n * 1e3)


def _crc_ms(item: LayerValue) -> float:
    payload = seal(item.value)[3]
    return median(per_call_seconds(lambda: zlib.crc32(payload), 200, 5)) * 1e3


def _record(out: dict[str, Any], layer: str, item: LayerValue, data: dict[str, Any]) -> None:
    crc = _crc_ms(item)
    for kind in ("miss", "hit"):
        steps = data[kind]
        total = median(steps["total"])
        ours = sum(median(steps[s]) for s in OURS)
        prefix = f"{layer}_{kind}"
        out["figures"][f"{prefix}_total_ms"] = summarize(
            steps["total"], "ms/call (probed)", payload_kib=round(item.payload_kib, 1)
        )
        out["figures"][f"{prefix}_unprobed_ms"] = summarize(steps["unprobed"], "ms/call")
        for step in (*STEPS, "other"):
            values = steps[step]
            if step != "other" and not any(steps[f"{step}__calls"]):
                continue
            extra: dict[str, Any] = {"share_pct": 100.0 * median(values) / total}
            if step != "other":
                extra["calls_per_op"] = median(steps[f"{step}__calls"])
            if step in ("seal", "unseal"):
                extra["of_which_crc32_ms"] = crc
            out["figures"][f"{prefix}_{step}_ms"] = summarize(values, "ms/call", **extra)
        out["figures"][f"{prefix}_ours_share_pct"] = summarize(
            [100.0 * sum(steps[s][i] for s in OURS) / t for i, t in enumerate(steps["total"])],
            "% of the probed total (seal/unseal)",
        )
        log(
            f"joblib {prefix}: {total:.3f} ms probed ({median(steps['unprobed']):.3f} unprobed), "
            + ", ".join(
                f"{s} {median(steps[s]):.3f}"
                for s in (*STEPS, "other")
                if median(steps[s]) >= 0.005
            )
            + f"; ours {ours:.3f} ms"
        )


def run(bench: Bench) -> dict[str, Any]:
    """The ``joblib_cost`` section."""
    s = bench.sizes
    out = section("What joblib.Memory costs per call: one miss and one hit, step by step")
    out["notes"].append(
        f"CheckpointCache.features / .bars in this process, {s.profile_calls} misses (new keys) "
        f"then {s.profile_calls} hits (the same keys) per repeat, {s.layer_repeats} repeats, "
        "each step of MemorizedFunc.call_and_shelve wrapped by a timer (exclusive times).  "
        "'ours' is the sealed envelope: the value pickled with the C pickler and its CRC-32 "
        "(and the reverse on a hit); everything else is joblib's.  The probes cost a few "
        "microseconds per step: compare *_total_ms with *_unprobed_ms."
    )
    for layer, item in (("features", features_value(bench)), ("bars", bars_value(bench))):
        data = profile_layer(bench, layer, item)
        _record(out, layer, item, data)
        out["notes"].append(f"{layer}: {item.describe}, payload {item.payload_kib:.1f} KiB.")
    return out
