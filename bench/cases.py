"""The sections of the suite, in the order they run, and what each needs.

Each section lives in its own module under ``bench/sections/`` and has a
``run(bench)`` returning ``{"title", "figures", "notes"}`` (see
:mod:`bench.common`).  ``cold_throughput`` and ``resume`` come from the same
rounds (:mod:`bench.sections.cold`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .common import Bench
from .sections import (
    cache_layers,
    cancel,
    checkpoint,
    cold,
    dask_backend,
    external,
    http,
    joblib_cost,
    overhead,
    peak_memory,
    replay,
    research,
    scaling,
    user_factors,
)

#: Every section, in the order of the run and of RESULTS.md.
ORDER: tuple[str, ...] = (
    "cold_throughput",
    "resume",
    "overhead",
    "checkpoint_overhead",
    "cache_layers",
    "joblib_cost",
    "cancel_latency",
    "scaling",
    "memory",
    "http_throughput",
    "dask",
    "replay",
    "research",
    "user_factors",
    "http_load",
    "browser_panel",
)

#: Sections that need the benchmark's HTTP server (20 ms) running.
NEEDS_SERVER = frozenset(
    {
        "cold_throughput",
        "resume",
        "overhead",
        "checkpoint_overhead",
        "cache_layers",
        "joblib_cost",
        "http_throughput",
    }
)

#: ``cold_throughput`` and ``resume``, from the same rounds.
COLD_AND_RESUME: Callable[[Bench], tuple[dict[str, Any], dict[str, Any]]] = cold.run

#: The sections run one by one (``cold_throughput`` and ``resume`` are run together).
SECTIONS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "overhead": overhead.run,
    "checkpoint_overhead": checkpoint.run,
    "cache_layers": cache_layers.run,
    "joblib_cost": joblib_cost.run,
    "cancel_latency": cancel.run,
    "scaling": scaling.run,
    "memory": peak_memory.run,
    "http_throughput": http.run,
    "dask": dask_backend.run,
    "replay": replay.run,
    "research": research.run,
    "user_factors": user_factors.run,
    "http_load": external.run_http_load,
    "browser_panel": external.run_browser_panel,
}
