"""technic_nb: technical stock-market scans, interactive in JupyterLab.

Build a :class:`ScanConfig`, call :func:`run_scan` (or :func:`scan` for the full
:class:`ScanResult`), and get a ranked table of TechRatings, signals and trade
plans, a per-symbol error table and a status line.  The built-in demo market
needs no network and no API key::

    import technic_nb as tn
    table, status = tn.run_scan(tn.ScanConfig(universe="demo"))
"""

from __future__ import annotations

from . import factors
from ._cache import cache_size
from ._cancel import ScanCancellation, ScanCancelled
from ._config import ScanConfig, default_cache_dir
from ._engine import clear_scan_cache as clear_cache
from ._engine import prune_cache, run_scan, scan
from ._errors import ErrorType, ScanError
from ._factors import Factor, factor
from ._indicators import IndicatorParams
from ._progress import STAGES, MultiStageProgressTracker, ProgressSnapshot
from ._regime import MarketRegime
from ._replay import replay
from ._replay_result import ReplayResult, diff
from ._replay_runner import ReplayRunner
from ._result import ScanResult
from ._retry import RetryPolicy
from ._runner import RunnerState, ScanRunner
from ._scoring import ScoringParams, ScoringWeights
from ._screen import Screen
from ._user_scores import UserSubscore, by_rank, by_thresholds
from .sources import (
    DataSource,
    DateWindow,
    DemoSource,
    DirectorySource,
    InMemorySource,
    PolygonSource,
)

__version__ = "0.1.0"

__all__ = [
    "STAGES",
    "DataSource",
    "DateWindow",
    "DemoSource",
    "DirectorySource",
    "ErrorType",
    "Factor",
    "InMemorySource",
    "IndicatorParams",
    "MarketRegime",
    "MultiStageProgressTracker",
    "PolygonSource",
    "ProgressSnapshot",
    "ReplayResult",
    "ReplayRunner",
    "RetryPolicy",
    "RunnerState",
    "ScanCancellation",
    "ScanCancelled",
    "ScanConfig",
    "ScanError",
    "ScanResult",
    "ScanRunner",
    "ScoringParams",
    "ScoringWeights",
    "Screen",
    "UserSubscore",
    "__version__",
    "by_rank",
    "by_thresholds",
    "cache_size",
    "clear_cache",
    "default_cache_dir",
    "diff",
    "factor",
    "factors",
    "prune_cache",
    "replay",
    "run_scan",
    "scan",
]
