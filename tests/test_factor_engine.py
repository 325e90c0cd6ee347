"""User factors, screens and user subscores inside the engine: workers, cache, errors."""

from __future__ import annotations

import linecache
import textwrap
import threading

import numpy as np
import pandas as pd
import pytest

import technic_nb as tn
from technic_nb import DemoSource, ScanConfig
from technic_nb.core.timeframes import weekly_bars


class Calls:
    """Counts calls (an object: a factor's cache key ignores its value)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count: dict[str, int] = {}

    def add(self, name: str) -> None:
        with self.lock:
            self.count[name] = self.count.get(name, 0) + 1


class CountingDemo(DemoSource):
    """The demo market read in the workers (threads here), counting its reads (the
    regime benchmark's excepted)."""

    def __init__(self, n_symbols: int, reads: Calls) -> None:
        super().__init__(n_symbols=n_symbols)
        self.reads = reads

    def __getstate__(self):  # a copy of its own in the workers' cache of sources
        return {**super().__getstate__(), "counter": id(self.reads)}

    def _fetch_raw(self, symbol, window, cancellation):
        if symbol != "DEMO":
            self.reads.add(symbol)
        return super()._fetch_raw(symbol, window, cancellation)


def notebook_factor(code: str, calls: Calls) -> tn.Factor:
    """A factor defined the way a notebook cell defines it: ``exec`` in ``__main__`` with the
    cell's source registered in ``linecache``, as IPython does."""
    source = textwrap.dedent(code)
    name = f"<cell-{abs(hash(source))}>"
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    namespace = {"__name__": "__main__", "tn": tn, "calls": calls, "np": np}
    exec(compile(source, name, "exec"), namespace)
    return next(v for v in namespace.values() if isinstance(v, tn.Factor))


SQUEEZE = """
@tn.factor
def squeeze(bars):
    calls.add("squeeze")
    high, low = bars["high"].iloc[-20:].max(), bars["low"].iloc[-20:].min()
    return float((high - low) / bars["close"].iloc[-1])
"""
SQUEEZE_EDITED = SQUEEZE.replace("iloc[-20:]", "iloc[-10:]")
DRIFT = """
@tn.factor
def drift(bars):
    calls.add("drift")
    return {"up": float((bars["close"].diff() > 0).mean()), "last": float(bars["close"].iloc[-1])}
"""


def config(cache_dir, source, **changes) -> ScanConfig:
    options = {
        "source": source,
        "universe": "source",
        "cache_dir": cache_dir,
        "backend": "threading",
        "n_jobs": 2,
    }
    options.update(changes)
    return ScanConfig(**options)


def test_factor_columns_equal_a_direct_computation(tmp_path):
    calls = Calls()
    squeeze, drift = notebook_factor(SQUEEZE, calls), notebook_factor(DRIFT, calls)
    source = DemoSource(n_symbols=25)
    result = tn.scan(config(tmp_path, source, factors=[squeeze, drift]))
    assert {"squeeze", "drift_up", "drift_last"} <= set(result.table.columns)
    for symbol in result.table.index[:5]:
        used = result.bars(symbol)
        row = result.table.loc[symbol]
        high, low = used["high"].iloc[-20:].max(), used["low"].iloc[-20:].min()
        assert row["squeeze"] == pytest.approx((high - low) / used["close"].iloc[-1], rel=1e-12)
        assert row["drift_last"] == used["close"].iloc[-1] == row["close"]


def test_editing_a_factor_recomputes_it_alone_and_reads_no_bars(tmp_path):
    calls, reads = Calls(), Calls()
    source = CountingDemo(30, reads)
    first = tn.scan(
        config(
            tmp_path,
            source,
            factors=[notebook_factor(SQUEEZE, calls), notebook_factor(DRIFT, calls)],
        )
    )
    assert calls.count == {"squeeze": 30, "drift": 30} and sum(reads.count.values()) == 30
    edited = config(
        tmp_path,
        source,
        factors=[notebook_factor(SQUEEZE_EDITED, calls), notebook_factor(DRIFT, calls)],
    )
    second = tn.scan(edited)
    assert calls.count == {"squeeze": 60, "drift": 30}  # the edited factor only
    assert second.stats["factors_computed"] == 30
    assert sum(reads.count.values()) == 30  # no bars read: the entries keep the window
    assert not second.table["squeeze"].equals(first.table["squeeze"])
    third = tn.scan(edited)
    assert calls.count == {"squeeze": 60, "drift": 30} and third.stats["from_cache"] == 30


def test_adding_a_factor_to_a_finished_scan_computes_just_it(tmp_path):
    calls, reads = Calls(), Calls()
    source = CountingDemo(30, reads)
    base = tn.scan(config(tmp_path, source))
    more = tn.scan(config(tmp_path, source, factors=[notebook_factor(SQUEEZE, calls)]))
    assert calls.count == {"squeeze": 30}
    assert sum(reads.count.values()) == 30  # read once, by the first scan
    plain = more.table.drop(columns=["squeeze"])
    pd.testing.assert_frame_equal(plain, base.table)


def test_a_factor_raising_for_some_symbols_gives_factor_error_rows(tmp_path):
    calls = Calls()
    picky = notebook_factor(
        """
        @tn.factor
        def picky(bars):
            if bars["close"].iloc[-1] > 100:
                raise ValueError("too expensive for this factor")
            return 1.0
        """,
        calls,
    )
    result = tn.scan(config(tmp_path, DemoSource(n_symbols=40), factors=[picky]))
    rows = result.errors[result.errors["error_type"] == "factor_error"]
    expensive = set(result.table.index[result.table["close"] > 100])
    assert expensive and list(rows["symbol"]) == sorted(expensive)  # sorted, not finish order
    message = rows["message"].iloc[0]
    assert "picky" in message and "ValueError" in message and "too expensive" in message
    assert "<cell-" in message and 'raise ValueError("too expensive' in message  # the line
    assert result.table.loc[sorted(expensive), "picky"].isna().all()
    assert (result.table.drop(index=list(expensive))["picky"] == 1.0).all()
    assert result.stats["factor_errors"] == len(expensive)


def test_a_factor_failing_everywhere_is_one_error(tmp_path):
    broken = notebook_factor("@tn.factor\ndef broken(bars):\n    return float('nan')\n", Calls())
    result = tn.scan(config(tmp_path, DemoSource(n_symbols=40), factors=[broken]))
    rows = result.errors[result.errors["error_type"] == "factor_error"]
    assert list(rows["symbol"]) == ["*"] and "failed for all 40 symbols" in rows["message"].iloc[0]
    assert any("broken" in w for w in result.warnings)
    assert len(result.table) > 0


def test_screens_remove_rows_before_ranking_with_reasons(tmp_path):
    source = DemoSource(n_symbols=60)
    everything = tn.scan(config(tmp_path, source))
    screened = tn.scan(config(tmp_path, source, screen="rsi < 50 and close > sma200"))
    expected = everything.table[
        (everything.table["rsi"] < 50) & (everything.table["close"] > everything.table["sma200"])
    ]
    assert list(screened.table.index) == list(expected.index)
    assert list(screened.table["rank"]) == list(range(1, len(expected) + 1))  # ranked after
    removed = screened.filtered.loc[screened.filtered["reason"].str.startswith("screen:")]
    assert len(removed) == len(everything.table) - len(expected)
    by_callable = tn.scan(config(tmp_path, source, screen=lambda t: t["signal"] == "Neutral"))
    assert set(by_callable.table["signal"]) == {"Neutral"}


@pytest.mark.parametrize(
    ("screen", "text"),
    [
        ("rsii < 35", "did you mean 'rsi'"),
        ("squeze > 0", "did you mean 'squeeze'"),
        ("rsi <", "syntax"),
        ("__import__('os')", "not allowed"),
    ],
)
def test_a_bad_screen_is_a_config_error_naming_it(screen, text):
    squeeze = notebook_factor(SQUEEZE, Calls())
    with pytest.raises(tn.ScanError, match=text) as info:
        ScanConfig(factors=[squeeze], screen=screen)
    assert info.value.error_type is tn.ErrorType.CONFIG_ERROR


def test_a_weekly_factor_sees_weekly_bars_of_the_scan_window(tmp_path):
    result = tn.scan(
        config(tmp_path, DemoSource(n_symbols=10), factors=[tn.factors.weekly_trend()])
    )
    symbol = result.table.index[0]
    weekly = weekly_bars(result.bars(symbol), drop_partial_first=True)
    sma = weekly["close"].iloc[-30:].mean()
    above = result.table.loc[symbol, "weekly_trend_above"]
    assert above == (1.0 if weekly["close"].iloc[-1] > sma else -1.0)


def test_a_user_subscore_enters_the_rating_with_its_weight(tmp_path):
    source = DemoSource(n_symbols=50)
    squeeze = notebook_factor(SQUEEZE, Calls())
    extra = tn.UserSubscore("tight", "squeeze", tn.by_rank(ascending=False), weight=3.0)
    scoring = tn.ScoringParams(user_subscores=[extra])
    base = tn.scan(config(tmp_path, source, factors=[squeeze]))
    rated = tn.scan(config(tmp_path, source, factors=[squeeze], scoring=scoring))
    assert "tight" in rated.table.columns
    assert rated.table["tight"].between(-3, 3).all()
    table = rated.table.loc[base.table.index]
    builtin = sum(base.table[s] * w for s, w in tn.ScoringWeights().as_dict().items())
    risk = base.table["tech_rating"] / (100 * builtin / (3 * 11))
    expected = 100 * (builtin + 3.0 * table["tight"]) * risk / (3 * 14)
    rated_rows = table["tech_rating"].notna() & (builtin != 0)
    np.testing.assert_allclose(table["tech_rating"][rated_rows], expected[rated_rows], rtol=1e-9)


def test_factor_names_must_be_free(tmp_path):
    clash = tn.factor(name="close")(lambda bars: 1.0)
    with pytest.raises(tn.ScanError, match="built-in table column"):
        ScanConfig(factors=[clash])
    twice = notebook_factor(SQUEEZE, Calls())
    with pytest.raises(tn.ScanError, match="squeeze"):
        ScanConfig(factors=[twice, twice])
