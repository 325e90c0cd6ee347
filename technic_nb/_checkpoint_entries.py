"""The functions whose results the checkpoint cache stores.

They are deliberately tiny and stable: joblib.Memory wipes a function's whole
cache when that function's source changes, so the work itself lives elsewhere
(:mod:`technic_nb._work`) and every argument that decides the result is an
explicit, small key.  Changing what a result means is done by bumping
``FEATURES_VERSION`` in :mod:`technic_nb._work`, never by editing these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def features_entry(
    symbol: str, bars_key: str, params_key: str, version: str, compute: Callable[[], Any]
) -> Any:
    """Per-symbol scan result, keyed by the bars' key, the parameters and a code version."""
    return compute()


def bars_entry(bars_key: str, fetch: Callable[[], Any]) -> Any:
    """Fetched bars, keyed by source identity, symbol, date window and frequency."""
    return fetch()
