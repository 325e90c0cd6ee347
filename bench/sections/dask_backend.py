"""The Dask backend: a local cluster against loky on the same two cores."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from joblib import Parallel, delayed, parallel_config

from technic_nb.engine.executors import LOCAL_BATCH, SHIP_BATCH, symbols_per_task

from ..common import Bench, judge, log, section
from ..stats import summarize, timed


def _drain(outputs: Any) -> int:
    return sum(1 for _ in outputs)


def _noop_parallel(n_tasks: int, **options: Any) -> float:
    """Seconds for ``n_tasks`` no-op tasks through a streamed ``joblib.Parallel``.

    The call options are the engine's (one task per dispatch, two tasks in flight per
    worker, results unordered), so the time is what its dispatch costs per task.
    """
    parallel = Parallel(
        return_as="generator_unordered", batch_size=1, pre_dispatch="2*n_jobs", **options
    )
    seconds, done = timed(lambda: _drain(parallel(delayed(abs)(-i) for i in range(n_tasks))))
    if done != n_tasks:
        raise RuntimeError(f"{done} of {n_tasks} no-op tasks came back")
    return seconds


def _backend_changes(backend: str, client: Any) -> dict[str, Any]:
    return {"dask_client": client} if backend == "dask" else {"n_jobs": 2}


def _cold_scans(bench: Bench, client: Any, out: dict[str, Any]) -> None:
    n = bench.sizes.dask_symbols
    for backend in ("dask", "loky"):  # warm-up: worker imports, the loky pool
        bench.cold_seconds(
            bench.demo_config(64, backend=backend, **_backend_changes(backend, client))
        )
    rates: dict[str, list[float]] = {"dask": [], "loky": []}
    for r in range(bench.sizes.dask_pairs):
        for backend in ("dask", "loky") if r % 2 == 0 else ("loky", "dask"):
            config = bench.demo_config(n, backend=backend, **_backend_changes(backend, client))
            seconds, result = bench.run_scan(config)
            bench.drop(config.cache_dir)
            if backend == "dask" and result.stats.get("dask_shared_cache") is not True:
                raise RuntimeError("the dask workers did not checkpoint into the cache")
            rates[backend].append(n / seconds)
        log(
            f"dask round {r + 1}: dask {rates['dask'][-1]:.0f} symbols/s, "
            f"loky {rates['loky'][-1]:.0f} symbols/s"
        )
    pairs = list(zip(rates["dask"], rates["loky"], strict=True))
    for backend in ("dask", "loky"):
        out["figures"][f"cold_{backend}_symbols_per_s"] = summarize(
            rates[backend], "symbols/s", symbols=n
        )
    out["figures"]["cold_dask_over_loky"] = judge(
        summarize([d / lk for d, lk in pairs], "ratio of symbols/s (higher is better)"),
        "diagnostic",
        None,
        "the same two cores either way: the Dask path adds the scheduler (a thread of this "
        "process), a round trip through it per task, and per-scan checks (worker versions, a "
        "cache probe file written by every worker)",
    )
    out["figures"]["cold_dask_extra_ms_per_symbol"] = summarize(
        [1000.0 / d - 1000.0 / lk for d, lk in pairs], "ms/symbol (dask - loky)", symbols=n
    )


def _per_task(bench: Bench, client: Any) -> dict[str, list[float]]:
    from technic_nb.compat.joblib_internals import cancelling_dask_backend

    n_tasks = bench.sizes.dask_tasks

    def joblib_dask(count: int) -> float:
        with parallel_config(backend=cancelling_dask_backend()(client=client)):
            return _noop_parallel(count, n_jobs=-1)

    def client_map(count: int) -> float:
        seconds, values = timed(lambda: client.gather(client.map(abs, range(count), pure=False)))
        if len(values) != count:
            raise RuntimeError("Client.map lost tasks")
        return seconds

    def joblib_loky(count: int) -> float:
        return _noop_parallel(count, n_jobs=2, backend="loky")

    ways: dict[str, Callable[[int], float]] = {
        "joblib_dask": joblib_dask,
        "client_map": client_map,
        "joblib_loky": joblib_loky,
    }
    for way in ways.values():  # one small untimed call each
        way(min(n_tasks, 40))
    per_task: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    for r in range(bench.sizes.dask_task_rounds):
        for name in names[r % 3 :] + names[: r % 3]:
            per_task[name].append(ways[name](n_tasks) / n_tasks)
        log(
            f"dask tasks round {r + 1}: "
            + ", ".join(f"{k} {v[-1] * 1e3:.2f} ms/task" for k, v in per_task.items())
        )
    return per_task


def _task_figures(
    out: dict[str, Any], per_task: dict[str, list[float]], n: int, threads: int
) -> None:
    labels = {
        "joblib_dask": "joblib.Parallel on the engine's Dask backend (as a scan dispatches)",
        "client_map": "Client.map + gather: every task submitted at once (no dispatch window)",
        "joblib_loky": "joblib.Parallel, loky, n_jobs=2 (as a scan dispatches)",
    }
    for name, values in per_task.items():
        out["figures"][f"task_{name}_ms_per_task"] = judge(
            summarize([v * 1e3 for v in values], "ms/task (no-op)"),
            "diagnostic",
            None,
            labels[name],
        )
    out["figures"]["task_dask_over_loky"] = summarize(
        [d / lk for d, lk in zip(per_task["joblib_dask"], per_task["joblib_loky"], strict=True)],
        "ratio of ms/task (joblib dask / joblib loky)",
    )
    batch = symbols_per_task(n, threads)
    out["figures"]["engine_symbols_per_task"] = judge(
        summarize([batch], "symbols/task", LOCAL_BATCH=LOCAL_BATCH, worker_threads=threads),
        "diagnostic",
        None,
        f"a source read in the workers (demo, csv) is dispatched in tasks of min(LOCAL_BATCH = "
        f"{LOCAL_BATCH}, symbols / (16 x worker threads)) symbols; sources fetched in this "
        f"process ship tasks of SHIP_BATCH = {SHIP_BATCH} symbols",
    )
    out["figures"]["dask_dispatch_ms_per_symbol"] = summarize(
        [v * 1e3 / batch for v in per_task["joblib_dask"]],
        f"ms/symbol (no-op ms/task / {batch} symbols/task)",
    )


def run(bench: Bench) -> dict[str, Any]:
    """The ``dask`` section."""
    import dask
    import distributed

    s = bench.sizes
    out = section("Dask backend: a local cluster against loky on the same cores")
    log("dask: starting a LocalCluster (2 worker processes x 1 thread)")
    started = time.perf_counter()
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        cluster_start = time.perf_counter() - started
        threads = sum(client.nthreads().values())
        log(f"dask: cluster up in {cluster_start:.1f} s, {threads} worker threads")
        _cold_scans(bench, client, out)
        per_task = _per_task(bench, client)
    log("dask: cluster closed")
    _task_figures(out, per_task, s.dask_symbols, threads)
    out["notes"].append(
        f"One distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True) on "
        f"127.0.0.1, started once for the section ({cluster_start:.1f} s until both workers "
        f"were up) and closed at its end; dask {dask.__version__}, distributed "
        f"{distributed.__version__}.  Cold scans: demo source, {s.dask_symbols} symbols, a "
        "fresh cache folder per scan (both backends checkpoint every symbol), backend='dask' "
        "with the client against backend='loky' with n_jobs=2, interleaved A B / B A after "
        "one untimed warm-up scan each (worker imports, loky pool start)."
    )
    out["notes"].append(
        f"Per-task overhead: {s.dask_tasks} no-op tasks (the builtin abs) per measurement, "
        "rounds rotating the order of the three ways.  A scan's task also carries its symbol "
        "batch, the job and the source, so these are lower bounds; divided by the symbols per "
        "task they give the dispatch cost per symbol."
    )
    return out
