"""The functions the checkpoint cache memoizes with ``joblib.Memory``: one per layer.

Each is keyed by one small explicit argument, a tuple of texts and an integer
(never a frame): joblib hashes it, and ignores the ``produce`` callable that
makes the value on a miss.  The value returned (and stored) is a sealed envelope
(:func:`technic_nb.engine.cache.envelope.seal`) that carries a checksum of its
payload.

Keep this module small and stable: joblib keys a function's entries by its
module and name and wipes them when the function's source changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["bars_entry", "factor_entry", "features_entry", "replay_entry"]

Produce = Callable[[], Any]


def bars_entry(key: tuple[str, str, str], *, produce: Produce | None = None) -> Any:
    """The fetched bars of one symbol: ``key`` = (the source's secret-free identity, the
    symbol, the date window's key such as ``2024-01-02..2025-06-30|1d``)."""
    return _produced(produce, key, "bars")


def features_entry(key: tuple[str, str, int, str], *, produce: Produce | None = None) -> Any:
    """A scan's outcome for one set of bars (indicator row or permanent error): ``key`` =
    (the bars' key: source identity, symbol, window and for files their size and time;
    the indicator parameters; the bars used; the code version of the features)."""
    return _produced(produce, key, "features")


def replay_entry(key: tuple[str, str, int, str], *, produce: Produce | None = None) -> Any:
    """One symbol's replay, its bars and its outcome at every date replayed so far: keyed
    like :func:`features_entry` by the bars of the symbol's whole history (a replay with
    new dates rewrites it with the dates added)."""
    return _produced(produce, key, "replay")


def factor_entry(key: tuple[str, str, int, str], *, produce: Produce | None = None) -> Any:
    """One user factor's values (or its error) for one symbol's bars: ``key`` = (the bars'
    key, :meth:`technic_nb.Factor.code_key`, the bars used, the version), so editing the
    factor computes it again while every other entry stays."""
    return _produced(produce, key, "factor")


def _produced(produce: Produce | None, key: tuple[Any, ...], layer: str) -> Any:
    if produce is None:  # a lookup that must not produce: the entry is missing
        raise LookupError(f"{key[0]}: no {layer} entry in the cache")
    return produce()
