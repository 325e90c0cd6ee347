"""The scan engine end to end: sources, as_of, workers, results."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import technic_nb as tn
from technic_nb import DemoSource, ErrorType, InMemorySource, ScanConfig, ScanError

SIGNALS = {"Strong Long", "Long", "Neutral", "Short", "Strong Short"}


def small_config(cache_dir, **changes) -> ScanConfig:
    options = {"source": "demo:120", "cache_dir": cache_dir, "n_jobs": 1, "backend": "sequential"}
    options.update(changes)
    return ScanConfig(**options)


def test_run_scan_returns_exactly_two_values(cache_dir):
    out = tn.run_scan(small_config(cache_dir))
    assert isinstance(out, tuple) and len(out) == 2
    table, status = out
    assert isinstance(table, pd.DataFrame) and isinstance(status, str)
    assert status.startswith("Scanned 120 symbols")
    assert table.attrs["stats"]["symbols"] == 120
    assert table.attrs["errors"] == []


def test_demo_scan_table_is_ranked_and_complete(cache_dir):
    result = tn.scan(small_config(cache_dir))
    table = result.table
    assert table.index.name == "symbol"
    assert list(table["rank"]) == list(range(1, len(table) + 1))
    assert table["tech_rating"].is_monotonic_decreasing
    assert set(table["signal"].astype(str)) <= SIGNALS
    assert table["percentile"].between(0, 100).all()
    for column in ("name", "sector", "entry", "stop", "target", "reward_risk", "rsi", "sma200"):
        assert column in table.columns
    assert len(table) + len(result.filtered) + len(result.errors) == 120
    assert result.regime is not None and result.regime.label in result.status
    assert not result.cancelled


def test_same_results_for_one_and_two_workers(cache_dir, tmp_path):
    one = tn.scan(small_config(cache_dir, source="demo:200", n_jobs=1, backend="loky"))
    two = tn.scan(small_config(tmp_path / "c2", source="demo:200", n_jobs=2, backend="loky"))
    assert two.stats["from_cache"] == 0
    pd.testing.assert_frame_equal(one.table, two.table)
    pd.testing.assert_frame_equal(one.errors, two.errors)


def test_threading_backend_matches_loky(cache_dir, tmp_path):
    a = tn.scan(small_config(cache_dir, n_jobs=2, backend="threading"))
    b = tn.scan(small_config(tmp_path / "b", n_jobs=2, backend="loky"))
    pd.testing.assert_frame_equal(a.table, b.table)


def test_as_of_ignores_later_bars(cache_dir):
    source = DemoSource(n_symbols=40)
    as_of = dt.date(2024, 6, 28)
    result = tn.scan(small_config(cache_dir, source=source, as_of=as_of))
    assert (result.table["last_date"] == "2024-06-28").all()
    # the same scan over a source that has no bars after as_of gives the same table
    frames = {s: source.fetch(s, tn.DateWindow(None, as_of)) for s in source.universe()["symbol"]}
    frames["DEMO"] = source.fetch("DEMO", tn.DateWindow(None, as_of))
    truncated = InMemorySource(frames, universe=source.universe(), benchmark="DEMO")
    other = tn.scan(small_config(cache_dir / "x", source=truncated, universe="source"))
    pd.testing.assert_frame_equal(result.table, other.table)
    assert result.regime == other.regime


def test_as_of_changes_with_later_data(cache_dir):
    early = tn.scan(small_config(cache_dir, as_of="2024-01-31"))
    late = tn.scan(small_config(cache_dir, as_of="2025-06-30"))
    assert not early.table["tech_rating"].equals(late.table["tech_rating"])


def test_real_csv_data_scan(real_data_dir, cache_dir):
    config = ScanConfig(
        universe="source", source=f"csv:{real_data_dir}", cache_dir=cache_dir, n_jobs=2
    )
    result = tn.scan(config)
    assert result.stats["symbols"] == 505
    assert len(result.table) >= 490
    assert (result.table["last_date"] == "2017-11-10").all()
    assert list(result.filtered.index) == ["BHF", "BHGE", "DXC"]  # fewer than 200 bars, sorted
    assert result.regime is not None  # from benchmarks/SPY.csv.gz
    assert "as of 2017-11-10" in result.status
    aapl = result.table.loc["AAPL"]
    assert aapl["close"] == pytest.approx(174.67)
    assert aapl["name"] == "Apple Inc."


def test_real_data_as_of_reaches_bad_rows(real_data_dir, cache_dir):
    # BXP has a decimal-shifted close on 2007-05-02 (see the data's SOURCE.md)
    config = ScanConfig(
        universe=["BXP", "AAPL"],
        source=f"csv:{real_data_dir}",
        cache_dir=cache_dir,
        as_of="2007-06-29",
        n_jobs=1,
    )
    result = tn.scan(config)
    assert list(result.errors["symbol"]) == ["BXP"]
    message = result.errors["message"].iloc[0]
    assert message.startswith("BXP: ") and "2007-05-02" in message
    assert result.errors["error_type"].iloc[0] == "data_error"
    assert list(result.table.index) == ["AAPL"]


def test_csv_folder_with_malformed_files(tmp_path, cache_dir):
    source = DemoSource(n_symbols=6)
    folder = tmp_path / "data"
    folder.mkdir()
    symbols = list(source.universe()["symbol"])
    for symbol in symbols:
        source.fetch(symbol).reset_index().to_csv(folder / f"{symbol}.csv", index=False)
    (folder / f"{symbols[0]}.csv").write_text("date,open,high\n2024-01-01,1,2\n")
    bad = pd.read_csv(folder / f"{symbols[1]}.csv")
    bad.loc[len(bad) - 3, "low"] = -1.0
    bad.to_csv(folder / f"{symbols[1]}.csv", index=False)
    result = tn.scan(
        ScanConfig(
            universe=[*symbols, "MISSING"],
            source=f"csv:{folder}",
            cache_dir=cache_dir,
            n_jobs=1,
            min_dollar_volume=0,
            min_price=0,
        )
    )
    errors = result.errors.set_index("symbol")
    assert set(errors.index) == {symbols[0], symbols[1], "MISSING"}
    assert "missing column(s)" in errors.loc[symbols[0], "message"]
    assert "non-positive price" in errors.loc[symbols[1], "message"]
    assert "no file MISSING.csv" in errors.loc["MISSING", "message"]
    assert (errors["suggestion"] != "").all()
    assert len(result.table) == 4


def test_in_memory_source_and_invalid_symbols(cache_dir):
    demo = DemoSource(n_symbols=5)
    frames = {s: demo.fetch(s).reset_index() for s in demo.universe()["symbol"]}
    result = tn.scan(
        small_config(cache_dir, source=InMemorySource(frames), universe=[*frames, "../etc", "A B"])
    )
    assert len(result.table) == 5
    assert {"../etc", "A B"} <= set(result.errors["symbol"])


def test_universe_csv_and_sector_filter(tmp_path, cache_dir):
    source = DemoSource(n_symbols=60)
    universe = source.universe()
    path = tmp_path / "universe.csv"
    universe.iloc[:30].to_csv(path, index=False)
    sector = universe["sector"].iloc[0]
    result = tn.scan(
        small_config(cache_dir, source=source, universe=path, sectors=[sector.upper()])
    )
    expected = set(universe.iloc[:30].query("sector == @sector")["symbol"])
    assert set(result.table.index) | set(result.filtered.index) == expected
    with pytest.raises(ScanError, match="sector names present in the universe"):
        tn.scan(small_config(cache_dir, source=source, sectors=["Nope"]))


def test_max_symbols_and_top_n(cache_dir):
    result = tn.scan(small_config(cache_dir, max_symbols=30, top_n=5))
    assert result.stats["symbols"] == 30
    assert len(result.table) == 5
    assert list(result.table["rank"]) == [1, 2, 3, 4, 5]


def test_filters_move_rows_to_filtered(cache_dir):
    result = tn.scan(small_config(cache_dir, min_price=1e6))
    assert len(result.table) == 0
    assert len(result.filtered) == 120
    assert result.filtered["reason"].str.contains("min_price").all()


def test_scoring_weights_change_ranking_without_recomputing(cache_dir):
    base = tn.scan(small_config(cache_dir))
    changed = tn.scan(small_config(cache_dir, scoring=tn.ScoringWeights(trend=0, momentum=0)))
    assert changed.stats["from_cache"] == 120
    assert not np.allclose(
        base.table["tech_rating"].sort_index(), changed.table["tech_rating"].sort_index()
    )


def test_universe_demo_with_other_source_is_config_error(tmp_path, cache_dir):
    source = InMemorySource({"AAA": pd.DataFrame()})
    with pytest.raises(ScanError) as info:
        tn.scan(small_config(cache_dir, source=source, universe="demo"))
    assert info.value.error_type is ErrorType.CONFIG_ERROR
    assert "ScanConfig.universe='demo'" in info.value.message


def test_progress_callback_sees_all_stages(cache_dir):
    events = []
    tn.run_scan(small_config(cache_dir), progress_cb=lambda *a: events.append(a))
    stages = [e[0] for e in events]
    assert stages.index("universe_loading") < stages.index("data_fetching")
    assert stages.index("symbol_scanning") < stages.index("finalization")
    last = {e[0]: e for e in events}
    assert last["symbol_scanning"][1:3] == (120, 120)
    counts = [e[1] for e in events if e[0] == "symbol_scanning"]
    assert counts == sorted(counts)


def test_raising_callback_does_not_break_scan(cache_dir):
    def bad(stage, current, total):
        raise RuntimeError("boom")

    table, status = tn.run_scan(small_config(cache_dir), progress_cb=bad)
    assert status.startswith("Scanned 120 symbols")
    assert len(table) > 0


class FailsOnceSource(DemoSource):
    """The demo market fetched in this process; the first fetch of some symbols fails
    with a recoverable error (retries exhausted on a garbled answer)."""

    fetch_in_worker = False

    def __init__(self, n_symbols: int, failing: set[str]) -> None:
        super().__init__(n_symbols=n_symbols)
        self.failing = set(failing)
        self.fetches: dict[str, int] = {}

    def fetch(self, symbol, window=None, *, cancellation=None):
        self.fetches[symbol] = self.fetches.get(symbol, 0) + 1
        if symbol in self.failing and self.fetches[symbol] == 1:
            raise ScanError(
                ErrorType.API_ERROR,
                f"{symbol}: the data service answered with a garbled page",
                details={"symbol": symbol},
                recoverable=True,
            )
        return super().fetch(symbol, window, cancellation=cancellation)


def test_a_recoverable_failure_is_not_cached_and_is_fetched_on_the_next_run(cache_dir):
    symbols = DemoSource(n_symbols=60).universe()["symbol"].tolist()
    source = FailsOnceSource(60, failing=set(symbols[:3]))
    config = ScanConfig(source=source, universe="source", cache_dir=cache_dir, backend="threading")
    first = tn.scan(config)
    assert sorted(first.errors["symbol"]) == sorted(symbols[:3])
    assert first.errors["recoverable"].all() and first.errors["error_type"].eq("api_error").all()
    assert first.stats["computed"] == 60
    second = tn.scan(config)  # the failed ones were not cached: fetched again
    assert second.stats["from_cache"] == 57 and second.stats["computed"] == 3
    assert len(second.errors) == 0
    assert all(source.fetches[s] == (2 if s in symbols[:3] else 1) for s in symbols)
    clean = tn.scan(ScanConfig(source="demo:60", use_cache=False))
    pd.testing.assert_frame_equal(second.table, clean.table)


class FetchedDemoSource(DemoSource):
    """The demo market fetched in this process (as a network source is), not in the workers."""

    fetch_in_worker = False


def test_fetching_runs_ahead_of_the_workers_only_within_its_budget(cache_dir):
    from technic_nb.engine.executors import FETCH_AHEAD, REMOTE_CHUNK

    budget = FETCH_AHEAD * REMOTE_CHUNK
    counts = {"data_fetching": 0, "symbol_scanning": 0}
    ahead = []

    def progress(stage, current, total, message, metadata):
        if stage in counts:
            counts[stage] = current
            ahead.append(counts["data_fetching"] - counts["symbol_scanning"])

    source = FetchedDemoSource(n_symbols=1200)
    config = ScanConfig(
        source=source, universe="source", cache_dir=cache_dir, backend="threading", n_jobs=1
    )
    result = tn.scan(config, progress)
    assert result.stats["done"] == 1200 and len(result.errors) == 0
    assert max(ahead) > REMOTE_CHUNK  # fetching did run ahead of the workers...
    assert max(ahead) <= budget  # ...but never by more than its budget
    clean = tn.scan(ScanConfig(source="demo:1200", use_cache=False))
    pd.testing.assert_frame_equal(result.table, clean.table)


def test_filtered_has_the_same_columns_when_nothing_was_filtered(tmp_path):
    """A scan with no filtered symbol (as one cancelled early often is) still gives
    ``result.filtered`` its names, sectors and reasons, so code reading them runs."""
    config = tn.ScanConfig(
        source="demo:12", cache_dir=tmp_path, n_jobs=1, min_price=0.0, min_dollar_volume=0
    )
    result = tn.scan(config)
    assert len(result.filtered) == 0 and len(result.table) > 0
    columns = ["name", "sector", "close", "dollar_volume20", "bars", "reason"]
    assert result.filtered[columns].empty
