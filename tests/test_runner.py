"""ScanRunner, the widget panel and the plots, without a kernel.

Widgets are instantiated without a front end (their comms are inert), so the
panel's state can be read directly.  Nothing here sleeps and hopes: slow scans
use a source whose fetches block on an Event, and tests wait on Events with
timeouts.
"""

from __future__ import annotations

import _thread
import io
import re
import signal
import sys
import threading
import time

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest
from matplotlib.figure import Figure

import technic_nb as tn
from technic_nb import (
    DemoSource,
    ErrorType,
    RunnerState,
    ScanCancelled,
    ScanConfig,
    ScanError,
    ScanRunner,
)
from technic_nb.display.charts import plot_sector_scores, plot_symbol
from technic_nb.display.tables import style_table
from technic_nb.notebook.console import ConsoleProgress
from technic_nb.notebook.panel import ScanPanel
from technic_nb.notebook.parts import STALE_AFTER, panel_css
from technic_nb.notebook.registry import active_runners, in_jupyter
from technic_nb.notebook.text import count, duration, rate, tidy_status

TIMEOUT = 60.0


class GatedSource(DemoSource):
    """The demo market, fetched in this process; fetches after the first ``free`` block.

    Blocked fetches wait until ``gate`` is set or the scan is cancelled, so a
    scan over this source stays running as long as a test needs.
    """

    fetch_in_worker = False

    def __init__(self, n_symbols: int, free: int, gate: threading.Event | None = None):
        super().__init__(n_symbols=n_symbols)
        self.free = free
        self.gate = gate if gate is not None else threading.Event()
        self.blocked = threading.Event()
        self._lock = threading.Lock()
        self._count = 0

    def _fetch_raw(self, symbol, window, cancellation):
        with self._lock:
            self._count += 1
            count = self._count
        if count > self.free and symbol != "DEMO":
            self.blocked.set()
            while not self.gate.is_set():
                if cancellation is not None and cancellation.wait(0.01):
                    raise ScanCancelled(cancellation.reason or "cancelled")
        return super()._fetch_raw(symbol, window, cancellation)


class LatencySource(DemoSource):
    """The demo market fetched in this process with a network-like delay per symbol."""

    fetch_in_worker = False

    def __init__(self, n_symbols: int, latency: float) -> None:
        super().__init__(n_symbols=n_symbols)
        self.latency = latency

    def _fetch_raw(self, symbol, window, cancellation):
        time.sleep(self.latency)  # stands for the network: the scan lasts >= 1 s
        return super()._fetch_raw(symbol, window, cancellation)


class FatalSource(DemoSource):
    """Every fetch fails as a rejected API key would."""

    fetch_in_worker = False

    def _fetch_raw(self, symbol, window, cancellation):
        raise ScanError(
            ErrorType.API_ERROR,
            "the API key was rejected (HTTP 401)",
            suggestion="Set a valid API key.",
            fatal=True,
        )


def config(cache_dir, **changes) -> ScanConfig:
    options = {"source": "demo:60", "cache_dir": cache_dir, "n_jobs": 1, "backend": "sequential"}
    options.update(changes)
    return ScanConfig(**options)


def quiet(cfg: ScanConfig, **kwargs) -> ScanRunner:
    kwargs.setdefault("display", False)
    kwargs.setdefault("console", False)
    return ScanRunner(cfg, **kwargs)


def when(tracker, predicate) -> threading.Event:
    """An Event set the first time a tracker event satisfies ``predicate``."""
    event = threading.Event()

    def listener(stage, current, total, message, metadata):
        if predicate(stage, current, total):
            event.set()

    tracker.add_listener(listener)
    return event


@pytest.fixture(autouse=True)
def no_leftover_runners():
    yield
    for runner in active_runners():
        runner.cancel("test cleanup")
        runner._done.wait(TIMEOUT)


# -- states ---------------------------------------------------------------------------


def test_pending_running_finished(cache_dir):
    runner = quiet(config(cache_dir))
    assert runner.state == RunnerState.PENDING == "pending"
    assert not runner.done
    with pytest.raises(RuntimeError, match="not started"):
        runner.wait(0)
    with pytest.raises(RuntimeError, match="not finished"):
        _ = runner.result
    seen = set()
    runner.tracker.add_listener(lambda *a: seen.add(runner.state))
    runner.start()
    assert runner.state in (RunnerState.RUNNING, RunnerState.FINISHED)
    result = runner.wait(TIMEOUT)
    assert runner.state is RunnerState.FINISHED and runner.state.is_final
    assert seen == {RunnerState.RUNNING}
    assert runner.done and result is runner.result
    assert not result.cancelled and result.status.startswith("Scanned 60 symbols")
    assert all(stage.state == "done" for stage in runner.progress.stages)
    assert runner.cancel_latency is None
    runner.cancel()  # a no-op once ended
    assert runner.state is RunnerState.FINISHED
    with pytest.raises(RuntimeError, match="already started"):
        runner.start()
    assert active_runners() == []


def test_running_cancelling_cancelled(cache_dir):
    source = GatedSource(300, free=20)
    runner = quiet(config(cache_dir, source=source, universe="source"))
    scanned = when(runner.tracker, lambda s, c, t: s == "symbol_scanning" and c >= 20)
    runner.start()
    assert source.blocked.wait(TIMEOUT) and scanned.wait(TIMEOUT)
    assert runner.state is RunnerState.RUNNING
    runner.cancel()
    assert runner.state in (RunnerState.CANCELLING, RunnerState.CANCELLED)
    assert runner.token.is_cancelled()
    result = runner.wait(TIMEOUT)
    assert runner.state is RunnerState.CANCELLED
    assert result.cancelled and result.stats["done"] == 20
    assert result.status.startswith("Cancelled after 20 of 300 symbols - run again to resume")
    assert len(result.table) > 0
    assert runner.cancel_latency is not None and runner.cancel_latency < 2.0
    assert any("Cancel requested" in m for m in runner.messages)

    # the same scan again resumes from the checkpoints
    source.gate.set()
    again = quiet(config(cache_dir, source=source, universe="source")).run()
    assert not again.cancelled
    assert again.stats["from_cache"] >= 20 and again.stats["symbols"] == 300


def test_cancel_before_start_stops_at_once(cache_dir):
    runner = quiet(config(cache_dir))
    runner.cancel()
    assert runner.state is RunnerState.PENDING
    result = runner.run()
    assert result.cancelled and runner.state is RunnerState.CANCELLED
    assert result.stats["done"] == 0


def test_failed_fatal_api_error_is_raised_from_wait_and_result(cache_dir):
    runner = quiet(config(cache_dir, source=FatalSource(40), universe="source"))
    panel = runner.panel
    runner.start()
    with pytest.raises(ScanError) as caught:
        runner.wait(TIMEOUT)
    assert caught.value.error_type is ErrorType.API_ERROR and caught.value.fatal
    assert runner.state is RunnerState.FAILED
    with pytest.raises(ScanError, match="API key was rejected"):
        _ = runner.result
    # shown in the panel: status line, error box with the suggestion, traceback in the log
    assert panel.status_text.startswith("✗ Failed: ScanError")
    assert panel.error_box.layout.display == "block"
    assert "Set a valid API key." in panel.error_box.value
    assert "Traceback" in panel.log_text
    shown = panel.stage_bars.shown()
    assert shown["overall"].bar_style == "danger" and shown["overall"].figures.endswith(", failed")
    assert shown["universe_loading"].bar_style == "success"  # it was done
    # the scan failed while fetching: that bar stopped short; finalizing never started
    assert shown["data_fetching"].description.startswith("fetching (stopped)")
    assert shown["data_fetching"].bar_style == "danger"
    assert shown["finalization"].figures == " not started"
    assert active_runners() == []


def test_failed_config_error_missing_universe(cache_dir, tmp_path):
    runner = quiet(config(cache_dir, universe=tmp_path / "missing.csv"))
    with pytest.raises(ScanError) as caught:
        runner.run()
    assert caught.value.error_type is ErrorType.CONFIG_ERROR
    assert runner.state is RunnerState.FAILED
    with pytest.raises(ScanError):
        runner.wait(1)


def test_wait_timeout_raises_timeout_error(cache_dir):
    source = GatedSource(200, free=0)
    runner = quiet(config(cache_dir, source=source, universe="source"))
    runner.start()
    assert source.blocked.wait(TIMEOUT)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"did not end within 0\.05 s"):
        runner.wait(0.05)
    assert time.monotonic() - started < 5
    assert runner.state is RunnerState.RUNNING
    runner.cancel()
    assert runner.wait(TIMEOUT).cancelled


def test_wait_zero_only_checks_and_a_negative_timeout_counts_as_zero(cache_dir):
    source = GatedSource(100, free=0)
    runner = quiet(config(cache_dir, source=source, universe="source"))
    runner.start()
    assert source.blocked.wait(TIMEOUT)
    for timeout in (0, -5):
        with pytest.raises(TimeoutError, match="it goes on"):
            runner.wait(timeout)
    assert runner.state is RunnerState.RUNNING
    runner.cancel()
    result = runner.wait(TIMEOUT)
    assert runner.wait(0) is result  # once ended, every call returns at once


def test_interrupting_wait_raises_and_leaves_the_scan_running(cache_dir):
    """Like ``Future.result()``: KeyboardInterrupt reaches the caller, the work goes on."""
    source = GatedSource(200, free=0)
    runner = quiet(config(cache_dir, source=source, universe="source"))
    runner.start()
    assert source.blocked.wait(TIMEOUT)
    waiting = threading.Event()

    def interrupter():
        waiting.wait(TIMEOUT)
        _thread.interrupt_main()  # what Kernel > Interrupt does to the waiting cell

    thread = threading.Thread(target=interrupter)
    thread.start()
    try:
        with pytest.raises(KeyboardInterrupt, match="still running in the background"):
            waiting.set()
            runner.wait()
    finally:
        thread.join(TIMEOUT)
    assert runner.state is RunnerState.RUNNING and not runner.token.is_cancelled()
    assert any("Interrupted while waiting" in m for m in runner.messages)
    source.gate.set()  # the scan was never disturbed: it finishes
    assert not runner.wait(TIMEOUT).cancelled


# -- one scan per cache folder ------------------------------------------------------------


def test_second_runner_on_same_cache_cancels_and_joins_the_first(cache_dir, tmp_path):
    source = GatedSource(300, free=10)
    first = quiet(config(cache_dir, source=source, universe="source"))
    other_cache = quiet(config(tmp_path / "other", source=GatedSource(300, free=0)))
    first.start()
    other_cache.start()
    assert source.blocked.wait(TIMEOUT)

    second = quiet(config(cache_dir, source="demo:40"))
    seen_at_start = {}

    def on_first_event(stage, current, total, message, metadata):
        seen_at_start.setdefault("first", (first.state, first.done))

    second.tracker.add_listener(on_first_event)
    second.start()
    result = second.wait(TIMEOUT)
    assert not result.cancelled
    assert seen_at_start["first"] == (RunnerState.CANCELLED, True)
    assert first.result.cancelled and "superseded" in first.token.reason
    assert any("same cache folder" in m for m in second.messages)
    # a scan on another cache folder is left alone
    assert other_cache.state is RunnerState.RUNNING
    assert active_runners() == [other_cache]
    other_cache.cancel()
    assert other_cache.wait(TIMEOUT).cancelled


# -- blocking run() and interrupts --------------------------------------------------------


def test_run_keyboard_interrupt_from_listener_gives_cancelled_result(cache_dir):
    runner = quiet(config(cache_dir, source="demo:200"))
    before = signal.getsignal(signal.SIGINT)

    def interrupt(stage, current, total, message, metadata):
        if stage == "symbol_scanning" and current == 30:
            raise KeyboardInterrupt

    runner.tracker.add_listener(interrupt)
    result = runner.run()
    assert result.cancelled and runner.state is RunnerState.CANCELLED
    assert result.stats["done"] == 30
    assert "Cancelled after 30 of 200 symbols - run again to resume" in result.status
    assert signal.getsignal(signal.SIGINT) is before
    assert active_runners() == [] and runner.done


def test_run_keyboard_interrupt_while_finishing_still_gives_partial_result(cache_dir):
    runner = quiet(config(cache_dir))

    def interrupt(stage, current, total, message, metadata):
        if stage == "finalization" and message == "ranking":
            raise KeyboardInterrupt

    runner.tracker.add_listener(interrupt)
    result = runner.run()
    assert result.cancelled and runner.state is RunnerState.CANCELLED
    assert result.status.startswith("Cancelled after 60 of 60 symbols - run again to resume")
    assert len(result.table) > 0 and result.table["rank"].iloc[0] == 1
    assert active_runners() == []


@pytest.mark.parametrize("how", ["interrupt_main", "raise_signal"])
def test_run_interrupted_from_another_thread(cache_dir, how):
    source = GatedSource(300, free=20)
    runner = quiet(config(cache_dir, source=source, universe="source"))
    scanned = when(runner.tracker, lambda s, c, t: s == "symbol_scanning" and c >= 20)

    def interrupter():
        if scanned.wait(TIMEOUT) and source.blocked.wait(TIMEOUT):
            if how == "interrupt_main":
                _thread.interrupt_main()
            else:
                signal.raise_signal(signal.SIGINT)

    thread = threading.Thread(target=interrupter)
    thread.start()
    try:
        result = runner.run()
    finally:
        thread.join(TIMEOUT)
    assert result.cancelled and runner.state is RunnerState.CANCELLED
    assert result.stats["done"] == 20
    assert runner.cancel_latency is not None and runner.cancel_latency < 2.0
    assert any("Interrupted" in m for m in runner.messages)


# -- console and panel ----------------------------------------------------------------------


def test_console_mode_writes_bars_and_status_to_stderr(cache_dir, capsys, monkeypatch):
    assert not in_jupyter()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # tqdm hides bars off a terminal
    runner = ScanRunner(config(cache_dir))  # outside Jupyter: console bars by default
    result = runner.run()
    out, err = capsys.readouterr()
    assert out == ""
    assert "scanning" in err and "overall" in err
    assert result.status in err


def test_panel_shows_progress_live_table_and_results(cache_dir):
    source = LatencySource(400, latency=0.02)  # 400 x 20 ms over 8 threads: about 1 s
    runner = quiet(config(cache_dir, source=source, universe="source", fetch_concurrency=8))
    runner.view.refresh_interval = 0.05  # many ticks in a short scan
    runner.view.live_interval = 0.0  # the live table at every tick
    panel = runner.panel
    events = []
    runner.tracker.add_listener(lambda *a: events.append(a))
    tables = []
    panel.top_caption.observe(lambda change: tables.append(change["new"]), "value")
    rendered = []
    panel.top_table.observe(lambda change: rendered.append(change["new"]), "value")
    # the live table never lags the counters nor runs ahead of them: each update takes
    # in the outcomes up to the done count the counters show (each outcome arrives in
    # the live inbox before the counters count it)
    live = runner.view.live
    arrived = []
    add, catch_up = live.add, live.catch_up
    lags = []

    def counting_add(symbol, features):
        arrived.append(symbol)
        add(symbol, features)

    def checked_catch_up(up_to=None):
        before = len(arrived)
        changed = catch_up(up_to=up_to)
        assert up_to is not None and live.counts.done <= before
        lags.append(abs(up_to - live.counts.done))
        return changed

    live.add, live.catch_up = counting_add, checked_catch_up
    started = time.monotonic()
    result = runner.run()
    elapsed = time.monotonic() - started

    # one update per tick, whatever the number of events
    ticks = runner.view.costs.ticks
    assert len(events) > 800
    assert 1 <= ticks <= elapsed / runner.view.refresh_interval + 2
    assert lags and max(lags) <= 0
    live_tables = [t for t in tables if t]
    assert live_tables and all("so far</b> of the" in t for t in live_tables)
    assert (
        "symbols done" in live_tables[-1]
        and "trade plans come with the final table" in live_tables[-1]
    )
    # finished look: every tqdm bar closed full and green
    shown = panel.stage_bars.shown()
    assert [v.bar_style for v in shown.values()] == ["success"] * 5
    assert all(v.value == v.max for v in shown.values())
    assert shown["symbol_scanning"].text.startswith("scanning| 100% 400/400 [")
    assert shown["overall"].text.startswith("overall| 100% [")
    assert panel.status_text == "✓ " + tidy_status(result.status)
    assert panel.button.disabled
    assert (panel.button.description, panel.button.button_style) == ("Done", "success")
    assert "Top 25 of" in panel.results.value and "No errors." in panel.results.value
    assert "overflow-x:auto" in panel.results.value  # wide tables scroll sideways
    assert "<b>400</b> of 400 symbols done" in panel.progress.line.value
    assert "ETA" not in panel.progress.counters
    assert panel.live_box.layout.display == "none"
    assert panel.error_box.layout.display == "none"
    assert f"tn-note-{panel.uid}" not in panel.progress.line.value  # final, not stale
    # the blocking form cannot take a click: the button says how to stop instead
    assert "Interrupt" in panel.widget.summary


def test_cancel_button_click_disables_first_then_cancels(cache_dir):
    source = GatedSource(300, free=20)
    runner = quiet(config(cache_dir, source=source, universe="source"))
    panel = runner.panel
    scanned = when(runner.tracker, lambda s, c, t: s == "symbol_scanning" and c >= 20)
    runner.start()
    assert source.blocked.wait(TIMEOUT) and scanned.wait(TIMEOUT)
    assert not panel.button.disabled and panel.button.description == "Cancel"
    assert panel.cancel_button is panel.button
    panel.cancel_button.click()
    panel.cancel_button.click()  # a double click: the second one is ignored
    assert panel.button.disabled
    assert runner.token.is_cancelled()
    assert runner.state in (RunnerState.CANCELLING, RunnerState.CANCELLED)
    result = runner.wait(TIMEOUT)
    assert result.cancelled
    shown = panel.stage_bars.shown()
    styles = {name: view.bar_style for name, view in shown.items()}
    # tqdm's close: a complete bar green, one that stopped short red
    assert styles["universe_loading"] == "success"
    assert styles["symbol_scanning"] == styles["data_fetching"] == styles["overall"] == "danger"
    scanning = shown["symbol_scanning"]
    assert scanning.description == "scanning (stopped)"
    assert scanning.figures.startswith("   7% 20/300 [") and "<" not in scanning.figures
    assert (scanning.value, scanning.max) == (20, 300)
    assert shown["finalization"].figures == " not started"
    assert "ETA" not in panel.progress.counters and "<" not in shown["overall"].figures
    assert shown["overall"].figures.endswith(", cancelled")
    assert panel.status_text.startswith("⚠ Cancelled after 20 of 300 symbols - run again to resume")
    assert "partial" in panel.results.value
    assert (panel.button.description, panel.button.button_style) == ("Cancelled", "")
    assert [line for line in panel.log_text.splitlines() if line.endswith(" Cancel clicked")]
    assert len([line for line in panel.log_text.splitlines() if "Cancel clicked" in line]) == 2
    assert sum("Cancel requested" in m for m in runner.messages) == 1


def test_panel_click_handler_disables_before_calling_back():
    states = []
    panel = ScanPanel(None, on_cancel=lambda: states.append(panel.button.disabled))
    panel.button.click()
    panel.button.click()  # ipywidgets calls the handler again: the panel acts once
    assert states == [True]


def test_panel_text_form_is_one_short_line(cache_dir):
    panel = ScanPanel(config(cache_dir, source="demo:1500"))
    text = panel.widget._repr_mimebundle_()["text/plain"]
    assert "\n" not in text and len(text) < 200
    assert text.startswith("technic_nb scan panel (demo:1500)") and "runner.wait()" in text
    assert str(cache_dir) not in text  # nothing that changes from run to run
    panel.set_blocking()
    assert "Kernel > Interrupt" in repr(panel.widget)
    assert "application/vnd.jupyter.widget-view+json" in panel.widget._repr_mimebundle_()


def test_a_running_panel_carries_the_stale_note_a_final_one_does_not(cache_dir):
    panel = ScanPanel(None)
    uid = panel.uid
    assert f"tn-note-{uid}" not in panel.progress.line.value  # not running yet
    tracker = tn.MultiStageProgressTracker()
    tracker.start_stage("symbol_scanning", 10)
    panel.refresh(tracker.snapshot(), "running")
    first = panel.progress.line.value
    assert f"<div class='tn-note-{uid}'>" in first and f"tn-live-{uid}" in first
    tracker.advance("symbol_scanning", 3)
    panel.refresh(tracker.snapshot(), "running")
    assert panel.progress.line.value != first  # a new note: the stale timer restarts
    tracker.stop("cancelled")
    panel.finish(tracker.snapshot(), "cancelled")
    assert f"tn-note-{uid}" not in panel.progress.line.value  # final, not stale
    css = panel_css(uid)
    assert css in panel.header.value
    assert f"animation:tn-stale 0s linear {STALE_AFTER:g}s forwards" in css
    assert f".tn-panel-{uid}.jupyter-widgets-disconnected .tn-note-{uid}" in css


def test_panel_carries_the_classes_its_style_sheet_uses():
    panel = ScanPanel(None)
    assert f"tn-cancel-{panel.uid}" in panel.button._dom_classes
    assert f"tn-panel-{panel.uid}" in panel.widget._dom_classes
    assert f"tn-bars-{panel.uid}" in panel.progress.widget._dom_classes
    assert f"tn-counters-{panel.uid}" in panel.progress.line._dom_classes
    # the counters line (with the stale note) is the last part of the progress block,
    # and the Cancel button's row comes right after it
    assert panel.progress.widget.children[-1] is panel.progress.line
    row = next(c for c in panel.widget.children if panel.button in getattr(c, "children", ()))
    assert (
        panel.widget.children.index(row) == panel.widget.children.index(panel.progress.widget) + 1
    )


def test_the_stage_bars_are_tqdm_notebook_bars():
    from tqdm.notebook import tqdm as notebook_tqdm

    panel = ScanPanel(None)
    bars = panel.stage_bars
    assert list(bars.bars) == list(tn.STAGES)
    assert all(isinstance(bar, notebook_tqdm) for bar in [*bars.bars.values(), bars.overall])
    containers = [bar.container for bar in [*bars.bars.values(), bars.overall]]
    assert list(bars.widget.children) == containers  # tqdm's own widgets, in the panel
    assert not any(bar.displayed for bar in [*bars.bars.values(), bars.overall])


def test_a_replay_panel_says_replay(cache_dir):
    panel = ScanPanel(config(cache_dir, source="demo:20"), kind="replay")
    assert panel.header.value.startswith("<b>technic_nb replay</b>")
    assert repr(panel.widget).startswith("technic_nb replay panel (demo:20)")
    assert "scan" not in repr(panel.widget)


def test_words_and_numbers():
    assert count(1, "symbol") == "1 symbol" and count(0, "symbol") == "0 symbols"
    assert count(20000, "symbol") == "20,000 symbols"
    assert duration(0.075) == "0.07 s" and duration(12.34) == "12.3 s"
    assert duration(65) == "1:05" and duration(3723) == "1:02:03" and duration(None) == "–"
    assert rate(2310.4) == "2,310 symbols/s" and rate(4.46) == "4.5 symbols/s"
    assert rate(0.0) == "– symbols/s"
    assert tidy_status(
        "Scanned 20000 symbols in 1234.5s: 1 ranked, 0 filtered, 1 errors, 0 from cache | as of "
        "2025-12-31"
    ) == (
        "Scanned 20,000 symbols in 1234.5s: 1 ranked, 0 filtered, 1 error, 0 from cache | as of "
        "2025-12-31"
    )
    assert tidy_status("Cancelled after 1 of 1 symbols") == "Cancelled after 1 of 1 symbol"


def test_panel_log_uses_output_widget_not_print(capsys):
    panel = ScanPanel(None)
    panel.log("hello from a thread")
    thread = threading.Thread(target=panel.log, args=("from a worker",))
    thread.start()
    thread.join()
    assert capsys.readouterr().out == ""
    assert "hello from a thread" in panel.log_text and "from a worker" in panel.log_text


# -- the engine hook --------------------------------------------------------------------------


def test_scan_row_listener_sees_every_scored_row(cache_dir):
    rows = {}
    result = tn.scan(config(cache_dir), row_listener=lambda s, f: rows.__setitem__(s, dict(f)))
    assert set(rows) == set(result.table.index) | set(result.filtered.index)
    symbol = result.table.index[0]
    assert rows[symbol]["close"] == result.table.loc[symbol, "close"]
    # from the cache too, and a raising listener never breaks the scan
    again = tn.scan(config(cache_dir), row_listener=lambda s, f: 1 / 0)
    assert again.stats["from_cache"] == 60 and not again.cancelled


# -- plots and styled tables -----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_result(tmp_path_factory):
    cache = tmp_path_factory.mktemp("plots")
    return tn.scan(config(cache, source="demo:80", as_of="2025-06-30"))


def test_plot_symbol_has_four_panes_and_plan_lines(demo_result):
    source = DemoSource(n_symbols=80)
    symbol = demo_result.table.index[0]
    bars = source.fetch(symbol).iloc[-300:]
    row = demo_result.table.loc[symbol]
    fig = plot_symbol(bars, row)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    price = fig.axes[0]
    labels = [line.get_label() for line in price.get_lines()]
    assert {"close", "SMA 20", "SMA 50", "SMA 200"} <= set(labels)
    if pd.notna(row["entry"]):
        assert {"entry", "stop", f"target ({row['target_kind'].replace('_', ' ')})"} <= set(labels)
    assert symbol in price.get_title(loc="left")
    plan = {"entry": 10.0, "stop": 9.0, "target": float("nan")}
    fig = plot_symbol(bars, trade_plan=plan, symbol="X")
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "entry" in labels and "stop" in labels and "target" not in labels


def test_result_plot_uses_scan_window(demo_result):
    symbol = demo_result.table.index[-1]
    fig = demo_result.plot(symbol.lower())
    assert len(fig.axes) == 4
    x = fig.axes[0].get_lines()[0].get_xdata()
    assert len(x) == demo_result.config.lookback_days
    assert pd.Timestamp(x[-1]) == pd.Timestamp("2025-06-30")
    fig.savefig(__import__("io").BytesIO(), format="png")


def test_sector_plot_and_styled_tables(demo_result):
    fig = demo_result.plot_sectors()
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    sectors = demo_result.table["sector"].nunique()
    assert len(fig.axes[0].get_yticklabels()) == sectors
    assert len(plot_sector_scores(demo_result.table.iloc[0:0]).axes) == 1

    styler = demo_result.styled(top=15)
    html = styler.to_html()
    assert html.count("<tr>") == 17  # two header rows (columns, index name) + 15 rows
    signals = set(demo_result.table["signal"].astype(str).head(15))
    colours = {"Strong Long": "#1a7f37", "Long": "#c6efce", "Short": "#f9cfcf"}
    for name, colour in colours.items():
        if name in signals:
            assert colour in html
    assert "%" in html  # percent columns are formatted
    custom = style_table(demo_result.table, columns=["signal", "close"]).to_html()
    assert "tech_rating" not in custom
    with pytest.raises(KeyError):
        style_table(demo_result.table, columns=["nope"])

    page = demo_result._repr_html_()
    assert demo_result.status in page.replace("&#x27;", "'")
    assert "Top 10 of" in page and "No errors." in page


def test_result_bars_are_the_bars_the_scan_used(demo_result):
    from technic_nb.core.indicators import latest_features

    symbol = demo_result.table.index[0]
    bars = demo_result.bars(symbol)
    assert len(bars) == demo_result.config.lookback_days
    assert bars.index[-1] == pd.Timestamp("2025-06-30")
    features = latest_features(bars, demo_result.config.indicators)
    row = demo_result.table.loc[symbol]
    for column in ("rsi", "sma200", "macd_hist", "atr_pct", "volume_spike"):
        assert features[column] == row[column]


def test_console_bars_redraw_throttled_but_end_exact():
    tracker = tn.MultiStageProgressTracker()
    sink = io.StringIO()
    draws = []
    with ConsoleProgress(tracker, file=sink, disable=False) as console:
        draw = console._draw
        console._draw = lambda: (draws.append(1), draw())[1]
        tracker.start_stage("universe_loading", 1)
        tracker.finish_stage("universe_loading")
        tracker.start_stage("symbol_scanning", 5000)
        for _ in range(4999):
            tracker.advance("symbol_scanning")
        burst = len(draws)
        tracker.advance("symbol_scanning")  # the stage completes: drawn at once
        assert console.bars["symbol_scanning"].n == 5000
    assert burst < 50  # 5,000 events in a burst: a few redraws, not 5,000
    assert console.bars["universe_loading"].n == 1
    assert console.overall.n == round(tracker.overall_fraction * 1000)


def test_console_bars_show_each_stage_time_and_stopped_stages_without_time_left():
    now = [0.0]
    tracker = tn.MultiStageProgressTracker(clock=lambda: now[0])
    sink = io.StringIO()
    with ConsoleProgress(tracker, file=sink, disable=False):
        tracker.start_stage("universe_loading", 3)
        tracker.advance("universe_loading", 3)
        now[0] = 0.075
        tracker.finish_stage("universe_loading")
        tracker.start_stage("symbol_scanning", 100)
        now[0] = 5.0
        tracker.advance("symbol_scanning", 40)
        now[0] = 9.0  # long after the universe stage ended
        tracker.stop("cancelled")
    lines = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "\n", sink.getvalue()).replace("\r", "\n")
    final = {}
    for line in lines.splitlines():
        if ":" in line:
            final[line.split(":")[0].strip()] = line
    assert re.search(r"3/3 \[0\.0[78] s\]$", final["universe"]), final["universe"]
    scanning = final["scanning (stopped)"]
    assert "40/100 [00:08]" in scanning and "<" not in scanning and "::" not in scanning
    assert final["overall"].rstrip().endswith("stopped"), final["overall"]


def test_a_replay_under_the_panel_shows_its_summary(cache_dir):
    runner = tn.ReplayRunner(
        config(cache_dir), ["2025-06-30", "2025-09-30"], display=False, console=False
    )
    panel = runner.panel
    result = runner.run()
    assert panel.status_text == "✓ " + tidy_status(result.status)
    assert panel.results.layout.display == "block" and "overflow-x:auto" in panel.results.value
    assert panel.button.description == "Done"
