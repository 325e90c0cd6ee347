"""Test helpers shipped with the package.

:class:`FakePolygonServer` is a local, fault-injecting server speaking the
Polygon aggregates API, for tests, benchmarks and notebooks that exercise
:class:`~technic_nb.sources._http.PolygonSource` without a network or an API key.
"""

from ._server import FAULT_KINDS, RATE_FAULT_KINDS, FakePolygonServer, Fault, fault_plan

__all__ = ["FAULT_KINDS", "RATE_FAULT_KINDS", "FakePolygonServer", "Fault", "fault_plan"]
