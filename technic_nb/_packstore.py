"""Append-only pack files: many small pickled values per file, written atomically.

A scan checkpoints thousands of symbols.  One file (or one directory) per
symbol costs about a millisecond each in file-system calls, more than the
indicators it saves on a fast source.  A *pack* holds every entry one worker
task produced (8-64 symbols) in a single file written through a temporary
name and ``os.replace``, so a reader sees either the whole pack or none of it.

Layout of a pack::

    MAGIC (8 bytes) | header length (8 bytes, little endian) | header | blobs

The header is a pickled ``{key: (offset, length)}`` into the blobs; each blob
is one pickled value.  A folder of packs is a *partition*: its index is the
union of the packs' headers (the newest pack wins when a key repeats, which
only happens when two scans computed the same entry: both values are equal).

Pure file handling, no knowledge of scans: :mod:`technic_nb._checkpoint`
decides what the keys and partitions mean.
"""

from __future__ import annotations

import os
import pickle
import struct
import time
import uuid
from collections.abc import Container, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "PackIndex",
    "UnreadablePack",
    "list_packs",
    "read_index",
    "read_value",
    "read_values",
    "remove_stale_temporaries",
    "write_pack",
]

MAGIC = b"TNPACK1\n"
_LENGTH = struct.Struct("<Q")
_PREFIX = len(MAGIC) + _LENGTH.size


class UnreadablePack(ValueError):
    """A pack file is truncated, corrupted or not a pack."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class PackIndex:
    """Where each key of one pack lives."""

    path: Path
    data_start: int
    entries: dict[str, tuple[int, int]]


def write_pack(folder: Path, values: Mapping[str, Any]) -> Path | None:
    """Write ``values`` (key -> any picklable value) as one new pack in ``folder``.

    Returns the pack's path (None when ``values`` is empty).  The file appears
    under its final name only once it is complete.
    """
    if not values:
        return None
    blobs: list[bytes] = []
    entries: dict[str, tuple[int, int]] = {}
    offset = 0
    for key, value in values.items():
        blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        entries[key] = (offset, len(blob))
        blobs.append(blob)
        offset += len(blob)
    header = pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"pack-{uuid.uuid4().hex}.pkl"
    temporary = folder / f".{name}.tmp"
    try:
        with open(temporary, "wb") as handle:
            handle.write(MAGIC)
            handle.write(_LENGTH.pack(len(header)))
            handle.write(header)
            handle.writelines(blobs)
        final = folder / name
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return final


def _parse_header(path: Path, head: bytes, size: int) -> PackIndex:
    if len(head) < _PREFIX or head[: len(MAGIC)] != MAGIC:
        raise UnreadablePack(path, "not a checkpoint pack (bad or missing header)")
    (length,) = _LENGTH.unpack_from(head, len(MAGIC))
    data_start = _PREFIX + length
    if data_start > size or len(head) < data_start:
        raise UnreadablePack(path, "truncated header")
    try:
        entries = pickle.loads(head[_PREFIX:data_start])
    except Exception as exc:  # any unpickling failure means a damaged header
        raise UnreadablePack(path, f"unreadable header ({type(exc).__name__})") from None
    if not isinstance(entries, dict):
        raise UnreadablePack(path, "unreadable header (not a mapping)")
    end = max((offset + length for offset, length in entries.values()), default=0)
    if data_start + end > size:
        raise UnreadablePack(path, f"truncated ({size} bytes, {data_start + end} expected)")
    return PackIndex(path, data_start, entries)


def read_index(path: Path, head_bytes: int = 65536) -> PackIndex:
    """The header of one pack (reads only its first bytes when the header is small).

    Raises:
        UnreadablePack: the file is truncated, corrupted or not a pack.
        FileNotFoundError: the pack was removed meanwhile (by a compaction).
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(head_bytes)
        if len(head) >= _PREFIX and head[: len(MAGIC)] == MAGIC:
            (length,) = _LENGTH.unpack_from(head, len(MAGIC))
            if _PREFIX + length > len(head) and _PREFIX + length <= size:
                head += handle.read(_PREFIX + length - len(head))
    return _parse_header(path, head, size)


def read_values(path: Path, keys: Container[str] | None = None) -> dict[str, Any]:
    """The values of one pack (all of them, or those in ``keys``, a set), in one read.

    Raises:
        UnreadablePack: the file is truncated, corrupted or not a pack.
        FileNotFoundError: the pack was removed meanwhile (by a compaction).
    """
    with open(path, "rb") as handle:
        data = handle.read()
    index = _parse_header(path, data, len(data))
    wanted = (
        index.entries if keys is None else {k: index.entries[k] for k in keys if k in index.entries}
    )
    values: dict[str, Any] = {}
    view = memoryview(data)
    for key, (offset, length) in wanted.items():
        start = index.data_start + offset
        try:
            values[key] = pickle.loads(view[start : start + length])
        except Exception as exc:  # a damaged blob: the whole pack is suspect
            raise UnreadablePack(path, f"unreadable entry ({type(exc).__name__})") from None
    return values


def read_value(index: PackIndex, key: str) -> Any:
    """One value of a pack whose index was read earlier (a seek and a read).

    Raises:
        KeyError: ``key`` is not in this pack.
        UnreadablePack: the value cannot be read back.
        FileNotFoundError: the pack was removed meanwhile (by a compaction).
    """
    offset, length = index.entries[key]
    with open(index.path, "rb") as handle:
        handle.seek(index.data_start + offset)
        blob = handle.read(length)
    if len(blob) != length:
        raise UnreadablePack(index.path, "truncated entry")
    try:
        return pickle.loads(blob)
    except Exception as exc:
        raise UnreadablePack(index.path, f"unreadable entry ({type(exc).__name__})") from None


def remove_stale_temporaries(folder: Path, older_than: float = 3600.0) -> int:
    """Remove temporary files a crashed writer left in ``folder`` (older than ``older_than`` s).

    A writer renames its temporary file within milliseconds, so an old one
    belongs to a process that died mid-write.  Returns how many were removed.
    """
    removed = 0
    cutoff = time.time() - older_than
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if not (entry.name.startswith(".pack-") and entry.name.endswith(".tmp")):
                    continue
                try:
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
    except (FileNotFoundError, NotADirectoryError):
        return 0
    return removed


def list_packs(folder: Path) -> list[Path]:
    """The packs of a partition, oldest first (by modification time, then name)."""
    found: list[tuple[int, str]] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("pack-") and entry.name.endswith(".pkl"):
                    try:
                        found.append((entry.stat().st_mtime_ns, entry.name))
                    except FileNotFoundError:  # removed meanwhile by a compaction
                        continue
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [folder / name for _, name in sorted(found)]
