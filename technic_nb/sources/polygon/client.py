"""One HTTP exchange for :class:`~technic_nb.sources.polygon.source.PolygonSource`: a
process-local urllib3 pool, a request, and the whole answer within a deadline."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import urllib3
from urllib3.exceptions import NewConnectionError, ProtocolError, ProxyError

from technic_nb.sources.polygon.errors import Answer
from technic_nb.sources.retry.policy import TransientFetchError

__all__ = ["HttpClient", "RequestFailed"]

logger = logging.getLogger("technic_nb.http")

_CHUNK = 1 << 18


class RequestFailed(Exception):
    """A request that failed on our side (not retried); the text is redacted."""


class _TooSlow(Exception):
    """The answer's body did not arrive in full within ``answer_timeout``."""


def _read_body(response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
    """The whole body, read as it arrives; the connection is dropped unless read in full.

    Raises:
        _TooSlow: when ``time.monotonic()`` passes ``deadline`` before the end
            (a body trickled a few bytes at a time never trips the per-read timeout).
    """
    chunks: list[bytes] = []
    complete = False
    try:
        while chunk := response.read1(_CHUNK):
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise _TooSlow
        complete = True
    finally:
        if not complete:
            response.close()  # a half-read connection cannot serve the next request
        response.release_conn()
    return b"".join(chunks)


class HttpClient:
    """A connection pool of ``max_connections`` shared by all threads of one process.

    Args:
        max_connections: connections kept open (a thread waits for a free one).
        timeout: seconds to connect and for each read.
        answer_timeout: seconds for a whole answer, from the request to its last byte.
    """

    def __init__(self, max_connections: int, timeout: float, answer_timeout: float) -> None:
        self.max_connections = max_connections
        self.timeout = timeout
        self.answer_timeout = answer_timeout
        self._pool: urllib3.PoolManager | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def pool(self) -> urllib3.PoolManager:
        """The pool of this process (created on first use, and again after a fork)."""
        pool = self._pool
        pid = os.getpid()
        if pool is not None and self._pid == pid:
            return pool
        with self._lock:
            if self._pool is None or self._pid != pid:
                # After a fork the parent's pool is left alone (its sockets are shared).
                # block=True and no pool timeout: with more fetch threads than connections
                # a thread waits for a free connection, which is not a failure of the service.
                self._pool = urllib3.PoolManager(
                    num_pools=4,
                    maxsize=self.max_connections,
                    block=True,
                    timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                    retries=False,
                )
                self._pid = pid
            return self._pool

    @property
    def is_open(self) -> bool:
        """True when this process holds a pool."""
        return self._pool is not None and self._pid == os.getpid()

    def close(self) -> None:
        """Close the pool (a later request opens a new one)."""
        with self._lock:
            pool, self._pool = self._pool, None
            owned = self._pid == os.getpid()
            self._pid = None
        if pool is not None and owned:
            pool.clear()

    def exchange(
        self,
        url: str,
        params: dict[str, str] | None,
        headers: Callable[[], dict[str, str]],
        redact: Callable[[str], str],
    ) -> Answer:
        """``GET url`` and the whole answer; ``headers()`` gives the request's headers
        (called inline, so no frame of this module holds the key in a local).

        Exceptions are built after the ``except`` blocks so that they carry no
        reference to urllib3's exception (whose text holds the URL and whose
        context holds the request).

        Raises:
            TransientFetchError: refused, reset or cut-short connections, timeouts,
                and answers slower than ``answer_timeout``.
            RequestFailed: any other failure of the request (redacted text).
        """
        started = time.monotonic()
        failure: BaseException | None = None
        answer: Answer | None = None
        try:
            answer = self._get(url, params, headers, started + self.answer_timeout)
        except _TooSlow:
            failure = TransientFetchError(
                f"the answer did not arrive in full within {self.answer_timeout:g}s "
                "(answer_timeout)",
                timeout=True,
            )
        except (NewConnectionError, ProtocolError, ProxyError, ConnectionError) as exc:
            # refused, reset, or cut short (a body shorter than its Content-Length)
            failure = TransientFetchError(f"{type(exc).__name__}: {redact(str(exc))}")
        except urllib3.exceptions.TimeoutError as exc:
            failure = TransientFetchError(
                f"timed out after {self.timeout:g}s ({type(exc).__name__})", timeout=True
            )
        except urllib3.exceptions.HTTPError as exc:
            failure = RequestFailed(f"{type(exc).__name__}: {redact(str(exc))}")
        elapsed = time.monotonic() - started
        if failure is not None:
            logger.debug("GET %s failed after %.3fs: %s", redact(url), elapsed, failure)
            raise failure
        assert answer is not None
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("GET %s -> %d in %.3fs", redact(url), answer.status, elapsed)
        return answer

    def _get(
        self,
        url: str,
        params: dict[str, str] | None,
        headers: Callable[[], dict[str, str]],
        deadline: float,
    ) -> Answer:
        response = self.pool().request(
            "GET", url, fields=params, headers=headers(), redirect=False, preload_content=False
        )
        body = _read_body(response, deadline)
        retry_after = response.headers.get("Retry-After")
        return Answer(response.status, response.reason or "", retry_after, body)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "max_connections": self.max_connections,
            "timeout": self.timeout,
            "answer_timeout": self.answer_timeout,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        HttpClient.__init__(
            self, state["max_connections"], state["timeout"], state["answer_timeout"]
        )
