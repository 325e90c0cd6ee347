"""Malformed bars become per-symbol data errors with clear messages."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from technic_nb import DirectorySource, ErrorType, InMemorySource, ScanError
from technic_nb.core.bars import check_bar_values, normalize_bars, rejected_rows
from technic_nb.core.symbols import validate_symbol


def good_frame(n: int = 30) -> pd.DataFrame:
    dates = pd.bdate_range("2024-01-01", periods=n)
    close = np.linspace(10, 20, n)
    return pd.DataFrame(
        {
            "date": dates.strftime("%Y-%m-%d"),
            "open": close,
            "high": close + 0.5,
            "low": close - 0.5,
            "close": close,
            "volume": np.full(n, 1e6),
        }
    )


def fetch_error(frame: pd.DataFrame) -> ScanError:
    source = InMemorySource({"XYZ": frame})
    with pytest.raises(ScanError) as info:
        bars = source.fetch("XYZ")
        check_bar_values(bars, "XYZ")
    assert info.value.error_type is ErrorType.DATA_ERROR
    assert "XYZ" in info.value.message
    assert info.value.suggestion
    return info.value


def test_good_frame_is_normalized():
    bars = normalize_bars(good_frame(), "XYZ")
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert bars.index.name == "date"
    assert bars.index.is_monotonic_increasing
    assert bars.dtypes.eq("float64").all()
    check_bar_values(bars, "XYZ")


def test_missing_column():
    error = fetch_error(good_frame().drop(columns=["volume"]))
    assert "missing column(s) volume" in error.message


def test_duplicate_date():
    frame = good_frame()
    frame.loc[5, "date"] = frame.loc[4, "date"]
    assert "duplicate date 2024-01-05" in fetch_error(frame).message


def test_unsorted_dates_are_sorted_not_rejected():
    frame = good_frame().iloc[::-1]
    bars = normalize_bars(frame, "XYZ")
    assert bars.index.is_monotonic_increasing
    assert bars["close"].iloc[-1] == 20.0


def test_nan_value():
    frame = good_frame()
    frame.loc[7, "close"] = np.nan
    assert "missing (NaN)" in fetch_error(frame).message


def test_infinite_value():
    frame = good_frame()
    frame.loc[7, "high"] = np.inf
    assert "infinite" in fetch_error(frame).message


def test_non_positive_price():
    frame = good_frame()
    frame.loc[3, "low"] = 0.0
    assert "non-positive price on 2024-01-04" in fetch_error(frame).message


def test_negative_volume():
    frame = good_frame()
    frame.loc[3, "volume"] = -5
    assert "negative volume" in fetch_error(frame).message


def test_high_below_low():
    frame = good_frame()
    frame.loc[10, ["high", "low"]] = [10.0, 12.0]
    error = fetch_error(frame)
    assert "high below low" in error.message
    assert error.details["bad_rows"] == 1


def test_close_outside_range():
    frame = good_frame()
    frame.loc[10, "close"] = frame.loc[10, "high"] * 10  # a decimal shift
    assert "outside the high-low range" in fetch_error(frame).message


def test_decimal_shifted_low_inside_the_range_rules():
    frame = good_frame()
    frame.loc[10, "low"] = frame.loc[10, "low"] / 10  # breaks no OHLC rule
    error = fetch_error(frame)
    assert "isolated price that jumps and reverts (a decimal shift?) on 2024-01-15" in error.message
    assert error.details["column"] == "low"


def test_rejected_rows_marks_every_row_the_checks_reject():
    bars = normalize_bars(good_frame(40), "XYZ")
    assert not rejected_rows(bars.to_numpy()).any()
    spoiled = bars.copy()
    spoiled.iloc[3, 3] = np.nan  # a missing close
    spoiled.iloc[10, 1:3] = [10.0, 12.0]  # high below low
    spoiled.iloc[20, 2] /= 10  # a low shifted by a decimal: only the outlier rule sees it
    spoiled.iloc[21, 3] = np.nan  # a broken neighbour does not hide that outlier
    spoiled.iloc[30, :4] *= 10  # a whole bar shifted
    spoiled.iloc[35, 4] = -1.0  # a negative volume
    rows = [3, 10, 20, 21, 30, 35]
    assert np.flatnonzero(rejected_rows(spoiled.to_numpy())).tolist() == rows
    # each is a bar the scan rejects: a window holding it (and no other) fails, naming it
    windows = [(0, 6), (8, 13), (17, 21), (21, 24), (28, 33), (33, 38)]
    for row, (start, end) in zip(rows, windows, strict=True):
        with pytest.raises(ScanError) as info:
            check_bar_values(spoiled.iloc[start:end], "XYZ")
        assert info.value.details["date"] == str(spoiled.index[row].date())


def test_non_numeric_value():
    frame = good_frame().astype({"open": object})
    frame.loc[2, "open"] = "n/a"
    assert "non-numeric open value 'n/a'" in fetch_error(frame).message


def test_unparseable_date():
    frame = good_frame()
    frame.loc[2, "date"] = "yesterday"
    error = fetch_error(frame)
    assert error.message == "XYZ: unparseable date 'yesterday' at row 3"
    assert error.details["value"] == "yesterday"


@pytest.mark.parametrize("blank_lines", [False, True])
def test_an_unparseable_date_in_a_file_names_the_file_line_and_value_in_one_line(
    tmp_path, blank_lines
):
    frame = good_frame()
    frame.loc[4, "date"] = "2024-13-45"
    text = frame.to_csv(index=False)
    if blank_lines:  # read_csv skips them: the line is still the file's own
        lines = text.splitlines()
        text = "\n".join([*lines[:2], "", *lines[2:4], "", *lines[4:]]) + "\n"
    (tmp_path / "XYZ.csv").write_text(text)
    with pytest.raises(ScanError) as info:
        DirectorySource(tmp_path).fetch("XYZ")
    line = 8 if blank_lines else 6
    assert info.value.message == f"XYZ: unparseable date '2024-13-45' at XYZ.csv line {line}"
    assert "\n" not in str(info.value.to_dict())
    assert text.splitlines()[line - 1].startswith("2024-13-45,")


def test_empty_frame():
    assert "no bars" in fetch_error(good_frame().iloc[0:0]).message


def test_not_a_dataframe():
    source = InMemorySource({"XYZ": good_frame()})
    source._frames["XYZ"] = [1, 2, 3]
    with pytest.raises(ScanError, match="expected a DataFrame"):
        source.fetch("XYZ")


@pytest.mark.parametrize(
    "bad", ["../etc/passwd", "A/B", "..", "AAPL ", " ", "A B", "\x00X", "TOOLONGSYMBOL123", 42]
)
def test_symbols_are_validated_before_io(bad):
    if bad == "AAPL ":
        assert validate_symbol(bad) == "AAPL"
        return
    with pytest.raises(ScanError) as info:
        validate_symbol(bad)
    assert info.value.error_type is ErrorType.DATA_ERROR


def test_path_traversal_through_directory_source(tmp_path):
    secret = tmp_path / "secret.csv"
    good_frame().to_csv(secret, index=False)
    folder = tmp_path / "data"
    folder.mkdir()
    source = DirectorySource(folder)
    for symbol in ("../secret", "..%2Fsecret", "/etc/passwd"):
        with pytest.raises(ScanError, match="not a valid ticker"):
            source.fetch(symbol)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "cannot read"),
        (b"date,open,high,low,close\n2024-01-02,1,2,0.5,1\n", "missing column(s) volume"),
        (b'date,open,high,low,close,volume\n2024-01-02,1,2,0.5,1,"\n', "cannot read"),
        (b"\xff\xfe\x00garbage", "cannot read"),
    ],
)
def test_malformed_csv_files(tmp_path, content, expected):
    (tmp_path / "BAD.csv").write_bytes(content)
    with pytest.raises(ScanError) as info:
        DirectorySource(tmp_path).fetch("BAD")
    assert expected in info.value.message
    assert info.value.error_type is ErrorType.DATA_ERROR


def test_truncated_gzip_file(tmp_path):
    data = gzip.compress(good_frame(500).to_csv(index=False).encode())
    (tmp_path / "CUT.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ScanError, match=r"cannot read CUT\.csv\.gz"):
        DirectorySource(tmp_path).fetch("CUT")


def test_missing_file_names_the_folder(tmp_path):
    with pytest.raises(ScanError, match=r"no file NOPE\.csv"):
        DirectorySource(tmp_path).fetch("NOPE")


def test_missing_folder_is_a_config_error(tmp_path):
    with pytest.raises(ScanError) as info:
        DirectorySource(tmp_path / "nowhere")
    assert info.value.error_type is ErrorType.CONFIG_ERROR
    assert "does not exist" in info.value.message
