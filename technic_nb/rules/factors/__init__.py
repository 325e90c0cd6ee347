"""User factors: indicators written by the researcher, computed per symbol.

:mod:`~technic_nb.rules.factors.define` (the :class:`Factor` and the ``@factor``
decorator), :mod:`~technic_nb.rules.factors.names`,
:mod:`~technic_nb.rules.factors.keys` (cache keys),
:mod:`~technic_nb.rules.factors.run` (running factors on bars) and
:mod:`~technic_nb.rules.factors.library` (ready-made factors, ``tn.factors``).
"""

from technic_nb.rules.factors.define import TIMEFRAMES, Factor, check_factor_names, factor
from technic_nb.rules.factors.run import FACTOR_ERROR, compute_factors, factor_error

__all__ = [
    "FACTOR_ERROR",
    "TIMEFRAMES",
    "Factor",
    "check_factor_names",
    "compute_factors",
    "factor",
    "factor_error",
]
