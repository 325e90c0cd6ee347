"""The socket side of :class:`~technic_nb.testing.FakePolygonServer`: a threading
HTTP/1.1 server and a request handler with the answers faults need."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from technic_nb.testing._faults import REASONS

__all__ = ["_Handler", "_Server"]

logger = logging.getLogger("technic_nb.testing")

#: Pieces a trickled body is sent in.
TRICKLE_PIECES = 20


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    owner: Any  # the FakePolygonServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or disconnect mid-answer are part of the game here.
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakePolygon/1.0"
    disable_nagle_algorithm = True
    server: _Server
    #: Called once, just before the last bytes of the answer go out (the server notes
    #: the request answered there, so a client never reads an answer that the request
    #: log does not show as answered yet).
    on_answered: Callable[[], None] | None = None

    def setup(self) -> None:
        self.timeout = self.server.owner.idle_timeout  # type: ignore[misc]  # per connection
        super().setup()
        self.server.owner._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._connection_closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    # -- answers ---------------------------------------------------------------

    def _answered(self) -> None:
        callback, self.on_answered = self.on_answered, None
        if callback is not None:
            callback()

    def _start(
        self,
        status: int,
        length: int,
        headers: Mapping[str, str] | None,
        content_type: str,
        close: bool,
    ) -> None:
        self.send_response(status, REASONS.get(status))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def send_json(
        self,
        status: int,
        body: Mapping[str, Any] | bytes,
        headers: Mapping[str, str] | None = None,
        *,
        declared_length: int | None = None,
        close: bool = False,
        content_type: str = "application/json",
    ) -> None:
        """Answer with ``body`` (a dict is JSON-encoded); ``declared_length`` lies about
        the length (the connection is then closed after the short body)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        length = declared_length if declared_length is not None else len(data)
        self._start(status, length, headers, content_type, close)
        self._answered()
        self.wfile.write(data)

    def send_trickle(
        self, status: int, body: bytes, seconds: float, wait: Callable[[float], bool]
    ) -> None:
        """Answer with ``body`` in :data:`TRICKLE_PIECES` pieces spread over ``seconds``
        (``wait(pause)`` returns True when the server stops).  A client that gives
        up closes the connection; that ends the trickle quietly."""
        self._start(status, len(body), None, "application/json", close=True)
        step = max(1, -(-len(body) // TRICKLE_PIECES))
        pause = seconds / TRICKLE_PIECES
        try:
            for start in range(0, len(body), step):
                if start + step >= len(body):
                    self._answered()
                self.wfile.write(body[start : start + step])
                self.wfile.flush()
                if start + step < len(body) and wait(pause):
                    return
        except OSError:  # the client went away (it gave up on the slow answer)
            self.server.owner._counters.trickle_abandoned()

    def reset_connection(self) -> None:
        """Close the connection at once with a TCP reset, without any answer."""
        self._answered()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The socket closes for real (sending the reset) once its buffered reader is closed.
        with contextlib.suppress(OSError):
            self.rfile.close()
        self.connection.close()
