"""The fake Polygon server in its own process, so it never shares the client's GIL."""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing as mp
from collections.abc import Sequence
from typing import Any

API_KEY = "bench-key"


def _serve(conn: Any, n_symbols: int, years: float, latency: float, windows: list) -> None:
    """Server process body: preload the answers, report the URL, serve until told to stop."""
    from technic_nb.sources import DemoSource
    from technic_nb.testing import FakePolygonServer

    source = DemoSource(n_symbols=n_symbols, years=years)
    symbols = list(source.universe()["symbol"])
    server = FakePolygonServer(source, api_key=API_KEY, latency=latency).start()
    try:
        for start, end in windows:
            server.preload(symbols, start, end)
        conn.send(server.base_url)
        conn.recv()  # anything (or EOF) means stop
    except EOFError:
        pass
    finally:
        server.stop()


class ServerProcess:
    """``with ServerProcess(n, years, latency, windows) as url:`` a running server's base URL.

    The server serves ``DemoSource(n_symbols=n, years=years)`` with ``latency``
    seconds added to every request; ``windows`` are ``(start, end)`` date pairs
    whose answers are encoded before the server reports ready.
    """

    def __init__(
        self,
        n_symbols: int,
        years: float,
        latency: float,
        windows: Sequence[tuple[dt.date, dt.date]],
        ready_timeout: float = 300.0,
    ) -> None:
        self.args = (n_symbols, years, latency, list(windows))
        self.ready_timeout = ready_timeout
        self.process: Any = None
        self.conn: Any = None
        self.base_url = ""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def __enter__(self) -> ServerProcess:
        ctx = mp.get_context("spawn")  # a clean interpreter: no inherited threads or pools
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, *self.args), daemon=True)
        self.process.start()
        child.close()
        self.conn = parent
        if not parent.poll(self.ready_timeout):
            self.__exit__(None, None, None)
            raise RuntimeError("the benchmark server did not start in time")
        self.base_url = parent.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.send("stop")
            self.conn.close()
            self.conn = None
        if self.process is not None:
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(timeout=5)
            self.process = None
