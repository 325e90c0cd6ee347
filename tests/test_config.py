"""ScanConfig validation: every field, with the message checked."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from technic_nb import ErrorType, ScanConfig, ScanError, ScoringParams, ScoringWeights


def config_error(**kwargs) -> ScanError:
    with pytest.raises(ScanError) as info:
        ScanConfig(**kwargs)
    error = info.value
    assert error.error_type is ErrorType.CONFIG_ERROR
    return error


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("universe", "", "'source', 'demo', a list of symbols"),
        ("universe", "nasdaq100", "'source', 'demo', a list of symbols"),
        ("universe", [], "a non-empty list of symbols"),
        ("universe", ["AAPL", 3], "a list of symbol strings"),
        ("universe", 42, "'source', 'demo'"),
        ("source", 42, "a DataSource or a spec"),
        ("source", " ", "a DataSource or a spec"),
        ("lookback_days", 10, "an integer from 30 to 20000"),
        ("lookback_days", 300.0, "an integer from 30 to 20000"),
        ("lookback_days", True, "an integer from 30 to 20000"),
        ("as_of", "2024-13-45", "an ISO date string"),
        ("as_of", 20240101, "an ISO date string"),
        ("min_price", -1, "a finite number >= 0"),
        ("min_price", float("nan"), "a finite number >= 0"),
        ("min_dollar_volume", float("inf"), "a finite number >= 0"),
        ("min_dollar_volume", "1e6", "a finite number >= 0"),
        ("min_bars", 0, "an integer from 1 to lookback_days (300)"),
        ("min_bars", 301, "an integer from 1 to lookback_days (300)"),
        ("sectors", [], "None or a non-empty list of sector names"),
        ("sectors", [""], "None or a non-empty list of sector names"),
        ("max_symbols", 0, "None or an integer >= 1"),
        ("top_n", -5, "None or an integer >= 1"),
        ("top_n", 2.5, "None or an integer >= 1"),
        ("cache_dir", 3, "None or a folder path"),
        ("cache_dir", "", "None or a folder path"),
        ("use_cache", "yes", "True or False"),
        ("n_jobs", 0, "a non-zero integer"),
        ("n_jobs", "2", "a non-zero integer"),
        ("backend", "spark", "one of loky, threading, multiprocessing, sequential, dask"),
        ("fetch_concurrency", 0, "an integer from 1 to 256"),
        ("max_tries", 0, "None or an integer from 1 to 100"),
        ("max_time", 0, "None or a number of seconds in (0, 86400]"),
        ("indicators", {"rsi_period": 14}, "an IndicatorParams"),
        ("scoring", {"trend": 3}, "a ScoringParams (or ScoringWeights)"),
        ("benchmark", "", "'auto', a symbol, or None"),
        ("dask_client", "tcp://127.0.0.1:8786", "None unless backend='dask'"),
    ],
)
def test_invalid_value_names_field_value_and_allowed(field, value, allowed):
    error = config_error(**{field: value})
    assert error.message.startswith(f"ScanConfig.{field}={value!r} is invalid")
    assert allowed in error.message
    assert error.details["field"] == field
    assert error.suggestion


def test_defaults_are_valid_and_long_enough_for_sma200_and_52w_high():
    config = ScanConfig()
    assert config.universe is None and config.source == "demo"
    assert config.lookback_days >= 252 >= 200
    assert config.backend == "loky" and config.n_jobs == -1


def test_normalization():
    config = ScanConfig(
        universe=["aapl", "MSFT"],
        as_of="2017-06-30",
        sectors="Energy",
        cache_dir="~/somewhere",
    )
    assert config.universe == ("aapl", "MSFT")
    assert config.as_of == dt.date(2017, 6, 30)
    assert config.sectors == ("Energy",)
    assert isinstance(config.cache_dir, Path) and "~" not in str(config.cache_dir)
    assert ScanConfig(universe="universe.csv").universe == Path("universe.csv")
    assert ScanConfig(as_of=dt.datetime(2020, 1, 2, 16, 0)).as_of == dt.date(2020, 1, 2)


def test_frozen_and_replace_revalidates():
    config = ScanConfig()
    with pytest.raises(AttributeError):
        config.top_n = 5  # type: ignore[misc]
    assert config.replace(top_n=5).top_n == 5
    with pytest.raises(ScanError, match="top_n"):
        config.replace(top_n=0)


def test_weights_accepted_directly():
    config = ScanConfig(scoring=ScoringWeights(volume=0.0))
    assert isinstance(config.scoring, ScoringParams)
    assert config.scoring.weights.volume == 0.0


def test_error_is_an_exception_with_dict():
    error = config_error(top_n=0)
    assert isinstance(error, Exception)
    data = error.to_dict()
    assert data["error_type"] == "config_error"
    assert ScanError.from_dict(data).message == error.message


def test_bad_source_spec_is_a_config_error_at_scan_time(tmp_path):
    from technic_nb.sources import resolve_source

    for spec in ("nosuch", "demo:abc", "csv:", "polygon:ftp://x"):
        with pytest.raises(ScanError) as info:
            resolve_source(spec)
        assert info.value.error_type is ErrorType.CONFIG_ERROR
        assert "source" in info.value.message
    with pytest.raises(ScanError, match="does not exist"):
        resolve_source(f"csv:{tmp_path / 'missing'}")


def test_a_key_in_a_source_spec_never_shows():
    config = ScanConfig(source="polygon:https://h.example/?apiKey=SECRET-KEY-123")
    assert "SECRET-KEY-123" not in repr(config) and "apiKey=***" in repr(config)
    assert "SECRET-KEY-123" not in config.source_label
    with pytest.raises(ScanError) as info:
        ScanConfig(source="bogus:x?apiKey=SECRET-KEY-123", universe=["AAA"]).source  # noqa: B018
        from technic_nb.sources import resolve_source

        resolve_source("bogus:x?apiKey=SECRET-KEY-123")
    assert "SECRET-KEY-123" not in str(info.value) + repr(info.value.to_dict())
