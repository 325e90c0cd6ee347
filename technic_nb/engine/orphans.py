"""Worker processes never outlive the process that started them (no orphans).

A scan's loky workers are children of the scan's process (a Jupyter kernel, a
script).  When that process ends normally it shuts them down; when it is killed
(SIGKILL, the out-of-memory killer, a crashed kernel) nothing tells them, and
loky keeps an idle worker for 300 s before it exits on its own.  The resource
trackers that loky and multiprocessing start read a pipe whose write end every
worker holds, so they linger as long as the workers do.

:func:`exit_with_parent`, called at the start of every worker task, starts (once
per worker process) a daemon thread that waits for the parent process to exit
and then ends the worker with ``os._exit``.  The wait costs nothing while the
parent lives: on Linux it blocks in ``select`` on a pidfd of the parent
(``os.pidfd_open``, Linux 5.3+), which becomes readable the moment the parent
exits; elsewhere it polls ``os.getppid()`` every :data:`POLL_SECONDS`.  Once the
workers are gone the resource trackers see end-of-file on their pipe and exit
too, so nothing of the scan outlives its process by more than a second or two.

Why not ``prctl(PR_SET_PDEATHSIG)``: the "parent" it watches is the *thread*
that forked the worker, and loky forks workers from short-lived threads (the
one that consumes a ``Parallel``'s results), so the workers would be killed when
a scan ends rather than when the process does.

The watch is installed only in a loky worker whose parent is still its parent
(never in the scan's own process with the ``threading`` or ``sequential``
backends, nor in Dask workers, whose lifetime Dask manages).

Two ways to install it, both cheap:

* :func:`worker_options` gives the ``joblib.Parallel`` keyword arguments that make
  loky run :func:`init_worker` as every worker's initializer (each worker
  watches from its start, including one that never gets a task);
* :func:`watched` wraps one ``delayed`` task so that it calls
  :func:`init_worker` first (no change to the pool, but a worker that never ran
  a task is not covered).

:func:`init_worker` also makes the worker ignore SIGINT: an interrupt reaches
the whole process group, and the scan's process, not its workers, decides what
it means (see :func:`init_worker`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "POLL_SECONDS",
    "WatchedCall",
    "exit_with_parent",
    "init_worker",
    "watched",
    "watching",
    "worker_options",
]

#: Seconds between two checks of the parent where a pidfd is not available.
POLL_SECONDS = 1.0
#: The exit status of a worker ended because its parent died.
EXIT_STATUS = 70

_lock = threading.Lock()
_watching_in: int | None = None  # the pid of the process whose watch is installed


def _loky_parent() -> int | None:
    """The pid of this process's parent when this is a loky worker of a living parent."""
    process = multiprocessing.current_process()
    if type(process).__name__ != "LokyProcess":
        return None
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return None
    return parent.pid if os.getppid() == parent.pid else None


def watching() -> bool:
    """True when this process has its parent watch installed."""
    return _watching_in == os.getpid()


def exit_with_parent(parent: int | None = None) -> bool:
    """Make this worker process exit when its parent process exits (idempotent, cheap).

    Args:
        parent: the pid to watch (default: the parent of a loky worker; nothing
            is installed outside a loky worker).  It must be this process's
            parent.

    Returns:
        True when the watch is installed (now or before), False when this
        process is not a worker to watch.
    """
    global _watching_in
    pid = os.getpid()
    if _watching_in == pid:
        return True
    with _lock:
        if _watching_in == pid:
            return True
        if parent is None:
            parent = _loky_parent()
        if parent is None or parent == pid or os.getppid() != parent:
            return False
        thread = threading.Thread(
            target=_watch, args=(parent,), name="technic_nb-parent-watch", daemon=True
        )
        thread.start()
        _watching_in = pid
    return True


def _watch(parent: int) -> None:
    """Block until ``parent`` exits, then end this process at once."""
    fd = _pidfd(parent)
    try:
        if fd is not None and os.getppid() == parent:  # the pidfd is our parent's
            while True:
                readable, _, _ = select.select([fd], [], [])
                if readable:
                    break
        else:
            while os.getppid() == parent:
                time.sleep(POLL_SECONDS)
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
    os._exit(EXIT_STATUS)


def _pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:  # an old kernel, or the parent is already gone
        return None


def init_worker() -> bool:
    """Set up a loky worker of the package (idempotent, cheap; a no-op elsewhere).

    The worker exits with its parent (:func:`exit_with_parent`) and ignores
    SIGINT.  An interrupt (Ctrl-C in a terminal, Kernel > Interrupt) is sent to
    the whole process group, workers included; the scan's own process decides
    what it means (``run()`` and the command line cancel cooperatively,
    ``wait()`` lets the scan go on), so a worker never dies of it in the middle
    of a task.

    Returns:
        True in a loky worker.
    """
    if not exit_with_parent():
        return False
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    return True


def worker_options(backend: Any) -> dict[str, Any]:
    """Keyword arguments for ``joblib.Parallel`` so that loky workers exit with their parent.

    ``Parallel(n_jobs=..., backend=backend, **worker_options(backend))``: for
    ``"loky"`` the workers run :func:`init_worker` when they start; for every
    other backend nothing.  loky keeps one pool per set of arguments, so every
    ``Parallel`` of the package should pass the same ones (or the pool restarts).
    """
    return {"initializer": init_worker} if backend == "loky" else {}


class WatchedCall:
    """A picklable task function: :func:`init_worker`, then the wrapped function.

    It keeps the wrapped function's ``__name__`` (joblib and Dask name tasks by it).
    """

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.__name__ = getattr(function, "__name__", "task")
        self.__qualname__ = getattr(function, "__qualname__", self.__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        init_worker()
        return self.function(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (WatchedCall, (self.function,))

    def __repr__(self) -> str:
        return f"WatchedCall({self.__qualname__})"


def watched(task: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]) -> Any:
    """A joblib ``delayed`` task that first sets up its worker (:func:`init_worker`).

    ``delayed(f)(x)`` is the tuple ``(f, (x,), {})``; ``watched`` returns
    ``(WatchedCall(f), (x,), {})``, which runs ``f(x)`` after :func:`init_worker`
    (a no-op outside a loky worker).
    """
    function, args, kwargs = task
    return (WatchedCall(function), args, kwargs)
