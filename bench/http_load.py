"""HTTP scan under load: 8,000 symbols, 50 ms latency, 30% transient faults.

``python -m bench.http_load [N_SYMBOLS]`` prints one JSON object;
:func:`run_http_load` returns it as a dict.  Three processes: the fake
Polygon server (its own process, so it never shares the scan's GIL), and each
scan in a fresh interpreter (so that its wall time and peak memory are its
own).  A fault-free scan and a scan at ``fault_rate`` of every transient kind
the server knows (on a fresh cache each) must give identical tables, cell for
cell.  Peak RSS is sampled every 50 ms with psutil: the scan's process alone,
and with its loky workers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from .memory import MIB, tree_rss

API_KEY = "bench-load-key"
AS_OF = dt.date(2025, 12, 31)
LOOKBACK = 300


def _serve(conn: Any, n_symbols: int, years: float, options: dict[str, Any], window: Any) -> None:
    """Server process: preload, report the URL, then answer "counts" until "stop"/EOF."""
    from technic_nb.sources import DemoSource
    from technic_nb.testing import FakePolygonServer

    source = DemoSource(n_symbols=n_symbols, years=years)
    server = FakePolygonServer(source, api_key=API_KEY, **options).start()
    try:
        server.preload(list(source.universe()["symbol"]), *window)
        conn.send(server.base_url)
        while (message := conn.recv()) != "stop":
            if message == "reset":
                server.reset_counters()
            conn.send(
                {
                    "requests": server.total_requests,
                    "faults": sum(server.faults_by_kind.values()),
                    "faults_by_kind": dict(server.faults_by_kind),
                    "faults_on_later_pages": server.faults_on_later_pages,
                }
            )
    except EOFError:
        pass
    finally:
        server.stop()


class FaultyServer:
    """``with FaultyServer(n, years, options) as server:`` a server process; ``server.url``,
    ``server.counts()`` (what it answered since the last ``reset()``)."""

    def __init__(self, n_symbols: int, years: float, options: dict[str, Any]) -> None:
        from technic_nb.engine.plan import window_ending

        window = window_ending(AS_OF, LOOKBACK)
        self.args = (n_symbols, years, options, (window.start, window.end))
        self.url = ""
        self._conn: Any = None
        self._process: Any = None

    def __enter__(self) -> FaultyServer:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child, *self.args), daemon=True)
        self._process.start()
        child.close()
        self._conn = parent
        if not parent.poll(900):
            self.__exit__()
            raise RuntimeError("the load server did not start in time")
        self.url = parent.recv()
        return self

    def _ask(self, message: str) -> dict[str, Any]:
        self._conn.send(message)
        answer: dict[str, Any] = self._conn.recv()
        return answer

    def counts(self) -> dict[str, Any]:
        return self._ask("counts")

    def reset(self) -> None:
        self._ask("reset")

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send("stop")
            self._conn.close()
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout=5)


def _scan(url: str, n_symbols: int, cache: str, out: str, client: dict[str, Any]) -> None:
    """Scan process: one cold scan; its table goes to ``out`` (pickle), figures to stdout."""
    import pandas as pd

    import technic_nb as tn

    retry = tn.RetryPolicy(max_tries=12, base_delay=0.02, max_delay=0.5, max_time=120.0)
    source = tn.PolygonSource(
        api_key=API_KEY,
        base_url=url,
        retry=retry,
        max_connections=client["fetch_concurrency"],
        timeout=client["timeout"],
        answer_timeout=client["answer_timeout"],
    )
    universe = list(tn.DemoSource(n_symbols=n_symbols, years=client["years"]).universe()["symbol"])
    config = tn.ScanConfig(
        source=source,
        universe=universe,
        as_of=AS_OF.isoformat(),
        cache_dir=cache,
        n_jobs=client["n_jobs"],
        fetch_concurrency=client["fetch_concurrency"],
    )
    started = time.monotonic()
    result = tn.scan(config)
    wall = time.monotonic() - started
    pd.to_pickle((result.table, result.filtered, result.errors), out)
    keys = ("symbols", "ranked", "filtered", "failed", "fetch_retries", "fetch_give_ups")
    print(json.dumps({"wall_s": wall, **{k: result.stats.get(k) for k in keys}}))


def _run_scan(url: str, n_symbols: int, folder: Path, name: str, client: dict[str, Any]) -> Any:
    """One scan in a fresh interpreter, sampled for RSS; ``(figures, table, filtered, errors)``."""
    import subprocess

    import pandas as pd

    out = folder / f"{name}.pkl"
    code = (
        "import json, sys; from bench.http_load import _scan; "
        "_scan(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], json.loads(sys.argv[5]))"
    )
    args = [url, str(n_symbols), str(folder / f"cache-{name}"), str(out), json.dumps(client)]
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=root, stdout=subprocess.PIPE, text=True
    )
    process = psutil.Process(proc.pid)
    peak_own = peak_tree = 0
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak_own = max(peak_own, process.memory_info().rss)
            peak_tree = max(peak_tree, tree_rss(process))
        time.sleep(0.05)
    stdout = proc.stdout.read() if proc.stdout is not None else ""
    if proc.returncode != 0:
        raise RuntimeError(f"the {name} scan failed with exit code {proc.returncode}")
    figures = json.loads(stdout.strip().splitlines()[-1])
    figures["peak_rss_mb"] = round(peak_own / MIB, 1)
    figures["peak_rss_with_workers_mb"] = round(peak_tree / MIB, 1)
    table, filtered, errors = pd.read_pickle(out)
    return figures, table, filtered, errors


def run_http_load(
    n_symbols: int = 8000,
    latency: float = 0.05,
    fault_rate: float = 0.3,
    fetch_concurrency: int = 32,
    n_jobs: int = 2,
    years: float = 2.0,
) -> dict[str, Any]:
    """A fault-free and a faulty HTTP scan of ``n_symbols`` against a server process.

    Returns the figures of both scans (wall seconds, peak RSS of the scan
    process alone and with its workers, requests, retries, faults by kind) and
    ``identical``: whether the faulty scan's table, filtered rows and errors
    equal the fault-free scan's.  Raises AssertionError when they differ.
    """
    import pandas as pd

    from technic_nb.testing import TRANSIENT_FAULT_KINDS

    client = {"fetch_concurrency": fetch_concurrency, "n_jobs": n_jobs, "years": years}
    client |= {"timeout": 1.0, "answer_timeout": 1.5}
    faults = {"fault_rate": fault_rate, "fault_kinds": TRANSIENT_FAULT_KINDS, "seed": 7}
    faults |= {"retry_after": 0.0, "timeout_delay": 2.0}
    out: dict[str, Any] = {"symbols": n_symbols, "latency_ms": latency * 1000}
    out |= {"fault_rate": fault_rate, "fault_kinds": list(TRANSIENT_FAULT_KINDS), **client}
    with tempfile.TemporaryDirectory(prefix="technic_nb-load-") as tmp:
        folder = Path(tmp)
        runs = {}
        for name, options in (("clean", {}), ("faulty", faults)):
            with FaultyServer(n_symbols, years, {"latency": latency, **options}) as server:
                runs[name] = _run_scan(server.url, n_symbols, folder, name, client)
                runs[name][0].update(server.counts())
    clean, faulty = runs["clean"], runs["faulty"]
    for got, expected in zip(faulty[1:], clean[1:], strict=True):
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    out["identical"] = True
    out["clean"], out["faulty"] = clean[0], faulty[0]
    return out


def run(bench: Any) -> dict[str, Any]:
    """The full run's ``http_load`` section: :func:`run_http_load` at 8,000 symbols, as
    figures (one measurement each: every scan is minutes long)."""
    from .common import judge, section
    from .stats import summarize

    load = run_http_load()
    out = section("HTTP under load: 8,000 symbols, 50 ms latency, 30% transient faults")
    figures = out["figures"]
    units = {
        "wall_s": "s (one cold scan)",
        "peak_rss_mb": "MB peak RSS, the scan's process",
        "peak_rss_with_workers_mb": "MB peak RSS, the scan's process and its workers",
        "requests": "HTTP requests answered",
        "faults": "faults injected",
        "fetch_retries": "retries",
        "fetch_give_ups": "give-ups",
        "failed": "symbols failed",
    }
    for name in ("clean", "faulty"):
        for key, unit in units.items():
            value = load[name].get(key)
            if isinstance(value, int | float):
                figures[f"{name}_{key}"] = summarize([value], unit)
    figures["faulty_over_clean_wall"] = summarize(
        [load["faulty"]["wall_s"] / load["clean"]["wall_s"]], "x (faulty / fault-free wall time)"
    )
    figures["identical_tables"] = judge(
        summarize([1.0 if load["identical"] else 0.0], "1 = table, filtered and errors equal"),
        "identical (cell for cell)",
        bool(load["identical"]),
        "asserted with pandas.testing.assert_frame_equal(check_exact=True)",
    )
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(load["faulty"]["faults_by_kind"].items()))
    out["notes"].append(
        f"{load['symbols']} symbols at {load['latency_ms']:.0f} ms latency, fetch_concurrency "
        f"{load['fetch_concurrency']}, n_jobs {load['n_jobs']}; the faulty run's server injected "
        f"{kinds} ({load['faulty']['faults_on_later_pages']} on later pages of a paged answer)."
    )
    return out


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    print(json.dumps(run_http_load(count), indent=2))
