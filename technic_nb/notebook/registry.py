"""One run per cache at a time: the runners started and not yet ended, by cache."""

from __future__ import annotations

import atexit
import sys
import threading
from typing import Any, Protocol, TypeVar

from technic_nb.engine.cache.location import Checkpoints, location_key
from technic_nb.engine.config import ScanConfig


class Runner(Protocol):
    """What the registry needs of a runner."""

    cache_key: str
    ended: threading.Event

    @property
    def done(self) -> bool: ...

    def cancel(self, reason: str = ...) -> None: ...


R = TypeVar("R", bound=Runner)


__all__ = ["active_runners", "cache_key", "in_jupyter", "register", "unregister"]


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (an IPython shell with a kernel)."""
    if "IPython" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    if shell is None:
        return False
    return hasattr(shell, "kernel") or "IPKernelApp" in getattr(shell, "config", {})


_registry_lock = threading.Lock()


_active: dict[str, Any] = {}


def cache_key(config: ScanConfig) -> str:
    """What two runs share when they share a cache (its location, whatever the spelling)."""
    checkpoints = Checkpoints.of(config)
    if checkpoints is not None:
        return checkpoints.key
    return location_key(config.resolved_cache_dir)


def active_runners() -> list[Any]:
    """The runners started and not yet ended (at most one per cache folder)."""
    with _registry_lock:
        return list(_active.values())


def register(runner: R) -> R | None:
    """Make ``runner`` the active one of its cache folder; return the one it replaces."""
    with _registry_lock:
        previous = _active.get(runner.cache_key)
        _active[runner.cache_key] = runner
    if previous is None or previous is runner or previous.done:
        return None
    return previous


def unregister(runner: Runner) -> None:
    with _registry_lock:
        if _active.get(runner.cache_key) is runner:
            del _active[runner.cache_key]


@atexit.register
def _stop_all_at_exit() -> None:
    """At interpreter exit, stop background scans cleanly (their workers included)."""
    runners = active_runners()
    for runner in runners:
        runner.cancel("exiting")
    for runner in runners:
        runner.ended.wait(10.0)
