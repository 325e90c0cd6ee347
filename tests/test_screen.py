"""Screens: a safe expression language over the result table, and callable screens."""

from __future__ import annotations

import pickle
import re

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from technic_nb.core.errors import ScanError
from technic_nb.rules.screens.screen import Screen, as_screen

NAN = float("nan")


@pytest.fixture
def table() -> pd.DataFrame:
    signal = pd.Categorical(
        ["Long", "Neutral", "Long", None, "Strong Long"],
        categories=["Strong Long", "Long", "Neutral", "Short", "Strong Short"],
        ordered=True,
    )
    return pd.DataFrame(
        {
            "rsi": [30.0, 52.1, NAN, 20.0, 34.0],
            "close": [10.0, 20.0, 30.0, 5.0, 50.0],
            "sma200": [5.0, 25.0, 1.0, 10.0, 40.0],
            "squeeze": [0.04, 0.01, 0.2, 0.03, np.inf],
            "signal": signal,
            "breakout": pd.array([1, 0, -1, None, 1], dtype="Int64"),
            "liquid": [True, True, False, True, True],
            "last_date": ["2024-06-12"] * 5,
        },
        index=pd.Index(["AAA", "BBB", "CCC", "DDD", "EEE"], name="symbol"),
    )


def kept(screen: str, table: pd.DataFrame) -> list[str]:
    mask, _ = Screen(screen).apply(table)
    return list(table.index[mask.to_numpy()])


# -- evaluation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("rsi < 35", ["AAA", "DDD", "EEE"]),
        ("rsi < 35 and close > sma200", ["AAA", "EEE"]),
        ("rsi < 35 and close > sma200 and squeeze < 0.05", ["AAA"]),  # inf is unknown
        ("rsi < 35 or close > 25", ["AAA", "CCC", "DDD", "EEE"]),
        ("30 <= rsi < 35", ["AAA", "EEE"]),
        ("20 < rsi <= 35 < close", ["EEE"]),
        ("not rsi < 35", ["BBB"]),  # NaN stays unknown under not
        ("not (rsi < 35 and close > sma200)", ["BBB", "DDD"]),
        ('signal == "Long"', ["AAA", "CCC"]),
        ("signal != 'Long'", ["BBB", "EEE"]),  # a missing signal is unknown, not "!= Long"
        ('signal in ("Long", "Strong Long")', ["AAA", "CCC", "EEE"]),
        ('signal not in ["Long", "Strong Long"]', ["BBB"]),
        ("breakout == 1", ["AAA", "EEE"]),
        ("breakout in (1, -1)", ["AAA", "CCC", "EEE"]),
        ("breakout not in (-1,)", ["AAA", "BBB", "EEE"]),
        ("liquid == 1", ["AAA", "BBB", "DDD", "EEE"]),
        ("abs(close - sma200) / sma200 > 0.5", ["AAA", "CCC"]),  # DDD: exactly 0.5
        ("-rsi > -25", ["DDD"]),
        ("close ** 2 >= 2500", ["EEE"]),
        ("close * 2 - 1 + sma200 / 5 > 60", ["EEE"]),
        ("close / (sma200 - 25) > 0", ["EEE"]),  # BBB: 20 / 0 -> inf, unknown
        ('last_date == "2024-06-12"', ["AAA", "BBB", "CCC", "DDD", "EEE"]),
        ("1 < 2", ["AAA", "BBB", "CCC", "DDD", "EEE"]),
        ("  rsi\n   < 35\tand close > 20  ", ["EEE"]),
    ],
)
def test_expressions(table, expression, expected):
    assert sorted(kept(expression, table)) == sorted(expected)


def test_apply_returns_an_aligned_mask_and_reasons(table):
    mask, reasons = Screen("rsi < 35 and close > sma200 and squeeze < 0.05").apply(table)
    assert mask.dtype == bool and mask.index.equals(table.index)
    assert mask.tolist() == [True, False, False, False, False]
    assert reasons.to_dict() == {
        "BBB": "screen: rsi < 35 is False (rsi=52.1)",
        "CCC": "screen: rsi < 35 is unknown (rsi=nan)",
        "DDD": "screen: close > sma200 is False (close=5, sma200=10)",
        "EEE": "screen: squeeze < 0.05 is unknown (squeeze=inf)",
    }


def test_reasons_name_the_whole_expression_when_not_an_and_chain(table):
    _, reasons = Screen("rsi < 25 or signal == 'Neutral'").apply(table)
    assert (
        reasons["AAA"] == "screen: rsi < 25 or signal == 'Neutral' is False (rsi=30, signal='Long')"
    )
    _, reasons = Screen("signal == 'Long' and (rsi < 25 or close > 40)").apply(table)
    assert reasons["AAA"] == "screen: rsi < 25 or close > 40 is False (rsi=30, close=10)"
    assert reasons["DDD"] == "screen: signal == 'Long' is unknown (signal=None)"


def test_nested_and_chains_are_flattened_for_reasons(table):
    _, reasons = Screen("(rsi < 35 and close > 6) and sma200 > 6").apply(table)
    assert reasons["DDD"] == "screen: close > 6 is False (close=5)"


def test_columns_in_order_of_appearance():
    screen = Screen("abs(rsi - 50) > 10 and close > sma200 and rsi < 70")
    assert screen.columns == ("rsi", "close", "sma200")
    assert screen.expression == "abs(rsi - 50) > 10 and close > sma200 and rsi < 70"


def test_empty_table(table):
    mask, reasons = Screen("rsi < 35").apply(table.iloc[:0])
    assert mask.empty and reasons.empty and mask.dtype == bool


def test_all_missing_text_column_is_unknown(table):
    table = table.assign(note=pd.Series([None] * 5, index=table.index, dtype=object))
    assert kept('note == "x"', table) == []
    assert kept('note != "x" or rsi < 25', table) == ["DDD"]


def test_object_column_of_numbers_is_numeric(table):
    table = table.assign(score=pd.Series([1, 2.5, None, 4, 5], index=table.index, dtype=object))
    assert kept("score >= 2.5", table) == ["BBB", "DDD", "EEE"]


# -- refused expressions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "what", "part"),
    [
        ("rsi.real > 1", "attribute access", "rsi.real"),
        ("close.__class__ > 1", "attribute access", "close.__class__"),
        ("max(rsi, 3) > 1", "a call other than abs", "max(rsi, 3)"),
        ("abs(rsi, 2) > 1", "abs(...) with other than one argument", "abs(rsi, 2)"),
        ("abs(x=rsi) > 1", "abs(...) with other than one argument", "abs(x=rsi)"),
        ("rsi[0] > 1", "a subscript", "rsi[0]"),
        ("(lambda: 1)() > 0", "a call other than abs", "(lambda: 1)()"),
        ("__import__ > 1", "a name holding '__'", "__import__"),
        ("rsi + 1", "a value without a comparison", "rsi + 1"),
        ("rsi", "a value without a comparison", "rsi"),
        ("rsi // 2 > 1", "the operator '//'", "rsi // 2"),
        ("rsi % 2 > 1", "the operator '%'", "rsi % 2"),
        ("rsi is None", "the operator 'is'", "rsi is None"),
        ("rsi > True", "the constant True", "True"),
        ("rsi in x", "'in' against something other than a tuple", "x"),
        ("rsi in (x, 1)", "a non-constant inside the 'in' tuple", "x"),
        ("rsi in ()", "'in' against an empty tuple", "()"),
        ("rsi in (1, 2) < 3", "'in' inside a chained comparison", "rsi in (1, 2) < 3"),
        ("signal > 'Long'", "a string outside == / != / in", "'Long'"),
        ("'a' + signal == 'b'", "a string outside == / != / in", "'a'"),
        ("(rsi < 3) + 1 > 0", "a condition used as a value", "rsi < 3"),
        ("rsi if close else sma200", "an if-expression", "rsi if close else sma200"),
        ("[x for x in rsi]", "a comprehension", "[x for x in rsi]"),
        ("f'{rsi}' == 'a'", "an f-string", "f'{rsi}'"),
        ("~rsi > 0", "'~' inside a value", "~rsi"),
        ("rsi > 1j", "a complex constant", "1j"),
        ("(y := rsi) > 1", "an assignment", "y := rsi"),
    ],
)
def test_refused_constructs_name_the_part(expression, what, part):
    with pytest.raises(ScanError) as info:
        Screen(expression)
    error = info.value
    assert error.error_type.value == "config_error"
    assert what in error.message
    assert error.details["part"] == part
    assert repr(part) in error.message
    assert error.details["position"] >= 1


def test_syntax_error_gives_the_position():
    with pytest.raises(ScanError, match="syntax error at position 7") as info:
        Screen("rsi < < 35")
    assert info.value.error_type.value == "config_error"
    assert info.value.details["position"] == 7
    assert info.value.details["caret"].endswith("\n      ^")


def test_syntax_error_position_counts_leading_spaces():
    with pytest.raises(ScanError) as info:
        Screen("   rsi < < 35")
    assert info.value.details["position"] == 10


@pytest.mark.parametrize("bad", ["", "   ", 3, None])
def test_empty_or_wrong_condition(bad):
    with pytest.raises(ScanError):
        Screen(bad)  # type: ignore[arg-type]


# -- validation against the table's columns -------------------------------------------------------


def test_validate_unknown_column_lists_close_matches(table):
    screen = Screen("rsi < 35 and clsoe > sma_200")
    with pytest.raises(ScanError) as info:
        screen.validate(table.columns)
    error = info.value
    assert error.error_type.value == "config_error"
    assert "unknown column 'clsoe'" in error.message
    assert "did you mean 'close'?" in error.message
    assert error.details["column"] == "clsoe"
    assert error.details["close_matches"] == ["close"]
    with pytest.raises(ScanError, match="unknown column 'clsoe'"):
        screen.apply(table)


def test_validate_without_close_matches_lists_columns(table):
    with pytest.raises(ScanError, match="unknown column 'zzz'; the columns are breakout, close"):
        Screen("zzz > 1").validate(table)


def test_validate_accepts_known_columns(table):
    Screen("rsi < 35 and signal == 'Long'").validate(list(table.columns))


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ("signal > 3", "compares text with a number"),
        ("rsi == 'Long'", "compares text with a number"),
        ("signal + 1 > 2", "'signal' is text; arithmetic and abs"),
        ("abs(signal) > 2", "'signal' is text"),
        ("signal == last_date and signal < last_date", "orders text"),
        ("signal in (1, 2)", "mixes types"),
        ("rsi in ('a', 2)", "mixes types"),
    ],
)
def test_type_errors_at_apply(table, expression, text):
    with pytest.raises(ScanError, match=re.escape(text)):
        Screen(expression).apply(table)


def test_unsupported_column_dtype(table):
    table = table.assign(when=pd.Timestamp("2024-01-01"))
    with pytest.raises(ScanError, match="dtype datetime64"):
        Screen("when > 1").apply(table)


def test_mixed_column_is_refused(table):
    table = table.assign(mixed=pd.Series(["a", 1, 2, 3, 4], index=table.index, dtype=object))
    with pytest.raises(ScanError, match="mixes text and numbers"):
        Screen("mixed == 'a'").apply(table)


# -- callable screens -----------------------------------------------------------------------------


def test_callable_screen_with_a_series(table):
    def oversold(t):
        return t["rsi"] < 35

    mask, reasons = Screen(oversold).apply(table)
    assert mask.tolist() == [True, False, False, True, True]
    assert reasons.to_dict() == {
        "BBB": "screen: oversold is False",
        "CCC": "screen: oversold is False",
    }
    assert Screen(oversold).func is oversold and Screen(oversold).expression is None


def test_callable_screen_with_an_array_and_a_name(table):
    mask, reasons = Screen(lambda t: (t["close"] > 15).to_numpy(), name="big").apply(table)
    assert mask.tolist() == [False, True, True, False, True]
    assert set(reasons) == {"screen: big is False"}


def test_callable_screen_reordered_series_is_aligned(table):
    mask, _ = Screen(lambda t: (t["close"] > 15).iloc[::-1]).apply(table)
    assert mask.tolist() == [False, True, True, False, True]


def test_callable_screen_nullable_booleans(table):
    mask, _ = Screen(lambda t: t["breakout"] == 1).apply(table)  # NA -> False
    assert mask.tolist() == [True, False, False, False, True]


@pytest.mark.parametrize(
    ("func", "text"),
    [
        (lambda t: t["rsi"], "got values of dtype float64"),
        (lambda t: t[["rsi"]] < 3, "got a DataFrame"),
        (lambda t: np.ones(3, dtype=bool), "of shape \\(3,\\)"),
        (lambda t: (t["rsi"] < 3).reset_index(drop=True), "index is not the table's index"),
        (lambda t: True, "of shape \\(\\)"),
        (lambda t: 1 / 0, "raised ZeroDivisionError"),
    ],
)
def test_callable_screen_bad_results(table, func, text):
    with pytest.raises(ScanError, match=text) as info:
        Screen(func).apply(table)
    assert info.value.error_type.value == "config_error"


# -- plumbing -------------------------------------------------------------------------------------


def test_screens_pickle(table):
    screen = Screen("rsi < 35 and signal in ('Long', 'Strong Long')")
    clone = pickle.loads(pickle.dumps(screen))
    assert clone.expression == screen.expression
    pd.testing.assert_series_equal(clone.apply(table)[0], screen.apply(table)[0])
    by_value = cloudpickle.loads(cloudpickle.dumps(Screen(lambda t: t["rsi"] < 35)))
    assert by_value.apply(table)[0].tolist() == [True, False, False, True, True]


def test_as_screen_and_repr():
    screen = Screen("rsi < 35")
    assert as_screen(screen) is screen
    assert as_screen(None) is None
    assert as_screen("rsi < 35").expression == "rsi < 35"
    assert repr(screen) == "Screen('rsi < 35')"
    assert repr(Screen(lambda t: t)) == "Screen(<callable lambda>)"


def test_apply_needs_a_dataframe():
    with pytest.raises(TypeError, match="DataFrame"):
        Screen("rsi < 3").apply([1, 2])  # type: ignore[arg-type]
