"""A replay's per-symbol work, done once per history, equals the scan's per-window code.

The replay screens each history once (row checks, outlier candidates with running
counts) and computes the features of many windows together
(:class:`~technic_nb.core.indicators.history.FeatureHistory`); the scan checks and
computes one window.  These tests hold the two to exact equality: on synthetic
histories with every kind of bad bar, and on the 505 real histories at every month-end.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import technic_nb as tn
from technic_nb.core.bars import WindowScreen, check_bar_arrays
from technic_nb.core.errors import ScanError
from technic_nb.core.indicators import features_from_arrays
from technic_nb.core.indicators.history import row_columns
from technic_nb.core.indicators.level_history import _breaks
from technic_nb.engine.outcomes import Features
from technic_nb.engine.work import SymbolJob
from technic_nb.research.replay.work import History, outcome_at
from technic_nb.sources.base import DateWindow

MONTH_ENDS = [d.date() for d in pd.date_range("2005-06-01", "2017-11-30", freq="BME")]


def job(lookback: int = 300, **params: int) -> SymbolJob:
    return SymbolJob(DateWindow(None, None), lookback, tn.IndicatorParams(**params))


def spoiled_bars(seed: int, n: int = 900) -> pd.DataFrame:
    """Random-walk bars with decimal shifts, wild edges, volume spikes and zeros, a NaN
    row and a broken OHLC row at random places."""
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    spread = close * rng.uniform(0.002, 0.03, n)
    high, low = close + spread, close - spread
    open_ = low + (high - low) * rng.uniform(0, 1, n)
    volume = rng.lognormal(13, 0.5, n)
    values = np.column_stack([open_, high, low, close, volume])
    for row in rng.integers(0, n, 6):  # a whole bar shifted by a power of ten
        values[row, :4] *= rng.choice([0.1, 10.0, 0.01, 100.0, 0.125, 8.0, 7.0])
    for row in rng.integers(0, n, 3):  # a low divided by ten
        values[row, 2] /= 10
    for row in rng.integers(0, n, 6):  # volume spikes, and zero volumes
        values[row, 4] *= rng.choice([0.0, 90.0, 150.0, 1000.0])
    values[rng.integers(0, n), 3] = np.nan
    row = rng.integers(0, n)
    values[row, 1] = values[row, 2] * 0.9  # high below low
    dates = pd.bdate_range("2015-01-01", periods=n, name="date")
    return pd.DataFrame(values, index=dates, columns=list(tn.core.bars.BAR_COLUMNS))


def assert_same_outcomes(symbol: str, bars: pd.DataFrame, dates: list, work: SymbolJob) -> int:
    """History.outcomes equals outcome_at (the scan's path) at every date, exactly;
    returns how many dates had features."""
    block, errors = History(bars).outcomes(symbol, dates, work)
    rows = {day: i for i, day in enumerate(block.dates)}
    for date in dates:
        expected = outcome_at(symbol, bars, date, work)
        day = date.isoformat()
        if isinstance(expected, Features):
            assert day in rows, (symbol, day, errors.get(day))
            row = expected.row
            assert block.columns == tuple(k for k in row if k != "last_date")
            assert block.last_dates[rows[day]] == row["last_date"]
            want = np.array([row[k] for k in block.columns])
            np.testing.assert_array_equal(block.values[rows[day]], want, err_msg=f"{symbol} {day}")
        else:
            assert day not in rows
            found = errors[day]
            assert found.message == expected.error.message
            assert repr(found.details) == repr(expected.error.details)  # NaN values included
    return len(rows)


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    lookback=st.sampled_from([60, 260, 300, 500]),
    params=st.sampled_from([{}, {"high_window": 100, "pivot_bars": 2, "base_window": 30}]),
)
def test_outcomes_of_many_dates_equal_the_scan_on_spoiled_bars(seed, lookback, params):
    bars = spoiled_bars(seed)
    dates = sorted({d.date() for d in pd.date_range("2015-01-01", "2018-12-31", freq="W-FRI")})
    assert_same_outcomes("SPOIL", bars, dates, job(lookback, **params))


def test_the_window_screen_never_passes_a_window_the_check_rejects():
    """Every window of spoiled histories: a window found clean passes check_bar_arrays."""
    checked = rejected = 0
    for seed in range(40):
        values = spoiled_bars(seed, 400).to_numpy()
        dates = pd.bdate_range("2015-01-01", periods=len(values))
        screen = WindowScreen(values)
        firsts, ends = np.meshgrid(np.arange(0, 400, 7), np.arange(1, 401, 5))
        firsts, ends = firsts.ravel(), ends.ravel()
        keep = ends > firsts
        firsts, ends = firsts[keep], ends[keep]
        clean = screen.clean(firsts, ends)
        for first, end, ok in zip(firsts.tolist(), ends.tolist(), clean.tolist(), strict=True):
            try:
                check_bar_arrays(values[first:end], dates, "S", start=first)
            except ScanError:
                assert not ok, (seed, first, end)
                rejected += 1
            checked += 1
    assert rejected > checked // 10  # the spoiled bars do reach the windows


def test_breaks_equal_a_plain_scan_nan_included():
    rng = np.random.default_rng(3)
    values = np.round(rng.normal(10, 1, 500), 1)  # many ties
    values[[50, 300]] = np.nan
    positions = np.arange(len(values))
    for higher in (True, False):
        found = _breaks(values, positions, higher)
        for p in range(len(values)):
            if np.isnan(values[p]):
                continue
            later = values[p + 1 :]
            beyond = (later > values[p]) if higher else (later < values[p])
            beyond |= np.isnan(later)  # a NaN counts as a break (see _breaks)
            hits = np.flatnonzero(beyond)
            assert found[p] == (p + 1 + hits[0] if len(hits) else len(values))


def test_row_columns_are_the_keys_of_a_features_row():
    params = tn.IndicatorParams(sma_periods=(10, 30, 40), return_periods=(2, 7))
    bars = spoiled_bars(1, 50).ffill()
    row = features_from_arrays(
        "2020-01-01", *(bars[c].to_numpy() for c in ("high", "low", "close", "volume")), params
    )
    assert tuple(k for k in row if k != "last_date") == row_columns(params)


def real_histories(real_data_dir, step: int):
    source = tn.DirectorySource(real_data_dir)
    for symbol in list(source.universe()["symbol"])[::step]:
        yield symbol, source.fetch(symbol, DateWindow(None, None))


def test_real_data_window_screen_matches_the_check_at_every_month_end(real_data_dir):
    """On the 505 real histories at every month-end: every window found clean passes the
    scan's check, and the running counts leave the exact check to few windows."""
    work = job()
    windows = exact = failing = 0
    for symbol, bars in real_histories(real_data_dir, 1):
        history = History(bars)
        firsts, ends = history.spans(MONTH_ENDS, work.lookback)
        clean = WindowScreen(history.values).clean(firsts, ends)
        for first, end, ok in zip(firsts.tolist(), ends.tolist(), clean.tolist(), strict=True):
            if end <= first:
                continue
            windows += 1
            exact += not ok
            try:
                check_bar_arrays(history.values[first:end], history.dates, symbol, start=first)
            except ScanError:
                failing += 1
                assert not ok, (symbol, history.iso(np.array([end - 1])))
    assert windows > 60_000
    assert failing <= exact < windows // 10


@pytest.mark.parametrize("part", [0, 1])
def test_real_data_outcomes_equal_the_scan_at_every_month_end(real_data_dir, part):
    """Every 10th real symbol (two halves), every month-end: exactly the scan's numbers."""
    work = dataclasses.replace(job())
    rows = 0
    for i, (symbol, bars) in enumerate(real_histories(real_data_dir, 10)):
        if i % 2 == part:
            rows += assert_same_outcomes(symbol, bars, MONTH_ENDS, work)
    assert rows > 2_500
