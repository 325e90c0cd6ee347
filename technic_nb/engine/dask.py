"""Running the CPU stage of a scan on a Dask cluster (``ScanConfig(backend="dask")``).

The engine streams the same joblib ``Parallel`` calls as with any backend;
:class:`DaskScan` (a context manager around the scan's compute stage) gives them
a joblib Dask backend instance, passed to ``Parallel`` explicitly (so it does
not depend on ``joblib.parallel_config``, which is thread-local).  On entering it:

1. connects: ``ScanConfig.dask_client`` is a scheduler address (a client is
   opened with a short timeout and closed afterwards), a ``distributed.Client``
   (used as is), or None (the current default client, ``distributed.get_client()``);
2. waits briefly for at least one worker;
3. checks that every worker can import ``technic_nb`` (and warns when a
   worker runs another version);
4. checks that the checkpoint folder is reachable from the workers: each worker
   writes a probe file there and this process reads it back.  When that fails
   the scan still runs and returns every result, but the workers do not
   checkpoint (nothing computed on the cluster is cached, so a cancelled or
   repeated scan computes those symbols again) and ``result.warnings`` says so;
5. records the dashboard link in ``result.stats["dask_dashboard"]`` (and in the
   ``dask_dashboard`` metadata of a ``symbol_scanning`` progress event, so a
   front end can show it while the scan runs).

Cancelling a scan stops feeding tasks as with any backend, and
:meth:`DaskScan.cancel_tasks` also cancels that scan's tasks on the scheduler
(tasks on workers elsewhere cannot see the scan's cancel flag file), so no task
of a cancelled scan stays queued or processing.  A worker that dies mid-scan is handled by
Dask: its tasks are rescheduled on the remaining workers and the scan goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any

from technic_nb._version import __version__
from technic_nb.compat.joblib_internals import cancelling_dask_backend
from technic_nb.core.errors import ErrorType, ScanError, config_error
from technic_nb.engine.work import SymbolJob

__all__ = [
    "CONNECT_TIMEOUT",
    "DaskScan",
    "connect",
    "is_client",
    "is_scheduler_address",
]

logger = logging.getLogger("technic_nb.dask")

#: Seconds to wait for a scheduler given by its address.
CONNECT_TIMEOUT = 2.0
#: Seconds to wait for at least one worker to join the cluster.
WORKER_WAIT = 10.0

_START_CLUSTER = (
    "Start a scheduler with `dask scheduler` (and workers with `dask worker ADDRESS`) "
    "or a LocalCluster in Python (`distributed.LocalCluster()`), then pass its address "
    "or a distributed.Client as dask_client=..."
)

_ADDRESS = re.compile(
    r"^(?:(?:tcp|tls)://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>\d{1,5})|inproc://\S+)$"
)

#: What ``ScanConfig.dask_client`` accepts (used in its config errors).
ALLOWED = (
    "None (the current default client), a scheduler address such as "
    "'tcp://127.0.0.1:8786' (tcp://host:port, tls://host:port or inproc://...), "
    "or a distributed.Client"
)


def is_scheduler_address(value: Any) -> bool:
    """True for a string that looks like a Dask scheduler address."""
    if not isinstance(value, str):
        return False
    match = _ADDRESS.match(value)
    if match is None:
        return False
    port = match.group("port")
    return port is None or 0 < int(port) <= 65535


def is_client(value: Any) -> bool:
    """True for a ``distributed.Client`` (without importing distributed)."""
    distributed = sys.modules.get("distributed")
    return distributed is not None and isinstance(value, distributed.Client)


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ScanError(
            ErrorType.CONFIG_ERROR,
            "backend='dask' needs the dask and distributed packages, which are not installed",
            details={"field": "backend", "value": "'dask'"},
            suggestion='pip install "technic_nb[dask]" (here and on every worker)',
        ) from None
    return distributed


def connect(spec: Any, timeout: float = CONNECT_TIMEOUT) -> tuple[Any, bool]:
    """The client for ``ScanConfig.dask_client``, and whether this scan opened it.

    Raises:
        ScanError: ``system_error`` when the scheduler cannot be reached within
            ``timeout`` seconds; ``config_error`` when ``spec`` is None and there
            is no default client.
    """
    distributed = _import_distributed()
    if spec is None:
        try:
            return distributed.get_client(), False
        except ValueError:
            raise config_error(
                "dask_client",
                None,
                "a scheduler address or a distributed.Client when no default Dask client "
                "exists (create one first with distributed.Client(...), or pass dask_client=)",
            ) from None
    if isinstance(spec, str):
        try:
            client = distributed.Client(spec, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ScanError(
                ErrorType.SYSTEM_ERROR,
                f"cannot reach the Dask scheduler at {spec} (waited {timeout:g} s): {exc}",
                details={"dask_client": spec, "timeout": timeout},
                suggestion=_START_CLUSTER,
                recoverable=True,
            ) from None
        return client, True
    if getattr(spec, "status", "running") not in ("running", "connecting", "newly-created"):
        raise ScanError(
            ErrorType.SYSTEM_ERROR,
            f"the Dask client given as dask_client is {spec.status}",
            details={"dask_client": repr(spec)},
            suggestion="Pass an open distributed.Client (or a scheduler address).",
        )
    return spec, False


# -- functions run on the workers ---------------------------------------------------
#: Evaluated on every worker (with the builtin ``eval``, which any worker can
#: unpickle, so a worker without the package reports ModuleNotFoundError instead of
#: failing to load the probe itself).
_VERSIONS_PROBE = (
    "(__import__('technic_nb._version', fromlist=['__version__']).__version__, "
    "__import__('technic_nb.engine.work', fromlist=['FEATURES_VERSION']).FEATURES_VERSION)"
)


def _local_versions() -> tuple[str, str]:
    from technic_nb.engine.work import FEATURES_VERSION

    return __version__, FEATURES_VERSION


def _write_probe(folder: str, token: str) -> str:
    """Run on every worker: write a probe file into the cache folder; return its name."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    name = f".dask-probe-{token}-{uuid.uuid4().hex}"
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(name)
    return name


def _read_probe(folder: Path, name: str) -> bool:
    """True when the probe file ``name`` a worker wrote is visible here, intact."""
    path = folder / name
    try:
        ok = path.read_text(encoding="utf-8") == name
    except OSError:
        return False
    with contextlib.suppress(OSError):
        path.unlink()
    return ok


def _remove_probe(folder: str, name: str) -> None:
    """Run on the workers when this process could not see their probe files."""
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(folder, name))


def _cluster_failure(exc: BaseException | None) -> ScanError | None:
    """A ScanError for an exception of the cluster itself (tasks never raise: see _work)."""
    if exc is None or not type(exc).__module__.startswith("distributed"):
        return None
    name = type(exc).__name__
    if name == "KilledWorker":
        message = f"Dask gave up on a batch of symbols after it killed several workers: {exc}"
        suggestion = "Look at the workers' logs (memory limits?), then run the scan again: "
    else:  # FutureCancelledError when the scheduler goes away, closed connections...
        message = f"the Dask cluster failed during the scan ({name}: {exc})"
        suggestion = "Check the scheduler and its workers, then run the scan again: "
    return ScanError(
        ErrorType.SYSTEM_ERROR,
        message,
        details={"exception": name},
        suggestion=suggestion + "finished symbols are checkpointed.",
        recoverable=True,
    )


class DaskScan:
    """One scan's use of a Dask cluster: a context manager around its compute stage.

    After entering: :attr:`backend` is the joblib backend instance to give to
    ``Parallel``, :attr:`job` the job to ship to the workers (its checkpoint
    location made absolute, or removed when the workers cannot reach it),
    :attr:`n_workers` the cluster's worker threads, :attr:`warnings` notes for
    ``result.warnings`` and :attr:`stats` entries for ``result.stats``.
    """

    def __init__(self, spec: Any, job: SymbolJob, hooks: Any = None) -> None:
        self.spec = spec
        self.job = job
        self.hooks = hooks
        self.client: Any = None
        self.owned = False
        self.backend: Any = None
        self.n_workers = 0
        self.dashboard: str | None = None
        self.warnings: list[str] = []
        self.stats: dict[str, Any] = {}

    def __enter__(self) -> DaskScan:
        self.client, self.owned = connect(self.spec)
        try:
            self._check_workers()
            self._check_package()
            self.job = self._worker_job(self.job)
            self._find_dashboard()
            self.backend = cancelling_dask_backend()(client=self.client)
        except BaseException:
            self._close_client()
            raise
        if self.hooks is not None:
            self.hooks.stage_advanced(
                "symbol_scanning",
                0,
                f"computing on the Dask cluster ({self.n_workers} worker threads)",
                dask_dashboard=self.dashboard,
            )
        return self

    def cancel_tasks(self) -> None:
        """Cancel this scan's tasks still queued or running on the cluster."""
        if self.backend is not None:
            self.backend.cancel_submitted()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self.cancel_tasks()
        finally:
            self.backend = None
            self._close_client()
        failure = _cluster_failure(exc)
        if failure is not None:
            raise failure from exc

    def _close_client(self) -> None:
        if self.owned and self.client is not None:
            try:
                self.client.close(timeout=CONNECT_TIMEOUT)
            except Exception:
                logger.debug("closing the Dask client failed", exc_info=True)
        self.owned = False

    # -- checks -----------------------------------------------------------------
    def _check_workers(self) -> None:
        try:
            self.client.wait_for_workers(1, timeout=WORKER_WAIT)
        except (TimeoutError, OSError) as exc:
            raise ScanError(
                ErrorType.SYSTEM_ERROR,
                f"the Dask cluster has no worker (waited {WORKER_WAIT:g} s): {exc}",
                details={"scheduler": self._address()},
                suggestion="Start workers with `dask worker SCHEDULER_ADDRESS`, or give the "
                "LocalCluster n_workers >= 1.",
                recoverable=True,
            ) from None
        nthreads = self.client.nthreads()
        self.n_workers = max(1, sum(nthreads.values()))
        self.stats["dask_workers"] = len(nthreads)

    def _check_package(self) -> None:
        try:
            versions = self.client.run(eval, _VERSIONS_PROBE, on_error="return")
        except Exception as exc:
            versions = {"?": exc}
        mine = _local_versions()
        failed = {w: v for w, v in versions.items() if isinstance(v, BaseException)}
        if failed:
            worker, error = next(iter(failed.items()))
            raise ScanError(
                ErrorType.SYSTEM_ERROR,
                f"{len(failed)} of {len(versions)} Dask workers cannot import technic_nb "
                f"(the workers lack the package): {worker}: {type(error).__name__}: {error}",
                details={"workers": sorted(failed), "scheduler": self._address()},
                suggestion="pip install technic_nb (the same version as here) on every worker, "
                "then restart the workers.",
            )
        other = sorted(w for w, v in versions.items() if tuple(v) != mine)
        if other:
            theirs = tuple(versions[other[0]])
            self.warnings.append(
                f"{len(other)} Dask workers run technic_nb {theirs[0]} (features version "
                f"{theirs[1]}) and this process {mine[0]} ({mine[1]}): install the same "
                "version everywhere, or results may differ"
            )

    def _worker_job(self, job: SymbolJob) -> SymbolJob:
        """The job to ship: an absolute cache path, or no checkpointing when unreachable."""
        if job.cache is None:
            return job
        cache = job.cache.absolute()
        folder = cache.location
        reachable, why = self._probe_cache(folder)
        if reachable:
            self.stats["dask_shared_cache"] = True
            return dataclasses.replace(job, cache=cache)
        self.stats["dask_shared_cache"] = False
        message = (
            f"the cache folder {str(folder)!r} is not reachable from every Dask worker ({why}): "
            "the results are returned, but symbols computed on the cluster are not "
            "checkpointed, so a cancelled or repeated scan computes them again. Put cache_dir "
            "on storage every worker can reach (a shared file system mounted at the same path) "
            "to checkpoint and resume."
        )
        logger.warning("%s", message)
        self.warnings.append(message)
        return dataclasses.replace(job, cache=None)

    def _probe_cache(self, folder: Path) -> tuple[bool, str]:
        token = uuid.uuid4().hex[:12]
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            names = self.client.run(_write_probe, str(folder), token, on_error="return")
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        failed = {w: n for w, n in names.items() if isinstance(n, BaseException)}
        if failed:
            worker, error = next(iter(failed.items()))
            return False, f"{worker} could not write there: {type(error).__name__}: {error}"
        unseen = [w for w, name in names.items() if not _read_probe(folder, name)]
        if unseen:
            for worker in unseen:
                try:
                    self.client.run(_remove_probe, str(folder), names[worker], workers=[worker])
                except Exception:
                    logger.debug("removing a probe file on %s failed", worker, exc_info=True)
            return False, f"a file written there by {unseen[0]} is not visible here"
        return True, ""

    def _find_dashboard(self) -> None:
        try:
            link = self.client.dashboard_link
        except Exception:
            link = None
        self.dashboard = link or None
        self.stats["dask_dashboard"] = self.dashboard

    def _address(self) -> str:
        try:
            return str(self.client.scheduler.address)
        except Exception:
            return "?"
