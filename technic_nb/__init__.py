"""technic_nb: technical stock-market scans, interactive in JupyterLab.

Build a :class:`ScanConfig`, call :func:`run_scan` (or :func:`scan` for the full
:class:`ScanResult`), and get a ranked table of TechRatings, signals and trade
plans, a per-symbol error table and a status line.  The built-in demo market
needs no network and no API key::

    import technic_nb as tn
    table, status = tn.run_scan(tn.ScanConfig(universe="demo"))
"""

from __future__ import annotations

from technic_nb import factors
from technic_nb._version import __version__
from technic_nb.core.cancel import ScanCancellation, ScanCancelled
from technic_nb.core.errors import ErrorType, ScanError
from technic_nb.core.indicators import IndicatorParams
from technic_nb.core.regime import MarketRegime
from technic_nb.core.scoring import ScoringParams, ScoringWeights
from technic_nb.core.scoring.user import UserSubscore, by_rank, by_thresholds
from technic_nb.engine.cache.location import cache_size
from technic_nb.engine.config import ScanConfig, default_cache_dir
from technic_nb.engine.hooks import ScanHooks
from technic_nb.engine.progress import STAGES, MultiStageProgressTracker, ProgressSnapshot
from technic_nb.engine.result import ScanResult
from technic_nb.engine.scan import clear_scan_cache as clear_cache
from technic_nb.engine.scan import prune_cache, run_scan, scan
from technic_nb.notebook.runner import ReplayRunner, RunnerState, ScanRunner
from technic_nb.research.evaluation.rescoring import weight_grid
from technic_nb.research.replay.result import ReplayResult, diff
from technic_nb.research.replay.run import replay
from technic_nb.rules.factors import Factor, factor
from technic_nb.rules.screens.screen import Screen
from technic_nb.sources import (
    DataSource,
    DateWindow,
    DemoSource,
    DirectorySource,
    InMemorySource,
    PolygonSource,
)
from technic_nb.sources.retry.policy import RetryPolicy

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
    "ScanHooks",
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
    "weight_grid",
]
