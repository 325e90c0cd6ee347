"""Shared fixtures."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data" / "us_equities_daily"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder of real daily bars beside the repository (skips when absent)."""
    if not (SHARED_DATA / "AAPL.csv.gz").is_file():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it lives beside the repository)")
    return SHARED_DATA


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """A fresh checkpoint folder."""
    return tmp_path / "cache"


@pytest.fixture
def cancel_midway() -> Callable[..., tuple[Any, float]]:
    """``run(scan, started, token, wait=60)``: cancel a scan running in another thread.

    ``scan()`` runs in a thread; once ``started`` is set, ``token`` is cancelled.
    Returns the scan's result and the seconds from ``cancel()`` to its return.
    """

    def run(scan: Callable[[], Any], started: threading.Event, token: Any, wait: float = 60.0):
        box: dict[str, Any] = {}

        def target() -> None:
            box["result"] = scan()
            box["returned"] = time.monotonic()

        thread = threading.Thread(target=target)
        thread.start()
        assert started.wait(wait), "the scan never got going"
        cancelled_at = time.monotonic()
        token.cancel()
        thread.join(10)
        assert not thread.is_alive()
        return box["result"], box["returned"] - cancelled_at

    return run


@pytest.fixture(scope="session", autouse=True)
def interrupts_reach_the_tests():
    """Ctrl-C means KeyboardInterrupt in this process and in the ones it starts.

    A shell without job control starts a background command with SIGINT ignored,
    and Python then keeps it ignored; the tests of Kernel > Interrupt, Ctrl-C and
    workers that ignore SIGINT would test that instead.  So the handler is set back.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
