"""The persistent per-symbol checkpoint cache, on ``joblib.Memory``.

Two layers, each one ``joblib.Memory`` entry per symbol, written the moment that
symbol is done (keys in :mod:`technic_nb.engine.cache.cached`):

* **bars** (network sources only): the fetched bars of a symbol, keyed by the
  source's identity, the symbol and the date window; written by the thread that
  fetched them, as soon as the last page arrived.  Changing an indicator or a
  scoring weight never fetches again.
* **features** (every source): the per-symbol scan result (the indicator row, or
  a permanent data error), keyed by the bars' key, the indicator parameters, the
  lookback and a code version; written by the worker that computed it.
  Scoring runs on the whole table afterwards and is not cached, so changing a
  weight re-ranks in milliseconds.

Every stored value is a sealed envelope (:mod:`technic_nb.engine.cache.envelope`)
whose checksum is verified on every load: an entry that cannot be loaded or does not verify
(truncated, a flipped bit, zero bytes, a directory where the file should be, a
value of another type) is reported through ``on_warning``, removed, and
recomputed.  It never crashes a scan and never changes a number silently.

Each entry is written under a temporary name and renamed into place, so a
crash or a kill never leaves half a file; nothing is locked: two scans writing
the same entry write equal values.  An entry that cannot be written (a full
disk, a quota) is not a failure of the scan: the value is used, the partial
file removed, and the entry noted (an ``UnsavedEntry``); the scan's
``result.warnings`` then says in one line how many entries were not saved, why,
and what to do.  The cache never grows without bound when a size or age limit is
given (:meth:`CheckpointCache.prune`, which calls ``Memory.reduce_size``: least
recently used entries go first).

Layout: ``<location>/joblib/technic_nb/engine/cache/cached/<function>/<hash>/output.pkl``
(no ``metadata.json``: see :class:`~technic_nb.compat.joblib_internals.LeanFileStore`);
where the location is, for a config, is decided in one place:
:mod:`technic_nb.engine.cache.location`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from joblib import Memory

from technic_nb.compat.joblib_internals import STORE_BACKEND
from technic_nb.core.errors import ScanError, cache_error
from technic_nb.engine.cache import cached as _cached
from technic_nb.engine.cache.envelope import CorruptEntry, Expected, UnsavedEntry, seal, unseal

__all__ = ["CheckpointCache", "Layer"]

logger = logging.getLogger("technic_nb.cache")


T = TypeVar("T")
Warn = Callable[[str], None]


class Layer:
    """One layer of the cache: one ``joblib.Memory`` entry per key, through one function
    of :mod:`~technic_nb.engine.cache.cached` (``key`` is that function's arguments)."""

    def __init__(self, memory: Memory, function: Callable[..., Any]) -> None:
        self.name = function.__name__.removesuffix("_entry")
        self._memo = memory.cache(function, ignore=["produce"], verbose=0)

    def get(
        self,
        key: tuple[Any, ...],
        produce: Callable[[], T],
        expected: Expected,
        on_warning: Warn,
    ) -> tuple[T, bool]:
        """``(value, from_cache)`` of the entry ``key``: read back and verified, or (on a
        miss, or an unreadable entry) ``produce()``, stored before this returns."""
        return _load_or_compute(self._memo, key, produce, expected, on_warning)

    def peek(self, key: tuple[Any, ...], expected: Expected, on_warning: Warn) -> Any | None:
        """The value of the entry ``key``, or None (nothing is produced)."""
        return _peek(self._memo, key, expected, on_warning)

    def store(self, key: tuple[Any, ...], value: Any, on_warning: Warn) -> None:
        """Write the entry ``key``, replacing the one stored (a forced call).

        A write that fails (a full disk) is told to ``on_warning`` as an
        :class:`~technic_nb.engine.cache.envelope.UnsavedEntry`; the run goes on.
        """
        try:
            # joblib records the function's code on a lookup, not on a forced call: look
            # up first, so that a new process does not take this entry for a changed
            # function's
            self._memo.check_call_in_cache(key)
            self._memo.call(key, produce=lambda: seal(value))
        except OSError as exc:
            _report_unsaved(key, exc, on_warning)

    def forget(self, key: tuple[Any, ...]) -> bool:
        """Remove the entry ``key``; True if it existed."""
        return _forget(self._memo, key)

    def has_entries(self) -> bool:
        """Whether the layer holds any entry: one look at its folder, no key hashed (a
        scan into an empty cache skips its read-back pass with it)."""
        memo = self._memo
        folder = os.path.join(str(memo.store_backend.location), *memo.func_id.split("/"))
        try:
            with os.scandir(folder) as entries:
                return any(entry.is_dir() for entry in entries)
        except FileNotFoundError:
            return False
        except OSError:  # unreadable: the lookups themselves report it
            return True


class CheckpointCache:
    """The cache's layers over one ``joblib.Memory``; pickles as its ``Memory``.

    Attributes:
        bars: fetched bars (network sources), keyed (source, symbol, window).
        features: a scan's per-symbol outcome, keyed (bars key, indicator
            parameters, lookback, version).
        factor: one user factor's values, keyed (bars key, factor code key,
            lookback, version).
        replay: one symbol's replay at every date, keyed like ``features``.

    Args:
        memory: where entries live (its ``location``); ``verbose`` is ignored:
            the cached functions are silent.
    """

    def __init__(self, memory: Memory) -> None:
        if memory.location is None:
            raise ValueError("a CheckpointCache needs a joblib.Memory with a location")
        self.memory = memory
        self.bars = Layer(memory, _cached.bars_entry)
        self.features = Layer(memory, _cached.features_entry)
        self.factor = Layer(memory, _cached.factor_entry)
        self.replay = Layer(memory, _cached.replay_entry)

    @classmethod
    def at(cls, location: str | os.PathLike[str]) -> CheckpointCache:
        """The cache of ``joblib.Memory(str(location))`` on the lean file store (one
        object per location and process)."""
        return _cache_of(Memory(str(location), backend=STORE_BACKEND, verbose=0))

    @property
    def location(self) -> Path:
        """The folder that holds the entries (joblib adds ``joblib/`` to a text location)."""
        return Path(str(self.memory.store_backend.location))

    def absolute(self) -> CheckpointCache:
        """The same cache with an absolute location (what workers elsewhere are sent)."""
        location = self.memory.location
        if Path(str(location)).is_absolute():
            return self
        absolute = os.path.abspath(str(location))
        where = absolute if isinstance(location, str) else Path(absolute)
        return _cache_of(Memory(where, backend=self.memory.backend, verbose=0))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_cache_of, (self.memory,))

    def __repr__(self) -> str:
        return f"CheckpointCache({str(self.memory.location)!r})"

    def prune(
        self,
        bytes_limit: int | str | None = None,
        age_limit: dt.timedelta | None = None,
        items_limit: int | None = None,
    ) -> int:
        """Evict the least recently used entries until the limits hold; return how many went.

        ``bytes_limit`` is a size in bytes or a text such as ``"2G"``;
        ``age_limit`` removes entries not used for longer than that.  Calls
        ``joblib.Memory.reduce_size``.
        """
        before = _entry_count(self.location)
        self.memory.reduce_size(
            bytes_limit=bytes_limit, items_limit=items_limit, age_limit=age_limit
        )
        return max(0, before - _entry_count(self.location))


#: One cache object per Memory configuration and process: worker tasks arrive with a
#: fresh copy of the Memory; reusing the first keeps joblib's function checks warm.
_CACHES: dict[tuple[str, str, str, str], CheckpointCache] = {}


def _cache_of(memory: Memory) -> CheckpointCache:
    key = (
        type(memory.location).__name__,
        str(memory.location),
        repr(memory.compress),
        str(memory.backend),
    )
    cache = _CACHES.get(key)
    if cache is None:
        if len(_CACHES) > 16:
            _CACHES.clear()
        cache = _CACHES[key] = CheckpointCache(memory)
    return cache


def _describe(key: tuple[Any, ...]) -> str:
    """A short text naming an entry (the symbol is in the key)."""
    text = str(key[0])
    return text if len(key) < 2 else f"{text} ({', '.join(str(k) for k in key[1:])})"


def _load_or_compute(
    memo: Any,
    key: tuple[Any, ...],
    produce: Callable[[], T],
    expected: Expected,
    on_warning: Warn,
) -> tuple[T, bool]:
    produced: list[T] = []

    def run() -> tuple[str, int, int, bytes]:
        try:
            value = produce()
        except BaseException as exc:  # the producer's own failure, told apart from the cache's
            raise _ProducerFailed(exc) from None
        produced.append(value)
        return seal(value)

    try:
        reference = memo.call_and_shelve(key, produce=run)
    except _ProducerFailed as failed:
        raise failed.error from None
    except OSError as exc:  # the entry could not be written, or the folder not read
        return _without_the_entry(memo, key, exc, produced, run, on_warning), False
    if produced:
        return produced[0], False
    try:
        return unseal(reference.get(), expected), True
    except Exception as exc:  # truncated, damaged, a directory, another type...
        _report_unreadable(key, exc, on_warning)
        with contextlib.suppress(Exception):
            reference.clear()
    try:
        memo.call(key, produce=run)
    except _ProducerFailed as failed:
        raise failed.error from None
    except OSError as exc:
        return _without_the_entry(memo, key, exc, produced, run, on_warning), False
    return produced[0], False


def _without_the_entry(
    memo: Any,
    key: tuple[Any, ...],
    exc: OSError,
    produced: list[T],
    run: Callable[[], Any],
    on_warning: Warn,
) -> T:
    """The value of an entry the cache could not write (noted), or the cache folder's error.

    A full disk may refuse joblib's record of the function's code before the value is
    made: then it is made here, uncached.
    """
    if not produced and exc.errno not in _NO_ROOM:
        raise _cache_folder_error(memo, exc) from None
    if not produced:
        try:
            run()
        except _ProducerFailed as failed:
            raise failed.error from None
    _report_unsaved(key, exc, on_warning)
    return produced[0]


#: ``errno`` values of a file system without room for an entry.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class _ProducerFailed(Exception):
    """Carries an exception raised by a producer through joblib unchanged."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error


def _peek(memo: Any, key: tuple[Any, ...], expected: Expected, on_warning: Warn) -> Any | None:
    try:
        reference = memo.call_and_shelve(key)
    except LookupError:  # not cached: the memoized function ran without a producer
        return None
    except OSError as exc:
        raise _cache_folder_error(memo, exc) from None
    try:
        return unseal(reference.get(), expected)
    except Exception as exc:
        _report_unreadable(key, exc, on_warning)
        with contextlib.suppress(Exception):
            reference.clear()
        return None


def _forget(memo: Any, key: tuple[Any, ...]) -> bool:
    try:
        reference = memo.call_and_shelve(key)
    except (LookupError, OSError):
        return False
    reference.clear()
    return True


def _report_unreadable(key: tuple[Any, ...], exc: BaseException, on_warning: Warn) -> None:
    reason = str(exc) if isinstance(exc, CorruptEntry) else f"{type(exc).__name__}: {exc}"
    message = (
        f"the checkpoint entry of {_describe(key)} was unreadable ({reason}); it was "
        "removed and recomputed"
    )
    logger.warning("%s", message)
    on_warning(message)


def _report_unsaved(key: tuple[Any, ...], exc: OSError, on_warning: Warn) -> None:
    reason = (exc.strerror or type(exc).__name__).lower()
    logger.debug("checkpoint entry of %s not saved: %s", _describe(key), reason)
    on_warning(
        UnsavedEntry(f"the checkpoint entry of {_describe(key)} was not saved ({reason})", reason)
    )


def _cache_folder_error(memo: Any, exc: OSError) -> ScanError:
    return cache_error(memo.store_backend.location, str(exc.strerror or exc))


def _entry_count(location: Path) -> int:
    count = 0
    for _dirpath, _dirnames, filenames in os.walk(location):
        if "output.pkl" in filenames:
            count += 1
    return count
