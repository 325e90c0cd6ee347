"""What the checkpoint cache stores: a sealed envelope, and the notes about entries.

Every stored value is an envelope ``(format, crc32, length, payload)`` whose
payload is the value pickled with the C pickler (joblib's own pickler is written
in Python and slow on anything but a flat ``bytes``).  :func:`unseal` verifies
the checksum, the length and the type on every load.  :class:`UnsavedEntry` is the
note of an entry that could not be written; :func:`summarize_notes` folds a run's
into one warning.
"""

from __future__ import annotations

import os
import pickle
import types
import zlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

__all__ = [
    "ENVELOPE",
    "CorruptEntry",
    "Expected",
    "UnsavedEntry",
    "seal",
    "summarize_notes",
    "unseal",
]

#: What a stored value must be: a type, a union of types or a tuple of types.
Expected = type | types.UnionType | tuple[type, ...]


#: The format tag of a sealed envelope.
ENVELOPE = "technic_nb-envelope-1"


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


def unseal(envelope: Any, expected: Expected) -> Any:
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
