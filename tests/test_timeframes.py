"""Weekly bars: weeks ending Friday, indexed by their last daily bar, partial week kept."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from technic_nb.core.timeframes import weekly_bars

COLUMNS = ["open", "high", "low", "close", "volume"]


def make_daily(dates, seed: int = 0) -> pd.DataFrame:
    """Daily bars on the given dates with random but consistent OHLCV values."""
    rng = np.random.default_rng(seed)
    n = len(dates)
    close = 100 + rng.standard_normal(n).cumsum()
    open_ = close + rng.standard_normal(n)
    high = np.maximum(open_, close) + rng.random(n)
    low = np.minimum(open_, close) - rng.random(n)
    volume = rng.integers(1_000, 10_000, n).astype(float)
    index = pd.DatetimeIndex(pd.to_datetime(list(dates)), name="date")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


def reference_week(daily: pd.DataFrame) -> pd.Series:
    """The aggregation of one week's daily bars, computed the obvious way."""
    return pd.Series(
        {
            "open": daily["open"].iloc[0],
            "high": daily["high"].max(),
            "low": daily["low"].min(),
            "close": daily["close"].iloc[-1],
            "volume": daily["volume"].sum(),
        }
    )


# 2024-03-25 is a Monday; 2024-03-29 (Good Friday) is a market holiday.
HOLIDAY_WEEKS = [
    "2024-03-18",
    "2024-03-19",
    "2024-03-20",
    "2024-03-21",
    "2024-03-22",  # a full week, ends Friday
    "2024-03-25",
    "2024-03-26",
    "2024-03-27",
    "2024-03-28",  # Good Friday week: last bar Thursday
    "2024-04-01",
    "2024-04-02",
    "2024-04-03",  # a partial week (as of Wednesday)
]


def test_weeks_end_friday_and_are_indexed_by_their_last_bar():
    daily = make_daily(HOLIDAY_WEEKS)
    weekly = weekly_bars(daily)
    assert list(weekly.columns) == COLUMNS
    assert weekly.index.name == "date"
    assert list(weekly.index) == [
        pd.Timestamp("2024-03-22"),
        pd.Timestamp("2024-03-28"),
        pd.Timestamp("2024-04-03"),
    ]
    assert (weekly.dtypes == np.float64).all()
    groups = [daily.iloc[0:5], daily.iloc[5:9], daily.iloc[9:12]]
    for (_, row), group in zip(weekly.iterrows(), groups, strict=True):
        pd.testing.assert_series_equal(row, reference_week(group), check_names=False)


def test_partial_week_holds_only_the_days_given():
    daily = make_daily(HOLIDAY_WEEKS)
    weekly = weekly_bars(daily)
    # As of Wednesday 2024-04-03 the current week is Monday..Wednesday.
    last = weekly.iloc[-1]
    assert last["close"] == daily["close"].iloc[-1]
    assert last["volume"] == daily["volume"].iloc[-3:].sum()


def test_drop_partial_keeps_weeks_ending_friday_or_followed_by_a_later_week():
    daily = make_daily(HOLIDAY_WEEKS)
    # Last week in progress (Wednesday): dropped.
    assert list(weekly_bars(daily, drop_partial=True).index) == [
        pd.Timestamp("2024-03-22"),
        pd.Timestamp("2024-03-28"),
    ]
    # As of the Thursday before Good Friday, that week cannot be known complete: dropped.
    as_of_thursday = daily.loc[:"2024-03-28"]
    assert list(weekly_bars(as_of_thursday, drop_partial=True).index) == [
        pd.Timestamp("2024-03-22")
    ]
    # As of a Friday the week is complete: kept.
    as_of_friday = daily.loc[:"2024-03-22"]
    pd.testing.assert_frame_equal(
        weekly_bars(as_of_friday, drop_partial=True), weekly_bars(as_of_friday)
    )


def test_drop_partial_first_drops_a_week_cut_by_the_window_start():
    daily = make_daily(HOLIDAY_WEEKS)
    full = weekly_bars(daily)
    # Starting on a Monday: the first week is whole and kept.
    pd.testing.assert_frame_equal(weekly_bars(daily, drop_partial_first=True), full)
    # Starting on a Wednesday: the first week is cut and dropped.
    cut = daily.loc["2024-03-20":]
    assert list(weekly_bars(cut, drop_partial_first=True).index) == list(full.index[1:])
    assert list(weekly_bars(cut).index) == list(full.index)
    # A single cut week leaves nothing.
    assert weekly_bars(daily.loc["2024-04-02":], drop_partial_first=True).empty


def test_weekend_bar_belongs_to_the_next_week():
    daily = make_daily(["2024-03-22", "2024-03-23", "2024-03-25"])  # Fri, Sat, Mon
    weekly = weekly_bars(daily)
    assert list(weekly.index) == [pd.Timestamp("2024-03-22"), pd.Timestamp("2024-03-25")]
    assert weekly["volume"].iloc[1] == daily["volume"].iloc[1:].sum()
    assert weekly["open"].iloc[1] == daily["open"].iloc[1]


def test_weeks_without_bars_give_no_row():
    daily = make_daily(["2024-03-22", "2024-04-05"])  # two Fridays, two weeks apart
    weekly = weekly_bars(daily)
    assert list(weekly.index) == list(daily.index)
    pd.testing.assert_frame_equal(weekly, daily)


def test_empty_daily_gives_empty_weekly():
    daily = make_daily([])
    weekly = weekly_bars(daily)
    assert weekly.empty
    assert list(weekly.columns) == COLUMNS
    assert isinstance(weekly.index, pd.DatetimeIndex)
    assert weekly.index.name == "date"


def test_extra_columns_are_ignored_and_input_not_modified():
    daily = make_daily(HOLIDAY_WEEKS)
    daily["note"] = "x"
    before = daily.copy()
    weekly = weekly_bars(daily)
    assert list(weekly.columns) == COLUMNS
    pd.testing.assert_frame_equal(daily, before)


def test_index_dtype_follows_the_daily_index():
    daily = make_daily(HOLIDAY_WEEKS)
    daily.index = daily.index.as_unit("s")
    assert weekly_bars(daily).index.dtype == daily.index.dtype


@pytest.mark.parametrize(
    ("change", "error", "text"),
    [
        (lambda d: d.to_numpy(), TypeError, "must be a pandas DataFrame"),
        (lambda d: d.drop(columns="low"), ValueError, "missing low"),
        (lambda d: d.reset_index(drop=True), TypeError, "DatetimeIndex"),
        (lambda d: d.tz_localize("UTC"), ValueError, "tz-naive"),
        (lambda d: d.iloc[::-1], ValueError, "strictly ascending"),
        (lambda d: pd.concat([d, d.iloc[-1:]]), ValueError, "strictly ascending"),
    ],
)
def test_bad_daily_bars_are_refused(change, error, text):
    daily = make_daily(HOLIDAY_WEEKS)
    with pytest.raises(error, match=text):
        weekly_bars(change(daily))


def test_matches_pandas_resample_on_real_data(real_data_dir):
    frame = pd.read_csv(real_data_dir / "AAPL.csv.gz", parse_dates=["date"], index_col="date")
    daily = frame.astype("float64")
    weekly = weekly_bars(daily)
    resampled = (
        daily.resample("W-FRI")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        .dropna(subset=["close"])
    )
    assert len(weekly) == len(resampled)
    np.testing.assert_allclose(weekly.to_numpy(), resampled.to_numpy(), rtol=1e-12)
    # Each row is indexed by the last daily bar of its week, never after the Friday.
    fridays = resampled.index
    assert (weekly.index <= fridays).all()
    assert (weekly.index > fridays - pd.Timedelta(days=7)).all()
    assert weekly.index.isin(daily.index).all()


# -- property: as-of weekly bars never look ahead ------------------------------------------


@st.composite
def daily_and_as_of(draw):
    start = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1)))
    gaps = draw(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=60))
    dates = [start]
    for gap in gaps:
        dates.append(dates[-1] + timedelta(days=gap))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    daily = make_daily(dates, seed)
    as_of = draw(
        st.dates(min_value=start - timedelta(days=3), max_value=dates[-1] + timedelta(days=3))
    )
    return daily, pd.Timestamp(as_of)


@settings(max_examples=200, deadline=None)
@given(daily_and_as_of())
def test_as_of_weekly_bars_use_no_later_bar_and_agree_on_finished_weeks(case):
    daily, as_of = case
    visible = daily[daily.index <= as_of]
    full = weekly_bars(daily)
    partial = weekly_bars(visible)

    # No bar after the as-of date: every row is dated on or before it, and each row is
    # exactly the aggregation of the visible daily bars of its week.
    assert (partial.index <= as_of).all()
    assert partial.index.isin(visible.index).all()
    weeks = visible.index.to_period("W-FRI")
    for stamp, row in partial.iterrows():
        week = stamp.to_period("W-FRI")
        expected = reference_week(visible[weeks == week])
        np.testing.assert_allclose(row.to_numpy(), expected.to_numpy(), rtol=1e-12)

    # Weeks that end (Friday) on or before the as-of date are identical in both.
    def finished(frame: pd.DataFrame) -> pd.DataFrame:
        friday = frame.index.to_period("W-FRI").end_time.normalize()
        return frame[friday <= as_of]

    pd.testing.assert_frame_equal(finished(partial), finished(full))

    # Every week but the last is complete; with drop_partial the result is a prefix of
    # the full history's weeks (nothing that can still change is kept).
    kept = weekly_bars(visible, drop_partial=True)
    pd.testing.assert_frame_equal(kept, full.loc[kept.index])
    assert len(kept) >= len(partial) - 1
