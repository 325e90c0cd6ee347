"""The faults :class:`~technic_nb.testing.FakePolygonServer` can inject, and how.

Kinds (:data:`FAULT_KINDS`):

* transient (:data:`TRANSIENT_FAULT_KINDS`; a correct client retries them):
  ``429`` (``Retry-After`` in seconds), ``429-date`` (``Retry-After`` as an
  HTTP date), ``500``, ``502``, ``503``, ``504``, ``reset`` (TCP reset, no
  answer), ``timeout`` (stall past the client's timeout, then reset),
  ``truncated`` (a body shorter than its ``Content-Length``), ``cut`` (the real
  body cut at a ``}`` with a matching ``Content-Length``: it looks complete),
  ``trickle`` (the real body sent a few bytes at a time over ``timeout_delay``
  seconds), ``badjson`` (a 200 whose JSON is broken), ``html`` (an HTML page
  with status 200), ``error200`` (a 200 whose JSON says ``"status": "ERROR"``),
  ``noresults`` (a 200 announcing results it does not hold);
* permanent for the symbol: ``404`` (unknown ticker), ``empty`` (no bars),
  ``403`` (the key's plan does not cover the symbol: "not entitled");
* the key refused: ``401`` ("Unknown API Key") and ``403-key`` (the same with 403).

``ok`` is an explicit "no fault" step of a plan.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from technic_nb.testing._handler import _Handler


#: The kinds whose answer is a damaged copy of the real one (the server builds it first).
BODY_FAULT_KINDS: tuple[str, ...] = ("cut", "trickle")
#: Every transient kind: a correct client retries each of them and loses nothing.
TRANSIENT_FAULT_KINDS: tuple[str, ...] = (
    "429",
    "429-date",
    "500",
    "502",
    "503",
    "504",
    "reset",
    "timeout",
    "truncated",
    "cut",
    "trickle",
    "badjson",
    "html",
    "error200",
    "noresults",
)
#: Every fault kind the server can inject ("ok" is an explicit "no fault" step in a plan).
FAULT_KINDS: tuple[str, ...] = (
    "ok",
    *TRANSIENT_FAULT_KINDS,
    "404",
    "empty",
    "403",
    "401",
    "403-key",
)
#: The kinds drawn by ``fault_rate`` unless told otherwise: the first transient kinds the
#: server knew (a seed draws the same faults as it always did); pass
#: ``fault_kinds=TRANSIENT_FAULT_KINDS`` for every transient kind.
RATE_FAULT_KINDS: tuple[str, ...] = (
    "429",
    "500",
    "502",
    "503",
    "504",
    "reset",
    "truncated",
    "badjson",
)
#: What Polygon says to a key it does not know, and to a plan without the data.
UNKNOWN_KEY = "Unknown API Key"
NOT_ENTITLED = (
    "You are not entitled to this data. Please upgrade your plan at https://polygon.io/pricing"
)

REASONS = {
    200: "OK",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class Fault:
    """One injected fault.

    Attributes:
        kind: one of :data:`FAULT_KINDS`.
        retry_after: for ``"429"``/``"429-date"``/``"503"``: the ``Retry-After``,
            in seconds (a number; ``"429-date"`` sends it as an HTTP date that
            many seconds ahead) or a string sent as is; None uses the server's
            default (``"429"``, ``"429-date"``) or sends no header (``"503"``).
        delay: for ``"timeout"``/``"trickle"``: seconds to stall or trickle
            (default: the server's ``timeout_delay``).
    """

    kind: str
    retry_after: float | str | None = None
    delay: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"Fault.kind={self.kind!r} is invalid: kind must be one of {', '.join(FAULT_KINDS)}"
            )


def as_fault(item: str | Fault) -> Fault:
    """``item`` as a :class:`Fault` (a kind string becomes ``Fault(kind)``)."""
    return item if isinstance(item, Fault) else Fault(str(item))


def fault_plan(*steps: str | Fault, then: str | Fault | None = None) -> list[Fault]:
    """A list of faults for one symbol's successive requests.

    ``fault_plan("503", "reset")`` fails the first two requests, then serves
    normally.  (A single :class:`Fault` or kind string given as a symbol's plan
    instead of a list applies to every request.)  ``then`` appends a final step.
    """
    faults = [as_fault(step) for step in steps]
    if then is not None:
        faults.append(as_fault(then))
    return faults


class FaultPlan:
    """A symbol's fault schedule: successive steps, or one permanent fault."""

    def __init__(self, spec: str | Fault | Sequence[str | Fault]) -> None:
        if isinstance(spec, (str, Fault)):
            self.permanent: Fault | None = as_fault(spec)
            self.steps: list[Fault] = []
        else:
            self.permanent = None
            self.steps = [as_fault(step) for step in spec]
        self.position = 0

    def next(self) -> Fault | None:
        if self.permanent is not None:
            return self.permanent
        if self.position < len(self.steps):
            self.position += 1
            return self.steps[self.position - 1]
        return None


class FaultSchedule:
    """Which fault (if any) each request gets: the symbol's plan, else a seeded draw.

    The draw for a symbol's n-th request depends only on ``seed``, the symbol
    and n, so a run's faults do not depend on thread timing.
    """

    def __init__(self, rate: float, kinds: Sequence[str], seed: int) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault_rate={rate!r} is invalid: fault_rate must be in [0, 1]")
        for kind in kinds:
            Fault(kind)  # validates
        if rate > 0 and not kinds:
            raise ValueError("fault_kinds is empty: fault_kinds must name at least one kind")
        self.rate = float(rate)
        self.kinds = tuple(kinds)
        self.seed = seed
        self.plans: dict[str, FaultPlan] = {}
        self.sequence: dict[str, int] = {}

    def next(self, symbol: str) -> Fault | None:
        """The fault of ``symbol``'s next request (call under the server's lock)."""
        number = self.sequence.get(symbol, 0)
        self.sequence[symbol] = number + 1
        plan = self.plans.get(symbol)
        fault = plan.next() if plan is not None else None
        if fault is None and self.rate > 0:
            draw = random.Random(f"{self.seed}:{symbol}:{number}")
            if draw.random() < self.rate:
                fault = Fault(draw.choice(self.kinds))
        if fault is not None and fault.kind == "ok":
            return None
        return fault


def error_body(status: str, text: str, field: str = "error") -> dict[str, Any]:
    """A Polygon-style error body."""
    return {"status": status, "request_id": uuid.uuid4().hex, field: text}


def _retry_after(fault: Fault, default: float) -> str | None:
    value = fault.retry_after
    if value is None and fault.kind in ("429", "429-date"):
        value = default
    if value is None or isinstance(value, str):
        return value
    if fault.kind == "429-date":
        return email.utils.formatdate(time.time() + value, usegmt=True)
    return f"{value:g}"


def apply_fault(
    handler: _Handler, fault: Fault, symbol: str, server: Any, answer: tuple[int, bytes] | None
) -> None:
    """Answer ``handler``'s request with ``fault`` (``answer`` is the real one, for
    :data:`BODY_FAULT_KINDS`)."""
    kind = fault.kind
    if kind in ("500", "502", "503", "504", "429", "429-date"):
        status = 429 if kind.startswith("429") else int(kind)
        retry_after = _retry_after(fault, server.retry_after)
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        handler.send_json(status, error_body("ERROR", REASONS[status]), headers)
    elif kind in ("404", "empty", "noresults", "badjson", "html", "error200"):
        _send_bad_answer(handler, kind, symbol)
    elif kind in ("401", "403-key"):
        handler.send_json(int(kind[:3]), error_body("ERROR", UNKNOWN_KEY))
    elif kind == "403":
        handler.send_json(403, error_body("NOT_AUTHORIZED", NOT_ENTITLED, "message"))
    elif kind == "reset":
        handler.reset_connection()
    elif kind == "timeout":
        server.stall(fault.delay if fault.delay is not None else server.timeout_delay)
        handler.reset_connection()
    elif kind == "truncated":
        body = json.dumps({"ticker": symbol, "status": "OK", "results": []}).encode()
        handler.send_json(200, body, declared_length=len(body) + 64, close=True)
    elif kind == "cut" and answer is not None:
        handler.send_json(answer[0], cut_at_brace(answer[1]))
    elif kind == "trickle" and answer is not None:
        delay = fault.delay if fault.delay is not None else server.timeout_delay
        handler.send_trickle(answer[0], answer[1], delay, server.stall)
    else:  # pragma: no cover - Fault validates its kind; body kinds get their answer
        raise ValueError(f"cannot apply fault {kind!r}")


def _send_bad_answer(handler: _Handler, kind: str, symbol: str) -> None:
    if kind == "404":
        handler.send_json(404, error_body("NOT_FOUND", f"ticker {symbol} not found", "message"))
    elif kind in ("empty", "noresults"):
        count = 0 if kind == "empty" else 250
        body = {"ticker": symbol, "queryCount": count, "resultsCount": count, "adjusted": True}
        handler.send_json(200, {**body, "status": "OK", "request_id": uuid.uuid4().hex})
    elif kind == "badjson":
        handler.send_json(200, b'{"ticker": "' + symbol.encode() + b'", "results": [{"t": 1')
    elif kind == "html":
        page = b"<html><head><title>502 Bad Gateway</title></head><body>upstream</body></html>"
        handler.send_json(200, page, content_type="text/html")
    else:  # error200
        handler.send_json(200, error_body("ERROR", "Internal error; please retry the request"))


def cut_at_brace(body: bytes) -> bytes:
    """``body`` cut just after a ``}`` near its middle (so it still ends in ``}``), or
    at its middle when it has no ``}`` before its last byte."""
    middle = len(body) // 2
    position = body.rfind(b"}", 0, max(1, middle))
    if position <= 0:
        position = body.find(b"}", middle, len(body) - 1)
    return body[: position + 1] if position > 0 else body[: max(1, middle)]
