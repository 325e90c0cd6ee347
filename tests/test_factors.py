"""User factors: the Factor object, the decorator, cache keys, pickling, compute_factors,
and the ready-made library checked against TA-Lib on real data."""

from __future__ import annotations

import inspect
import itertools
import json
import linecache
import math
import os
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import talib

from technic_nb import factors as lib
from technic_nb.core.errors import ScanError
from technic_nb.core.timeframes import weekly_bars
from technic_nb.rules.factors import (
    Factor,
    check_factor_names,
    compute_factors,
    factor,
    factor_error,
)

REPO = Path(__file__).resolve().parents[1]
ERROR_KEYS = set(ScanError("data_error", "x").to_dict())


def make_bars(n: int = 300, seed: int = 0, end: str = "2024-06-12") -> pd.DataFrame:
    """Valid synthetic daily bars on business days ending ``end``."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * (1 + rng.random(n) * 0.01)
    low = np.minimum(open_, close) * (1 - rng.random(n) * 0.01)
    volume = rng.integers(100_000, 1_000_000, n).astype(float)
    index = pd.bdate_range(end=end, periods=n, name="date")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


@pytest.fixture
def bars() -> pd.DataFrame:
    return make_bars()


_CELLS = itertools.count()


@pytest.fixture
def cell():
    """``cell(source)``: run source like a Jupyter cell (in ``__main__``, source in linecache).

    Returns the namespace.  ``cell(source, register=False)`` leaves the source out of
    linecache, like ``exec`` of a string (``inspect.getsource`` then fails).
    """
    names: list[str] = []

    def run(source: str, register: bool = True, namespace: dict | None = None) -> dict:
        source = textwrap.dedent(source)
        filename = f"<cell-{next(_CELLS)}>"
        if register:
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            names.append(filename)
        namespace = {"__name__": "__main__"} if namespace is None else namespace
        exec(compile(source, filename, "exec", dont_inherit=True), namespace)
        return namespace

    yield run
    for name in names:
        linecache.cache.pop(name, None)


def config_field(info: pytest.ExceptionInfo) -> str:
    error = info.value
    assert isinstance(error, ScanError)
    assert error.error_type.value == "config_error"
    return error.details["field"]


# -- Factor and factor ------------------------------------------------------------------------


def last_close(bars):
    return bars["close"].iloc[-1]


def scaled(bars, *, factor_: float = 1.0, shift: float = 0.0):
    return float(bars["close"].iloc[-1]) * factor_ + shift


def test_decorator_forms(bars):
    @factor
    def plain(bars):
        return 1.0

    @factor(name="wk", timeframe="W", outputs=("a", "b"), min_bars=3)
    def weekly(bars):
        return {"a": 1.0, "b": 2.0}

    lam = factor(lambda b: 2.0, name="two")
    assert isinstance(plain, Factor) and plain.name == "plain" and plain.timeframe == "D"
    assert plain.params == {} and plain.outputs is None and plain.min_bars == 1
    assert (weekly.name, weekly.timeframe, weekly.outputs, weekly.min_bars) == (
        "wk",
        "W",
        ("a", "b"),
        3,
    )
    assert weekly.declared_columns() == ("wk_a", "wk_b")
    assert plain.declared_columns() is None
    assert plain(bars) == 1.0 and lam(bars) == 2.0


def test_call_applies_params(bars):
    f = factor(scaled, params={"factor_": 2.0, "shift": 1.0})
    assert f(bars) == pytest.approx(2 * bars["close"].iloc[-1] + 1)
    assert f.params == {"factor_": 2.0, "shift": 1.0}


def test_params_are_read_only_and_copied():
    source = {"factor_": 2.0}
    f = factor(scaled, params=source)
    source["factor_"] = 3.0
    assert f.params["factor_"] == 2.0
    with pytest.raises(TypeError, match="read-only"):
        f.params["factor_"] = 5.0  # type: ignore[index]
    with pytest.raises(TypeError, match="read-only"):
        f.params.update(shift=1.0)  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        f.name = "other"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(f)).params == {"factor_": 2.0}


def test_call_refuses_too_few_bars(bars):
    f = factor(last_close, min_bars=50)
    with pytest.raises(ValueError, match="needs at least 50 daily bars, got 10"):
        f(bars.iloc[:10])


def test_columns_of_results():
    f = factor(last_close, name="sq")
    assert f.columns(1.5) == ("sq",)
    assert f.columns({"k": 1.0, "d": 2.0}) == ("sq_k", "sq_d")
    with pytest.raises(ValueError, match="output key"):
        f.columns({"bad key": 1.0})


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("1abc", "identifier"),
        ("with space", "identifier"),
        ("class", "keyword"),
        ("_private", "start with '_'"),
        ("a__b", "double underscore"),
        ("café", "ASCII"),
        (42, "a string"),
    ],
)
def test_invalid_names_are_refused(name, why):
    with pytest.raises(ScanError, match=why) as info:
        factor(last_close, name=name)
    assert config_field(info) == "name"
    assert repr(name) in str(info.value)


def test_lambda_needs_a_name():
    with pytest.raises(ScanError, match="explicit name") as info:
        factor(lambda b: 1.0)
    assert config_field(info) == "name"


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"timeframe": "M"}, "timeframe", "'D' .daily. or 'W' .weekly."),
        ({"params": [1, 2]}, "params", "a dict"),
        ({"params": {"period": object()}}, "params['period']", "plain value"),
        ({"params": {"perod": 20}}, "params", "keyword arguments accepted by"),
        ({"outputs": "k"}, "outputs", "tuple of output names"),
        ({"outputs": ()}, "outputs", "non-empty"),
        ({"outputs": ("k", "k")}, "outputs", "distinct"),
        ({"outputs": ("k", "_d")}, "outputs", "single underscores"),
        ({"outputs": ("k", 3)}, "outputs", "a string"),
        ({"min_bars": 0}, "min_bars", "integer >= 1"),
        ({"min_bars": 2.5}, "min_bars", "integer >= 1"),
        ({"min_bars": True}, "min_bars", "integer >= 1"),
    ],
)
def test_invalid_arguments_are_refused(kwargs, field, text):
    with pytest.raises(ScanError, match=text) as info:
        factor(last_close, **kwargs)
    assert config_field(info) == field


def test_func_must_be_callable():
    with pytest.raises(ScanError, match="callable") as info:
        Factor(3)  # type: ignore[arg-type]
    assert config_field(info) == "func"


def test_check_factor_names():
    a = factor(last_close, name="alpha")
    b = factor(last_close, name="beta", outputs=("k", "d"))
    check_factor_names([a, b], reserved={"rsi", "close"})

    with pytest.raises(ScanError, match=r"built-in table columns \('rsi'"):
        check_factor_names([factor(last_close, name="rsi")], reserved={"rsi"})
    with pytest.raises(ScanError, match="'dist_high20_pct'"):
        dist = factor(last_close, name="dist", outputs=("high20_pct",))
        check_factor_names([dist], reserved={"dist_high20_pct"})
    with pytest.raises(ScanError, match="also a column of factor 'alpha'"):
        check_factor_names([a, factor(last_close, name="alpha")], reserved=())
    with pytest.raises(ScanError, match="'beta_k' is also a column of factor 'beta'"):
        check_factor_names([b, factor(last_close, name="beta_k")], reserved=())
    with pytest.raises(ScanError, match="Factor objects"):
        check_factor_names([last_close], reserved=())  # type: ignore[list-item]


def test_equality_and_hash():
    a = factor(last_close, name="x")
    b = factor(last_close, name="x")
    assert a == b and hash(a) == hash(b)
    assert a != factor(last_close, name="y")
    assert lib.bollinger() == lib.bollinger()
    assert lib.bollinger(20) != lib.bollinger(21)
    assert len({lib.bollinger(), lib.bollinger()}) == 1


# -- code_key ---------------------------------------------------------------------------------


def test_code_key_is_a_stable_sha256():
    key = lib.bollinger().code_key()
    assert len(key) == 64 and int(key, 16) >= 0
    assert key == lib.bollinger().code_key()


def test_code_key_depends_on_params_name_timeframe_outputs():
    keys = {
        lib.bollinger(20, 2.0).code_key(),
        lib.bollinger(50, 2.0).code_key(),
        lib.bollinger(20, 2.5).code_key(),
        lib.bollinger(20, 2.0, name="bb").code_key(),
        factor(last_close).code_key(),
        factor(last_close, timeframe="W").code_key(),
        factor(last_close, min_bars=5).code_key(),
        factor(scaled, params={"factor_": 2.0}).code_key(),
        factor(scaled, params={"factor_": 3.0}).code_key(),
    }
    assert len(keys) == 9


@pytest.mark.parametrize("register", [True, False], ids=["cell-source", "exec-no-source"])
def test_code_key_changes_when_the_body_is_edited(cell, register):
    first = cell("def f(bars):\n    return float(bars['close'].iloc[-1])\n", register)["f"]
    same = cell("def f(bars):\n    return float(bars['close'].iloc[-1])\n", register)["f"]
    edited = cell("def f(bars):\n    return float(bars['close'].iloc[-2])\n", register)["f"]
    key = factor(first).code_key()
    assert factor(same).code_key() == key
    assert factor(edited).code_key() != key


def test_code_key_falls_back_to_bytecode_without_source(cell):
    ns = cell("def f(bars):\n    return 1.0\n", register=False)
    with pytest.raises(OSError):
        inspect.getsource(ns["f"])
    key = factor(ns["f"]).code_key()
    assert key == factor(ns["f"]).code_key()
    other = cell("def f(bars):\n    return 2.0\n", register=False)["f"]
    assert factor(other).code_key() != key


def test_code_key_includes_closure_values(cell):
    ns = cell(
        """
        def make(period, label):
            def f(bars):
                return float(bars['close'].iloc[-period]), label
            return f
        """
    )
    make = ns["make"]
    key20 = factor(make(20, "a"), name="f").code_key()
    assert factor(make(20, "a"), name="f").code_key() == key20
    assert factor(make(50, "a"), name="f").code_key() != key20
    assert factor(make(20, "b"), name="f").code_key() != key20


def test_code_key_includes_plain_globals_and_same_module_helpers(cell):
    ns = cell(
        """
        LEVEL = 1.5
        WINDOWS = (5, 10)
        CHOICES = {"a", "b", "c"}

        def helper(bars):
            return float(bars['close'].iloc[-1])

        def f(bars):
            return helper(bars) * LEVEL + sum(WINDOWS) + len(CHOICES)
        """
    )
    f = factor(ns["f"])
    key = f.code_key()
    ns["LEVEL"] = 2.5
    assert f.code_key() != key
    ns["LEVEL"] = 1.5
    assert f.code_key() == key
    ns["WINDOWS"] = (5, 20)
    assert f.code_key() != key
    ns["WINDOWS"] = (5, 10)
    cell("def helper(bars):\n    return float(bars['close'].iloc[-2])\n", namespace=ns)
    assert f.code_key() != key


def test_code_key_of_lambdas(bars):
    one, two = factor(lambda b: 1.0, name="c"), factor(lambda b: 2.0, name="c")  # same line
    assert one.code_key() != two.code_key()
    assert factor(lambda b: 1.0, name="c").code_key() == factor(lambda b: 1.0, name="c").code_key()


def test_code_key_with_factors_referring_to_factors(cell, bars):
    ns = cell(
        """
        from technic_nb.rules.factors import factor

        @factor
        def base(bars):
            return float(bars["close"].iloc[-1])

        @factor
        def derived(bars):
            return base(bars) * 2.0

        @factor
        def selfish(bars):
            return float(len(selfish.name))
        """
    )
    key = ns["derived"].code_key()
    assert ns["selfish"].code_key() == ns["selfish"].code_key()  # no infinite recursion
    cell("base = factor(lambda bars: 1.0, name='base')", namespace=ns)
    assert ns["derived"].code_key() != key
    assert compute_factors(bars, [ns["derived"], ns["selfish"]], "AAA")[0] == {
        "derived": 2.0,
        "selfish": 7.0,
    }


class Odd(dict):
    def __getitem__(self, key):
        raise RuntimeError("cannot read")


def test_unreadable_results_are_factor_errors(bars):
    (error,) = compute_factors(bars, [factor(lambda b: Odd(a=1.0), name="odd")], "AAA")[1]
    assert "could not be read (RuntimeError: cannot read)" in error.message


KEY_SCRIPT = """
import json, sys
sys.path.insert(0, {module_dir!r})
from technic_nb import factors as lib
from technic_nb.rules.factors import factor
import keymod
ns = {{"__name__": "__main__"}}
exec(compile({source!r}, "<string>", "exec"), ns)
print(json.dumps([lib.bollinger(50, 2.5).code_key(), keymod.f.code_key(),
                  factor(ns["g"]).code_key()]))
"""

KEY_SOURCE = """
from technic_nb.rules.factors import factor
LEVELS = frozenset({"alpha", "beta", "gamma", "delta"})
TABLE = {"x": 1, "y": 2, "z": 3}

def g(bars):
    return float(len(LEVELS) + TABLE["x"]) if "beta" in {"alpha", "beta", "gamma"} else 0.0
"""


def test_code_key_is_the_same_in_other_processes(tmp_path, cell):
    (tmp_path / "keymod.py").write_text(KEY_SOURCE + "\nf = factor(g)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import keymod  # type: ignore[import-not-found]

        expected = [
            lib.bollinger(50, 2.5).code_key(),
            keymod.f.code_key(),
            factor(cell(KEY_SOURCE, register=False)["g"]).code_key(),
        ]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("keymod", None)
    script = KEY_SCRIPT.format(module_dir=str(tmp_path), source=KEY_SOURCE)
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.strip().splitlines()[-1]) == expected


# -- pickling to workers --------------------------------------------------------------------------

INTERACTIVE = """
import numpy as np
from technic_nb.rules.factors import factor

WINDOW = 20

def _width(bars, window):
    high = bars["high"].iloc[-window:].max()
    low = bars["low"].iloc[-window:].min()
    return (high - low) / bars["close"].iloc[-1]

@factor(outputs=("width", "last"))
def squeeze(bars):
    return {"width": float(_width(bars, WINDOW)), "last": float(np.log(bars["close"].iloc[-1]))}
"""


@pytest.mark.parametrize("register", [True, False], ids=["cell", "exec"])
def test_interactive_factor_survives_cloudpickle(cell, bars, register):
    f = cell(INTERACTIVE, register)["squeeze"]
    assert f.func.__module__ == "__main__"
    expected = f(bars)
    clone = cloudpickle.loads(cloudpickle.dumps(f))
    assert clone(bars) == expected
    assert clone == clone and clone.name == "squeeze"
    if not register:  # no source on either side: the bytecode key travels unchanged
        assert clone.code_key() == f.code_key()


def test_interactive_factor_runs_in_a_fresh_process(cell, bars):
    f = cell(INTERACTIVE, register=False)["squeeze"]
    payload = cloudpickle.dumps((f, bars))
    script = (
        "import sys, json, cloudpickle\n"
        "from technic_nb.rules.factors import compute_factors\n"
        "f, bars = cloudpickle.loads(sys.stdin.buffer.read())\n"
        "values, errors = compute_factors(bars, [f], 'SYM')\n"
        "print(json.dumps([values, [e.to_dict() for e in errors], f.code_key()]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script], input=payload, capture_output=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    values, errors, key = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert errors == []
    assert values == compute_factors(bars, [f], "SYM")[0]
    assert key == f.code_key()


def test_library_factors_pickle_with_plain_pickle(bars):
    for f in library_factors():
        clone = pickle.loads(pickle.dumps(f))
        assert clone == f and clone.code_key() == f.code_key()


# -- compute_factors ------------------------------------------------------------------------------


def test_compute_factors_values_and_order(bars):
    a = factor(lambda b: float(b["close"].iloc[-1]), name="a")
    b = factor(lambda b: {"x": 1, "y": np.float32(2.5)}, name="b")
    c = factor(lambda b: np.int64(7), name="c")
    values, errors = compute_factors(bars, [a, b, c], "AAA")
    assert errors == []
    assert values == {"a": bars["close"].iloc[-1], "b_x": 1.0, "b_y": 2.5, "c": 7.0}
    assert all(type(v) is float for v in values.values())
    assert list(values) == ["a", "b_x", "b_y", "c"]


def test_declared_outputs_fix_the_column_order(bars):
    f = factor(lambda b: {"d": 2.0, "k": 1.0}, name="st", outputs=("k", "d"))
    values, errors = compute_factors(bars, [f], "AAA")
    assert errors == [] and list(values) == ["st_k", "st_d"]


@pytest.mark.parametrize(
    ("result", "text"),
    [
        (float("nan"), "returned NaN"),
        (float("inf"), "returned inf"),
        (-np.inf, "returned -inf"),
        (None, "returned None"),
        ("1.5", "returned a str"),
        ([1.0], "returned a list"),
        (True, "returned a bool"),
        (np.bool_(False), "returned a bool"),
        (pd.Series([1.0, 2.0]), "returned a Series of shape .2,.; return the value at the last"),
        (np.array([1.0]), "returned a ndarray"),
        ({}, "empty dict"),
        ({1: 1.0}, "dict key 1"),
        ({"ok": 1.0, "bad": float("nan")}, "returned NaN for key 'bad'"),
        ({"ok": 1.0, "bad": "x"}, "returned a str .'x'. for key 'bad'"),
        ({"a b": 1.0}, "dict key 'a b'"),
    ],
)
def test_invalid_outputs_are_factor_errors(bars, result, text):
    bad = factor(lambda b: result, name="bad")
    good = factor(lambda b: 1.0, name="good")
    values, errors = compute_factors(bars, [bad, good], "XYZ")
    assert values == {"good": 1.0}
    assert len(errors) == 1
    error = errors[0]
    assert set(error.to_dict()) == ERROR_KEYS
    assert error.error_type == "factor_error"
    assert error.affected_symbols == ("XYZ",)
    assert error.details["symbol"] == "XYZ" and error.details["factor"] == "bad"
    assert error.message.startswith("XYZ: factor 'bad' ")
    assert re.search(text, error.message), error.message
    json.dumps(error.to_dict())  # JSON-friendly


def test_declared_outputs_are_enforced(bars):
    f = factor(lambda b: {"k": 1.0}, name="st", outputs=("k", "d"))
    g = factor(lambda b: 1.0, name="one", outputs=("k",))
    values, errors = compute_factors(bars, [f, g], "AAA")
    assert values == {}
    assert "returned the keys ['k'], but declares outputs ['k', 'd']" in errors[0].message
    assert "declares the outputs ['k']" in errors[1].message


def test_exception_reports_the_users_line(cell, bars):
    ns = cell(
        """
        from technic_nb.rules.factors import factor

        @factor
        def fragile(bars):
            close = bars["close"]
            return float(close.iloc[-1] / bars["missing_column"].iloc[-1])

        @factor
        def fine(bars):
            return 2.0
        """
    )
    values, errors = compute_factors(bars, [ns["fragile"], ns["fine"]], "MSFT")
    assert values == {"fine": 2.0}
    (error,) = errors
    filename = ns["fragile"].func.__code__.co_filename
    details = error.details
    assert details["exception_type"] == "KeyError"
    assert "missing_column" in details["exception"]
    assert details["file"] == filename
    assert details["line"] == 7
    assert (
        details["source_line"] == 'return float(close.iloc[-1] / bars["missing_column"].iloc[-1])'
    )
    message = error.message
    assert message.startswith("MSFT: factor 'fragile' raised KeyError: 'missing_column'")
    assert f"at {filename}, line 7: return float(" in message
    assert set(error.to_dict()) == ERROR_KEYS


def test_exception_in_a_nested_user_function(cell, bars):
    ns = cell(
        """
        from technic_nb.rules.factors import factor

        def helper(x):
            return 1 / x

        @factor
        def outer(bars):
            return helper(0)
        """
    )
    (error,) = compute_factors(bars, [ns["outer"]], "AAA")[1]
    assert "ZeroDivisionError: division by zero" in error.message
    assert error.details["line"] == 5  # the deepest line of the user's cell
    assert error.details["source_line"] == "return 1 / x"
    assert len(error.details["frames"]) == 2


def test_exception_without_source_still_has_the_line_number(cell, bars):
    ns = cell(
        """
        from technic_nb.rules.factors import factor

        @factor
        def broken(bars):
            raise RuntimeError("no luck")
        """,
        register=False,
    )
    (error,) = compute_factors(bars, [ns["broken"]], "AAA")[1]
    assert "raised RuntimeError: no luck at <cell-" in error.message
    assert error.details["line"] == 6


def test_too_few_bars_is_a_factor_error(bars):
    f = factor(lambda b: 1.0, name="long", min_bars=500)
    values, errors = compute_factors(bars, [f], "NEW")
    assert values == {}
    assert errors[0].message == "NEW: factor 'long' needs at least 500 daily bars, got 300"
    assert errors[0].details["min_bars"] == 500


def test_weekly_factor_gets_weekly_bars(bars):
    seen = {}

    def capture(frame):
        seen["bars"] = frame
        return float(frame["close"].iloc[-1])

    values, errors = compute_factors(bars, [factor(capture, timeframe="W")], "AAA")
    assert errors == []
    # The window starts on a Thursday: that cut first week is dropped.
    assert bars.index[0].day_name() == "Thursday"
    pd.testing.assert_frame_equal(seen["bars"], weekly_bars(bars).iloc[1:])
    assert values == {"capture": bars["close"].iloc[-1]}  # the partial week's close
    # A window starting on a Monday keeps its first week.
    monday = bars.loc["2023-04-24":]
    compute_factors(monday, [factor(capture, timeframe="W")], "AAA")
    pd.testing.assert_frame_equal(seen["bars"], weekly_bars(monday))


def test_weekly_too_short_and_weekly_errors_are_reported(bars):
    f = factor(lambda b: 1.0, name="wk", timeframe="W", min_bars=100)
    (error,) = compute_factors(bars, [f], "AAA")[1]
    assert "needs at least 100 weekly bars, got 60" in error.message
    g = factor(lambda b: 1 / 0, name="wk2", timeframe="W")
    (error,) = compute_factors(bars, [g], "AAA")[1]
    assert "(on weekly bars)" in error.message


def test_column_collisions_are_factor_errors(bars):
    a = factor(lambda b: {"k": 1.0}, name="st")
    b = factor(lambda b: 2.0, name="st_k")
    c = factor(lambda b: 3.0, name="rsi")
    values, errors = compute_factors(bars, [a, b, c], "AAA", reserved={"rsi"})
    assert values == {"st_k": 1.0}
    assert "already factor 'st'" in errors[0].message
    assert "already a built-in table column" in errors[1].message


def test_factors_cannot_alter_the_bars_seen_by_others(bars):
    before = bars.copy()

    def vandal(frame):
        frame["close"] = 0.0
        frame["extra"] = 1.0
        return 1.0

    def reader(frame):
        assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
        return float(frame["close"].iloc[-1])

    values, errors = compute_factors(bars, [factor(vandal), factor(reader)], "AAA")
    assert errors == []
    assert values["reader"] == before["close"].iloc[-1]
    pd.testing.assert_frame_equal(bars, before)


def test_compute_factors_refuses_non_factors(bars):
    with pytest.raises(TypeError, match="Factor objects"):
        compute_factors(bars, [last_close], "AAA")  # type: ignore[list-item]


def test_factor_error_helper_has_the_scan_error_keys():
    error = factor_error("AAA", "f", "did something", "Fix it.", extra=1)
    assert set(error.to_dict()) == ERROR_KEYS
    assert error.message == "AAA: factor 'f' did something"
    assert error.details == {"symbol": "AAA", "factor": "f", "extra": 1}


# -- the library ---------------------------------------------------------------------------------


def library_factors() -> list[Factor]:
    return [
        lib.bollinger(),
        lib.bollinger(50, 2.5, name="bb50"),
        lib.keltner(),
        lib.keltner(30, 14, 1.5, name="kc30"),
        lib.adx(),
        lib.adx(7, name="adx7"),
        lib.stochastic(),
        lib.stochastic(5, 1, 3, name="fast_stoch"),
        lib.obv_trend(),
        lib.obv_trend(50, name="obv50"),
        lib.donchian(),
        lib.donchian(55, name="turtle"),
        lib.ichimoku(),
        lib.ichimoku(7, 22, 44, name="ichi_fast"),
        lib.weekly_trend(),
        lib.weekly_trend(10, name="wk10"),
    ]


def expected_values(f: Factor, bars: pd.DataFrame) -> dict[str, float]:
    """The factor's outputs computed directly with TA-Lib on the same bars."""
    p = dict(f.params)
    if f.timeframe == "W":
        bars = weekly_bars(bars, drop_partial_first=True)
    h, lo, c, v = (bars[k].to_numpy(np.float64) for k in ("high", "low", "close", "volume"))
    func = f.func.__name__
    if func == "_bollinger":
        up, mid, dn = talib.BBANDS(c, p["period"], p["width"], p["width"], talib.MA_Type.SMA)
        out = {"pct_b": (c[-1] - dn[-1]) / (up[-1] - dn[-1]), "width": (up[-1] - dn[-1]) / mid[-1]}
    elif func == "_keltner":
        ema = talib.EMA(c, p["period"])[-1]
        atr = talib.ATR(h, lo, c, p["atr_period"])[-1]
        up, dn = ema + p["multiplier"] * atr, ema - p["multiplier"] * atr
        out = {"position": (c[-1] - dn) / (up - dn), "width": (up - dn) / ema}
    elif func == "_adx":
        n = p["period"]
        out = {
            "adx": talib.ADX(h, lo, c, n)[-1],
            "plus_di": talib.PLUS_DI(h, lo, c, n)[-1],
            "minus_di": talib.MINUS_DI(h, lo, c, n)[-1],
        }
    elif func == "_stochastic":
        sma = talib.MA_Type.SMA
        k, d = talib.STOCH(h, lo, c, p["fastk"], p["slowk"], sma, p["slowd"], sma)
        out = {"k": k[-1], "d": d[-1]}
    elif func == "_obv_trend":
        n = p["period"]
        obv = talib.OBV(c, v)
        out = {
            "slope_sign": np.sign(talib.LINEARREG_SLOPE(obv, n)[-1]),
            "change": (obv[-1] - obv[-1 - n]) / v[-n:].sum(),
        }
    elif func == "_donchian":
        n = p["period"]
        up, dn = talib.MAX(h, n)[-2], talib.MIN(lo, n)[-2]
        out = {
            "position": (c[-1] - dn) / (up - dn),
            "breakout": 1.0 if c[-1] > up else -1.0 if c[-1] < dn else 0.0,
        }
    elif func == "_ichimoku":
        t, k, s = p["tenkan"], p["kijun"], p["senkou"]
        at = -1 - k  # the spans computed kijun bars ago
        a = (talib.MIDPRICE(h, lo, t)[at] + talib.MIDPRICE(h, lo, k)[at]) / 2
        b = talib.MIDPRICE(h, lo, s)[at]
        top, bottom = max(a, b), min(a, b)
        if c[-1] > top:
            out = {"position": 1.0, "distance_pct": 100 * (c[-1] / top - 1)}
        elif c[-1] < bottom:
            out = {"position": -1.0, "distance_pct": 100 * (c[-1] / bottom - 1)}
        else:
            out = {"position": 0.0, "distance_pct": 0.0}
    elif func == "_weekly_trend":
        sma = talib.SMA(c, p["period"])[-1]
        out = {"above": np.sign(c[-1] - sma), "distance_pct": 100 * (c[-1] / sma - 1)}
    else:  # pragma: no cover
        raise AssertionError(func)
    return {f"{f.name}_{key}": float(value) for key, value in out.items()}


SYMBOLS = ("AAPL", "MSFT", "XOM", "JPM", "AMD")
DATES = ("2008-10-15", "2011-08-10", "2014-06-18", "2016-02-11", "2017-11-10")
WINDOW = 300


@pytest.fixture(scope="module")
def real_daily(real_data_dir) -> dict[str, pd.DataFrame]:
    out = {}
    for symbol in SYMBOLS:
        frame = pd.read_csv(real_data_dir / f"{symbol}.csv.gz", parse_dates=["date"])
        out[symbol] = frame.set_index("date").astype("float64")
    return out


def window(daily: pd.DataFrame, as_of: str) -> pd.DataFrame:
    return daily[daily.index <= pd.Timestamp(as_of)].iloc[-WINDOW:]


def close_enough(got: float, want: float, tol: float = 1e-9) -> bool:
    return abs(got - want) <= tol * max(1.0, abs(want))


def test_library_matches_talib_on_real_data(real_daily):
    factors = library_factors()
    checked = 0
    for symbol, daily in real_daily.items():
        for as_of in DATES:
            bars = window(daily, as_of)
            assert len(bars) == WINDOW
            values, errors = compute_factors(bars, factors, symbol)
            assert errors == [], errors
            for f in factors:
                for column, want in expected_values(f, bars).items():
                    assert math.isfinite(want), (symbol, as_of, column)
                    assert close_enough(values[column], want), (symbol, as_of, column)
                    checked += 1
    assert checked == len(SYMBOLS) * len(DATES) * 2 * (2 + 2 + 3 + 2 + 2 + 2 + 2 + 2)


def test_library_matches_plain_pandas_formulas(real_daily):
    """Independent checks of the formulas that have a simple pandas form."""
    for symbol, daily in real_daily.items():
        for as_of in DATES:
            bars = window(daily, as_of)
            h, lo, c, v = bars["high"], bars["low"], bars["close"], bars["volume"]
            values, _ = compute_factors(
                bars,
                [
                    lib.bollinger(),
                    lib.donchian(),
                    lib.obv_trend(),
                    lib.stochastic(),
                    lib.ichimoku(),
                    lib.weekly_trend(),
                ],
                symbol,
            )
            mean, std = c.iloc[-20:].mean(), c.iloc[-20:].std(ddof=0)
            upper, lower = mean + 2 * std, mean - 2 * std
            assert close_enough(
                values["bollinger_pct_b"], (c.iloc[-1] - lower) / (upper - lower), 1e-7
            )
            assert close_enough(values["bollinger_width"], (upper - lower) / mean, 1e-7)

            top, bottom = h.iloc[-21:-1].max(), lo.iloc[-21:-1].min()
            assert close_enough(values["donchian_position"], (c.iloc[-1] - bottom) / (top - bottom))

            signed = (np.sign(c.diff()) * v).iloc[-20:].sum()
            assert close_enough(values["obv_trend_change"], signed / v.iloc[-20:].sum())

            hh, ll = h.rolling(14).max(), lo.rolling(14).min()
            k = (100 * (c - ll) / (hh - ll)).rolling(3).mean()
            assert close_enough(values["stochastic_k"], k.iloc[-1], 1e-7)
            assert close_enough(values["stochastic_d"], k.rolling(3).mean().iloc[-1], 1e-7)

            t = len(bars) - 1 - 26

            def mid(n: int, t: int = t, h: pd.Series = h, lo: pd.Series = lo) -> float:
                return (h.iloc[t - n + 1 : t + 1].max() + lo.iloc[t - n + 1 : t + 1].min()) / 2

            span_a, span_b = (mid(9) + mid(26)) / 2, mid(52)
            above = c.iloc[-1] > max(span_a, span_b)
            below = c.iloc[-1] < min(span_a, span_b)
            assert values["ichimoku_position"] == (1.0 if above else -1.0 if below else 0.0)

            weekly_close = c.resample("W-FRI").last().dropna()
            sma = weekly_close.iloc[-30:].mean()
            assert close_enough(values["weekly_trend_distance_pct"], 100 * (c.iloc[-1] / sma - 1))


def test_ichimoku_uses_no_future_bars(real_daily):
    """Changing every bar after t - kijun except today's close leaves the cloud unchanged."""
    bars = window(real_daily["AAPL"], "2014-06-18")
    f = lib.ichimoku()
    moved = bars.copy()
    moved.iloc[-26:-1, :4] *= 1.5
    moved.iloc[-1, moved.columns.get_loc("high")] *= 3
    moved.iloc[-1, moved.columns.get_loc("low")] /= 3
    assert f(moved) == f(bars)


def test_library_min_bars_is_exact(real_daily):
    daily = window(real_daily["MSFT"], "2017-11-10")
    weekly = weekly_bars(daily)
    for f in library_factors():
        frame = weekly if f.timeframe == "W" else daily
        n = f.min_bars
        full = f(frame.iloc[-n:])
        assert all(math.isfinite(x) for x in full.values()), f
        # One bar fewer: some output is undefined (NaN) or cannot be computed at all.
        try:
            short = f.func(frame.iloc[-(n - 1) :], **f.params)
        except IndexError:
            continue
        assert any(math.isnan(x) for x in short.values()), f
        with pytest.raises(ValueError, match=f"needs at least {n} "):
            f(frame.iloc[-(n - 1) :])


def test_library_factor_with_too_few_bars_reports_how_many(real_daily):
    daily = window(real_daily["XOM"], "2017-11-10").iloc[-70:]
    values, errors = compute_factors(daily, [lib.ichimoku(), lib.weekly_trend()], "XOM")
    assert values == {}
    assert errors[0].message == "XOM: factor 'ichimoku' needs at least 78 daily bars, got 70"
    assert errors[1].message.startswith(
        "XOM: factor 'weekly_trend' needs at least 30 weekly bars, got "
    )


def test_library_columns_and_names():
    assert lib.bollinger().declared_columns() == ("bollinger_pct_b", "bollinger_width")
    assert lib.adx().declared_columns() == ("adx_adx", "adx_plus_di", "adx_minus_di")
    assert lib.weekly_trend().timeframe == "W"
    assert lib.bollinger(name="bb").declared_columns() == ("bb_pct_b", "bb_width")
    names = [f.name for f in library_factors()]
    check_factor_names(library_factors(), reserved={"rsi", "close", "sma200"})
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: lib.bollinger(period=1), "period"),
        (lambda: lib.bollinger(width=0), "width"),
        (lambda: lib.bollinger(width=float("nan")), "width"),
        (lambda: lib.keltner(atr_period=0), "atr_period"),
        (lambda: lib.keltner(multiplier=-1), "multiplier"),
        (lambda: lib.adx(period=True), "period"),
        (lambda: lib.stochastic(fastk=0), "fastk"),
        (lambda: lib.stochastic(slowd=2.0), "slowd"),  # type: ignore[arg-type]
        (lambda: lib.obv_trend(period=1), "period"),
        (lambda: lib.donchian(period="20"), "period"),  # type: ignore[arg-type]
        (lambda: lib.ichimoku(kijun=1), "kijun"),
        (lambda: lib.weekly_trend(period=10**6), "period"),
        (lambda: lib.bollinger(name="bad name"), "name"),
    ],
)
def test_library_parameters_are_validated(build, field):
    with pytest.raises(ScanError) as info:
        build()
    assert config_field(info) == field


def test_zero_width_channels_give_the_middle(bars):
    flat = bars.copy()
    flat[["open", "high", "low", "close"]] = 50.0
    values, errors = compute_factors(flat, [lib.bollinger(), lib.donchian()], "FLAT")
    assert errors == []
    assert values["bollinger_pct_b"] == 0.5 and values["bollinger_width"] == 0.0
    assert values["donchian_position"] == 0.5 and values["donchian_breakout"] == 0.0
