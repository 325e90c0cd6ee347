"""How the ranked list changes: top-N turnover over replay dates and the diff of two tables.

:func:`top_turnover` and :func:`diff_tables`.  Pure: no I/O.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from technic_nb.research.evaluation.common import (
    check_int,
    numeric,
    panel_index,
    require,
    scan_dates,
    to_dates,
)

__all__ = ["diff_tables", "top_turnover"]


def top_turnover(panel: pd.DataFrame, top_n: int) -> pd.Series:
    """Per date, the share of the top-N names that were not in the previous date's top N.

    The top N are the rows with ``rank <= top_n``.  The share is
    ``|top(d) - top(d-1)| / |top(d)|``: NaN for the first date and for a date
    without ranked rows.

    Args:
        panel: the replay panel (``rank`` column).
        top_n: the list size.

    Returns:
        A float Series indexed by date, named ``turnover``.
    """
    tops = _top_sets(panel, top_n)
    values = [math.nan]
    for previous, current in zip(tops.iloc[:-1], tops.iloc[1:], strict=True):
        values.append(len(current - previous) / len(current) if current else math.nan)
    return pd.Series(values[: len(tops)], index=tops.index.rename("date"), name="turnover")


def _top_sets(panel: pd.DataFrame, top_n: int) -> pd.Series:
    index = panel_index(panel)
    require(panel, ["rank"], "panel")
    n = check_int("top_n", top_n, 1)
    rank = numeric(panel, "rank")
    frame = pd.DataFrame(
        {"date": to_dates(scan_dates(index, "the panel")), "symbol": index.get_level_values(1)}
    )
    dates = pd.Index(frame["date"].unique()).sort_values()
    tops = frame[rank <= n].groupby("date")["symbol"].agg(frozenset)
    return tops.reindex(dates).apply(lambda s: s if isinstance(s, frozenset) else frozenset())


_CHANGE_ORDER = {"entered": 0, "left": 1, "stayed": 2}


def diff_tables(a: pd.DataFrame, b: pd.DataFrame, top_n: int | None = None) -> pd.DataFrame:
    """What changed between two ranked scan tables, ``a`` (before) and ``b`` (after).

    A symbol is *in the list* of a table when it is a row of it (with ``top_n``:
    a row with ``rank <= top_n``).  Every symbol in either list gets a row:

    * ``change``: ``"entered"`` (in b's list only), ``"left"`` (in a's only) or
      ``"stayed"`` (both);
    * ``rank_a``, ``rank_b``: its ranks in the full tables (NaN when absent);
      ``rank_move = rank_a - rank_b`` (positive = moved up);
    * ``signal_a``, ``signal_b``, ``signal_changed`` (NA unless both are known);
    * ``rating_a``, ``rating_b``: the TechRatings.

    Sorted by change (entered, left, stayed), then by rank (``rank_b``; ``rank_a``
    for the names that left).

    Args:
        a: the earlier table, indexed by symbol (``rank``, ``signal``, ``tech_rating``).
        b: the later table, same shape.
        top_n: the list size (default: every row).
    """
    needed = ["rank", "signal", "tech_rating"]
    for name, table in (("a", a), ("b", b)):
        require(table, needed, name)
        if not table.index.is_unique:
            raise ValueError(f"table {name} repeats symbols in its index: one row per symbol")
    in_a, in_b = _listed(a, top_n), _listed(b, top_n)
    symbols = in_a.union(in_b, sort=False)
    out = pd.DataFrame(index=pd.Index(symbols, name="symbol"))
    out["change"] = [
        "stayed" if s in in_a and s in in_b else ("left" if s in in_a else "entered")
        for s in symbols
    ]
    out["rank_a"] = pd.to_numeric(a["rank"], errors="coerce").reindex(symbols).to_numpy()
    out["rank_b"] = pd.to_numeric(b["rank"], errors="coerce").reindex(symbols).to_numpy()
    out["rank_move"] = out["rank_a"] - out["rank_b"]
    out["signal_a"] = a["signal"].astype(object).reindex(symbols).to_numpy()
    out["signal_b"] = b["signal"].astype(object).reindex(symbols).to_numpy()
    known = out["signal_a"].notna() & out["signal_b"].notna()
    changed = pd.array(out["signal_a"] != out["signal_b"], dtype="boolean")
    changed[~known.to_numpy()] = pd.NA
    out["signal_changed"] = changed
    out["rating_a"] = pd.to_numeric(a["tech_rating"], errors="coerce").reindex(symbols).to_numpy()
    out["rating_b"] = pd.to_numeric(b["tech_rating"], errors="coerce").reindex(symbols).to_numpy()
    key = np.where(out["change"] == "left", out["rank_a"], out["rank_b"])
    order = np.lexsort((np.asarray(symbols, dtype=str), key, out["change"].map(_CHANGE_ORDER)))
    return out.iloc[order]


def _listed(table: pd.DataFrame, top_n: int | None) -> pd.Index:
    if top_n is None:
        return table.index
    rank = pd.to_numeric(table["rank"], errors="coerce")
    return table.index[(rank <= check_int("top_n", top_n, 1)).to_numpy()]
