"""What every section shares: the sizes, the run's state (:class:`Bench`) and small helpers.

Each section module (``bench/sections/*.py``) exposes one ``run(bench)``
returning ``{"title", "figures", "notes"}`` where ``figures`` maps a name to
:func:`bench.stats.summarize` output plus ``target``/``met``/``bound`` where
they apply (see :func:`judge`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import itertools
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

import technic_nb as tn
from technic_nb.engine.plan import resolve_window
from technic_nb.sources import DemoSource, DirectorySource, PolygonSource

from .http_server import API_KEY, ServerProcess
from .stats import per_call_seconds, timed

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The real daily bars (505 S&P 500 stocks, 2005-2017), beside the repository.
DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "us_equities_daily"
#: Last bar of the demo market and the scan date of every demo and HTTP scan.
AS_OF = dt.date(2025, 12, 31)


@dataclass(frozen=True)
class Sizes:
    """Problem sizes: the full benchmark or the quick one (CI).

    ``lookback`` is the bars per symbol of the throughput scans (5 years, as in
    earlier runs of this suite); the replay and factor sections use the
    engine's default (300) like the notebooks.
    """

    demo_symbols: int
    years: float
    lookback: int
    repeats: int
    http_symbols: int
    http_ref_symbols: int
    latency: float
    concurrency: int
    csv_max: int | None
    overhead_rounds: int
    overhead_http_symbols: int
    ckpt_rounds: int
    ckpt_http80_symbols: int
    ckpt_http20_symbols: int
    ckpt_demo_symbols: int
    layer_calls: int
    layer_repeats: int
    profile_calls: int
    cancel_trials: int
    cancel_symbols: int
    njobs_symbols: int
    njobs_pairs: int
    http_repeats: int
    scaling_sizes: tuple[int, ...]
    scaling_rounds: int
    memory_sizes: tuple[int, int]
    memory_repeats: int
    fetch_only_symbols: int
    dask_symbols: int
    dask_pairs: int
    dask_tasks: int
    dask_task_rounds: int
    replay_first: str
    replay_last: str
    replay_rounds: int
    replay_loop_dates: int | None
    replay_added_dates: int
    replay_pairs: int
    factor_rounds: int
    external: bool


FULL = Sizes(
    demo_symbols=2000,
    years=5.0,
    lookback=1260,
    repeats=3,
    http_symbols=2000,
    http_ref_symbols=500,
    latency=0.02,
    concurrency=8,
    csv_max=None,
    overhead_rounds=3,
    overhead_http_symbols=500,
    ckpt_rounds=3,
    ckpt_http80_symbols=600,
    ckpt_http20_symbols=1500,
    ckpt_demo_symbols=2000,
    layer_calls=200,
    layer_repeats=5,
    profile_calls=300,
    cancel_trials=20,
    cancel_symbols=2000,
    njobs_symbols=2000,
    njobs_pairs=5,
    http_repeats=5,
    scaling_sizes=(500, 2000, 8000),
    scaling_rounds=2,
    memory_sizes=(2000, 8000),
    memory_repeats=2,
    fetch_only_symbols=600,
    dask_symbols=2000,
    dask_pairs=3,
    dask_tasks=2000,
    dask_task_rounds=3,
    replay_first="2006-01-01",
    replay_last="2017-10-31",
    replay_rounds=3,
    replay_loop_dates=None,
    replay_added_dates=12,
    replay_pairs=5,
    factor_rounds=3,
    external=True,
)

QUICK = Sizes(
    demo_symbols=80,
    years=5.0,
    lookback=1260,
    repeats=2,
    http_symbols=40,
    http_ref_symbols=10,
    latency=0.02,
    concurrency=8,
    csv_max=20,
    overhead_rounds=1,
    overhead_http_symbols=30,
    ckpt_rounds=1,
    ckpt_http80_symbols=24,
    ckpt_http20_symbols=40,
    ckpt_demo_symbols=80,
    layer_calls=20,
    layer_repeats=3,
    profile_calls=30,
    cancel_trials=2,
    cancel_symbols=300,
    njobs_symbols=80,
    njobs_pairs=1,
    http_repeats=2,
    scaling_sizes=(40, 80, 160),
    scaling_rounds=1,
    memory_sizes=(100, 200),
    memory_repeats=1,
    fetch_only_symbols=40,
    dask_symbols=100,
    dask_pairs=1,
    dask_tasks=100,
    dask_task_rounds=1,
    replay_first="2015-11-01",
    replay_last="2017-10-31",
    replay_rounds=1,
    replay_loop_dates=3,
    replay_added_dates=3,
    replay_pairs=1,
    factor_rounds=1,
    external=False,
)


def log(message: str) -> None:
    """One progress line on stderr, with the time."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def tree_cpu_seconds() -> float:
    """User + system CPU seconds of this process and its live children (the workers)."""
    me = psutil.Process()
    times = me.cpu_times()
    total = times.user + times.system
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            times = child.cpu_times()
            total += times.user + times.system
    return total


def section(title: str) -> dict[str, Any]:
    """An empty section: its title, its figures and its notes."""
    return {"title": title, "figures": {}, "notes": []}


def judge(figure: dict[str, Any], target: str, met: bool | None, bound: str) -> dict[str, Any]:
    """Mark ``figure`` with its target, whether it was met (None: not judged) and its bound."""
    figure.update(target=target, met=met, bound=bound)
    return figure


def median(values: Sequence[float]) -> float:
    """The median (the upper one of an even count, as every target here is judged)."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def make_scratch() -> Path:
    """A new scratch folder for the run's caches."""
    return Path(tempfile.mkdtemp(prefix="technic_nb_bench_"))


def csv_folder() -> Path | None:
    """The real data folder when it is there (``shared/data/us_equities_daily``)."""
    return DATA_DIR if (DATA_DIR / "AAPL.csv.gz").is_file() else None


class Bench:
    """Shared state of one benchmark run: sizes, scratch folders, the HTTP server."""

    def __init__(self, sizes: Sizes, scratch: Path, quick: bool) -> None:
        self.sizes = sizes
        self.scratch = scratch
        self.quick = quick
        self._counter = itertools.count()
        self.server: ServerProcess | None = None
        self.csv_dir = csv_folder()
        self.demo = DemoSource(
            n_symbols=max(sizes.demo_symbols, sizes.http_symbols, sizes.ckpt_http20_symbols),
            years=sizes.years,
        )
        self.demo_symbols = list(self.demo.universe()["symbol"])
        self.cold_http: list[float] = []  # cold HTTP scan seconds, reused by http_throughput
        self.csv_symbols: list[str] = []
        if self.csv_dir is not None:
            universe = DirectorySource(self.csv_dir).universe()
            self.csv_symbols = list(universe["symbol"])[: sizes.csv_max]

    # -- helpers ------------------------------------------------------------------
    def fresh_cache(self) -> Path:
        """A new cache folder under the scratch folder (not created yet)."""
        return self.scratch / f"cache{next(self._counter)}"

    def drop(self, path: Path | str | None) -> None:
        """Remove a cache folder."""
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)

    def window(self, lookback: int) -> tn.DateWindow:
        """The date window of a network scan as of :data:`AS_OF`."""
        probe = PolygonSource(api_key=API_KEY, base_url="http://127.0.0.1:9")
        return resolve_window(probe, AS_OF, lookback)

    def window_dates(self) -> tuple[dt.date, dt.date]:
        """``(start, end)`` of the HTTP scans' window (what the server encodes in advance)."""
        window = self.window(self.sizes.lookback)
        assert window.start is not None and window.end is not None
        return window.start, window.end

    def http_source(
        self,
        retry: tn.RetryPolicy | None = None,
        server: ServerProcess | None = None,
        connections: int | None = None,
    ) -> PolygonSource:
        """A Polygon source on the benchmark server (or ``server``)."""
        server = server or self.server
        assert server is not None, "the HTTP server is not running"
        return PolygonSource(
            api_key=API_KEY,
            base_url=server.base_url,
            max_connections=connections or self.sizes.concurrency,
            retry=retry or tn.RetryPolicy(),
        )

    def demo_config(self, n: int, **changes: Any) -> tn.ScanConfig:
        """A demo scan of ``n`` symbols into a fresh cache folder."""
        options: dict[str, Any] = dict(
            universe="demo",
            source=DemoSource(n_symbols=n, years=self.sizes.years),
            lookback_days=self.sizes.lookback,
            as_of=AS_OF,
            cache_dir=self.fresh_cache(),
        )
        options.update(changes)
        return tn.ScanConfig(**options)

    def csv_config(self, **changes: Any) -> tn.ScanConfig:
        """A scan of the real CSV data (its latest bar) into a fresh cache folder."""
        assert self.csv_dir is not None
        options: dict[str, Any] = dict(
            universe="source",
            source=f"csv:{self.csv_dir}",
            lookback_days=self.sizes.lookback,
            max_symbols=self.sizes.csv_max,
            cache_dir=self.fresh_cache(),
        )
        options.update(changes)
        return tn.ScanConfig(**options)

    def http_config(
        self, n: int, source: PolygonSource | None = None, **changes: Any
    ) -> tn.ScanConfig:
        """An HTTP scan of the first ``n`` demo symbols into a fresh cache folder."""
        options: dict[str, Any] = dict(
            universe=self.demo_symbols[:n],
            source=source or self.http_source(),
            lookback_days=self.sizes.lookback,
            as_of=AS_OF,
            fetch_concurrency=self.sizes.concurrency,
            cache_dir=self.fresh_cache(),
        )
        options.update(changes)
        return tn.ScanConfig(**options)

    def fresh(self, config: tn.ScanConfig) -> tn.ScanConfig:
        """``config`` with a new cache folder (a cold run)."""
        return config.replace(cache_dir=self.fresh_cache())

    @functools.cached_property
    def compute_seconds_per_symbol(self) -> float:
        """CPU seconds of the indicators and validation for one 5-year symbol (median)."""
        from technic_nb.engine.work import SymbolJob, compute_outcome

        bars = self.http_sample_bars()
        job = SymbolJob(self.window(self.sizes.lookback), self.sizes.lookback, tn.IndicatorParams())
        symbol = self.demo_symbols[0]
        return median(per_call_seconds(lambda: compute_outcome(symbol, bars, job), 50, 5))

    def http_sample_bars(self) -> Any:
        """The bars one HTTP response of the benchmark's window decodes to."""
        return self.demo.fetch(self.demo_symbols[0], self.window(self.sizes.lookback))

    def run_scan(self, config: tn.ScanConfig, **kwargs: Any) -> tuple[float, tn.ScanResult]:
        """Seconds of one ``tn.scan`` call and its result (the scan must not fail)."""
        seconds, result = timed(lambda: tn.scan(config, **kwargs))
        if not result.cancelled and result.stats["done"] != result.stats["symbols"]:
            raise RuntimeError(f"incomplete scan: {result.status}")
        if isinstance(config.source, PolygonSource) and result.stats.get("failed"):
            # the benchmark server serves every symbol: a failure means a broken setup
            raise RuntimeError(f"HTTP scan with failures: {result.status}")
        return seconds, result

    def cold_seconds(self, config: tn.ScanConfig, **kwargs: Any) -> float:
        """Seconds of one scan of ``config`` into a fresh cache (dropped afterwards)."""
        config = self.fresh(config) if config.use_cache else config
        try:
            return self.run_scan(config, **kwargs)[0]
        finally:
            if config.use_cache:
                self.drop(config.cache_dir)

    def warm_pools(self) -> None:
        """Start the worker pools once: the figures are for a warm pool (see the notes)."""
        for backend in ("loky", "threading"):
            self.run_scan(self.demo_config(64, backend=backend, use_cache=False))


def sizes_dict(sizes: Sizes) -> dict[str, Any]:
    """The sizes as plain JSON values."""
    return dataclasses.asdict(sizes)


def interleaved_pairs(
    rounds: int, first: Callable[[], float], second: Callable[[], float]
) -> tuple[list[float], list[float], list[float]]:
    """Rounds of ``A B B A`` (A = ``first``, B = ``second``): drift hits both sides alike.

    Returns the per-round ratios ``(B1 + B2) / (A1 + A2)``, the A/A ratios
    ``A2 / A1`` (the noise floor of the same rounds) and every A time.
    """
    ratios: list[float] = []
    aa: list[float] = []
    a_times: list[float] = []
    for _ in range(rounds):
        a1 = first()
        b1 = second()
        b2 = second()
        a2 = first()
        ratios.append((b1 + b2) / (a1 + a2))
        aa.append(a2 / a1)
        a_times += [a1, a2]
    return ratios, aa, a_times
