"""The checkpoint cache on joblib.Memory: sealed entries, damage, eviction, the config forms."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import threading
import time
from pathlib import Path

import joblib
import pandas as pd
import pytest

import technic_nb as tn
from technic_nb.engine.cache.checkpoints import CheckpointCache
from technic_nb.engine.cache.envelope import (
    CorruptEntry,
    UnsavedEntry,
    seal,
    summarize_notes,
    unseal,
)
from technic_nb.engine.cache.location import Checkpoints, cache_size, clear_cache

KEY = ("memory:test|AAA|2024-01-01..2024-12-31|1d", "rsi=14", 300, "3")


def entry_files(location: Path, function: str = "features_entry") -> list[Path]:
    """The output files of one cached function under a Memory location (a text location
    gets joblib's ``joblib/`` sub-folder, a Path does not)."""
    return sorted(location.glob(f"**/technic_nb/engine/cache/cached/{function}/*/output.pkl"))


@pytest.fixture
def cache(tmp_path) -> CheckpointCache:
    return CheckpointCache(joblib.Memory(tmp_path / "loc", verbose=0))


class Producer:
    """Counts its calls; returns ``value``."""

    def __init__(self, value) -> None:
        self.value = value
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.value


# -- the envelope ------------------------------------------------------------------------


def test_a_sealed_value_round_trips() -> None:
    value = ("features", {"close": 10.5, "rsi": 55.0})
    assert unseal(seal(value), tuple) == value


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        ("not a tuple", "not a sealed entry"),
        (("other-format", 0, 0, b""), "not a sealed entry"),
        ((*seal(1)[:3], seal(1)[3][:-1]), "length"),
        ((*seal(1)[:3], bytes([seal(1)[3][0] ^ 1]) + seal(1)[3][1:]), "checksum"),
        (seal(1), "not the expected value"),
    ],
)
def test_an_envelope_that_does_not_verify_is_a_corrupt_entry(envelope, reason) -> None:
    with pytest.raises(CorruptEntry, match=reason):
        unseal(envelope, tuple)


# -- loading and computing -------------------------------------------------------------------


def test_a_miss_computes_and_stores_one_entry_a_hit_reads_it(cache, tmp_path) -> None:
    produce = Producer(("features", {"close": 1.0}))
    warnings: list[str] = []
    assert cache.features.get(KEY, produce, tuple, warnings.append) == (produce.value, False)
    assert len(entry_files(tmp_path / "loc")) == 1  # written before features() returned
    assert cache.features.get(KEY, produce, tuple, warnings.append) == (produce.value, True)
    assert produce.calls == 1 and not warnings
    other = (*KEY[:2], 200, KEY[3])  # another lookback: another entry
    assert cache.features.get(other, produce, tuple, warnings.append)[1] is False
    assert len(entry_files(tmp_path / "loc")) == 2


def test_peek_never_computes_or_stores(cache, tmp_path) -> None:
    assert cache.features.peek(KEY, tuple, print) is None
    assert entry_files(tmp_path / "loc") == []
    cache.features.get(KEY, Producer(("features", {})), tuple, print)
    assert cache.features.peek(KEY, tuple, print) == ("features", {})


def test_a_failing_producer_stores_nothing_and_its_error_propagates(cache, tmp_path) -> None:
    def fail():
        raise OSError("the producer's own failure, not the cache's")

    with pytest.raises(OSError, match="producer's own"):
        cache.features.get(KEY, fail, tuple, print)
    assert entry_files(tmp_path / "loc") == []


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x40
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


def _zero(path: Path) -> None:
    path.write_bytes(b"")


def _directory(path: Path) -> None:
    path.unlink()
    (path / "inside").mkdir(parents=True)


def _wrong_type(path: Path) -> None:
    joblib.dump(seal(["a", "list"]), path)


@pytest.mark.parametrize(
    "damage", [_flip, _truncate, _zero, _directory, _wrong_type], ids=lambda f: f.__name__
)
def test_a_damaged_entry_warns_recomputes_and_is_rewritten(cache, tmp_path, damage) -> None:
    produce = Producer(("features", {"close": 2.0}))
    cache.features.get(KEY, produce, tuple, print)
    (path,) = entry_files(tmp_path / "loc")
    damage(path)
    warnings: list[str] = []
    assert cache.features.get(KEY, produce, tuple, warnings.append) == (produce.value, False)
    assert produce.calls == 2
    assert len(warnings) == 1 and "unreadable" in warnings[0] and "AAA" in warnings[0]
    assert cache.features.get(KEY, produce, tuple, warnings.append) == (produce.value, True)
    assert len(warnings) == 1


def test_a_damaged_entry_seen_by_peek_is_removed(cache, tmp_path) -> None:
    cache.features.get(KEY, Producer(("features", {})), tuple, print)
    _zero(entry_files(tmp_path / "loc")[0])
    warnings: list[str] = []
    assert cache.features.peek(KEY, tuple, warnings.append) is None
    assert len(warnings) == 1 and entry_files(tmp_path / "loc") == []


def test_concurrent_writers_of_the_same_entry_never_clash(cache) -> None:
    produce = Producer(("features", {"x": 1.0}))
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(20):
                cache.features.get(KEY, produce, tuple, print)
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert cache.features.get(KEY, produce, tuple, print) == (produce.value, True)


def test_a_cache_pickles_as_its_location(cache) -> None:
    again = pickle.loads(pickle.dumps(cache))
    assert again.location == cache.location
    assert len(pickle.dumps(cache)) < 1000  # the Memory's settings, not its entries


def test_bars_and_features_are_separate_layers(cache, tmp_path) -> None:
    bars_key = ("polygon:http://x", "AAA", "2024-01-01..2024-12-31|1d")
    cache.bars.get(bars_key, Producer(("bars",)), tuple, print)
    assert len(entry_files(tmp_path / "loc", "bars_entry")) == 1
    assert entry_files(tmp_path / "loc") == []
    assert cache.bars.peek(bars_key, tuple, print) == ("bars",)
    assert cache.bars.forget(bars_key) is True
    assert cache.bars.peek(bars_key, tuple, print) is None
    assert cache.bars.forget(bars_key) is False


def test_has_entries_looks_at_one_layer_without_hashing_keys(cache) -> None:
    bars_key = ("polygon:http://x", "AAA", "2024-01-01..2024-12-31|1d")
    layers = ("bars", "features", "factor", "replay")
    assert not any(getattr(cache, layer).has_entries() for layer in layers)
    assert cache.features.peek(KEY, tuple, print) is None  # a miss leaves no entry
    assert not cache.features.has_entries()
    cache.bars.get(bars_key, Producer(("bars",)), tuple, print)
    assert [getattr(cache, layer).has_entries() for layer in layers] == [True, False, False, False]
    cache.features.get(KEY, Producer(("features",)), tuple, print)
    assert cache.features.has_entries()
    cache.features.forget(KEY)
    assert not cache.features.has_entries()


# -- eviction --------------------------------------------------------------------------------


def _age(path: Path, days: float) -> None:
    stamp = time.time() - days * 86_400
    os.utime(path, (stamp, stamp))


def test_the_size_limit_evicts_the_least_recently_used_first(cache, tmp_path) -> None:
    keys = [(f"memory:test|S{i}|w|1d", "p", 300, "3") for i in range(6)]
    for key in keys:
        cache.features.get(key, Producer(("features", {"blob": "x" * 20_000})), tuple, print)
    files = {key: path for key, path in zip(keys, _files_by_key(cache, keys), strict=True)}
    for rank, key in enumerate(keys):  # S0 used longest ago ... S5 most recently
        _age(files[key], days=10 - rank)
    one = cache_size(tmp_path / "loc") // 6
    removed = cache.prune(bytes_limit=one * 3 + one // 2)
    assert removed == 3
    kept = [key for key in keys if cache.features.peek(key, tuple, print) is not None]
    assert kept == keys[3:]


def test_the_age_limit_evicts_entries_unused_for_longer(cache) -> None:
    keys = [(f"memory:test|S{i}|w|1d", "p", 300, "3") for i in range(4)]
    for key in keys:
        cache.features.get(key, Producer(("features", {})), tuple, print)
    for key, path in zip(keys, _files_by_key(cache, keys), strict=True):
        _age(path, days=40 if key in keys[:2] else 1)
    assert cache.prune(age_limit=dt.timedelta(days=30)) == 2
    assert [cache.features.peek(k, tuple, print) is not None for k in keys] == [0, 0, 1, 1]


def _files_by_key(cache: CheckpointCache, keys) -> list[Path]:
    files = []
    for key in keys:
        reference = cache.features._memo.call_and_shelve(key)
        files.append(Path(reference.store_backend.location, *reference._call_id, "output.pkl"))
    return files


def test_a_scan_prunes_the_cache_to_its_configured_limits(tmp_path) -> None:
    config = tn.ScanConfig(source="demo:40", cache_dir=tmp_path, n_jobs=1, backend="threading")
    tn.scan(config)
    full = cache_size(tmp_path)
    limited = config.replace(cache_bytes_limit=full // 4)
    tn.scan(limited.replace(max_symbols=20))
    assert cache_size(tmp_path) <= full // 4 + 4096  # plus joblib's function-code files
    assert tn.prune_cache(config, items_limit=5) >= 1
    again = tn.scan(config)
    assert again.stats["from_cache"] <= 5


# -- the folder and the config ------------------------------------------------------------------


def test_clear_cache_removes_old_formats_too(tmp_path) -> None:
    old = tmp_path / "checkpoints" / "features" / "0123abcd" / "pack-1.pkl"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"TNPACK1\n")
    config = tn.ScanConfig(source="demo:5", cache_dir=tmp_path, n_jobs=1)
    tn.scan(config)
    assert tn.clear_cache(config, everything=True) == -1
    assert not old.exists() and cache_size(tmp_path / "checkpoints") == 0


def test_opening_the_checkpoints_makes_the_cache_folder_private(tmp_path) -> None:
    checkpoints = Checkpoints.of(tn.ScanConfig(cache_dir=tmp_path / "new"))
    checkpoints.open()
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "new" / "checkpoints").is_dir()


def test_an_unusable_cache_folder_is_a_clear_cache_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(tn.ScanError) as info:
        Checkpoints.of(tn.ScanConfig(cache_dir=blocker / "cache")).open()
    assert info.value.error_type is tn.ErrorType.CACHE_ERROR
    assert "cache_dir=" in info.value.suggestion


@pytest.mark.parametrize(
    ("form", "location", "private"),
    [
        ("cache_dir", "c/checkpoints", "c"),
        ("memory_path", "m", "m"),
        ("memory", "j", None),
    ],
)
def test_the_cache_location_is_decoded_in_one_place(tmp_path, form, location, private) -> None:
    options = {
        "cache_dir": {"cache_dir": tmp_path / "c"},
        "memory_path": {"memory": tmp_path / "m"},
        "memory": {"memory": joblib.Memory(str(tmp_path / "j"), verbose=0)},
    }[form]
    checkpoints = Checkpoints.of(tn.ScanConfig(**options, cache_bytes_limit="1M"))
    assert checkpoints.location == tmp_path / location
    assert checkpoints.private == (None if private is None else tmp_path / private)
    assert checkpoints.bytes_limit == "1M"
    assert checkpoints.key == str((tmp_path / location).resolve())
    assert Checkpoints.of(tn.ScanConfig(**options, use_cache=False)) is None


def test_a_joblib_memory_can_be_given_as_in_scikit_learn(tmp_path) -> None:
    memory = joblib.Memory(str(tmp_path / "mine"), verbose=0)
    config = tn.ScanConfig(source="demo:12", memory=memory, n_jobs=1, backend="threading")
    first = tn.scan(config)
    assert len(entry_files(tmp_path / "mine")) == 12
    assert config.resolved_cache_dir == tmp_path / "mine"
    # a folder given as text is that same joblib.Memory(folder)
    again = tn.scan(tn.ScanConfig(source="demo:12", memory=str(tmp_path / "mine"), n_jobs=1))
    assert again.stats["from_cache"] == 12
    pd.testing.assert_frame_equal(again.table, first.table)
    memory.clear(warn=False)  # the user's own Memory API
    assert tn.scan(config).stats["from_cache"] == 0
    nothing = tn.scan(config.replace(memory=joblib.Memory(None)))
    assert nothing.stats["from_cache"] == 0 and nothing.stats["done"] == 12


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({"memory": 3}, "memory must be None, a folder path, or a joblib.Memory"),
        ({"memory": "x", "cache_dir": "y"}, "None when cache_dir is given"),
        ({"cache_bytes_limit": -1}, "cache_bytes_limit must be"),
        ({"cache_bytes_limit": "lots"}, "cache_bytes_limit must be"),
        ({"cache_age_limit": -2}, "cache_age_limit must be"),
        ({"cache_age_limit": "old"}, "cache_age_limit must be"),
    ],
)
def test_cache_settings_are_validated(changes, text) -> None:
    with pytest.raises(tn.ScanError, match=text):
        tn.ScanConfig(**changes)


def test_clear_cache_helper_removes_the_folder(tmp_path) -> None:
    (tmp_path / "checkpoints" / "x").mkdir(parents=True)
    clear_cache(tmp_path)
    assert not (tmp_path / "checkpoints").exists()


# -- a full disk ----------------------------------------------------------------------


def _no_room_after(monkeypatch, writes: int) -> list[int]:
    """Make every checkpoint write after the first ``writes`` fail as a full disk does
    (in this process: the scans below run their workers in it)."""
    import errno

    from technic_nb.compat import joblib_internals as _cache

    calls = [0]
    real = _cache.joblib.dump

    def dump(value, file, **kwargs):
        calls[0] += 1
        if calls[0] > writes:
            file.write(b"partial")  # a write cut short, as ENOSPC leaves it
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(value, file, **kwargs)

    monkeypatch.setattr(_cache.joblib, "dump", dump)
    return calls


def _unsaved_warning(warnings: list[str]) -> str:
    (found,) = [w for w in warnings if w.startswith("checkpoints:")]
    return found


def test_a_full_disk_is_one_warning_and_the_scan_goes_on(tmp_path, monkeypatch, capfd) -> None:
    config = tn.ScanConfig(source="demo:60", cache_dir=tmp_path, n_jobs=1, backend="sequential")
    reference = tn.scan(config.replace(use_cache=False))
    _no_room_after(monkeypatch, writes=25)
    full = tn.scan(config)
    pd.testing.assert_frame_equal(full.table, reference.table)
    warning = _unsaved_warning(full.warnings)
    assert warning.startswith("checkpoints: 35 cache entries were not saved (no space left")
    assert str(tmp_path) in warning
    assert "cache_bytes_limit" in warning and "cache_dir" in warning
    assert "CacheWarning" not in capfd.readouterr().err
    # no partial file and no empty entry folder is left behind
    location = tmp_path / "checkpoints"
    assert not [p for p in location.rglob("output.pkl.*")]
    assert len(entry_files(location)) == 25
    entries = [d for d in location.glob("**/technic_nb/engine/cache/cached/*/*") if d.is_dir()]
    assert len(entries) == 25 and all(any(d.iterdir()) for d in entries)
    # the rerun takes the saved symbols from the cache, and says again what it could not save
    again = tn.scan(config)
    assert again.stats["from_cache"] == 25
    assert _unsaved_warning(again.warnings).startswith("checkpoints: 35 cache entries")
    pd.testing.assert_frame_equal(again.table, reference.table)


def test_a_full_disk_before_the_first_entry_still_scans(tmp_path, monkeypatch) -> None:
    config = tn.ScanConfig(source="demo:20", cache_dir=tmp_path, n_jobs=1, backend="sequential")
    _no_room_after(monkeypatch, writes=0)
    result = tn.scan(config)
    assert result.stats["computed"] == 20 and len(result.table) + len(result.filtered) == 20
    assert _unsaved_warning(result.warnings).startswith("checkpoints: 20 cache entries")


def test_a_full_disk_during_a_replay_is_one_warning(tmp_path, monkeypatch) -> None:
    config = tn.ScanConfig(source="demo:30", cache_dir=tmp_path, n_jobs=1, backend="sequential")
    _no_room_after(monkeypatch, writes=10)
    result = tn.replay(config, ["2025-06-30", "2025-09-30"])
    assert _unsaved_warning(result.warnings).startswith("checkpoints: 20 cache entries")
    assert len(result.table("2025-09-30")) > 0


def test_unsaved_notes_fold_into_one_warning_in_place() -> None:
    notes = [
        "universe: 1 blank entry skipped (line 3)",
        UnsavedEntry("the checkpoint entry of A was not saved (no space left)", "no space left"),
        "other",
        UnsavedEntry("the checkpoint entry of B was not saved (no space left)", "no space left"),
        "other",
    ]
    summary = summarize_notes(notes, "/c")
    assert summary[0] == notes[0] and summary[2] == "other" and len(summary) == 3
    assert summary[1].startswith("checkpoints: 2 cache entries were not saved (no space left)")
    assert pickle.loads(pickle.dumps(notes[1])).reason == "no space left"


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MB tmpfs (needs the right to mount: root, as in CI)."""
    import subprocess

    where = tmp_path / "tiny"
    where.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mount.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_real_full_disk_with_loky_workers(tiny_disk, tmp_path, capfd) -> None:
    config = tn.ScanConfig(source="demo:600", cache_dir=tiny_disk, n_jobs=2)
    reference = tn.scan(config.replace(cache_dir=tmp_path / "roomy"))
    full = tn.scan(config)
    pd.testing.assert_frame_equal(full.table, reference.table)
    warning = _unsaved_warning(full.warnings)
    assert "(no space left on device)" in warning, warning
    assert "race condition" not in capfd.readouterr().err
    saved = len(entry_files(tiny_disk / "checkpoints"))
    assert 0 < saved < 600
    assert warning.startswith(f"checkpoints: {600 - saved:,} cache entries were not saved")
    assert not list((tiny_disk / "checkpoints").rglob("output.pkl.*"))
    again = tn.scan(config)
    assert again.stats["from_cache"] == saved


def test_a_full_disk_warning_reaches_the_runners_log(tmp_path, monkeypatch) -> None:
    config = tn.ScanConfig(source="demo:30", cache_dir=tmp_path, n_jobs=1, backend="sequential")
    _no_room_after(monkeypatch, writes=5)
    runner = tn.ScanRunner(config, display=False, console=False)
    result = runner.run()
    warning = _unsaved_warning(result.warnings)
    assert f"warning: {warning}" in runner.messages
