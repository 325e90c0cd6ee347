"""How a scan's symbols get computed: joblib workers, fed by the source's kind.

Two executors share one small interface (``run(symbols, emit)`` and
``close()``; each owns its threads):

* :class:`LocalExecutor`, for sources read inside the workers (files, the demo
  market): one streamed ``joblib.Parallel`` over small batches of symbols.
* :class:`FetchExecutor`, for network and in-memory sources: an I/O thread pool
  in this process fetches (with retries), writes each symbol's bars to the
  cache the moment its last page arrives, and hands the bars to the workers in
  chunks while the next fetches run.

Both compute through a :class:`ComputePool`: ``joblib.Parallel`` with
``return_as="generator_unordered"`` on loky (processes, the default: TA-Lib
holds the GIL), threads, or a Dask cluster (:mod:`technic_nb.engine.dask`).

Cancelling is cooperative: the pool stops feeding tasks, and every running task
sees the scan's :class:`~technic_nb.core.cancel.CancelFlag` between two symbols and
returns what it finished, so ``Parallel`` ends normally.  Nothing is shut down:
on loky the worker processes are shared by every ``Parallel`` in the process
(other scans included) and stay warm for the next scan.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from joblib import Parallel, delayed

from technic_nb.core.cancel import ScanCancellation, ScanCancelled
from technic_nb.core.errors import ScanError, unexpected_error
from technic_nb.engine.hooks import ScanHooks
from technic_nb.engine.orphans import watched
from technic_nb.engine.outcomes import TaskResult
from technic_nb.engine.plan import ScanPlan
from technic_nb.engine.work import Shipped, SymbolJob, peek_outcomes, run_local, run_shipped
from technic_nb.sources.base import BarsPayload

__all__ = [
    "CANCEL_GRACE",
    "ComputePool",
    "FetchExecutor",
    "LocalExecutor",
    "effective_jobs",
    "join_fetches",
    "symbols_per_task",
]

logger = logging.getLogger("technic_nb.engine")

#: Most symbols per worker task for local sources: small enough that results stream
#: (progress and cancel stay responsive), large enough to amortize dispatch.
LOCAL_BATCH = 32
#: Tasks per worker a local scan is split into at least (when it has the symbols).
TASKS_PER_WORKER = 16
#: Fetched symbols handed to the workers at a time.
REMOTE_CHUNK = 64
#: Chunks fetched ahead of the workers at most (bounds the memory of fetched bars).
FETCH_AHEAD = 4
#: Fetched symbols per worker task.
SHIP_BATCH = 16
#: How often a scan waiting for results checks for a cancel (seconds).
POLL_SECONDS = 0.05
#: Seconds a cancelled scan waits for the tasks and fetches in flight to hand back
#: what they finished, before it returns without them (they finish in the background).
CANCEL_GRACE = 0.3

#: Takes one symbol's outcome (a ``SymbolOutcome`` for a scan).
Emit = Callable[[Any], None]


# -- the messages between the threads of a scan ------------------------------------------


@dataclass(frozen=True, slots=True)
class _TaskDone:
    """A worker task handed back its results (pool thread -> scanning thread)."""

    result: TaskResult


@dataclass(frozen=True, slots=True)
class _Fetched:
    """Symbols whose bars are in hand, on their way to the workers (producer -> scanning)."""

    items: list[Shipped]


@dataclass(frozen=True, slots=True)
class _Settled:
    """A symbol settled without the workers: its fetch failed (producer -> scanning)."""

    outcome: Any


@dataclass(frozen=True, slots=True)
class _Raised:
    """What stopped the thread that sends it, raised again in the scanning thread."""

    error: BaseException


@dataclass(frozen=True, slots=True)
class _Ended:
    """The thread that sends it has nothing more."""


_PoolMessage = _TaskDone | _Raised | _Ended
_Handoff = _Fetched | _Settled | _Raised | _Ended


def effective_jobs(n_jobs: int) -> int:
    """joblib's worker count for ``n_jobs`` (negative counts from the number of cores)."""
    cores = os.cpu_count() or 1
    return max(1, cores + 1 + n_jobs) if n_jobs < 0 else n_jobs


def symbols_per_task(n_symbols: int, n_workers: int) -> int:
    """Symbols per worker task for a local source: up to :data:`LOCAL_BATCH`, and
    at least :data:`TASKS_PER_WORKER` tasks per worker when there are enough symbols."""
    return max(1, min(LOCAL_BATCH, n_symbols // (TASKS_PER_WORKER * max(1, n_workers))))


@dataclass(frozen=True)
class ComputePool:
    """joblib workers for one scan: tasks in, :class:`TaskResult` s out as they finish.

    Attributes:
        backend: a joblib backend name, or a backend instance (Dask).
        n_jobs: workers (joblib's meaning).
        n_workers: the effective worker count (sizes the tasks).
        token: the scan's cancellation token.
        on_cancel: called once when a cancel is seen (the Dask pool cancels its
            queued tasks on the scheduler there).
    """

    backend: Any
    n_jobs: int
    n_workers: int
    token: ScanCancellation
    on_cancel: Callable[[], Any] | None = None

    def run(self, tasks: Iterable[Any], on_result: Callable[[TaskResult], None]) -> None:
        """Run ``tasks`` (``delayed`` calls); call ``on_result`` in this thread as each ends.

        Raises:
            ScanCancelled: when the scan was cancelled (after the results that
                arrived within :data:`CANCEL_GRACE` were handed over).
        """
        token = self.token
        results: queue.SimpleQueue[_PoolMessage] = queue.SimpleQueue()
        # On loky each task first sets up its worker (technic_nb.engine.orphans): it exits
        # with this process and ignores SIGINT.  Done per task rather than as the pool's
        # initializer, which would give loky's shared pool arguments of its own and
        # restart it whenever another Parallel in the process runs without them.
        setup = watched if self.backend == "loky" else None

        def feed() -> Iterator[Any]:
            for task in tasks:
                if token.is_cancelled():
                    return  # stop feeding: Parallel ends once the tasks in flight are back
                yield setup(task) if setup is not None else task

        def pump() -> None:
            try:
                parallel = Parallel(
                    n_jobs=self.n_jobs,
                    backend=self.backend,
                    return_as="generator_unordered",
                    batch_size=1,
                    pre_dispatch="2*n_jobs",
                )
                for result in parallel(feed()):
                    results.put(_TaskDone(result))
            except BaseException as exc:  # surfaced in the scanning thread
                results.put(_Raised(exc))
            finally:
                results.put(_Ended())

        threading.Thread(target=pump, name="technic_nb-results", daemon=True).start()
        self._receive(results, on_result)

    def _receive(
        self, results: queue.SimpleQueue[_PoolMessage], on_result: Callable[[TaskResult], None]
    ) -> None:
        token = self.token
        deadline: float | None = None
        while True:
            if deadline is None and token.is_cancelled():
                deadline = time.monotonic() + CANCEL_GRACE
                if self.on_cancel is not None:
                    self.on_cancel()
            if deadline is not None and time.monotonic() > deadline:
                break  # the tasks still running finish in the background
            try:
                message = results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            except KeyboardInterrupt:  # Kernel > Interrupt in a blocking run
                token.cancel("interrupted")
                continue
            if isinstance(message, _Ended):
                break
            if isinstance(message, _Raised):
                if token.is_cancelled():
                    logger.debug("a task failed after the cancel", exc_info=message.error)
                    continue
                raise message.error
            on_result(message.result)
        token.check_and_raise()


class LocalExecutor:
    """Sources read in the workers: each task reads, computes and checkpoints its symbols."""

    def __init__(self, plan: ScanPlan, pool: ComputePool, job: SymbolJob, hooks: ScanHooks):
        self.plan = plan
        self.pool = pool
        self.job = job
        self.hooks = hooks

    def run(self, symbols: list[str], emit: Emit) -> None:
        """Compute ``symbols``; ``emit`` each outcome (both stages advance together)."""
        per_task = symbols_per_task(len(symbols), self.pool.n_workers)
        batches = [symbols[i : i + per_task] for i in range(0, len(symbols), per_task)]
        tasks = (delayed(run_local)(batch, self.job, self.plan.source) for batch in batches)

        def on_result(result: TaskResult) -> None:
            for outcome in result.outcomes:
                self.hooks.stage_advanced("data_fetching", 1, outcome.symbol)
                emit(outcome)

        self.pool.run(tasks, on_result)

    def close(self) -> None:
        """Nothing to release: the pool's tasks stop at the cancel flag."""


#: Fetch thread pools of cancelled scans whose requests were still in flight, by
#: checkpoints' key: a new scan on that cache waits for them (their bars are being
#: written), so nothing already asked for is asked for again.
_IN_FLIGHT: dict[str, list[threading.Thread]] = {}
_IN_FLIGHT_LOCK = threading.Lock()


def join_fetches(key: str | None, timeout: float = 60.0) -> None:
    """Wait for the fetches a cancelled scan left running on the cache whose
    :attr:`~technic_nb.engine.cache.location.Checkpoints.key` is ``key``."""
    if key is None:
        return
    with _IN_FLIGHT_LOCK:
        threads = _IN_FLIGHT.pop(key, [])
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


class FetchExecutor:
    """Network and in-memory sources: fetch in I/O threads here, compute in the workers.

    Before fetching, the workers read back every symbol already checkpointed
    (one pass over the features cache, skipped when that cache is empty).  Then a
    producer thread keeps ``fetch_concurrency`` fetches going; a fetched symbol's
    bars are written to the bars cache by the thread that fetched them, then
    handed to this thread in chunks, which it runs through the workers while the
    next fetches run.
    At most :data:`FETCH_AHEAD` chunks are fetched ahead of the workers.
    """

    def __init__(self, plan: ScanPlan, pool: ComputePool, job: SymbolJob, hooks: ScanHooks):
        self.plan = plan
        self.pool = pool
        self.job = job
        self.hooks = hooks
        self.token = pool.token
        self.warnings: list[str] = []
        concurrency = plan.config.fetch_concurrency
        self._budget = threading.BoundedSemaphore(max(FETCH_AHEAD * REMOTE_CHUNK, 4 * concurrency))
        self._handoff: queue.SimpleQueue[_Handoff] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._fetches = cf.ThreadPoolExecutor(concurrency, thread_name_prefix="technic_nb-fetch")
        self._producer: threading.Thread | None = None

    # -- the scanning thread ----------------------------------------------------------
    def run(self, symbols: list[str], emit: Emit) -> None:
        """Fetch and compute ``symbols``; ``emit`` each outcome."""
        keys = {s: self.plan.source.fingerprint(s, self.plan.window) for s in symbols}
        resumable = self.job.work.may_have_outcomes(self.job)
        todo = self._resume(symbols, keys, emit) if resumable else symbols
        if not todo:
            return
        self._producer = threading.Thread(
            target=self._produce, args=(todo, keys), name="technic_nb-fetcher", daemon=True
        )
        self._producer.start()
        try:
            self._receive(emit)
        except ScanCancelled:
            self._raise_failure()  # the error that stopped the fetching, if that was it
            raise

    def _raise_failure(self) -> None:
        """Raise the producer's error if it queued one (it does so before cancelling)."""
        while True:
            try:
                message = self._handoff.get_nowait()
            except queue.Empty:
                return
            if isinstance(message, _Raised):
                raise message.error

    def _receive(self, emit: Emit) -> None:
        while True:
            try:
                message = self._handoff.get(timeout=POLL_SECONDS)
            except queue.Empty:
                self.token.check_and_raise()
                continue
            if isinstance(message, _Ended):
                self.token.check_and_raise()
                return
            if isinstance(message, _Raised):
                raise message.error
            if isinstance(message, _Settled):
                emit(message.outcome)
            else:
                self._compute(message.items, emit)
            self.token.check_and_raise()

    def _resume(self, symbols: list[str], keys: dict[str, str], emit: Emit) -> list[str]:
        """Take every checkpointed symbol from the cache (read in the workers)."""
        per_task = max(1, min(256, len(symbols) // max(1, 4 * self.pool.n_workers)))
        batches = [symbols[i : i + per_task] for i in range(0, len(symbols), per_task)]
        tasks = (
            delayed(peek_outcomes)([(s, keys[s]) for s in batch], self.job) for batch in batches
        )
        todo: list[str] = []

        def on_result(result: TaskResult) -> None:
            todo.extend(result.unfinished)
            self.warnings.extend(result.notes)
            for outcome in result.outcomes:
                self.hooks.stage_advanced("data_fetching", 1, outcome.symbol)
                emit(outcome)

        self.pool.run(tasks, on_result)
        order = {s: i for i, s in enumerate(symbols)}
        return sorted(todo, key=order.__getitem__)

    def _compute(self, items: list[Shipped], emit: Emit) -> None:
        tasks = (
            delayed(run_shipped)((items[i : i + SHIP_BATCH],), self.job)
            for i in range(0, len(items), SHIP_BATCH)
        )

        def on_result(result: TaskResult) -> None:
            for outcome in result.outcomes:
                emit(outcome)
                self._budget.release()
            for _ in result.unfinished:
                self._budget.release()

        self.pool.run(tasks, on_result)

    def close(self) -> None:
        """Stop fetching; wait up to :data:`CANCEL_GRACE` for the fetches in flight."""
        self._stop.set()
        self._fetches.shutdown(wait=False, cancel_futures=True)
        if self._producer is not None:
            self._producer.join(CANCEL_GRACE)
        closer = threading.Thread(target=self._fetches.shutdown, kwargs={"wait": True}, daemon=True)
        closer.start()
        closer.join(CANCEL_GRACE)
        checkpoints = self.plan.checkpoints
        if closer.is_alive() and checkpoints is not None:
            with _IN_FLIGHT_LOCK:
                _IN_FLIGHT.setdefault(checkpoints.key, []).append(closer)

    # -- the producer thread ----------------------------------------------------------
    def _produce(self, todo: list[str], keys: dict[str, str]) -> None:
        pending = deque(todo)
        in_flight: dict[cf.Future[Any], str] = {}
        ready: list[Shipped] = []
        try:
            while (pending or in_flight) and not self._stop.is_set():
                if self.token.is_cancelled():
                    break
                self._submit(pending, in_flight, keys)
                done: set[cf.Future[Any]] = set()
                if in_flight:
                    done, _ = cf.wait(in_flight, POLL_SECONDS, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    symbol = in_flight.pop(future)
                    item = self._collect(symbol, future)
                    if isinstance(item, Shipped):
                        ready.append(item)
                # a full chunk; a task's worth once every symbol is asked for; what is
                # ready while the network is slow or done
                size = SHIP_BATCH if not pending else REMOTE_CHUNK
                while ready and (len(ready) >= size or not done or not in_flight):
                    self._handoff.put(_Fetched(ready[:size]))
                    ready = ready[size:]
        except BaseException as exc:  # surfaced in the scanning thread
            self._handoff.put(_Raised(exc))  # before the cancel: whoever sees it finds this
            self.token.cancel("failed")
        finally:
            self._handoff.put(_Ended())

    def _submit(
        self, pending: deque[str], in_flight: dict[cf.Future[Any], str], keys: dict[str, str]
    ) -> None:
        while pending:
            # with nothing in flight, wait for the workers to free some budget
            timeout = None if in_flight else POLL_SECONDS
            if not self._budget.acquire(blocking=timeout is not None, timeout=timeout):
                return
            symbol = pending.popleft()
            try:
                future = self._fetches.submit(self._fetch, symbol, keys[symbol])
            except RuntimeError:  # shut down by a cancel meanwhile
                self._budget.release()
                return
            in_flight[future] = symbol

    def _collect(self, symbol: str, future: cf.Future[Any]) -> Shipped | None:
        """The fetch's result; outcomes (errors) go straight to the scanning thread."""
        try:
            item = future.result()
        except (ScanCancelled, cf.CancelledError):
            self._budget.release()
            return None
        except ScanError as exc:
            if exc.fatal:
                raise
            item = self.job.work.failed(symbol, exc)
        except Exception as exc:  # a bug: the symbol fails, the scan goes on
            item = self.job.work.failed(symbol, unexpected_error(symbol, exc, "while fetching"))
        self.hooks.stage_advanced("data_fetching", 1, symbol)
        if not isinstance(item, Shipped):
            self._budget.release()  # an outcome holds no bars
            self._handoff.put(_Settled(item))
            return None
        return item

    # -- the fetch threads ----------------------------------------------------------
    def _fetch(self, symbol: str, bars_key: str) -> Any:
        """One symbol's bars: from the bars cache, or fetched and cached at once.

        A permanent failure (404, unknown symbol, malformed bars) is stored as the
        symbol's features entry, so it is not fetched again; a recoverable one
        (retries exhausted) is returned and fetched again on the next run.
        """
        self.token.check_and_raise()
        source, job = self.plan.source, self.job
        warnings: list[str] = []

        def fetch() -> BarsPayload:
            return source.fetch_payload(symbol, self.plan.window, cancellation=self.token)

        try:
            if job.cache is not None and source.cache_bars:
                payload, _ = job.cache.bars.get(
                    job.bars_key(symbol), fetch, BarsPayload, warnings.append
                )
            else:
                payload = fetch()
        except ScanError as exc:
            if exc.fatal or exc.recoverable or isinstance(exc, ScanCancelled):
                raise
            return job.work.remember(symbol, bars_key, exc, job)
        return Shipped(symbol, bars_key, payload, self.plan.window, tuple(warnings))
