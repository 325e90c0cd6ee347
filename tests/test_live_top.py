"""The live "top so far": incremental, exact to the final table, and what it costs.

The rows are the feature rows of a real (small) demo scan, fed in batches as a
scan hands them over; the live table must match the top of the final ranked
table, row for row and value for value, and rate every row once.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import technic_nb as tn
import technic_nb.notebook.live as live_top
from technic_nb.engine.finalize import score_rows
from technic_nb.notebook.live import LiveTop, exact_live_ratings
from technic_nb.notebook.text import LIVE_COLUMNS, live_caption, live_table_html


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
