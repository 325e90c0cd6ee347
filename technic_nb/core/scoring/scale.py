"""The subscores' names and their common scale (what every scoring module agrees on)."""

from __future__ import annotations

__all__ = ["SUBSCORES", "SUBSCORE_LIMIT"]

#: The subscore columns, in weight order.
SUBSCORES: tuple[str, ...] = ("trend", "momentum", "volume", "volatility", "oscillator", "breakout")
#: Every subscore is clipped to [-SUBSCORE_LIMIT, SUBSCORE_LIMIT].
SUBSCORE_LIMIT = 3.0
