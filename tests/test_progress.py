"""The multi-stage progress model."""

from __future__ import annotations

import threading

import pytest

from technic_nb import STAGES, MultiStageProgressTracker


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_default_weights_and_validation():
    tracker = MultiStageProgressTracker()
    assert tracker.weights == {
        "universe_loading": 0.05,
        "data_fetching": 0.20,
        "symbol_scanning": 0.70,
        "finalization": 0.05,
    }
    with pytest.raises(ValueError, match="sum to 1"):
        MultiStageProgressTracker({s: 0.3 for s in STAGES})
    with pytest.raises(ValueError, match="same length"):
        MultiStageProgressTracker(stages=["a", "b"], stage_weights=[1.0])
    with pytest.raises(ValueError, match="unique"):
        MultiStageProgressTracker(stages=["a", "a"], stage_weights=[0.5, 0.5])
    with pytest.raises(ValueError, match="go together"):
        MultiStageProgressTracker(stages=["a"])
    with pytest.raises(ValueError, match="finite number >= 0"):
        MultiStageProgressTracker(
            {
                "universe_loading": -0.1,
                "data_fetching": 0.4,
                "symbol_scanning": 0.6,
                "finalization": 0.1,
            }
        )


def test_overall_fraction_is_weighted():
    tracker = MultiStageProgressTracker()
    tracker.start_stage("universe_loading", 1)
    tracker.finish_stage("universe_loading")
    assert tracker.overall_fraction == pytest.approx(0.05)
    tracker.start_stage("data_fetching", 10)
    tracker.advance("data_fetching", 5)
    assert tracker.overall_fraction == pytest.approx(0.05 + 0.10)
    tracker.start_stage("symbol_scanning", 10)
    tracker.advance("symbol_scanning", 10)
    assert tracker.overall_fraction == pytest.approx(0.05 + 0.10 + 0.70)


def test_eta_and_rate_from_clock():
    clock = FakeClock()
    tracker = MultiStageProgressTracker(clock=clock)
    tracker.start_stage("symbol_scanning", 100)
    clock.now += 10
    tracker.advance("symbol_scanning", 25)
    stage = tracker.snapshot().stage("symbol_scanning")
    assert stage.rate == pytest.approx(2.5)
    assert stage.eta == pytest.approx(30.0)
    snap = tracker.snapshot()
    assert snap.fraction == pytest.approx(0.70 * 0.25)
    assert snap.eta == pytest.approx(10 / snap.fraction - 10)


def test_callback_receives_finished_counts_in_order():
    events = []
    tracker = MultiStageProgressTracker(callback=lambda *a: events.append(a))
    tracker.start_stage("data_fetching", 3, "go")
    for i in range(3):
        tracker.advance("data_fetching", message=f"S{i}", symbol=f"S{i}")
    assert [e[1] for e in events] == [0, 1, 2, 3]
    assert events[-1] == ("data_fetching", 3, 3, "S2", {"symbol": "S2"})


def test_legacy_three_argument_callback():
    seen = []

    def legacy(stage, current, total):
        seen.append((stage, current, total))

    tracker = MultiStageProgressTracker(callback=legacy)
    tracker.start_stage("symbol_scanning", 2)
    tracker.advance("symbol_scanning")
    assert seen == [("symbol_scanning", 0, 2), ("symbol_scanning", 1, 2)]


def test_callback_with_wrong_arity_is_rejected():
    with pytest.raises(TypeError, match="progress_cb must accept"):
        MultiStageProgressTracker(callback=lambda a, b: None)


def test_raising_callback_never_breaks_tracking(caplog):
    calls = []

    def bad(*args):
        calls.append(args)
        raise RuntimeError("boom")

    tracker = MultiStageProgressTracker(callback=bad)
    tracker.start_stage("data_fetching", 5)
    for _ in range(5):
        tracker.advance("data_fetching")
    assert len(calls) == 6
    assert tracker.snapshot().stage("data_fetching").current == 5
    assert sum("progress callback raised" in r.message for r in caplog.records) == 1


def test_thread_safety_counts_every_advance():
    tracker = MultiStageProgressTracker()
    tracker.start_stage("symbol_scanning", 8 * 5000)
    barrier = threading.Barrier(8)

    def work():
        barrier.wait()
        for _ in range(5000):
            tracker.advance("symbol_scanning")
            tracker.count("done")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = tracker.snapshot()
    assert snap.stage("symbol_scanning").current == 40000
    assert snap.counters["done"] == 40000


def test_unknown_stage_and_stop():
    tracker = MultiStageProgressTracker()
    with pytest.raises(ValueError, match="unknown stage"):
        tracker.advance("nope")
    tracker.start_stage("data_fetching", 10)
    tracker.advance("data_fetching", 4)
    tracker.stop("cancelled")
    snap = tracker.snapshot()
    assert snap.stage("data_fetching").state == "stopped"
    assert snap.stage("data_fetching").current == 4
    assert snap.stage("finalization").state == "stopped"
    assert snap.fraction < 1


def test_the_plan_form_stages_and_update_on_the_current_stage():
    clock = FakeClock()
    events = []
    tracker = MultiStageProgressTracker(
        stages=["download", "compute"],
        stage_weights=[0.25, 0.75],
        clock=clock,
        progress_callback=lambda *args: events.append(args),
    )
    assert tracker.stages == ("download", "compute")
    with pytest.raises(ValueError, match="start_stage"):
        tracker.update(1)
    tracker.start_stage("download", total=4)
    tracker.update(2, message="AAPL")
    assert tracker.current_stage == "download"
    assert tracker.overall_fraction == pytest.approx(0.25 * 0.5)
    tracker.complete_stage()
    tracker.start_stage("compute", total=10)
    tracker.update(5)
    assert tracker.overall_fraction == pytest.approx(0.25 + 0.75 * 0.5)
    assert events[1] == ("download", 2, 4, "AAPL", {})
    with pytest.raises(ValueError, match="unknown stage 'other'; stages are"):
        tracker.advance("other")


def test_scan_needs_a_tracker_with_the_scan_stages(tmp_path):
    import technic_nb as tn

    tracker = MultiStageProgressTracker(stages=["only"], stage_weights=[1.0])
    with pytest.raises(ValueError, match="universe_loading"):
        tn.scan(tn.ScanConfig(source="demo:5", cache_dir=tmp_path), tracker=tracker)
