"""Ready-made factors built on TA-Lib: ``tn.factors.bollinger()``, ``tn.factors.adx()``...

Each returns a :class:`~technic_nb.Factor` taken at the last bar of the bars it
is given; their formulas, columns and the bars each needs are documented in
:mod:`technic_nb.rules.factors.library`, whose public names this module is.
"""

from technic_nb.rules.factors import library as _library
from technic_nb.rules.factors.library import *  # noqa: F403 - this module is the library's face

__all__ = list(_library.__all__)
