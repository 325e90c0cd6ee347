"""What :class:`~technic_nb.testing.FakePolygonServer` counts and records (thread-safe)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["RequestRecord", "ServerCounters"]


@dataclass
class RequestRecord:
    """One request as the server saw it (logged when it arrives, completed as it is answered).

    Attributes:
        at: ``time.monotonic()`` when the request arrived (before any latency).
        symbol: the ticker of a bars request (None for other paths).
        later_page: True for the second and later pages of a paged answer.
        fault: the fault kind injected into the answer (None: served normally).
        answered: ``time.monotonic()`` just before the last bytes of the answer (or
            the fault) went out, so a client that has read an answer finds its
            request answered in the log (None before).
    """

    at: float
    symbol: str | None
    later_page: bool
    fault: str | None = None
    answered: float | None = None


class ServerCounters:
    """Counters and the request log of one server; every read returns a copy."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.reset()

    def reset(self) -> None:
        """Set every counter back to zero and clear the log."""
        with self._lock:
            self._total = 0
            self._requests: Counter[str] = Counter()
            self._successes: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._fault_kinds: Counter[str] = Counter()
            self._later_page_faults = 0
            self._addresses: Counter[tuple[str, int]] = Counter()
            self._auth_failures = 0
            self._connections = 0
            self._trickles_abandoned = 0
            self._log: list[RequestRecord] = []

    # -- recording ---------------------------------------------------------------

    def request(
        self, symbol: str | None, address: tuple[str, int], later_page: bool
    ) -> RequestRecord:
        """Count and log a request on arrival; the record is completed by the calls below."""
        record = RequestRecord(time.monotonic(), symbol, later_page)
        with self._lock:
            self._total += 1
            self._addresses[address] += 1
            if symbol is not None:
                self._requests[symbol] += 1
            self._log.append(record)
            self._changed.notify_all()
        return record

    def fault(self, record: RequestRecord, kind: str) -> None:
        """Count the fault about to be injected into the answer to ``record``."""
        with self._lock:
            record.fault = kind
            if record.symbol is not None:
                self._faults[record.symbol] += 1
                self._fault_kinds[kind] += 1
                self._later_page_faults += record.later_page

    def answered(self, record: RequestRecord) -> None:
        with self._lock:
            record.answered = time.monotonic()
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[RequestRecord]], bool], timeout: float) -> bool:
        """Wait until ``predicate(log)`` holds (checked at each arrival and answer);
        False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self._log), timeout)

    def success(self, symbol: str) -> None:
        with self._lock:
            self._successes[symbol] += 1

    def auth_failure(self) -> None:
        with self._lock:
            self._auth_failures += 1

    def connection_opened(self) -> None:
        with self._lock:
            self._connections += 1

    def trickle_abandoned(self) -> None:
        with self._lock:
            self._trickles_abandoned += 1

    # -- reading -----------------------------------------------------------------

    def _copy(self, counts: Counter[Any]) -> Counter[Any]:
        with self._lock:
            return Counter(counts)

    def total(self) -> int:
        with self._lock:
            return self._total

    def requests(self) -> Counter[str]:
        return self._copy(self._requests)

    def successes(self) -> Counter[str]:
        return self._copy(self._successes)

    def faults(self) -> Counter[str]:
        return self._copy(self._faults)

    def fault_kinds(self) -> Counter[str]:
        return self._copy(self._fault_kinds)

    def later_page_faults(self) -> int:
        with self._lock:
            return self._later_page_faults

    def addresses(self) -> Counter[tuple[str, int]]:
        return self._copy(self._addresses)

    def auth_failures(self) -> int:
        with self._lock:
            return self._auth_failures

    def connections(self) -> int:
        with self._lock:
            return self._connections

    def trickles_abandoned(self) -> int:
        with self._lock:
            return self._trickles_abandoned

    def log(self) -> list[RequestRecord]:
        """Copies of the records, in arrival order."""
        with self._lock:
            return [dataclasses.replace(record) for record in self._log]
