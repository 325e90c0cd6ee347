"""The scan configuration: a frozen, validated dataclass."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from joblib import Memory

from technic_nb.core.errors import config_error
from technic_nb.core.indicators import IndicatorParams
from technic_nb.core.scoring import ScoringParams, ScoringWeights
from technic_nb.sources.base import DataSource
from technic_nb.sources.retry.policy import RetryPolicy

__all__ = ["BACKENDS", "ScanConfig", "default_cache_dir"]

#: joblib backends accepted by :attr:`ScanConfig.backend`.
BACKENDS: tuple[str, ...] = ("loky", "threading", "multiprocessing", "sequential", "dask")

#: Trading bars needed for SMA 200 and the 52-week (252-bar) high, plus warm-up for
#: the recursive indicators (RSI, ATR, MACD).
DEFAULT_LOOKBACK_DAYS = 300


def default_cache_dir() -> Path:
    """Where checkpoints live when ``cache_dir`` is not given.

    ``$TECHNIC_NB_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/technic_nb``, else
    ``~/.cache/technic_nb``.  The folder is created private to the user (0700).
    """
    env = os.environ.get("TECHNIC_NB_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "technic_nb"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class ScanConfig:
    """Everything that defines a scan.

    Build one, then change it with :meth:`replace` (it is frozen).  Every invalid
    value raises a :class:`~technic_nb.ScanError` of type ``config_error`` that
    names the field, the value and what is allowed.

    Attributes:
        universe: which symbols to scan.  None (the default) follows the source:
            every symbol it lists (the demo market's symbols, a folder's
            ``universe.csv`` or its files); a source that lists none needs a
            list.  Or ``"source"`` (the same, said explicitly), ``"demo"`` (the
            demo market's symbols: only with a demo source), a list of symbols,
            or the path of a CSV file with columns ``symbol,name,sector``.
        source: where bars come from: a :class:`~technic_nb.sources.DataSource`
            or a spec: ``"demo"``, ``"demo:N"`` (N synthetic symbols),
            ``"csv:DIR"`` (a folder of ``SYMBOL.csv[.gz]`` / ``.parquet`` files),
            ``"polygon"`` or ``"polygon:BASE_URL"``.
        lookback_days: trading bars of history used per symbol (default 300:
            enough for SMA 200 and the 52-week high, with indicator warm-up).
        as_of: scan as of the close of this date, ignoring any later bar
            (``date``, ISO string, or None for the latest data).
        min_price: drop symbols whose last close is below this (dollars).
        min_dollar_volume: drop symbols whose 20-day average dollar volume is below this.
        min_bars: drop symbols with fewer bars than this in the lookback window.
        sectors: keep only these sectors (case-insensitive), or None for all.
        max_symbols: scan at most this many symbols (the first ones of the universe).
        top_n: keep the best N rows in the ranked table (None keeps all).
        cache_dir: checkpoint folder (None: :func:`default_cache_dir`); the
            ``joblib.Memory`` location is its ``checkpoints`` sub-folder.
        memory: the checkpoint cache as a ``joblib.Memory`` or its location (a
            folder), the scikit-learn convention; ``Memory(None)`` caches nothing.
            Give either ``memory`` or ``cache_dir``.
        use_cache: read and write the per-symbol checkpoint cache.
        cache_bytes_limit: after each scan, evict the least recently used cache
            entries until the cache holds at most this many bytes (an integer,
            or a text such as ``"2G"``); None keeps everything.
        cache_age_limit: after each scan, evict cache entries not used for this
            long (a ``datetime.timedelta``, or a number of days); None keeps them.
        n_jobs: joblib workers for the CPU stage (-1: all cores).
        backend: joblib backend for the CPU stage: ``loky`` (processes, default),
            ``threading``, ``multiprocessing``, ``sequential`` or ``dask`` (a Dask
            cluster, see :attr:`dask_client`).
        fetch_concurrency: I/O threads (and connections) for network sources.
        max_tries: attempts per request for transient fetch failures (None: the
            source's own :class:`~technic_nb.RetryPolicy`, 5 by default).
        max_time: seconds spent at most retrying one request (None: the source's
            policy, 60 s by default).
        indicators: indicator parameters.
        scoring: scoring parameters (weights, thresholds, trade plan).
        benchmark: symbol for the market regime; ``"auto"`` asks the source; None skips.
        factors: user factors (functions decorated with :func:`~technic_nb.factor`,
            or ready-made ones from :mod:`technic_nb.factors`): computed per symbol
            in the workers on the bars the scan uses, cached per symbol and
            factor, and added as table columns.
        screen: keep only the rows for which it holds: an expression over the
            table's columns such as ``"rsi < 35 and close > sma200"``, or a
            callable ``table -> boolean mask``; applied after scoring, before
            ranking; the rows it removes go to ``result.filtered`` with the reason.
        dask_client: with ``backend="dask"`` only: the cluster to run on, as a
            scheduler address (``"tcp://127.0.0.1:8786"``, ``tls://...``,
            ``inproc://...``) or a ``distributed.Client``; None uses the current
            default client (``distributed.get_client()``).
    """

    universe: str | Sequence[str] | Path | None = None
    source: DataSource | str = "demo"
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    as_of: dt.date | str | None = None
    min_price: float = 1.0
    min_dollar_volume: float = 250_000.0
    min_bars: int = 200
    sectors: Sequence[str] | None = None
    max_symbols: int | None = None
    top_n: int | None = None
    cache_dir: Path | str | None = None
    memory: Memory | Path | str | None = None
    use_cache: bool = True
    cache_bytes_limit: int | str | None = None
    cache_age_limit: dt.timedelta | float | None = None
    n_jobs: int = -1
    backend: str = "loky"
    fetch_concurrency: int = 8
    max_tries: int | None = None
    max_time: float | None = None
    indicators: IndicatorParams = dataclasses.field(default_factory=IndicatorParams)
    scoring: ScoringParams = dataclasses.field(default_factory=ScoringParams)
    benchmark: str | None = "auto"
    dask_client: str | object | None = None
    factors: Sequence[Any] = ()
    screen: Any = None

    def __post_init__(self) -> None:
        # in field order: with several invalid fields the first one is reported
        self._check_scope()
        self._check_cache()
        _check_execution(self)
        self._check_parameters()
        if self.min_bars > self.lookback_days:  # pragma: no cover - caught above
            raise config_error("min_bars", self.min_bars, "at most lookback_days")

    def _check_scope(self) -> None:
        """Validate (and normalize) the fields from ``universe`` to ``top_n``."""
        set_ = object.__setattr__
        set_(self, "universe", _check_universe(self.universe))
        if not isinstance(self.source, DataSource | str) or (
            isinstance(self.source, str) and not self.source.strip()
        ):
            raise config_error(
                "source",
                self.source,
                "a DataSource or a spec such as 'demo', 'demo:2000', 'csv:DIR' or 'polygon'",
            )
        if not _is_int(self.lookback_days) or not 30 <= self.lookback_days <= 20_000:
            raise config_error("lookback_days", self.lookback_days, "an integer from 30 to 20000")
        set_(self, "as_of", _check_as_of(self.as_of))
        for name in ("min_price", "min_dollar_volume"):
            value = getattr(self, name)
            if not _is_number(value) or not value >= 0 or value == float("inf"):
                raise config_error(name, value, "a finite number >= 0")
        if not _is_int(self.min_bars) or not 1 <= self.min_bars <= self.lookback_days:
            raise config_error(
                "min_bars",
                self.min_bars,
                f"an integer from 1 to lookback_days ({self.lookback_days})",
            )
        set_(self, "sectors", _check_sectors(self.sectors))
        for name in ("max_symbols", "top_n"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                raise config_error(name, value, "None or an integer >= 1")

    def _check_cache(self) -> None:
        """Validate (and normalize) the fields from ``cache_dir`` to ``cache_age_limit``."""
        set_ = object.__setattr__
        if self.cache_dir is not None:
            if not isinstance(self.cache_dir, str | os.PathLike) or not str(self.cache_dir):
                raise config_error("cache_dir", self.cache_dir, "None or a folder path")
            set_(self, "cache_dir", Path(self.cache_dir).expanduser())
        set_(self, "memory", _check_memory(self.memory, self.cache_dir))
        if not isinstance(self.use_cache, bool):
            raise config_error("use_cache", self.use_cache, "True or False")
        set_(self, "cache_bytes_limit", _check_bytes_limit(self.cache_bytes_limit))
        set_(self, "cache_age_limit", _check_age_limit(self.cache_age_limit))

    def _check_parameters(self) -> None:
        """Validate (and normalize) the fields from ``indicators`` to ``dask_client``."""
        if not isinstance(self.indicators, IndicatorParams):
            raise config_error("indicators", self.indicators, "an IndicatorParams")
        if isinstance(self.scoring, ScoringWeights):
            object.__setattr__(
                self, "scoring", dataclasses.replace(ScoringParams(), weights=self.scoring)
            )
        if not isinstance(self.scoring, ScoringParams):
            raise config_error("scoring", self.scoring, "a ScoringParams (or ScoringWeights)")
        if self.benchmark is not None and (
            not isinstance(self.benchmark, str) or not self.benchmark.strip()
        ):
            raise config_error("benchmark", self.benchmark, "'auto', a symbol, or None")
        _check_dask_client(self.dask_client, self.backend)
        _check_research(self)

    @property
    def source_label(self) -> str:
        """The source as text, with any API key in it masked (for displays and logs)."""
        from technic_nb.sources.polygon.config import redact

        return redact(self.source if isinstance(self.source, str) else repr(self.source))

    def __repr__(self) -> str:
        fields = []
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            text = repr(value)
            if item.name == "source":
                text = repr(self.source_label) if isinstance(value, str) else self.source_label
            fields.append(f"{item.name}={text}")
        return f"ScanConfig({', '.join(fields)})"

    def replace(self, **changes: Any) -> ScanConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def resolved_cache_dir(self) -> Path:
        """The cache folder this config uses (``memory``'s location when it is given)."""
        if isinstance(self.memory, Memory) and self.memory.location is not None:
            return Path(str(self.memory.location))
        if isinstance(self.memory, Path):
            return self.memory
        return Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()

    @property
    def checkpoint_location(self) -> Path | None:
        """The ``joblib.Memory`` location of the checkpoints; None when nothing is cached."""
        if not self.use_cache:
            return None
        if isinstance(self.memory, Memory):
            return None if self.memory.location is None else Path(str(self.memory.location))
        if isinstance(self.memory, Path):
            return self.memory
        return self.resolved_cache_dir / "checkpoints"

    def retry_policy(self, base: RetryPolicy) -> RetryPolicy:
        """``base`` with :attr:`max_tries` and :attr:`max_time` applied where they are set."""
        changes: dict[str, Any] = {}
        if self.max_tries is not None:
            changes["max_tries"] = self.max_tries
        if self.max_time is not None:
            changes["max_time"] = float(self.max_time)
        return dataclasses.replace(base, **changes) if changes else base


def _check_execution(config: ScanConfig) -> None:
    """Validate the fields from ``n_jobs`` to ``max_time``."""
    if (
        not _is_int(config.n_jobs)
        or config.n_jobs == 0
        or config.n_jobs < -64
        or config.n_jobs > 1024
    ):
        raise config_error(
            "n_jobs", config.n_jobs, "a non-zero integer (-1 for all cores, 1 for no workers)"
        )
    if config.backend not in BACKENDS:
        raise config_error("backend", config.backend, f"one of {', '.join(BACKENDS)}")
    if not _is_int(config.fetch_concurrency) or not 1 <= config.fetch_concurrency <= 256:
        raise config_error(
            "fetch_concurrency", config.fetch_concurrency, "an integer from 1 to 256"
        )
    if config.max_tries is not None and (
        not _is_int(config.max_tries) or not 1 <= config.max_tries <= 100
    ):
        raise config_error("max_tries", config.max_tries, "None or an integer from 1 to 100")
    if config.max_time is not None and (
        not _is_number(config.max_time) or not 0 < config.max_time <= 86_400
    ):
        raise config_error("max_time", config.max_time, "None or a number of seconds in (0, 86400]")


def _check_research(config: ScanConfig) -> None:
    """Validate ``factors`` (names free and distinct) and ``screen`` (known columns)."""
    from technic_nb.core.scoring.columns import builtin_columns, table_columns
    from technic_nb.rules.factors import Factor, check_factor_names
    from technic_nb.rules.screens.screen import as_screen

    factors = config.factors
    if isinstance(factors, Factor):
        factors = (factors,)
    if isinstance(factors, str) or not isinstance(factors, Sequence):
        raise config_error("factors", factors, "a list of factors (tn.factor objects)")
    factors = tuple(factors)
    if not all(isinstance(item, Factor) for item in factors):
        raise config_error(
            "factors", factors, "a list of factors: functions decorated with @tn.factor"
        )
    check_factor_names(factors, builtin_columns(config.indicators, config.scoring))
    object.__setattr__(config, "factors", factors)
    screen = as_screen(config.screen)
    if screen is not None and screen.expression is not None:
        columns, prefixes = table_columns(config.indicators, config.scoring, factors)
        open_ended = [c for c in screen.columns if c.startswith(tuple(prefixes))]
        screen.validate([*columns, *open_ended])
    object.__setattr__(config, "screen", screen)


def _check_universe(value: Any) -> str | tuple[str, ...] | Path | None:
    allowed = (
        "None (the source's symbols), 'source', 'demo', a list of symbols, or the path of a "
        "CSV with symbol,name,sector"
    )
    if value is None:
        return None
    if isinstance(value, Path):
        return value.expanduser()
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise config_error("universe", value, allowed)
        if text.lower() in ("demo", "source", "all"):
            return text.lower()
        if text.lower().endswith(".csv") or os.sep in text or "/" in text:
            return Path(text).expanduser()
        raise config_error("universe", value, allowed)
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        symbols = tuple(value)
        if not symbols:
            raise config_error(
                "universe", value, "a non-empty list of symbols (or " + allowed + ")"
            )
        if not all(isinstance(s, str) for s in symbols):
            raise config_error("universe", value, "a list of symbol strings")
        return symbols
    raise config_error("universe", value, allowed)


def _check_memory(value: Any, cache_dir: Any) -> Memory | Path | None:
    if value is None:
        return None
    if cache_dir is not None:
        raise config_error(
            "memory", value, "None when cache_dir is given (give one of memory and cache_dir)"
        )
    if isinstance(value, Memory):
        if value.location is not None and not isinstance(value.location, str | os.PathLike):
            raise config_error(
                "memory", value, "a joblib.Memory on a local folder (its location a path)"
            )
        return value
    if isinstance(value, str | os.PathLike) and str(value):
        return Path(value).expanduser()
    raise config_error("memory", value, "None, a folder path, or a joblib.Memory")


def _check_bytes_limit(value: Any) -> int | str | None:
    allowed = "None, a number of bytes >= 0, or a text such as '500M' or '2G'"
    if value is None:
        return None
    if _is_int(value):
        if value < 0:
            raise config_error("cache_bytes_limit", value, allowed)
        return int(value)
    if isinstance(value, str):
        from joblib.disk import memstr_to_bytes

        try:
            memstr_to_bytes(value.strip())
        except (ValueError, KeyError, IndexError):
            raise config_error("cache_bytes_limit", value, allowed) from None
        return value.strip()
    raise config_error("cache_bytes_limit", value, allowed)


def _check_age_limit(value: Any) -> dt.timedelta | None:
    allowed = "None, a datetime.timedelta >= 0, or a number of days >= 0"
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        if value < dt.timedelta(0):
            raise config_error("cache_age_limit", value, allowed)
        return value
    if _is_number(value) and value >= 0 and value != float("inf"):
        return dt.timedelta(days=float(value))
    raise config_error("cache_age_limit", value, allowed)


def _check_dask_client(value: Any, backend: str) -> None:
    if value is None:
        return
    from technic_nb.engine import dask as _dask  # imports no Dask module

    if backend != "dask":
        raise config_error("dask_client", value, "None unless backend='dask'")
    if not (_dask.is_scheduler_address(value) or _dask.is_client(value)):
        raise config_error("dask_client", value, _dask.ALLOWED)


def _check_as_of(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return value.to_pydatetime().date()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise config_error("as_of", value, "None, a datetime.date, or an ISO date string 'YYYY-MM-DD'")


def _check_sectors(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = (value,)
    if (
        not isinstance(value, Sequence)
        or not value
        or not all(isinstance(s, str) and s.strip() for s in value)
    ):
        raise config_error("sectors", value, "None or a non-empty list of sector names")
    return tuple(s.strip() for s in value)
