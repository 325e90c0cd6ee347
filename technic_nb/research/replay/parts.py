"""What the views of a :class:`~technic_nb.ReplayResult` read from it.

Each group of views (trade plans, baselines, portfolios, stability, out of sample)
is a mixin of :class:`~technic_nb.ReplayResult`; :class:`ReplayParts`, their one
base, declares the fields and cached tables they share, for the type checker only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

__all__ = ["ReplayParts"]


class ReplayParts:
    """The fields and tables of a replay result that its views read (no behaviour)."""

    dates: tuple[dt.date, ...]
    horizons: tuple[int, ...]
    features: pd.DataFrame
    status: str
    stats: dict[str, Any]
    warnings: list[str]
    config: Any
    benchmark: pd.Series | None

    if TYPE_CHECKING:  # provided by ReplayResult and its mixins

        @property
        def panel(self) -> pd.DataFrame: ...

        @property
        def returns(self) -> pd.DataFrame: ...

        @property
        def bars(self) -> dict[str, pd.DataFrame]: ...

        @property
        def bad_bars(self) -> dict[str, np.ndarray]: ...

        @property
        def spacing(self) -> float: ...

        def _factors(self) -> tuple[str, ...]: ...

        def _horizon(self, horizon: int | None) -> int: ...

        def scores(self, names: Iterable[str] | None = None, *, seed: int = 0) -> pd.DataFrame: ...

        def _scored_panel(self, names: Iterable[str]) -> pd.DataFrame: ...
