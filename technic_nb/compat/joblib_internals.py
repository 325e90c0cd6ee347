"""What technic_nb relies on in joblib beyond its documented API (the one place).

* **The checkpoint store.**  ``joblib.register_store_backend`` is joblib's
  documented way to plug a store into ``Memory``, but the file-system store to
  build on, ``FileSystemStoreBackend``, lives in the private
  ``joblib._store_backends``: :class:`LeanFileStore` subclasses it.
* **The Dask backend.**  joblib exposes its Dask backend only by name
  (``parallel_config(backend="dask")``), so a subclass must import the class from
  ``joblib._dask``; and joblib's own abort only forgets the submitted futures (they
  keep running on the cluster), so cancelling them reads the backend's
  ``_results``/``_callbacks`` tables and its ``waiting_futures``
  (:func:`cancelling_dask_backend`).

``tests/test_compat.py`` fails loudly when a joblib release changes any of these
(the base classes, the methods overridden, the attributes read); the range of
joblib versions they are tested with is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import threading
import uuid
from typing import Any

import joblib
from joblib import register_store_backend
from joblib._store_backends import FileSystemStoreBackend

__all__ = ["STORE_BACKEND", "LeanFileStore", "cancelling_dask_backend"]

logger = logging.getLogger("technic_nb.dask")


class LeanFileStore(FileSystemStoreBackend):
    """joblib's file-system store without each entry's ``metadata.json``.

    joblib writes a ``metadata.json`` (the call's arguments as text, its duration)
    beside every ``output.pkl`` and reads it back, twice, on every hit; nothing here
    uses it (entries are validated by their checksum and evicted by the access
    time of ``output.pkl``), and it doubles the file-system calls of an entry.
    Registered with ``joblib.register_store_backend``, joblib's documented way to
    plug a store into ``Memory`` (the base class lives in ``joblib._store_backends``,
    where that API keeps it).  Entries stay readable by a plain ``Memory``.
    """

    def dump_item(self, call_id: Any, item: Any, verbose: int = 1) -> None:
        """Write one entry; a failure raises ``OSError`` and leaves no partial file.

        joblib's own store turns every write failure into a ``CacheWarning`` on
        stderr and goes on, so a full disk would pass unnoticed (and leave the
        partial temporary file behind).  Here the caller learns of it and says so.
        """
        folder = os.path.join(self.location, *call_id)
        target = os.path.join(folder, "output.pkl")
        temporary = f"{target}.{uuid.uuid4().hex}-{os.getpid()}-{threading.get_ident()}"
        try:
            os.makedirs(folder, exist_ok=True)
            with open(temporary, "wb") as file:
                joblib.dump(item, file, compress=self.compress)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only when it is empty: never an entry written before
            raise

    def store_metadata(self, call_id: Any, metadata: Any) -> None:
        return None

    def get_metadata(self, call_id: Any) -> dict[str, Any]:
        return {}


#: The ``Memory(backend=...)`` name of :class:`LeanFileStore`.
STORE_BACKEND = "technic_nb_files"


register_store_backend(STORE_BACKEND, LeanFileStore)


def _take_submitted(
    backend: Any, results: dict[Any, Any], callbacks: dict[Any, Any] | None, timeout: float
) -> list[Any]:
    """Empty the Dask backend's table of submitted futures; return the futures taken.

    ``results`` and ``callbacks`` are the backend's ``_results`` and ``_callbacks``
    (joblib's future -> result and future -> callback tables).  They are emptied on
    the client's event loop, after every submission queued before, and this waits
    at most ``timeout`` seconds for that.
    """
    taken: list[Any] = []
    done = threading.Event()

    async def take() -> None:
        # On the client's event loop, after every submission queued before it.
        try:
            taken.extend(results)
            results.clear()
            if callbacks is not None:
                callbacks.clear()
        finally:
            done.set()
        # joblib's collector may wait on the emptied as_completed forever,
        # holding the last future: wake it so that it sees it is empty
        condition = getattr(backend.waiting_futures, "condition", None)
        if condition is not None:
            async with condition:
                condition.notify_all()

    backend.client.loop.add_callback(take)
    done.wait(timeout)
    return taken


def cancelling_dask_backend() -> type:
    """joblib's Dask backend class, extended to cancel its tasks on the cluster (imported
    only when a scan runs on Dask: ``joblib._dask`` imports ``distributed``)."""
    from joblib._dask import DaskDistributedBackend

    class CancellingDaskBackend(DaskDistributedBackend):
        """joblib's Dask backend whose abort also cancels the tasks on the cluster."""

        _refusing = False

        def start_call(self) -> None:
            self._refusing = False
            super().start_call()

        def effective_n_jobs(self, n_jobs: int) -> int:
            # the cluster's threads; never 1, which would make joblib run the
            # tasks in this process instead of on a one-thread cluster
            return max(2, super().effective_n_jobs(n_jobs))

        def submit(self, func: Any, callback: Any = None) -> Any:
            if self._refusing:  # the call is being aborted: run nothing more
                future: Any = cf.Future()
                future.get = future.result
                return future
            return super().submit(func, callback)

        def abort_everything(self, ensure_ready: bool = True) -> None:
            self._refusing = True
            super().abort_everything(ensure_ready=ensure_ready)
            self.cancel_submitted()

        def cancel_submitted(self, timeout: float = 5.0) -> int:
            """Cancel every task submitted and not handed back yet; return how many."""
            results = getattr(self, "_results", None)
            callbacks = getattr(self, "_callbacks", None)
            if results is None or self.client.status not in ("running", "connecting"):
                return 0
            taken = _take_submitted(self, results, callbacks, timeout)
            if taken:
                try:
                    self.client.cancel(taken)
                except Exception:  # the cluster is going away: nothing left to stop
                    logger.debug("cancelling %d Dask tasks failed", len(taken), exc_info=True)
            return len(taken)

    return CancellingDaskBackend
