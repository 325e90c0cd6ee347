"""Widget messages while a cell waits: jupyter-ui-poll, and the kernels it works with.

While a cell runs, ipykernel queues every message from the front end until the
cell ends, a click on the panel's Cancel button included.  A runner that waits
on the kernel's main thread (``wait()``, ``run()``) therefore processes those
messages itself, with jupyter-ui-poll: :func:`ui_events` gives a ``poll()`` to
call between short waits.  jupyter-ui-poll holds back the ``execute_request``
of later cells and replays them, in order, once the waiting cell has ended, so
Run All keeps its order.

jupyter-ui-poll processes a message with ``Kernel.do_one_iteration()``, which
takes it from the kernel's message queue.  ipykernel 7 delivers shell messages
through a shell-channel thread instead (7.0 no longer feeds that queue, 7.1
removed the method), and jupyter-ui-poll 1.1 then processes nothing, silently:
measured in a real kernel, a click sent during a 6 s poll was not handled on
ipykernel 7.0.1 and 7.4.0, and was handled within 0.1 s on 6.31.0.  So the
package declares ``ipykernel>=6.29,<7``, :func:`kernel_cannot_poll` recognises
a kernel it cannot drive (a runner then says its Cancel button waits for the
cell to end, instead of pretending it works), and ``tests/test_compat.py``
fails loudly when the installed kernel is outside that range.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any

__all__ = ["SUPPORTED_IPYKERNEL", "Poll", "kernel_cannot_poll", "ui_events", "why_not_polled"]

#: The ipykernel releases on which jupyter-ui-poll processes widget messages.
SUPPORTED_IPYKERNEL = ">=6.29,<7"
#: Messages handled per poll, at most (a click is one; a burst of widget syncs a few).
_BATCH = 20

Poll = Callable[[], None]


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "(version unknown)"


def _kernel() -> Any | None:
    """The running ipykernel kernel, or None outside one."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return None
    return getattr(get_ipython(), "kernel", None)


def why_not_polled() -> str | None:
    """None when a wait in this thread can process the front end's widget messages.

    Otherwise the reason, for a log line: not in a kernel, not on its main
    thread, or a kernel that jupyter-ui-poll cannot drive.
    """
    kernel = _kernel()
    if kernel is None:
        return "not running in a Jupyter kernel"
    if threading.current_thread() is not threading.main_thread():
        return "not waiting on the kernel's main thread"
    return _undrivable(kernel)


def kernel_cannot_poll() -> str | None:
    """Why the running kernel cannot be polled, or None (also None outside a kernel)."""
    kernel = _kernel()
    return None if kernel is None else _undrivable(kernel)


def _undrivable(kernel: Any) -> str | None:
    """Why jupyter-ui-poll cannot drive ``kernel``, or None when it can."""
    iterates = callable(getattr(kernel, "do_one_iteration", None))
    if iterates and getattr(kernel, "shell_channel_thread", None) is None:
        return None
    return (
        f"ipykernel {_version('ipykernel')} delivers shell messages through its shell "
        f"channel thread, which jupyter-ui-poll cannot drive (ipykernel{SUPPORTED_IPYKERNEL} "
        "can)"
    )


@contextmanager
def ui_events() -> Iterator[Poll | None]:
    """``with ui_events() as poll:``, ``poll()`` handles the widget messages waiting.

    ``poll`` is None where :func:`why_not_polled` gives a reason; the caller then
    waits without it.
    """
    if why_not_polled() is not None:
        yield None
        return
    from jupyter_ui_poll import ui_events as jupyter_ui_events

    with jupyter_ui_events() as poll:
        yield lambda: poll(_BATCH)
