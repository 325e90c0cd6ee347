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

Every stored value is a sealed envelope ``(format, crc32, length, payload)``
whose payload is the value pickled with the C pickler (joblib's own pickler is
written in Python and slow on anything but a flat ``bytes``).  The checksum is
verified on every load: an entry that cannot be loaded or does not verify
(truncated, a flipped bit, zero bytes, a directory where the file should be, a
value of another type) is reported through ``on_warning``, removed, and
recomputed.  It never crashes a scan and never changes a number silently.

Each entry is written under a temporary name and renamed into place, so a
crash or a kill never leaves half a file; nothing is locked: two scans writing
the same entry write equal values.  An entry that cannot be written (a full
disk, a quota) is not a failure of the scan: the value is used, the partial
file removed, and the entry noted (:class:`UnsavedEntry`); the scan's
``result.warnings`` then says in one line how many entries were not saved, why,
and what to do (:func:`summarize_notes`).  The cache never grows without bound when a
size or age limit is given (:meth:`CheckpointCache.prune`, which calls
``Memory.reduce_size``: least recently used entries go first).

Layout: ``cache_dir/checkpoints/joblib/technic_nb/engine/cache/cached/<function>/<hash>/output.pkl``
(no ``metadata.json``: see :class:`LeanFileStore`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import logging
import os
import pickle
import shutil
import threading
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import joblib
from joblib import Memory, register_store_backend
from joblib._store_backends import FileSystemStoreBackend

from technic_nb.core.errors import ErrorType, ScanError
from technic_nb.engine.cache import cached as _cached

__all__ = [
    "CHECKPOINT_FOLDER",
    "CheckpointCache",
    "CorruptEntry",
    "UnsavedEntry",
    "cache_size",
    "clear_cache",
    "prepare_folder",
    "seal",
    "summarize_notes",
    "unseal",
]

logger = logging.getLogger("technic_nb.cache")

#: Sub-folder of ``cache_dir`` that holds the ``joblib.Memory`` location.
CHECKPOINT_FOLDER = "checkpoints"
#: The format tag of a sealed envelope.
ENVELOPE = "technic_nb-envelope-1"

T = TypeVar("T")
Warn = Callable[[str], None]


class LeanFileStore(FileSystemStoreBackend):
    """joblib's file-system store without each entry's ``metadata.json``.

    joblib writes a ``metadata.json`` (the call's arguments as text, its duration)
    beside every ``output.pkl`` and reads it back, twice, on every hit; nothing here
    uses it (entries are validated by their checksum and evicted by the access
    time of ``output.pkl``), and it doubles the file-system calls of an entry.
    Registered with ``joblib.register_store_backend``, joblib's documented way to
    plug a store into ``Memory`` (the base class lives in ``joblib._store_backends``,
    where that API keeps it).  Entries stay readable by a plain ``Memory``.
    """

    def dump_item(self, call_id: Any, item: Any, verbose: int = 1) -> None:
        """Write one entry; a failure raises ``OSError`` and leaves no partial file.

        joblib's own store turns every write failure into a ``CacheWarning`` on
        stderr and goes on, so a full disk would pass unnoticed (and leave the
        partial temporary file behind).  Here the caller learns of it and says so.
        """
        folder = os.path.join(self.location, *call_id)
        target = os.path.join(folder, "output.pkl")
        temporary = f"{target}.{uuid.uuid4().hex}-{os.getpid()}-{threading.get_ident()}"
        try:
            os.makedirs(folder, exist_ok=True)
            with open(temporary, "wb") as file:
                joblib.dump(item, file, compress=self.compress)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only when it is empty: never an entry written before
            raise

    def store_metadata(self, call_id: Any, metadata: Any) -> None:
        return None

    def get_metadata(self, call_id: Any) -> dict[str, Any]:
        return {}


#: The ``Memory(backend=...)`` name of :class:`LeanFileStore`.
STORE_BACKEND = "technic_nb_files"
register_store_backend(STORE_BACKEND, LeanFileStore)


class CorruptEntry(ValueError):
    """A cached value that does not verify (checksum, length, format or type)."""


class UnsavedEntry(str):
    """The note of one checkpoint entry that could not be written (the scan went on).

    A text like every other note of ``on_warning``, with the ``reason`` (``no space
    left on device``) kept apart: :func:`summarize_notes` folds all of a run's into
    one warning.
    """

    reason: str

    def __new__(cls, text: str, reason: str) -> UnsavedEntry:
        note = super().__new__(cls, text)
        note.reason = reason
        return note

    def __reduce__(self) -> tuple[Any, ...]:
        return (UnsavedEntry, (str(self), self.reason))


def summarize_notes(notes: Iterable[str], location: str | os.PathLike[str] | None) -> list[str]:
    """``notes`` without repeats, the :class:`UnsavedEntry` notes folded into one warning
    (how many entries, why, what to do), placed where the first of them was."""
    unsaved = Counter(note.reason for note in notes if isinstance(note, UnsavedEntry))
    if not unsaved:
        return list(dict.fromkeys(notes))
    total = sum(unsaved.values())
    why = "; ".join(
        f"{reason}: {n:,}" if len(unsaved) > 1 else reason for reason, n in unsaved.items()
    )
    where = f" in {str(location)!r}" if location is not None else ""
    summary = (
        f"checkpoints: {total:,} cache entr{'ies were' if total != 1 else 'y was'} not saved "
        f"({why}){where}; the scan went on, and those symbols will be computed again next "
        "time. Free space there, set cache_bytes_limit= to keep the cache smaller, or pass "
        "cache_dir= a folder with room."
    )
    out: list[str] = []
    for note in notes:
        text = summary if isinstance(note, UnsavedEntry) else note
        if text not in out:
            out.append(text)
    return out


def seal(value: Any) -> tuple[str, int, int, bytes]:
    """``value`` pickled, with its length and CRC-32: what the cache stores."""
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return (ENVELOPE, zlib.crc32(payload), len(payload), payload)


def unseal(envelope: Any, expected: type | tuple[type, ...]) -> Any:
    """The value inside a sealed ``envelope``, checked against its checksum and type.

    Raises:
        CorruptEntry: the envelope is malformed, its payload does not match its
            length or checksum, or the value is not an instance of ``expected``.
    """
    if not (isinstance(envelope, tuple) and len(envelope) == 4 and envelope[0] == ENVELOPE):
        raise CorruptEntry(f"not a sealed entry ({type(envelope).__name__})")
    _, crc, length, payload = envelope
    if not isinstance(payload, bytes) or len(payload) != length:
        raise CorruptEntry("payload length does not match (truncated entry)")
    if zlib.crc32(payload) != crc:
        raise CorruptEntry("checksum mismatch (damaged entry)")
    try:
        value = pickle.loads(payload)
    except Exception as exc:  # a payload that verifies but does not load: written by a bug
        raise CorruptEntry(f"payload does not load ({type(exc).__name__})") from None
    if not isinstance(value, expected):
        raise CorruptEntry(f"holds a {type(value).__name__}, not the expected value")
    return value


def prepare_folder(cache_dir: Path) -> None:
    """Create ``cache_dir`` private to the user (0700), with a clear error if that fails."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.name == "posix" and cache_dir.stat().st_uid == os.getuid():
            os.chmod(cache_dir, 0o700)
        (cache_dir / CHECKPOINT_FOLDER).mkdir(exist_ok=True)
    except OSError as exc:
        raise ScanError(
            ErrorType.CACHE_ERROR,
            f"cannot create the cache folder {str(cache_dir)!r}: {exc.strerror or exc}",
            details={"cache_dir": str(cache_dir)},
            suggestion="Pass cache_dir= a writable folder, or use_cache=False.",
        ) from None
    if not os.access(cache_dir / CHECKPOINT_FOLDER, os.R_OK | os.W_OK | os.X_OK):
        raise ScanError(
            ErrorType.CACHE_ERROR,
            f"cannot read and write the cache folder {str(cache_dir / CHECKPOINT_FOLDER)!r}",
            details={"cache_dir": str(cache_dir)},
            suggestion="Check the folder's permissions, pass cache_dir= another folder, "
            "or use_cache=False.",
        )


class CheckpointCache:
    """The two cache layers over one ``joblib.Memory``; pickles as its ``Memory``.

    Args:
        memory: where entries live (its ``location``); ``verbose`` is ignored:
            the cached functions are silent.
    """

    def __init__(self, memory: Memory) -> None:
        if memory.location is None:
            raise ValueError("a CheckpointCache needs a joblib.Memory with a location")
        self.memory = memory
        self._bars = memory.cache(_cached.bars_entry, ignore=["fetch"], verbose=0)
        self._features = memory.cache(_cached.features_entry, ignore=["compute"], verbose=0)
        self._replay = memory.cache(_cached.replay_entry, ignore=["compute"], verbose=0)
        self._factor = memory.cache(_cached.factor_entry, ignore=["compute"], verbose=0)

    @classmethod
    def at(cls, location: str | os.PathLike[str]) -> CheckpointCache:
        """The cache of ``joblib.Memory(str(location))`` on :class:`LeanFileStore` (one
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

    # -- the two layers -----------------------------------------------------------
    def bars(
        self,
        key: tuple[str, str, str],
        fetch: Callable[[], T],
        expected: type | tuple[type, ...],
        on_warning: Warn,
    ) -> tuple[T, bool]:
        """``(value, from_cache)`` of the bars entry ``key`` = (source, symbol, window).

        On a miss ``fetch()`` runs and its value is stored before this returns.
        """
        return _load_or_compute(self._bars, key, "fetch", fetch, expected, on_warning)

    def features(
        self,
        key: tuple[str, str, int, str],
        compute: Callable[[], T],
        expected: type | tuple[type, ...],
        on_warning: Warn,
    ) -> tuple[T, bool]:
        """``(value, from_cache)`` of the features entry ``key`` = (bars key, params,
        lookback, version); on a miss ``compute()`` runs and its value is stored."""
        return _load_or_compute(self._features, key, "compute", compute, expected, on_warning)

    def peek_features(
        self, key: tuple[str, str, int, str], expected: type | tuple[type, ...], on_warning: Warn
    ) -> Any | None:
        """The cached features value of ``key``, or None (nothing is computed)."""
        return _peek(self._features, key, expected, on_warning)

    def peek_bars(
        self, key: tuple[str, str, str], expected: type | tuple[type, ...], on_warning: Warn
    ) -> Any | None:
        """The cached bars value of ``key``, or None (nothing is fetched)."""
        return _peek(self._bars, key, expected, on_warning)

    def factor(
        self,
        key: tuple[str, str, int, str],
        compute: Callable[[], T],
        expected: type | tuple[type, ...],
        on_warning: Warn,
    ) -> tuple[T, bool]:
        """``(value, from_cache)`` of the factor entry ``key`` = (bars key, factor code key,
        lookback, version); on a miss ``compute()`` runs and its value is stored."""
        return _load_or_compute(self._factor, key, "compute", compute, expected, on_warning)

    def peek_factor(
        self, key: tuple[str, str, int, str], expected: type | tuple[type, ...], on_warning: Warn
    ) -> Any | None:
        """The cached factor value of ``key``, or None."""
        return _peek(self._factor, key, expected, on_warning)

    def peek_replay(
        self, key: tuple[str, str, int, str], expected: type | tuple[type, ...], on_warning: Warn
    ) -> Any | None:
        """The cached replay record of ``key`` (bars key, params, lookback, version), or None."""
        return _peek(self._replay, key, expected, on_warning)

    def store_replay(self, key: tuple[str, str, int, str], value: Any, on_warning: Warn) -> None:
        """Write the replay record of ``key``, replacing the one stored (a forced call).

        A write that fails (a full disk) is told to ``on_warning`` as an
        :class:`UnsavedEntry`; the replay goes on.
        """
        try:
            # joblib records the function's code on a lookup, not on a forced call: look
            # up first, so that a new process does not take this entry for a changed
            # function's
            self._replay.check_call_in_cache(*key)
            self._replay.call(*key, compute=lambda: seal(value))
        except OSError as exc:
            _report_unsaved(key, exc, on_warning)

    def has_entries(self, layer: str) -> bool:
        """Whether ``layer`` (``"bars"``, ``"features"``, ``"factor"`` or ``"replay"``)
        holds any entry: one look at its folder, no key hashed.  A scan into an empty
        cache skips its read-back pass with it."""
        memo = {
            "bars": self._bars,
            "features": self._features,
            "factor": self._factor,
            "replay": self._replay,
        }[layer]
        folder = os.path.join(str(memo.store_backend.location), *memo.func_id.split("/"))
        try:
            with os.scandir(folder) as entries:
                return any(entry.is_dir() for entry in entries)
        except FileNotFoundError:
            return False
        except OSError:  # unreadable: the lookups themselves report it
            return True

    # -- maintenance -----------------------------------------------------------------
    def forget_features(self, key: tuple[str, str, int, str]) -> bool:
        """Remove one features entry; True if it existed."""
        return _forget(self._features, key)

    def forget_bars(self, key: tuple[str, str, str]) -> bool:
        """Remove one bars entry; True if it existed."""
        return _forget(self._bars, key)

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
    argument: str,
    produce: Callable[[], T],
    expected: type | tuple[type, ...],
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
        reference = memo.call_and_shelve(*key, **{argument: run})
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
        memo.call(*key, **{argument: run})
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


def _peek(
    memo: Any, key: tuple[Any, ...], expected: type | tuple[type, ...], on_warning: Warn
) -> Any | None:
    try:
        reference = memo.call_and_shelve(*key)
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
        reference = memo.call_and_shelve(*key)
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
    location = str(memo.store_backend.location)
    return ScanError(
        ErrorType.CACHE_ERROR,
        f"cannot use the cache folder {location!r}: {exc.strerror or exc}",
        details={"cache_dir": location},
        suggestion="Check the folder's permissions, pass cache_dir= another folder, "
        "or use_cache=False.",
    )


def _entry_count(location: Path) -> int:
    count = 0
    for _dirpath, _dirnames, filenames in os.walk(location):
        if "output.pkl" in filenames:
            count += 1
    return count


def cache_size(cache_dir: str | Path) -> int:
    """Bytes used under ``cache_dir`` (0 if it does not exist)."""
    root = Path(cache_dir).expanduser()
    total = 0
    if root.is_dir():
        for dirpath, _dirnames, filenames in os.walk(root):
            for name in filenames:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def clear_cache(cache_dir: str | Path) -> None:
    """Delete every checkpoint under ``cache_dir`` (entries of earlier formats included)."""
    root = Path(cache_dir).expanduser() / CHECKPOINT_FOLDER
    if root.exists():
        shutil.rmtree(root)
