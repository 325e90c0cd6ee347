"""The live "top so far": incremental, exact to the final table, and what it costs.

The rows are the feature rows of a real (small) demo scan, fed in batches as a
scan hands them over; the live table must match the top of the final ranked
table, row for row and value for value, and rate every row once.  The live and
the final tables of the panel lead with the columns a trader reads first and write
signed numbers without ``+0`` or ``-0``.
"""

from __future__ import annotations

import dataclasses
import math
from html.parser import HTMLParser

import pandas as pd
import pytest

import technic_nb as tn
import technic_nb.notebook.live as live_top
from technic_nb.core.scoring import SUBSCORES
from technic_nb.display.tables import signed
from technic_nb.engine.finalize import score_rows
from technic_nb.notebook.live import LiveTop, exact_live_ratings
from technic_nb.notebook.text import (
    LIVE_COLUMNS,
    RESULT_COLUMNS,
    live_caption,
    live_table_html,
    result_html,
)


@pytest.fixture(scope="module")
def scan_rows(tmp_path_factory):
    """(feature rows by symbol, config) of a 300-symbol demo scan."""
    rows: dict[str, dict] = {}
    config = tn.ScanConfig(
        source="demo:300",
        cache_dir=tmp_path_factory.mktemp("live"),
        n_jobs=1,
        backend="sequential",
    )
    tn.scan(config, row_listener=lambda symbol, features: rows.__setitem__(symbol, dict(features)))
    return rows, config


def _with_edge_cases(rows: dict[str, dict], config) -> dict[str, dict]:
    """The rows plus a tie with the best row, a row filtered out and a row with no rating."""
    rows = dict(rows)
    table, _ = score_rows(rows, config)
    best = table.index[0]
    rows["AAAA"] = dict(rows[best])  # the same features: the same rating, ranked by symbol
    rows["ZZZZ"] = dict(rows[best])
    cheap = dict(rows[best])
    cheap["close"] = 0.5  # below min_price
    rows["CHEAP"] = cheap
    blank = {k: (math.nan if isinstance(v, float) else v) for k, v in rows[best].items()}
    blank.update(close=50.0, dollar_volume20=1e9, bars=300.0)  # passes the filters, no rating
    rows["BLANK"] = blank
    return rows


def _feed(live: LiveTop, rows: dict[str, dict], batch: int, failed: int = 0) -> None:
    items = list(rows.items())
    for start in range(0, len(items), batch):
        for symbol, features in items[start : start + batch]:
            live.add(symbol, features)
        live.catch_up()
    for i in range(failed):
        live.add(f"ERR{i}", None)
    live.catch_up()


@pytest.mark.parametrize("fast", [True, False], ids=["numpy", "scoring"])
@pytest.mark.parametrize("batch", [1, 7, 64, 10_000])
def test_live_top_is_the_top_of_the_final_table(scan_rows, batch, fast):
    rows, config = scan_rows
    rows = _with_edge_cases(rows, config) if batch != 1 else dict(list(rows.items())[:40])
    live = LiveTop(config, size=10)
    assert live.estimable
    live.estimable = fast
    _feed(live, rows, batch, failed=2)
    final, rejected = score_rows(rows, config)
    top = live.table()
    assert list(top.index) == list(final.index[:10])
    for column in [*LIVE_COLUMNS, "atr_pct", "volume_shares"]:
        pd.testing.assert_series_equal(
            top[column].astype(object), final[column].head(10).astype(object), check_names=False
        )
    assert "rank" not in top.columns and "percentile" not in top.columns
    counts = live.counts
    assert counts.done == len(rows) + 2 and counts.failed == 2
    assert counts.filtered == len(rejected)
    assert counts.rated == int(final["tech_rating"].notna().sum())
    if batch != 1:  # the tie is broken by symbol, as in the scan
        assert list(top.index[:2]) == list(final.index[:2])
        assert "AAAA" in top.index


@pytest.mark.parametrize("fast", [True, False])
def test_every_row_is_rated_once(scan_rows, monkeypatch, fast):
    rows, config = scan_rows
    rated = []
    name = "fast_rows" if fast else "rate_rows"
    original = getattr(live_top, name)

    def counting(batch, cfg):
        rated.extend(batch)
        return original(batch, cfg)

    monkeypatch.setattr(live_top, name, counting)
    live = LiveTop(config)
    live.estimable = fast  # the numpy path, or the scan's own functions
    _feed(live, rows, batch=25)
    assert sorted(rated) == sorted(rows)  # each row once, whatever the number of updates
    assert not live.catch_up()  # nothing new: nothing rated, nothing changed
    assert len(rated) == len(rows)
    assert len(live._heap) == live.size


def test_catch_up_to_the_counters_never_takes_more(scan_rows):
    rows, config = scan_rows
    live = LiveTop(config)
    for symbol, features in list(rows.items())[:50]:
        live.add(symbol, features)
    live.catch_up(up_to=20)  # the counters said 20 done; 30 more have arrived since
    assert live.counts.done == 20 and live.pending == 30
    live.catch_up(up_to=10)  # never backwards
    assert live.counts.done == 20 and live.pending == 30
    live.catch_up(up_to=1_000)
    assert live.counts.done == 50 and live.pending == 0


def test_add_is_a_plain_append(scan_rows, monkeypatch):
    rows, config = scan_rows
    live = LiveTop(config)
    monkeypatch.setattr(live_top, "rate_rows", lambda *a: pytest.fail("rated in add()"))
    monkeypatch.setattr(live_top, "fast_rows", lambda *a: pytest.fail("rated in add()"))
    for symbol, features in rows.items():
        live.add(symbol, features)
    assert live.pending == len(rows) and live.counts.done == 0


def test_live_ratings_are_provisional_with_a_cross_sectional_subscore(scan_rows):
    _, config = scan_rows
    assert exact_live_ratings(config)
    ranked = tn.UserSubscore("rsi_rank", "rsi", tn.by_rank(), weight=1.0)
    params = tn.ScoringParams(user_subscores=(ranked,))
    assert not exact_live_ratings(tn.ScanConfig(scoring=params))
    banded = tn.UserSubscore("rsi_band", "rsi", tn.by_thresholds([(50, 1)]), weight=1.0)
    assert exact_live_ratings(tn.ScanConfig(scoring=tn.ScoringParams(user_subscores=(banded,))))
    assert exact_live_ratings(tn.ScanConfig(screen="rsi < 70"))
    assert not exact_live_ratings(tn.ScanConfig(screen=lambda t: t["rsi"] > t["rsi"].median()))
    assert "provisional" in live_caption(10, 100, 98, 1, 1, exact=False)
    assert "provisional" not in live_caption(10, 100, 98, 1, 1, exact=True)


def test_live_top_with_a_screen_uses_the_whole_scoring(scan_rows):
    rows, config = scan_rows
    screened = tn.ScanConfig(
        source=config.source, cache_dir=config.cache_dir, screen="signal == 'Long'"
    )
    live = LiveTop(screened)
    _feed(live, rows, batch=50)
    final, _ = score_rows(rows, screened)
    assert list(live.table().index) == list(final.index[:10])
    assert set(live.table()["signal"].astype(str)) == {"Long"}


def test_live_table_html_and_caption(scan_rows):
    rows, config = scan_rows
    live = LiveTop(config)
    _feed(live, rows, batch=100)
    counts = live.counts
    caption = live_caption(10, counts.done, counts.rated, counts.filtered, counts.failed, True)
    assert caption.startswith("<b>Top 10 so far</b> of the 300 symbols done")
    assert "1 symbols" not in live_caption(1, 1, 1, 0, 0, True)
    page = live_table_html(live.table(), caption)
    assert page.count("<tr>") == 11 and "overflow-x:auto" in page
    assert live.table().index[0] in page


def test_the_numpy_rating_is_the_scoring_one(scan_rows):
    """Row for row, NaN for NaN: the live table's numpy rating against the scan's."""
    import random

    import numpy as np

    from technic_nb.core.scoring import subscores, tech_rating
    from technic_nb.notebook.live_estimate import estimate_ratings

    rows, config = scan_rows
    noisy = []
    rng = random.Random(7)
    for features in rows.values():  # unknown, infinite and missing values
        features = dict(features)
        for key in list(features):
            draw = rng.random()
            if draw < 0.04:
                features[key] = math.nan
            elif draw < 0.06:
                features[key] = math.inf
            elif draw < 0.07:
                del features[key]
        noisy.append(features)
    for sample in (list(rows.values()), noisy):
        estimate, _, subs = estimate_ratings(sample, config)
        frame = pd.DataFrame.from_records(sample)
        expected_subs = subscores(frame, config.scoring)
        expected = tech_rating(expected_subs, frame, config.scoring).to_numpy()
        np.testing.assert_array_equal(estimate, expected)
        for name, values in subs.items():
            np.testing.assert_array_equal(values, expected_subs[name].to_numpy())


class _Table(HTMLParser):
    """The first table of a page: its first header row and its body rows, as cell texts."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.heads: list[str] = []
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_body = self._done = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if self._done:
            return
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr":
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if self._done:
            return
        if tag in ("th", "td") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._in_body:
                self.rows.append(self._row)
            elif not self.heads:
                self.heads = self._row
            self._row = None
        elif tag == "table":
            self._done = True

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def records(self) -> list[dict[str, str]]:
        return [dict(zip(self.heads, row, strict=True)) for row in self.rows]


#: Signed values, and how every table writes them: never ``+0`` nor ``-0``.
SIGNED = {
    "trend": (2.0, "+2"),
    "momentum": (0.0, "0"),
    "volume": (-0.0, "0"),
    "volatility": (-1.0, "-1"),
    "oscillator": (0.4, "0"),  # rounds to 0: no sign
    "breakout": (-0.4, "0"),
    "tech_rating": (-0.04, "0.0"),
}


def test_the_live_table_leads_with_what_a_trader_reads(scan_rows):
    rows, config = scan_rows
    assert ("signal", "tech_rating", "close", *SUBSCORES, "rsi", "ret_21d_pct") == LIVE_COLUMNS
    live = LiveTop(config)
    _feed(live, rows, batch=100)
    table = _Table(live_table_html(live.table(), ""))
    assert table.heads == ["#", "symbol", *LIVE_COLUMNS]
    assert len(table.rows) == 10
    for record in table.records():
        for name in SUBSCORES:
            assert record[name] in ("-3", "-2", "-1", "0", "+1", "+2", "+3"), record


def test_live_subscores_read_0_never_plus_or_minus_0():
    top = pd.DataFrame(
        [{"signal": "Neutral", "close": 12.5, **{c: v for c, (v, _) in SIGNED.items()}}],
        index=pd.Index(["ABC"], name="symbol"),
    )
    (record,) = _Table(live_table_html(top, "")).records()
    assert record["symbol"] == "ABC" and record["close"] == "12.50"
    for column, (_, text) in SIGNED.items():
        assert record[column] == text, column


@pytest.fixture(scope="module")
def scan_result(scan_rows):
    _, config = scan_rows
    return tn.scan(config)  # from the fixture's cache


def test_the_final_table_of_the_panel_shows_the_plan_beside_the_rating(scan_result):
    page = result_html(scan_result, rows=25)
    table = _Table(page)
    assert table.heads == ["", *RESULT_COLUMNS]  # the index (symbol), then the columns
    assert RESULT_COLUMNS[:8] == (
        "rank",
        "signal",
        "tech_rating",
        "close",
        "entry",
        "stop",
        "target",
        "reward_risk",
    )
    assert RESULT_COLUMNS[8:] == SUBSCORES
    assert len(table.rows) == 25
    assert [r[""] for r in table.records()] == list(scan_result.table.index[:25])
    assert "runner.result.styled()" in page


@pytest.mark.parametrize("shown", ["panel", "styled"])
def test_final_tables_write_signed_numbers_without_a_signed_zero(scan_result, shown):
    table = scan_result.table.head(5).copy()
    for column, (value, _) in SIGNED.items():
        table.iloc[0, table.columns.get_loc(column)] = value
    result = dataclasses.replace(scan_result, table=table)
    page = result_html(result, rows=5) if shown == "panel" else result.styled().to_html()
    records = _Table(page).records()
    for column, (_, text) in SIGNED.items():
        assert records[0][column] == text, column
    for record in records:
        for column in (*SUBSCORES, "tech_rating"):
            assert record[column] not in ("+0", "-0", "+0.0", "-0.0"), record


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (3, 0, "+3"),
        (2.6, 0, "+3"),
        (0.49, 0, "0"),
        (0.0, 0, "0"),
        (-0.0, 0, "0"),
        (-0.49, 0, "0"),
        (-2.0, 0, "-2"),
        (12.34, 1, "+12.3"),
        (-0.04, 1, "0.0"),
        (-0.06, 1, "-0.1"),
        (float("nan"), 0, "nan"),
        ("n/a", 0, "n/a"),
    ],
)
def test_signed_numbers(value, decimals, text):
    assert signed(value, decimals) == text
