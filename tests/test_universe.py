"""The universe is hygienic (every entry skipped is named in the warnings) and the
status line's counts add up."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import technic_nb as tn
from technic_nb import DemoSource, InMemorySource, ScanConfig
from technic_nb.engine.finalize import status_line
from technic_nb.engine.universe import read_universe


@pytest.fixture(scope="module")
def demo() -> DemoSource:
    return DemoSource(n_symbols=40)


@pytest.fixture(scope="module")
def names(demo) -> list[str]:
    return list(demo.universe()["symbol"])


def config(demo, universe, cache_dir, **changes) -> ScanConfig:
    return ScanConfig(
        source=demo,
        universe=universe,
        cache_dir=cache_dir,
        n_jobs=1,
        backend="threading",
        **changes,
    )


def note(warnings: list[str], word: str) -> str:
    (found,) = [w for w in warnings if w.startswith("universe:") and word in w]
    return found


def test_a_listed_universe_names_blanks_repeats_and_invalid_entries(demo, names, tmp_path):
    a, b, c = names[:3]
    listed = [a, "", f" {a.lower()} ", b, "  ", "../etc", b, "A B", c.lower(), "../etc"]
    universe = read_universe(config(demo, listed, tmp_path), demo)
    assert list(universe.frame["symbol"]) == [a, b, c]
    known = demo.universe().set_index("symbol")
    assert universe.frame.set_index("symbol").loc[c, "name"] == known.loc[c, "name"]
    assert sorted(e.details["symbol"] for e in universe.invalid) == ["../etc", "A B"]
    blanks = note(universe.notes, "blank")
    assert "2 blank entries" in blanks and "positions 2, 5" in blanks
    repeats = note(universe.notes, "duplicate")
    assert "3 duplicates" in repeats and f"' {a.lower()} ' repeats {a}" in repeats
    assert f"{b} again" in repeats and "'../etc' repeats itself" in repeats
    invalid = note(universe.notes, "invalid")
    assert "2 invalid symbols" in invalid and "'../etc'" in invalid and "'A B'" in invalid


def test_a_universe_file_names_its_blank_lines(demo, names, tmp_path):
    a, b = names[:2]
    path = tmp_path / "universe.csv"
    path.write_text(
        f"symbol,name,sector\n{a},Alpha,Tech\n\n,Nameless,Tech\n{a.lower()},Again,\n"
        f"{b},,\nbad/one,X,Y\n"
    )
    universe = read_universe(config(demo, path, tmp_path), demo)
    frame = universe.frame.set_index("symbol")
    assert list(frame.index) == [a, b]
    assert frame.loc[a, "name"] == "Alpha" and frame.loc[b, "name"] == b
    assert frame.loc[b, "sector"] == "Unknown"
    assert "lines 3, 4" in note(universe.notes, "blank")
    assert f"'{a.lower()}' repeats {a}" in note(universe.notes, "duplicate")
    assert "'bad/one'" in note(universe.notes, "invalid")


def test_the_scan_warns_and_its_counts_add_up(demo, names, tmp_path):
    listed = [*names[:30], "", names[0].lower(), "../x", "A B", "ZZZZ9"]
    result = tn.scan(config(demo, listed, tmp_path, min_price=30.0, top_n=5))
    stats = result.stats
    assert stats["symbols"] == 30 + 1 + 2  # ZZZZ9 is valid (it fails at the source)
    assert stats["invalid"] == 2 and {"../x", "A B", "ZZZZ9"} <= set(result.errors["symbol"])
    assert stats["filtered"] > 0 and stats["ranked"] > 5 and stats["shown"] == 5
    assert stats["symbols"] == stats["ranked"] + stats["filtered"] + stats["failed"]
    assert stats["done"] == stats["symbols"]
    assert len(result.table) == 5
    numbers = re.match(
        r"Scanned (\d+) symbols in [\d.]+s: (\d+) ranked \(top (\d+) shown\), (\d+) filtered, "
        r"(\d+) errors \((\d+) invalid symbols\), (\d+) from cache",
        result.status,
    )
    assert numbers, result.status
    scanned, ranked, shown, filtered, errors, invalid, _ = map(int, numbers.groups())
    assert scanned == ranked + filtered + errors and (shown, invalid) == (5, 2)
    assert errors == len(result.errors)
    assert note(result.warnings, "blank") and note(result.warnings, "duplicate")
    assert note(result.warnings, "invalid")


def test_an_in_memory_universe_counts_invalid_symbols_once(tmp_path):
    demo = DemoSource(n_symbols=5)
    frames = {s: demo.fetch(s).reset_index() for s in demo.universe()["symbol"]}
    universe = [*frames, "../etc", "../etc", "A B"]
    result = tn.scan(
        ScanConfig(source=InMemorySource(frames), universe=universe, cache_dir=tmp_path, n_jobs=1)
    )
    assert result.stats["symbols"] == 7 and result.stats["invalid"] == 2
    assert "7 symbols" in result.status and "(2 invalid symbols)" in result.status
    assert len(result.errors) == 2


def test_status_line_without_top_n_or_invalid_is_unchanged():
    stats = {
        "symbols": 10,
        "done": 10,
        "ranked": 8,
        "shown": 8,
        "filtered": 1,
        "failed": 1,
        "invalid": 0,
        "from_cache": 0,
        "elapsed": 1.0,
    }
    line = status_line(False, pd.DataFrame(), stats, None)
    assert line == "Scanned 10 symbols in 1.0s: 8 ranked, 1 filtered, 1 errors, 0 from cache"
    cancelled = status_line(True, pd.DataFrame(), {**stats, "done": 4, "filtered": 0}, None)
    assert cancelled == (
        "Cancelled after 4 of 10 symbols - run again to resume "
        "(8 ranked so far, 0 filtered, 1 errors)"
    )
    shown = status_line(True, pd.DataFrame(), {**stats, "shown": 3, "invalid": 1}, None)
    assert "(8 ranked (top 3 shown) so far, 1 filtered, 1 errors (1 invalid symbol))" in shown


def test_blank_lines_of_a_folders_universe_file_are_reported(tmp_path):
    import technic_nb as tn

    demo = tn.DemoSource(n_symbols=3)
    symbols = list(demo.universe()["symbol"])
    for symbol in symbols:
        demo.fetch(symbol).reset_index().to_csv(tmp_path / f"{symbol}.csv", index=False)
    lines = ["symbol,name,sector", symbols[0] + ",A,Tech", "", symbols[1] + ",B,Tech", ",,"]
    lines.append(symbols[2] + ",C,Tech")
    (tmp_path / "universe.csv").write_text("\n".join(lines) + "\n")
    config = tn.ScanConfig(
        source=f"csv:{tmp_path}", universe="source", cache_dir=tmp_path / "c", min_bars=20
    )
    result = tn.scan(config)
    assert result.stats["symbols"] == 3
    assert any("2 blank entries" in w and "lines 3, 5" in w for w in result.warnings), (
        result.warnings
    )


# -- the universe follows the source ----------------------------------------------------


def _folder(tmp_path, symbols, demo) -> str:
    folder = tmp_path / "bars"
    folder.mkdir()
    for symbol in symbols:
        demo.fetch(symbol).to_csv(folder / f"{symbol}.csv")
    return f"csv:{folder}"


def test_without_a_universe_a_folder_source_scans_every_symbol_it_lists(demo, names, tmp_path):
    source = _folder(tmp_path, names[:7], demo)
    plain = ScanConfig(source=source, cache_dir=tmp_path / "c", n_jobs=1, backend="sequential")
    assert plain.universe is None
    result = tn.scan(plain)
    assert result.stats["symbols"] == 7
    assert set(result.table.index) | set(result.filtered.index) == set(names[:7])


def test_without_a_universe_the_demo_market_scans_its_own_symbols(tmp_path):
    result = tn.scan(
        ScanConfig(source="demo:30", cache_dir=tmp_path, n_jobs=1, backend="sequential")
    )
    assert result.stats["symbols"] == 30


def test_a_source_that_lists_nothing_asks_for_a_list(tmp_path):
    class Unlisted(InMemorySource):
        def universe(self):  # a source with no listing of its own
            return None

    demo = DemoSource(n_symbols=3)
    symbol = demo.universe()["symbol"][0]
    source = Unlisted({symbol: demo.fetch(symbol)})
    with pytest.raises(tn.ScanError) as info:
        tn.scan(ScanConfig(source=source, cache_dir=tmp_path, n_jobs=1, backend="sequential"))
    assert info.value.error_type is tn.ErrorType.CONFIG_ERROR
    assert "lists no symbols of its own" in info.value.message


def test_an_explicit_demo_universe_with_a_folder_source_stays_an_error(demo, names, tmp_path):
    source = _folder(tmp_path, names[:2], demo)
    with pytest.raises(tn.ScanError) as info:
        tn.scan(ScanConfig(source=source, universe="demo", cache_dir=tmp_path / "c"))
    assert "ScanConfig.universe='demo'" in info.value.message
