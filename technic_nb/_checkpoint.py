"""The persistent per-symbol checkpoint cache (joblib.Memory).

Two layers with independent keys:

* **bars** (network sources only): key = source identity, symbol, date window,
  frequency.  Changing an indicator or a scoring weight never refetches.
* **features** (every source): the per-symbol scan result (the indicator row, or a
  permanent data error), key = the bars' key, the indicator parameters, the
  lookback and a code version.  Scoring runs on the whole table afterwards and
  is not cached, so changing a weight re-ranks in milliseconds.

Each entry is written atomically by joblib.  An unreadable (corrupted or
truncated) entry is reported as a warning and recomputed.  The folder is
created with mode 0700.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import shutil
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import joblib

from . import _checkpoint_entries
from ._errors import ErrorType, ScanError

__all__ = ["Checkpoint", "NotCached", "cache_size", "clear_cache"]

logger = logging.getLogger("technic_nb.cache")

#: Sub-folder of ``cache_dir`` that holds the joblib.Memory store.
CHECKPOINT_FOLDER = "checkpoints"


#: joblib.Memory objects opened in this process, by folder: a worker process opens each
#: folder once, not once per task (opening checks the cached functions' code on disk).
_OPENED: dict[Path, tuple[Any, Any, Any]] = {}


class NotCached(Exception):
    """Raised by a loader to read an entry without computing it."""


def _not_cached() -> Any:
    raise NotCached


class Checkpoint:
    """The checkpoint cache under one folder; cheap to pickle (only the path)."""

    def __init__(self, cache_dir: str | Path) -> None:
        self.cache_dir = Path(cache_dir).expanduser()
        self._lock = threading.Lock()
        self._memory: joblib.Memory | None = None
        self._features: Any = None
        self._bars: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"cache_dir": self.cache_dir}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["cache_dir"])

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.cache_dir)!r})"

    def _ensure(self) -> None:
        if self._memory is not None:
            return
        with self._lock:
            if self._memory is not None:
                return
            shared = _OPENED.get(self.cache_dir)
            if shared is not None:  # already opened in this process (e.g. by an earlier task)
                self._memory, self._features, self._bars = shared
                return
            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                if os.name == "posix" and self.cache_dir.stat().st_uid == os.getuid():
                    os.chmod(self.cache_dir, 0o700)
            except OSError as exc:
                raise ScanError(
                    ErrorType.CACHE_ERROR,
                    f"cannot create the cache folder {str(self.cache_dir)!r}: {exc.strerror}",
                    details={"cache_dir": str(self.cache_dir)},
                    suggestion="Pass cache_dir= a writable folder, or use_cache=False.",
                ) from None
            memory = joblib.Memory(self.cache_dir / CHECKPOINT_FOLDER, verbose=0)
            self._features = memory.cache(_checkpoint_entries.features_entry, ignore=["compute"])
            self._bars = memory.cache(_checkpoint_entries.bars_entry, ignore=["fetch"])
            self._memory = memory
            _OPENED[self.cache_dir] = (memory, self._features, self._bars)

    # -- features layer --------------------------------------------------------
    def features(
        self, symbol: str, bars_key: str, params_key: str, version: str, compute: Callable[[], Any]
    ) -> Any:
        """The cached result for this key, computing and storing it if absent.

        The result is stored as one pickled blob: joblib's own pickler walks a
        dict of floats in Python, several times slower than the C pickler.
        """
        self._ensure()

        def compute_blob() -> bytes:
            return pickle.dumps(compute(), protocol=pickle.HIGHEST_PROTOCOL)

        return _unblob(self._features(symbol, bars_key, params_key, version, compute=compute_blob))

    def load_features(self, symbol: str, bars_key: str, params_key: str, version: str) -> Any:
        """The cached result, or raise :class:`NotCached` (also for an unreadable entry).

        A hit hashes the key once; only a miss asks the store whether an entry
        exists (then it was unreadable: :class:`CorruptEntry`).
        """
        self._ensure()
        try:
            return _unblob(
                self._features(symbol, bars_key, params_key, version, compute=_not_cached)
            )
        except (NotCached, pickle.UnpicklingError, EOFError, ValueError):
            if not self._features.check_call_in_cache(
                symbol, bars_key, params_key, version, compute=None
            ):
                raise NotCached from None
            logger.warning(
                "checkpoint entry for %s was unreadable (corrupted or truncated); recomputing",
                symbol,
            )
            raise CorruptEntry(symbol) from None

    # -- bars layer ------------------------------------------------------------
    def bars(self, bars_key: str, fetch: Callable[[], Any]) -> Any:
        """Cached bars for ``bars_key``, fetching and storing them if absent."""
        self._ensure()
        return self._bars(bars_key, fetch=fetch)

    def load_bars(self, bars_key: str) -> Any:
        """Cached bars for ``bars_key``, or raise :class:`NotCached` (also if unreadable)."""
        self._ensure()
        if not self._bars.check_call_in_cache(bars_key, fetch=None):
            raise NotCached
        return self._bars(bars_key, fetch=_not_cached)

    def store_bars(self, bars_key: str, bars: Any) -> None:
        """Write ``bars`` under ``bars_key`` (no-op when an entry exists)."""
        self._ensure()
        self._bars(bars_key, fetch=lambda: bars)

    # -- maintenance -----------------------------------------------------------
    def forget(self, entries: Iterable[tuple[str, str, str, str]], bars_keys: Iterable[str]) -> int:
        """Remove the given feature entries and bars entries; return how many were removed."""
        self._ensure()
        removed = 0
        for symbol, bars_key, params_key, version in entries:
            try:
                self._features.call_and_shelve(
                    symbol, bars_key, params_key, version, compute=_not_cached
                ).clear()
                removed += 1
            except NotCached:
                pass
        for bars_key in bars_keys:
            try:
                self._bars.call_and_shelve(bars_key, fetch=_not_cached).clear()
                removed += 1
            except NotCached:
                pass
        return removed


def _unblob(value: Any) -> Any:
    return pickle.loads(value) if isinstance(value, bytes) else value


class CorruptEntry(NotCached):
    """An entry existed but could not be read; it will be recomputed."""


def cache_size(cache_dir: str | Path) -> int:
    """Bytes used by the checkpoint cache under ``cache_dir`` (0 if absent)."""
    root = Path(cache_dir).expanduser()
    total = 0
    if root.is_dir():
        for dirpath, _dirnames, filenames in os.walk(root):
            for name in filenames:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def clear_cache(cache_dir: str | Path) -> None:
    """Delete the whole checkpoint cache under ``cache_dir``."""
    root = Path(cache_dir).expanduser() / CHECKPOINT_FOLDER
    if root.exists():
        shutil.rmtree(root)
