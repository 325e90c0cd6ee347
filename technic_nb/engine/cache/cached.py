"""The functions the checkpoint cache memoizes with ``joblib.Memory``.

Each is keyed by small explicit arguments (texts and an integer), never by
frames: joblib hashes the arguments that are not ignored, and the ``produce``
callable that produces the value is ignored.  The value returned
(and stored) is a sealed envelope (:func:`technic_nb.engine.cache.checkpoints.seal`) that carries a
checksum of its payload.

Keep this module small and stable: joblib keys a function's entries by its
module and name and wipes them when the function's source changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["bars_entry", "factor_entry", "features_entry", "replay_entry"]


def bars_entry(
    source: str, symbol: str, window: str, *, produce: Callable[[], Any] | None = None
) -> Any:
    """The fetched bars of ``symbol`` from the data source ``source`` in ``window``.

    ``source`` is the source's secret-free identity, ``window`` the date window's
    key (``2024-01-02..2025-06-30|1d``).  ``produce()`` returns the sealed value.
    """
    if produce is None:
        raise LookupError(f"{symbol}: no bars entry in the cache")
    return produce()


def features_entry(
    bars_key: str,
    params: str,
    lookback: int,
    version: str,
    *,
    produce: Callable[[], Any] | None = None,
) -> Any:
    """The per-symbol scan outcome (indicator row or permanent error) for one set of bars.

    ``bars_key`` names the bars (source identity, symbol, window, and for files
    their size and modification time), ``params`` the indicator parameters,
    ``lookback`` the bars used and ``version`` the code version of the features.
    ``produce()`` returns the sealed value.
    """
    if produce is None:
        raise LookupError(f"{bars_key}: no features entry in the cache")
    return produce()


def replay_entry(
    bars_key: str,
    params: str,
    lookback: int,
    version: str,
    *,
    produce: Callable[[], Any] | None = None,
) -> Any:
    """One symbol's replay: its bars and its outcome at every date replayed so far.

    Keyed like :func:`features_entry` but by the bars of the symbol's whole
    history; a replay with new dates rewrites the entry with the dates added.
    """
    if produce is None:
        raise LookupError(f"{bars_key}: no replay entry in the cache")
    return produce()


def factor_entry(
    bars_key: str,
    factor_key: str,
    lookback: int,
    version: str,
    *,
    produce: Callable[[], Any] | None = None,
) -> Any:
    """One user factor's values (or its error) for one symbol's bars.

    ``factor_key`` is :meth:`technic_nb.Factor.code_key`: the factor's code,
    parameters and the plain values it reads, so editing the factor computes it
    again while every other entry stays.
    """
    if produce is None:
        raise LookupError(f"{bars_key}: no factor entry in the cache")
    return produce()
