"""Test helpers shipped with the package.

:class:`FakePolygonServer` is a local, fault-injecting server speaking the
Polygon aggregates API, for tests, benchmarks and notebooks that exercise
:class:`~technic_nb.sources.polygon.source.PolygonSource` without a network or an API key.
Its fault kinds are listed in :mod:`technic_nb.testing._faults`.
"""

from technic_nb.testing._counters import RequestRecord
from technic_nb.testing._faults import (
    FAULT_KINDS,
    NOT_ENTITLED,
    RATE_FAULT_KINDS,
    TRANSIENT_FAULT_KINDS,
    UNKNOWN_KEY,
    Fault,
    fault_plan,
)
from technic_nb.testing._server import FakePolygonServer

__all__ = [
    "FAULT_KINDS",
    "NOT_ENTITLED",
    "RATE_FAULT_KINDS",
    "TRANSIENT_FAULT_KINDS",
    "UNKNOWN_KEY",
    "FakePolygonServer",
    "Fault",
    "RequestRecord",
    "fault_plan",
]
