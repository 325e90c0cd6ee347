"""The checkpoint store: pack files, partitions, damage, merging, forgetting."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from technic_nb import ErrorType, ScanError
from technic_nb._checkpoint import COMPACT_ABOVE, Checkpoint, NotCached, partition_name
from technic_nb._packstore import (
    UnreadablePack,
    list_packs,
    read_index,
    read_value,
    read_values,
    write_pack,
)


def outcome(symbol: str, value: float = 1.0) -> dict:
    return {"symbol": symbol, "features": {"close": value, "rsi": np.float64(value / 2)}}


def test_a_pack_round_trips_and_reads_single_values(tmp_path) -> None:
    values = {f"key{i}": outcome(f"S{i}", i) for i in range(20)}
    path = write_pack(tmp_path, values)
    assert path is not None and path.name.startswith("pack-") and path.suffix == ".pkl"
    assert read_values(path) == values
    assert read_values(path, {"key3", "key7", "absent"}) == {k: values[k] for k in ("key3", "key7")}
    index = read_index(path)
    assert set(index.entries) == set(values)
    assert read_value(index, "key11") == values["key11"]
    with pytest.raises(KeyError):
        read_value(index, "absent")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_an_empty_pack_is_not_written(tmp_path) -> None:
    assert write_pack(tmp_path / "sub", {}) is None
    assert not (tmp_path / "sub").exists()


def test_a_large_header_is_read_whole(tmp_path) -> None:
    values = {f"{'k' * 200}{i}": i for i in range(2000)}  # header well over 64 KiB
    path = write_pack(tmp_path, values)
    assert read_index(path).entries.keys() == values.keys()


@pytest.mark.parametrize("keep", [0, 5, 12, 40, -1])
def test_every_truncation_is_detected(tmp_path, keep: int) -> None:
    path = write_pack(tmp_path, {f"k{i}": outcome(f"S{i}") for i in range(8)})
    data = path.read_bytes()
    path.write_bytes(data[: keep if keep >= 0 else len(data) - 1])
    with pytest.raises(UnreadablePack) as info:
        read_values(path)
    assert info.value.path == path and str(path) in str(info.value)


def test_a_file_that_is_not_a_pack_is_reported(tmp_path) -> None:
    path = tmp_path / "pack-x.pkl"
    path.write_bytes(b"not a pack at all, just some bytes")
    with pytest.raises(UnreadablePack, match="not a checkpoint pack"):
        read_index(path)
    assert isinstance(UnreadablePack(path, "why"), ValueError)


def test_a_damaged_value_is_reported(tmp_path) -> None:
    path = write_pack(tmp_path, {"a": outcome("A"), "b": outcome("B")})
    data = bytearray(path.read_bytes())
    data[-5:] = b"\xff\xff\xff\xff\xff"  # same length, garbled last value
    path.write_bytes(bytes(data))
    with pytest.raises(UnreadablePack, match="unreadable entry"):
        read_values(path)


def test_concurrent_writers_never_clash(tmp_path) -> None:
    def writer(n: int) -> None:
        for i in range(20):
            write_pack(tmp_path, {f"w{n}-{i}": outcome(f"S{i}", n)})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    packs = list_packs(tmp_path)
    assert len(packs) == 120
    merged: dict = {}
    for path in packs:
        merged.update(read_values(path))
    assert len(merged) == 120


def test_features_are_found_by_partition_and_key(tmp_path) -> None:
    checkpoint = Checkpoint(tmp_path)
    assert checkpoint.store_features("p1", {"k1": outcome("A"), "k2": outcome("B")})
    assert checkpoint.store_features("p1", {"k3": outcome("C")})
    assert checkpoint.store_features("p2", {"k1": outcome("Z", 9)})
    load = checkpoint.load_features("p1", ["k1", "k3", "k4"])
    assert load.found == {"k1": outcome("A"), "k3": outcome("C")} and not load.unreadable
    assert checkpoint.load_features("p2", ["k1"]).found == {"k1": outcome("Z", 9)}
    assert checkpoint.load_features("absent", ["k1"]).found == {}
    folder = tmp_path / "checkpoints" / "features" / partition_name("p1")
    assert len(list_packs(folder)) == 2
    if os.name == "posix":
        assert (tmp_path.stat().st_mode & 0o777) == 0o700


def test_an_unreadable_pack_is_removed_and_reported(tmp_path, caplog) -> None:
    checkpoint = Checkpoint(tmp_path)
    checkpoint.store_features("p", {"k1": outcome("A")})
    checkpoint.store_features("p", {"k2": outcome("B")})
    folder = tmp_path / "checkpoints" / "features" / partition_name("p")
    first, second = list_packs(folder)
    second.write_bytes(second.read_bytes()[:20])
    with caplog.at_level(logging.WARNING, logger="technic_nb.cache"):
        load = checkpoint.load_features("p", ["k1", "k2"])
    assert set(load.found) <= {"k1", "k2"} and len(load.found) == 1
    assert load.unreadable == [second.name] and not second.exists() and first.exists()
    assert "unreadable" in caplog.text and second.name in caplog.text


def test_many_packs_are_merged_into_one(tmp_path) -> None:
    checkpoint = Checkpoint(tmp_path)
    for i in range(COMPACT_ABOVE + 6):
        checkpoint.store_features("p", {f"k{i}": outcome(f"S{i}", i)})
    folder = tmp_path / "checkpoints" / "features" / partition_name("p")
    assert len(list_packs(folder)) == COMPACT_ABOVE + 6
    load = checkpoint.load_features("p", ["k0", "k5"])
    assert load.found == {"k0": outcome("S0", 0), "k5": outcome("S5", 5)}
    (merged,) = list_packs(folder)
    assert len(read_index(merged).entries) == COMPACT_ABOVE + 6
    keys = [f"k{i}" for i in range(COMPACT_ABOVE + 6)]
    assert len(checkpoint.load_features("p", keys).found) == COMPACT_ABOVE + 6


def bars(n: int = 30, start: float = 10.0) -> pd.DataFrame:
    index = pd.date_range("2024-01-02", periods=n, freq="B", name="date")
    close = start + np.arange(n, dtype=float)
    return pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1e6},
        index=index,
    )


def test_bars_are_read_back_one_at_a_time(tmp_path) -> None:
    checkpoint = Checkpoint(tmp_path)
    checkpoint.store_bars("w", {"a": bars(30, 1), "b": bars(40, 2)})
    reader = Checkpoint(tmp_path)
    pd.testing.assert_frame_equal(reader.load_bars("w", "b"), bars(40, 2))
    with pytest.raises(NotCached):
        reader.load_bars("w", "c")
    with pytest.raises(NotCached):
        reader.load_bars("other", "a")


def test_unreadable_bars_are_not_cached(tmp_path, caplog) -> None:
    checkpoint = Checkpoint(tmp_path)
    checkpoint.store_bars("w", {"a": bars(), "b": bars(50)})
    (path,) = list_packs(tmp_path / "checkpoints" / "bars" / partition_name("w"))
    reader = Checkpoint(tmp_path)
    reader.load_bars("w", "a")  # index read
    path.write_bytes(path.read_bytes()[: path.stat().st_size - 100])  # last value cut short
    with caplog.at_level(logging.WARNING, logger="technic_nb.cache"), pytest.raises(NotCached):
        reader.load_bars("w", "b")
    assert not path.exists() and "unreadable" in caplog.text
    with pytest.raises(NotCached):
        reader.load_bars("w", "a")  # its pack is gone


def test_forget_rewrites_packs_without_the_keys(tmp_path) -> None:
    checkpoint = Checkpoint(tmp_path)
    checkpoint.store_features("p", {"k1": outcome("A"), "k2": outcome("B")})
    checkpoint.store_features("p", {"k3": outcome("C")})
    assert checkpoint.forget("features", "p", ["k2", "k3", "absent"]) == 2
    assert checkpoint.load_features("p", ["k1", "k2", "k3"]).found == {"k1": outcome("A")}
    assert checkpoint.forget("features", "p", ["k1"]) == 1
    folder = tmp_path / "checkpoints" / "features" / partition_name("p")
    assert list_packs(folder) == []


def test_a_failed_write_is_logged_not_raised(tmp_path, caplog) -> None:
    checkpoint = Checkpoint(tmp_path)
    blocked = tmp_path / "checkpoints" / "features" / partition_name("p")
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the partition's folder should be")
    with caplog.at_level(logging.WARNING, logger="technic_nb.cache"):
        assert checkpoint.store_features("p", {"k": outcome("A")}) is False
    assert "could not checkpoint 1 features entries" in caplog.text
    assert checkpoint.load_features("p", ["k"]).found == {}  # nothing there, no crash
    assert checkpoint.store_features("other", {"k": outcome("A")})  # the rest still works


def test_an_unreadable_cache_folder_is_a_clear_cache_error(tmp_path, monkeypatch) -> None:
    checkpoint = Checkpoint(tmp_path)

    def refuse(folder):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("technic_nb._packstore.os.scandir", refuse)
    with pytest.raises(ScanError) as info:
        checkpoint.load_features("p", ["k"])
    assert info.value.error_type is ErrorType.CACHE_ERROR
    assert "cannot read the cache folder" in info.value.message
    assert "Permission denied" in info.value.message and "use_cache=False" in str(info.value)


def test_a_value_that_cannot_be_pickled_is_logged_not_raised(tmp_path, caplog) -> None:
    checkpoint = Checkpoint(tmp_path)
    with caplog.at_level(logging.WARNING, logger="technic_nb.cache"):
        assert checkpoint.store_features("p", {"k": lambda: None}) is False
    assert "could not checkpoint 1 features entries" in caplog.text
    assert not any(Path(tmp_path).rglob("*.tmp"))


def test_temporaries_left_by_a_crashed_writer_are_removed(tmp_path) -> None:
    checkpoint = Checkpoint(tmp_path)
    checkpoint.store_features("p", {"k": outcome("A")})
    folder = tmp_path / "checkpoints" / "features" / partition_name("p")
    stale = folder / ".pack-dead.pkl.tmp"
    fresh = folder / ".pack-busy.pkl.tmp"  # a writer still at work: left alone
    for path in (stale, fresh):
        path.write_bytes(b"half a pack")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert checkpoint.load_features("p", ["k"]).found == {"k": outcome("A")}
    assert not stale.exists() and fresh.exists()
