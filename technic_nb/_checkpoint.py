"""The persistent per-symbol checkpoint cache.

Two layers with independent keys, each entry keyed by the symbol's *bars key*
(source identity, symbol, date window, frequency, and for files their size and
modification time):

* **bars** (network sources only), in a partition per source identity and date
  window.  Changing an indicator or a scoring weight never refetches.
* **features** (every source): the per-symbol scan result (the indicator row,
  or a permanent data error), in a partition per source identity, date window,
  indicator parameters, lookback and code version.  Scoring runs on the whole
  table afterwards and is not cached, so changing a weight re-ranks in
  milliseconds.

Entries are stored in packs (:mod:`technic_nb._packstore`): every worker task
writes the entries it produced (8-64 symbols) as one file, atomically
(temporary name, then ``os.replace``), so a crash never leaves half an entry
and two scans writing the same folder never clash.  A re-run reads a
partition's packs once; when a partition holds many packs they are merged into
one.  An unreadable (truncated or corrupted) pack is reported as a warning,
removed, and its symbols are recomputed.  The folder is created with mode 0700.

Layout: ``cache_dir/checkpoints/{features,bars}/<partition hash>/pack-*.pkl``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import shutil
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import _packstore
from ._errors import ErrorType, ScanError
from ._packstore import PackIndex, UnreadablePack

__all__ = ["Checkpoint", "FeaturesLoad", "NotCached", "cache_size", "clear_cache"]

logger = logging.getLogger("technic_nb.cache")

#: Sub-folder of ``cache_dir`` that holds the checkpoints.
CHECKPOINT_FOLDER = "checkpoints"
#: A partition with more packs than this is merged into one pack when it is read.
COMPACT_ABOVE = 64
#: Cache folders created and checked by this process (see :meth:`Checkpoint._ensure`).
_PREPARED: set[Path] = set()


class NotCached(Exception):
    """Raised by a loader when an entry is not in the cache."""


@dataclass
class FeaturesLoad:
    """What :meth:`Checkpoint.load_features` found."""

    #: bars key -> the cached outcome
    found: dict[str, Any] = field(default_factory=dict)
    #: packs that could not be read (their entries count as not cached)
    unreadable: list[str] = field(default_factory=list)


def partition_name(text: str) -> str:
    """The folder name of a partition (a short hash of its defining text)."""
    return hashlib.sha1(text.encode()).hexdigest()[:20]


class Checkpoint:
    """The checkpoint cache under one folder; cheap to pickle (only the path)."""

    def __init__(self, cache_dir: str | Path) -> None:
        self.cache_dir = Path(cache_dir).expanduser()
        self.root = self.cache_dir / CHECKPOINT_FOLDER
        self._lock = threading.Lock()
        self._bars_index: dict[str, dict[str, PackIndex]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"cache_dir": self.cache_dir}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["cache_dir"])

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.cache_dir)!r})"

    def _ensure(self) -> None:
        """Create the cache folder (mode 0700) once per process, with a clear error if that fails.

        Worker tasks arrive with fresh copies of this object; the folders this
        process already prepared are remembered, so a task only checks that the
        folder is still there.
        """
        if self.cache_dir in _PREPARED and self.root.is_dir():
            return
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            if os.name == "posix" and self.cache_dir.stat().st_uid == os.getuid():
                os.chmod(self.cache_dir, 0o700)
            self.root.mkdir(exist_ok=True)
        except OSError as exc:
            raise ScanError(
                ErrorType.CACHE_ERROR,
                f"cannot create the cache folder {str(self.cache_dir)!r}: {exc.strerror}",
                details={"cache_dir": str(self.cache_dir)},
                suggestion="Pass cache_dir= a writable folder, or use_cache=False.",
            ) from None
        _PREPARED.add(self.cache_dir)

    def _folder(self, layer: str, partition: str) -> Path:
        return self.root / layer / partition_name(partition)

    def _write(self, layer: str, partition: str, values: Mapping[str, Any]) -> bool:
        """Write one pack; a failed write is logged and the scan goes on without it."""
        if not values:
            return True
        self._ensure()
        try:
            _packstore.write_pack(self._folder(layer, partition), values)
        except (OSError, pickle.PicklingError, TypeError, ValueError, AttributeError) as exc:
            # disk full, permissions, or a value pickle refuses: results are still returned
            logger.warning(
                "could not checkpoint %d %s entries under %s: %s",
                len(values),
                layer,
                self.cache_dir,
                exc,
            )
            return False
        return True

    def _drop_unreadable(self, error: UnreadablePack) -> None:
        logger.warning(
            "checkpoint file %s was unreadable (%s); its symbols are recomputed",
            error.path.name,
            error.reason,
        )
        with contextlib.suppress(OSError):
            error.path.unlink()

    # -- features layer --------------------------------------------------------
    def store_features(self, partition: str, outcomes: Mapping[str, Any]) -> bool:
        """Store outcomes (bars key -> outcome) as one pack; False if the write failed."""
        return self._write("features", partition, outcomes)

    def load_features(self, partition: str, keys: Iterable[str]) -> FeaturesLoad:
        """The cached outcomes of ``keys`` (bars keys) in ``partition``.

        Reads every pack of the partition once.  Unreadable packs are removed
        and listed in :attr:`FeaturesLoad.unreadable`; a partition of more than
        :data:`COMPACT_ABOVE` packs is merged into one pack.
        """
        self._ensure()
        wanted = set(keys)
        load = FeaturesLoad()
        folder = self._folder("features", partition)
        try:
            packs = _packstore.list_packs(folder)
        except OSError as exc:
            raise ScanError(
                ErrorType.CACHE_ERROR,
                f"cannot read the cache folder {str(folder)!r}: {exc.strerror or exc}",
                details={"cache_dir": str(self.cache_dir)},
                suggestion="Check the folder's permissions, pass cache_dir= another folder, "
                "or use_cache=False.",
            ) from None
        compact = len(packs) > COMPACT_ABOVE
        merged: dict[str, Any] = {}
        read: list[Path] = []
        for path in packs:
            try:
                values = _packstore.read_values(path, None if compact else wanted)
            except FileNotFoundError:  # merged away by another scan meanwhile
                continue
            except UnreadablePack as exc:
                self._drop_unreadable(exc)
                load.unreadable.append(path.name)
                continue
            read.append(path)
            if compact:
                merged.update(values)
            for key, value in values.items():
                if key in wanted:
                    load.found[key] = value
        with contextlib.suppress(OSError):  # left by a writer that died mid-write
            _packstore.remove_stale_temporaries(folder)
        if compact and merged and self._write("features", partition, merged):
            for path in read:
                with contextlib.suppress(OSError):
                    path.unlink()
        return load

    # -- bars layer ------------------------------------------------------------
    def store_bars(self, partition: str, bars: Mapping[str, Any]) -> bool:
        """Store bars (bars key -> frame) as one pack; False if the write failed."""
        return self._write("bars", partition, {key: _pack_bars(b) for key, b in bars.items()})

    def _bars_packs(self, partition: str) -> dict[str, PackIndex]:
        with self._lock:
            index = self._bars_index.get(partition)
            if index is None:
                index = {}
                for path in _packstore.list_packs(self._folder("bars", partition)):
                    try:
                        pack = _packstore.read_index(path)
                    except FileNotFoundError:
                        continue
                    except UnreadablePack as exc:
                        self._drop_unreadable(exc)
                        continue
                    for key in pack.entries:
                        index[key] = pack
                self._bars_index[partition] = index
            return index

    def load_bars(self, partition: str, bars_key: str) -> Any:
        """Cached bars for ``bars_key``, or raise :class:`NotCached` (also if unreadable).

        The partition's pack headers are read on the first call and kept; bars
        stored after that are not seen by this object (a scan stores only bars
        it did not find).
        """
        self._ensure()
        pack = self._bars_packs(partition).get(bars_key)
        if pack is None:
            raise NotCached
        try:
            return _unpack_bars(_packstore.read_value(pack, bars_key))
        except FileNotFoundError:
            raise NotCached from None
        except UnreadablePack as exc:
            with self._lock:
                index = self._bars_index.get(partition, {})
                for key in [k for k, v in index.items() if v.path == exc.path]:
                    del index[key]
            self._drop_unreadable(exc)
            raise NotCached from None

    # -- maintenance -----------------------------------------------------------
    def forget(self, layer: str, partition: str, keys: Iterable[str]) -> int:
        """Remove ``keys`` from a partition of ``layer`` ("features" or "bars").

        Packs holding any of them are rewritten without them.  Returns how many
        entries were removed.
        """
        unwanted = set(keys)
        removed = 0
        for path in _packstore.list_packs(self._folder(layer, partition)):
            try:
                index = _packstore.read_index(path)
            except (FileNotFoundError, UnreadablePack):
                continue
            hit = unwanted.intersection(index.entries)
            if not hit:
                continue
            try:
                values = _packstore.read_values(path)
            except (FileNotFoundError, UnreadablePack):
                continue
            kept = {k: v for k, v in values.items() if k not in hit}
            if kept and not self._write(layer, partition, kept):
                continue
            with contextlib.suppress(OSError):
                path.unlink()
            removed += len(hit)
        with self._lock:
            self._bars_index.clear()
        return removed


_BARS_FORMAT = "bars-1"


def _pack_bars(bars: Any) -> Any:
    """A date-indexed numeric frame as plain arrays (pickled 4x faster than the frame).

    Values come back as float64 (what normalized bars hold); anything else is
    stored as it is.
    """
    if not (
        isinstance(bars, pd.DataFrame)
        and isinstance(bars.index, pd.DatetimeIndex)
        and bars.index.tz is None
    ):
        return bars
    values = bars.to_numpy()
    if values.dtype != np.float64:
        return bars
    index = bars.index
    return (
        _BARS_FORMAT,
        index.asi8,
        str(index.dtype),
        index.name,
        index.freqstr,
        bars.columns.tolist(),
        values,
    )


def _unpack_bars(value: Any) -> Any:
    if isinstance(value, tuple) and value and value[0] == _BARS_FORMAT:
        _, stamps, dtype, name, freq, columns, values = value
        index = pd.DatetimeIndex(stamps.view(dtype), name=name, freq=freq)
        return pd.DataFrame(values, index=index, columns=columns)
    return value


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
