"""The scan engine: one pipeline that every front end drives.

Stages (see :mod:`technic_nb._progress`):

1. **universe_loading** - resolve the source, read the universe, validate symbols.
2. **data_fetching** - bars in hand for each symbol.  Local sources (files, the
   demo market) are read inside the CPU workers, so this stage advances with
   the next one.  Network and in-memory sources are fetched by an I/O thread
   pool in this process (bounded connections, retries) and shipped to workers;
   a network source ships its raw response bodies, which the workers decode.
3. **symbol_scanning** - indicators per symbol in joblib workers (processes by
   default: TA-Lib holds the GIL), streamed back as they finish
   (``return_as="generator_unordered"``), so no more than the work in flight is
   ever held in memory.
4. **finalization** - filters, scoring, ranking and the market regime, vectorized
   over the whole table.

Every finished symbol is checkpointed by the worker task that computed it
(:mod:`technic_nb._checkpoint`, one pack file per task); a re-run reads those
and fetches and computes only the rest.  Cancelling (the token, or
Ctrl-C / Kernel > Interrupt) stops dispatching, closes the result generator
(on loky this stops the workers) and returns the partial result.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import copy
import datetime as dt
import logging
import math
import os
import queue
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
from joblib import Parallel, delayed

from ._cancel import ScanCancellation, ScanCancelled
from ._checkpoint import Checkpoint, NotCached
from ._config import ScanConfig
from ._errors import ErrorType, ScanError
from ._progress import MultiStageProgressTracker, ProgressCallback
from ._regime import market_regime
from ._result import ERROR_COLUMNS, LEADING_COLUMNS, ScanResult
from ._retry import RetryPolicy
from ._scoring import apply_filters, score_table
from ._universe import load_universe
from ._work import Shipped, SymbolJob, run_shipped, run_symbols, trim_bars
from .sources import resolve_source
from .sources._base import DataSource, DateWindow

__all__ = ["clear_scan_cache", "resolve_window", "run_scan", "scan"]

logger = logging.getLogger("technic_nb.engine")

#: ``fn(symbol, features)``: see the ``row_listener`` argument of :func:`scan`.
RowListener = Callable[[str, dict[str, Any]], Any]

#: Most symbols per worker task for local sources: small enough that results stream
#: (progress and cancel stay responsive), large enough to amortize dispatch and to
#: write few checkpoint packs.
LOCAL_BATCH = 32
#: Tasks per worker a local scan is split into at least (when it has the symbols):
#: enough that the workers finish together (the last task is a small part of the scan).
TASKS_PER_WORKER = 16
#: Fetched symbols handed to the workers at a time (sources fetched in this process).
REMOTE_CHUNK = 64
#: Chunks fetched ahead of the workers at most (bounds the memory of fetched data).
FETCH_AHEAD = 4
#: Fetched symbols per worker task.
SHIP_BATCH = 16


#: How often a scan waiting for results checks for a cancel (seconds).
POLL_SECONDS = 0.05
_ITEM, _ERROR, _END, _FAILED = "item", "error", "end", "failed"
#: Result pumps of cancelled scans still closing their workers.
_LINGERING: list[threading.Thread] = []

# Closing a joblib result generator is how a scan cancels its workers; joblib then
# warns (from its own clean-up thread) that queued tasks were dropped. That is the
# intended outcome here, so those two messages, and only they, are silenced.
warnings.filterwarnings(
    "ignore",
    message=r".*(tasks have been successfully executed|tasks which were still being processed)",
    category=UserWarning,
    module="joblib",
)
warnings.filterwarnings(
    "ignore",
    message=r"A generator produced by joblib\.Parallel has been gc'ed in an unexpected thread",
    category=UserWarning,
    module="joblib",
)


def _close_quietly(outputs: Iterator[Any]) -> None:
    close = getattr(outputs, "close", None)
    if close is not None:
        with warnings.catch_warnings():  # joblib warns that in-flight tasks were dropped
            warnings.simplefilter("ignore")
            close()


def _join_lingering(timeout: float = 60.0) -> None:
    """Wait for the workers of earlier cancelled scans to stop (before a new scan starts)."""
    deadline = time.monotonic() + timeout
    while _LINGERING:
        thread = _LINGERING.pop()
        thread.join(max(0.0, deadline - time.monotonic()))


def resolve_window(source: DataSource, as_of: dt.date | None, lookback_days: int) -> DateWindow:
    """The date window of a scan, resolved once per scan.

    The end is ``as_of``, or for network sources today's date (so a scan run
    tomorrow asks for tomorrow's bars), or None for offline sources ("their
    latest bar").  When the end is known the start is far enough back to hold
    ``lookback_days`` trading bars (365.25/252 calendar days per bar plus 30 days
    for holidays).
    """
    end = source.resolve_end(as_of)
    if end is None:
        return DateWindow(None, None)
    span = math.ceil(lookback_days * 365.25 / 252) + 30
    return DateWindow(end - dt.timedelta(days=span), end)


def symbols_per_task(n_symbols: int, n_workers: int) -> int:
    """Symbols per worker task for a local source: up to :data:`LOCAL_BATCH`, and
    at least :data:`TASKS_PER_WORKER` tasks per worker when there are enough symbols."""
    return max(1, min(LOCAL_BATCH, n_symbols // (TASKS_PER_WORKER * max(1, n_workers))))


def _effective_jobs(n_jobs: int) -> int:
    cores = os.cpu_count() or 1
    return max(1, cores + 1 + n_jobs) if n_jobs < 0 else n_jobs


class _ScanRun:
    """The state of one scan (not reusable)."""

    def __init__(
        self,
        config: ScanConfig,
        token: ScanCancellation,
        tracker: MultiStageProgressTracker,
        row_listener: RowListener | None = None,
    ) -> None:
        self.config = config
        self.token = token
        self.row_listener = row_listener
        self.tracker = tracker
        self.started = time.monotonic()
        self.rows: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, dict[str, Any]] = {}
        self.warnings: list[str] = []
        self.from_cache = 0
        self.computed = 0
        self.total = 0
        self.fatal: ScanError | None = None
        self.source: DataSource | None = None
        self.owns_source = False
        self.universe = pd.DataFrame(columns=["symbol", "name", "sector"])
        self.checkpoint = Checkpoint(config.resolved_cache_dir) if config.use_cache else None
        self.window = DateWindow()
        self.job: SymbolJob | None = None
        self.keys: dict[str, str] = {}
        self.retry_before: dict[str, float] = {}
        self.cluster_stats: dict[str, Any] = {}

    # -- the whole scan ------------------------------------------------------
    def execute(self) -> ScanResult:
        try:
            cancelled = False
            try:
                self._load_universe()
                self._scan_symbols()
            except ScanCancelled:
                cancelled = True
            except KeyboardInterrupt:
                self.token.cancel("interrupted")
                cancelled = True
            except BaseException:
                self.tracker.stop("failed")
                raise
            if self.fatal is not None:
                self.tracker.stop("failed")
                raise self.fatal
            if cancelled or self.token.is_cancelled():
                self.tracker.stop("cancelled")
                return self._finish(cancelled=True)
            return self._finish(cancelled=False)
        finally:
            if self.source is not None and self.owns_source:
                self.source.close()

    def _prepare_source(self, source: DataSource) -> DataSource:
        """Apply the config's retry limits (on a copy: the caller's source is not changed)."""
        self.owns_source = not isinstance(self.config.source, DataSource)
        base = getattr(source, "retry", None)
        if isinstance(base, RetryPolicy):
            policy = self.config.retry_policy(base)
            if policy != base:
                source = copy.copy(source)
                source.retry = policy  # type: ignore[attr-defined]
                self.owns_source = True
        return source

    # -- stage 1 -------------------------------------------------------------
    def _load_universe(self) -> None:
        tracker = self.tracker
        tracker.start_stage("universe_loading", 3, "resolving the data source")
        self.source = self._prepare_source(resolve_source(self.config.source))
        tracker.advance("universe_loading", message=f"reading the universe from {self.source!r}")
        frame, bad = load_universe(self.config, self.source)
        for exc in bad:
            symbol = exc.details.get("symbol", "?")
            self.errors[str(symbol)] = exc.to_dict()
        self.universe = frame
        self.total = len(frame)
        tracker.advance("universe_loading", message=f"{self.total} symbols")
        self.window = resolve_window(self.source, self.config.as_of, self.config.lookback_days)
        self.job = SymbolJob(
            window=self.window,
            lookback=self.config.lookback_days,
            indicators=self.config.indicators,
            checkpoint=self.checkpoint,
            source_identity=self.source.identity,
        )
        self.keys = {s: self.source.fingerprint(s, self.window) for s in frame["symbol"]}
        stats = getattr(self.source, "retry_stats", None)
        self.retry_before = stats.snapshot() if stats is not None else {}
        tracker.finish_stage("universe_loading", f"{self.total} symbols to scan")
        self.token.check_and_raise()

    # -- stages 2 and 3 ------------------------------------------------------
    def _scan_symbols(self) -> None:
        tracker = self.tracker
        symbols = list(self.universe["symbol"])
        tracker.start_stage("data_fetching", len(symbols), "checking the cache")
        tracker.start_stage("symbol_scanning", len(symbols), "checking the cache")
        todo = self._resume(symbols)
        if todo:
            assert self.source is not None
            if self.source.fetch_in_worker:
                self._run_local(todo)
            else:
                self._run_fetched(todo)
        tracker.finish_stage("data_fetching")
        tracker.finish_stage("symbol_scanning")

    def _resume(self, symbols: list[str]) -> list[str]:
        """Take every checkpointed symbol from the cache; return the rest."""
        if self.checkpoint is None:
            return symbols
        assert self.job is not None
        load = self.checkpoint.load_features(
            self.job.features_partition, (self.keys[s] for s in symbols)
        )
        for name in load.unreadable:
            self.warnings.append(
                f"the checkpoint file {name} was unreadable (corrupted or truncated); "
                "its symbols were recomputed"
            )
        todo: list[str] = []
        for i, symbol in enumerate(symbols):
            if i % 256 == 0:
                self.token.check_and_raise()
            outcome = load.found.get(self.keys[symbol])
            if outcome is None:
                todo.append(symbol)
            else:
                self._accept(outcome, from_cache=True, fetched=True)
        return todo

    def _consume(self, outputs: Iterator[Any], fetched: bool) -> None:
        """Take results as they finish, returning promptly on cancel.

        A pump thread drains the joblib generator into a queue, so a cancel is
        seen within :data:`POLL_SECONDS` even while no result arrives (workers
        still starting, a long batch).  On cancel the scan returns at once; the
        pump closes the generator (on loky that stops the workers) in the
        background, and the next scan waits for it first (:func:`_join_lingering`).
        """
        if self.config.backend == "dask":
            # the Dask backend cancels its cluster tasks when the generator is closed by
            # the thread that started it, so consume it here (results arrive steadily)
            self._consume_directly(outputs, fetched)
            return
        items: queue.SimpleQueue = queue.SimpleQueue()
        stop = threading.Event()

        def pump() -> None:
            try:
                for output in outputs:
                    items.put((_ITEM, output))
                    if stop.is_set():
                        break
            except BaseException as exc:  # surfaced in the scanning thread
                items.put((_ERROR, exc))
            finally:
                _close_quietly(outputs)
                items.put((_END, None))

        thread = threading.Thread(target=pump, name="technic_nb-results", daemon=True)
        thread.start()
        try:
            while True:
                try:
                    kind, value = items.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    self.token.check_and_raise()
                    continue
                if kind is _END:
                    return
                if kind is _ERROR:
                    raise value
                for outcome in value:
                    self._accept(outcome, from_cache=False, fetched=fetched)
                self.token.check_and_raise()
        finally:
            stop.set()
            if thread.is_alive():
                _LINGERING.append(thread)

    def _consume_directly(self, outputs: Iterator[Any], fetched: bool) -> None:
        """Take results in this thread; a cancel is seen when the next result arrives."""
        try:
            for output in outputs:
                for outcome in output:
                    self._accept(outcome, from_cache=False, fetched=fetched)
                self.token.check_and_raise()
        finally:
            _close_quietly(outputs)

    @contextlib.contextmanager
    def _workers(self) -> Iterator[tuple[str | None, SymbolJob, int]]:
        """``(joblib backend, job to ship, worker count)`` for the Parallel calls inside.

        With ``backend="dask"`` those calls run on the Dask cluster: the backend is
        None (the active one, set by :class:`~technic_nb._dask.DaskScan`, entered
        here because joblib's backend config is per thread).
        """
        assert self.job is not None
        if self.config.backend != "dask":
            yield self.config.backend, self.job, _effective_jobs(self.config.n_jobs)
            return
        from ._dask import DaskScan

        cluster = DaskScan(self.config.dask_client, self.job, self.tracker)
        try:
            with cluster:
                yield None, cluster.job, cluster.n_workers
        finally:
            self.warnings.extend(cluster.warnings)
            self.cluster_stats.update(cluster.stats)

    def _run_local(self, todo: list[str]) -> None:
        """Sources read inside the workers: one streamed Parallel over small batches."""
        assert self.job is not None and self.source is not None
        with self._workers() as (backend, job, n_workers):
            per_task = symbols_per_task(len(todo), n_workers)
            batches = [
                [(s, self.keys[s]) for s in todo[i : i + per_task]]
                for i in range(0, len(todo), per_task)
            ]
            self.tracker.advance("symbol_scanning", 0, f"computing {len(todo)} symbols")
            parallel = Parallel(
                n_jobs=self.config.n_jobs,
                backend=backend,
                return_as="generator_unordered",
                batch_size=1,
                pre_dispatch="2*n_jobs",
            )
            outputs = parallel(delayed(run_symbols)(batch, job, self.source) for batch in batches)
            self._consume(outputs, fetched=True)

    def _run_fetched(self, todo: list[str]) -> None:
        """Network and in-memory sources: fetch in I/O threads, compute in workers, overlapped.

        A producer thread keeps ``fetch_concurrency`` requests going and hands
        the fetched payloads over in chunks; this thread runs each chunk through
        the workers (which decode, compute and checkpoint it) while the next
        chunks are being fetched.  At most :data:`FETCH_AHEAD` chunks are
        fetched ahead of the workers, so memory stays bounded by the work in
        flight.
        """
        assert self.job is not None and self.source is not None
        source, job, token = self.source, self.job, self.token
        checkpoint = self.checkpoint
        cache_bars = checkpoint is not None and source.cache_bars
        concurrency = self.config.fetch_concurrency
        # symbols fetched or being fetched but not yet computed: bounds the memory held
        budget = threading.BoundedSemaphore(max(FETCH_AHEAD * REMOTE_CHUNK, 4 * concurrency))
        handoff: queue.SimpleQueue = queue.SimpleQueue()
        stop = threading.Event()

        def fetch(symbol: str) -> Shipped:
            token.check_and_raise()
            key = self.keys[symbol]
            if cache_bars:
                assert checkpoint is not None
                try:
                    bars = checkpoint.load_bars(job.bars_partition, key)
                    return Shipped(symbol, key, bars, decoded=True)
                except NotCached:
                    pass
            payload = source.fetch_payload(symbol, self.window, cancellation=token)
            return Shipped(symbol, key, payload, store=cache_bars)

        def produce() -> None:
            pool = cf.ThreadPoolExecutor(concurrency, thread_name_prefix="technic_nb-fetch")
            pending = deque(todo)
            in_flight: dict[cf.Future, str] = {}
            ready: list[Shipped] = []
            try:
                while (pending or in_flight) and not stop.is_set() and not token.is_cancelled():
                    while pending:
                        # with nothing in flight, wait for the workers to free some budget
                        if in_flight:
                            taken = budget.acquire(blocking=False)
                        else:
                            taken = budget.acquire(timeout=POLL_SECONDS)
                        if not taken:
                            break
                        symbol = pending.popleft()
                        in_flight[pool.submit(fetch, symbol)] = symbol
                    done: set[cf.Future] = set()
                    if in_flight:
                        done, _ = cf.wait(in_flight, POLL_SECONDS, return_when=cf.FIRST_COMPLETED)
                    failures: list[tuple[str, BaseException]] = []
                    for future in done:
                        symbol = in_flight.pop(future)
                        try:
                            ready.append(future.result())
                        except ScanCancelled:
                            continue
                        except BaseException as exc:
                            failures.append((symbol, exc))
                            budget.release()  # a failure holds no data
                            continue
                        self.tracker.advance("data_fetching", message=symbol)
                    if failures:
                        handoff.put((_FAILED, failures))
                    # a full chunk; a task's worth once every symbol is asked for (the
                    # workers then finish with the network); what is ready while the
                    # network is slow or done
                    size = SHIP_BATCH if not pending else REMOTE_CHUNK
                    while ready and (len(ready) >= size or not done or not in_flight):
                        handoff.put((_ITEM, ready[:size]))
                        ready = ready[size:]
            except BaseException as exc:  # surfaced in the scanning thread
                handoff.put((_ERROR, exc))
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
                handoff.put((_END, None))

        producer = threading.Thread(target=produce, name="technic_nb-fetcher", daemon=True)
        producer.start()
        try:
            with (
                self._workers() as (backend, worker_job, _),
                Parallel(
                    n_jobs=self.config.n_jobs,
                    backend=backend,
                    return_as="generator_unordered",
                    batch_size=1,
                    pre_dispatch="2*n_jobs",
                ) as parallel,
            ):
                while True:
                    try:
                        kind, value = handoff.get(timeout=POLL_SECONDS)
                    except queue.Empty:
                        token.check_and_raise()
                        continue
                    if kind is _END:
                        token.check_and_raise()  # the fetches stopped because of a cancel
                        break
                    if kind is _ERROR:
                        raise value
                    if kind is _FAILED:
                        self._fetch_failed(value)
                    else:
                        tasks = (
                            delayed(run_shipped)((value[i : i + SHIP_BATCH],), worker_job)
                            for i in range(0, len(value), SHIP_BATCH)
                        )
                        self._consume(parallel(tasks), fetched=False)
                        for _ in value:
                            budget.release()
                    token.check_and_raise()
        finally:
            stop.set()
            producer.join(timeout=5.0)

    def _fetch_failed(self, failures: list[tuple[str, BaseException]]) -> None:
        """Record fetches that failed; permanent failures are checkpointed (one pack)."""
        permanent: dict[str, dict[str, Any]] = {}
        try:
            for symbol, exc in failures:
                if isinstance(exc, ScanError):
                    if exc.fatal:
                        self.fatal = exc
                        self.token.cancel("failed")
                        raise ScanCancelled("failed")
                    error = exc
                    if not exc.recoverable:  # 404, unknown symbol, bad bars: do not refetch
                        permanent[self.keys[symbol]] = {"symbol": symbol, "error": exc.to_dict()}
                else:  # unexpected: a bug, keep going
                    error = ScanError(
                        ErrorType.SYSTEM_ERROR,
                        f"{symbol}: unexpected {type(exc).__name__} while fetching: {exc}",
                        details={"symbol": symbol},
                        suggestion="Please report this with the symbol and the source.",
                        affected_symbols=(symbol,),
                    )
                outcome = {"symbol": symbol, "error": error.to_dict()}
                self._accept(outcome, from_cache=False, fetched=True, scanned=True)
        finally:
            if permanent and self.checkpoint is not None and self.job is not None:
                self.checkpoint.store_features(self.job.features_partition, permanent)

    # -- bookkeeping ---------------------------------------------------------
    def _accept(
        self, outcome: dict[str, Any], from_cache: bool, fetched: bool, scanned: bool = True
    ) -> None:
        symbol = outcome["symbol"]
        error = outcome.get("error")
        if error is not None:
            if error.get("fatal"):
                self.fatal = ScanError.from_dict(error)
                self.token.cancel("failed")
                raise ScanCancelled("failed")
            self.errors[symbol] = error
            self.tracker.count("failed")
        else:
            self.rows[symbol] = outcome["features"]
            if self.row_listener is not None:
                try:
                    self.row_listener(symbol, outcome["features"])
                except Exception:  # a front end's hook never breaks the scan
                    logger.debug("row listener raised", exc_info=True)
        if from_cache:
            self.from_cache += 1
            self.tracker.count("from_cache")
        else:
            self.computed += 1
        metadata = {"symbol": symbol, "from_cache": from_cache, "ok": error is None}
        if fetched:
            self.tracker.advance("data_fetching", message=symbol, **metadata)
        if scanned:
            self.tracker.advance("symbol_scanning", message=symbol, **metadata)

    # -- stage 4 -------------------------------------------------------------
    def _finish(self, cancelled: bool) -> ScanResult:
        tracker = self.tracker
        config = self.config
        if not cancelled:
            tracker.start_stage("finalization", 3, "scoring")
        features = pd.DataFrame.from_dict(self.rows, orient="index")
        features.index.name = "symbol"
        meta = self.universe.set_index("symbol")[["name", "sector"]]
        kept, rejected = apply_filters(
            features,
            min_price=config.min_price,
            min_dollar_volume=config.min_dollar_volume,
            min_bars=config.min_bars,
        )
        table = score_table(kept, config.scoring)
        table = table.join(meta, how="left")
        if not cancelled:
            tracker.advance("finalization", message="ranking")
        table["rank"] = table["rank"].astype("Int64")  # NaN-rated rows have no rank
        table = _order_columns(table)
        if config.top_n is not None:
            table = table.head(config.top_n)
        regime = None if cancelled else self._regime()
        if not cancelled:
            tracker.advance("finalization", message="regime")
        errors = _error_table(self.errors)
        filtered = (rejected.join(meta, how="left") if len(rejected) else rejected).sort_index()
        stats = self._stats(len(table), len(errors), len(rejected))
        status = self._status(cancelled, table, stats, regime)
        if not cancelled:
            tracker.finish_stage("finalization", status)
        return ScanResult(
            table=table,
            errors=errors,
            status=status,
            stats=stats,
            cancelled=cancelled,
            filtered=filtered,
            regime=regime,
            warnings=list(self.warnings),
            config=config,
        )

    def _regime(self):
        source = self.source
        if source is None or self.config.benchmark is None:
            return None
        symbol = (
            source.benchmark_symbol() if self.config.benchmark == "auto" else self.config.benchmark
        )
        if not symbol:
            return None
        try:
            assert self.job is not None
            bars = self._benchmark_bars(source, symbol)
            return market_regime(trim_bars(bars, self.job)["close"])
        except ScanError as exc:
            self.warnings.append(f"market regime unavailable: {exc}")
            return None

    def _benchmark_bars(self, source: DataSource, symbol: str) -> pd.DataFrame:
        """The regime benchmark's bars, through the bars cache for network sources."""
        assert self.job is not None
        checkpoint = self.checkpoint if source.cache_bars else None
        key = source.fingerprint(symbol, self.window)
        if checkpoint is not None:
            with contextlib.suppress(NotCached):
                return checkpoint.load_bars(self.job.bars_partition, key)
        bars = source.fetch(symbol, self.window, cancellation=self.token)
        if checkpoint is not None:
            checkpoint.store_bars(self.job.bars_partition, {key: bars})
        return bars

    def _stats(self, ranked: int, n_errors: int, n_filtered: int) -> dict[str, Any]:
        snap = self.tracker.snapshot()
        stats: dict[str, Any] = {
            "symbols": self.total,
            "done": self.from_cache + self.computed,
            "from_cache": self.from_cache,
            "computed": self.computed,
            "ranked": ranked,
            "failed": n_errors,
            "filtered": n_filtered,
            "elapsed": time.monotonic() - self.started,
            "stage_seconds": {s.name: round(s.elapsed, 6) for s in snap.stages},
            "window": self.window.key(),
        }
        stats.update(self.cluster_stats)
        retry = getattr(self.source, "retry_stats", None)
        if retry is not None:
            now = retry.snapshot()
            for name, value in now.items():
                stats[f"fetch_{name}"] = value - self.retry_before.get(name, 0)
        return stats

    def _status(self, cancelled: bool, table: pd.DataFrame, stats: dict[str, Any], regime) -> str:
        done, total = stats["done"], stats["symbols"]
        if cancelled:
            return (
                f"Cancelled after {done} of {total} symbols - run again to resume "
                f"({stats['ranked']} ranked so far, {stats['failed']} errors)"
            )
        as_of = ""
        if len(table) and "last_date" in table.columns:
            as_of = f" | as of {table['last_date'].max()}"
        label = f" | regime {regime.label}" if regime is not None else ""
        return (
            f"Scanned {total} symbols in {stats['elapsed']:.1f}s: {stats['ranked']} ranked, "
            f"{stats['filtered']} filtered, {stats['failed']} errors, "
            f"{stats['from_cache']} from cache{as_of}{label}"
        )


def _order_columns(table: pd.DataFrame) -> pd.DataFrame:
    leading = [c for c in LEADING_COLUMNS if c in table.columns]
    return table[leading + [c for c in table.columns if c not in leading]]


def _error_table(errors: dict[str, dict[str, Any]]) -> pd.DataFrame:
    records = [
        {
            "symbol": symbol,
            "error_type": e["error_type"],
            "message": e["message"],
            "suggestion": e.get("suggestion", ""),
            "recoverable": bool(e.get("recoverable", False)),
            "details": e.get("details", {}),
        }
        for symbol, e in sorted(errors.items())
    ]
    return pd.DataFrame.from_records(records, columns=list(ERROR_COLUMNS))


def scan(
    config: ScanConfig | None = None,
    progress_cb: ProgressCallback | None = None,
    cancellation_token: ScanCancellation | None = None,
    *,
    tracker: MultiStageProgressTracker | None = None,
    row_listener: RowListener | None = None,
) -> ScanResult:
    """Run a scan and return the full :class:`~technic_nb.ScanResult`.

    Args:
        config: the scan configuration (default: ``ScanConfig()``, the demo market).
        progress_cb: ``cb(stage, current, total, message, metadata)`` or the legacy
            ``cb(stage, current, total)``; called from the scanning thread.
        cancellation_token: a :class:`~technic_nb.ScanCancellation`; cancelling it
            returns the partial result promptly.
        tracker: a progress tracker to drive instead of a new one (front ends).
        row_listener: ``fn(symbol, features)`` called with the feature dict of
            every symbol finished without error (from the cache or computed),
            from the scanning thread; front ends use it to rank the rows so far.
            The dict is the engine's own: do not change it.  Exceptions it
            raises are logged and ignored.

    Raises:
        ScanError: for an invalid configuration, an unusable cache folder, or a
            scan-wide failure such as a rejected API key.  Per-symbol failures
            never raise; they are in ``result.errors``.
    """
    config = config if config is not None else ScanConfig()
    if not isinstance(config, ScanConfig):
        raise TypeError(f"config must be a ScanConfig, got {type(config).__name__}")
    token = cancellation_token if cancellation_token is not None else ScanCancellation()
    if tracker is None:
        tracker = MultiStageProgressTracker(callback=progress_cb)
    elif progress_cb is not None:
        tracker.add_listener(progress_cb)
    _join_lingering()
    return _ScanRun(config, token, tracker, row_listener).execute()


def run_scan(
    config: ScanConfig | None = None,
    progress_cb: ProgressCallback | None = None,
    cancellation_token: ScanCancellation | None = None,
) -> tuple[pd.DataFrame, str]:
    """Run a scan; return ``(ranked_table, status_text)``, always exactly two values.

    The table's ``attrs`` also carry ``errors`` (a list of error dicts),
    ``stats`` and ``cancelled``; use :func:`scan` for the full
    :class:`~technic_nb.ScanResult`.
    """
    result = scan(config, progress_cb, cancellation_token)
    table = result.table
    table.attrs["errors"] = result.errors.to_dict("records")
    table.attrs["stats"] = result.stats
    table.attrs["cancelled"] = result.cancelled
    return table, result.status


def clear_scan_cache(config: ScanConfig | None = None, *, everything: bool = False) -> int:
    """Remove checkpoint entries.

    With ``everything=True`` the whole cache folder of ``config`` is removed.
    Otherwise only the entries this config's scan would read (its symbols,
    window and parameters) are removed.  Returns how many entries were removed
    (``-1`` when the whole folder was removed).
    """
    from ._checkpoint import clear_cache

    config = config if config is not None else ScanConfig()
    if everything:
        clear_cache(config.resolved_cache_dir)
        return -1
    source = resolve_source(config.source)
    frame, _ = load_universe(config, source)
    window = resolve_window(source, config.as_of, config.lookback_days)
    job = SymbolJob(window, config.lookback_days, config.indicators, None, source.identity)
    keys = [source.fingerprint(s, window) for s in frame["symbol"]]
    checkpoint = Checkpoint(config.resolved_cache_dir)
    removed = checkpoint.forget("features", job.features_partition, keys)
    return removed + checkpoint.forget("bars", job.bars_partition, keys)
