"""The built-in synthetic market (``source="demo"``): :class:`DemoSource` and how it is made."""

from technic_nb.sources.demo.market import DEMO_SECTORS
from technic_nb.sources.demo.source import DemoSource

__all__ = ["DEMO_SECTORS", "DemoSource"]
