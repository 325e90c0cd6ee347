"""The retry loop: policy validation, backoff, Retry-After, give-up errors, cancellation."""

from __future__ import annotations

import math
import pickle
import threading
import time

import pytest

from technic_nb.core.cancel import ScanCancellation, ScanCancelled
from technic_nb.core.errors import ErrorType, ScanError
from technic_nb.sources.retry.calls import call_with_retries
from technic_nb.sources.retry.policy import RetryPolicy, RetryStats, TransientFetchError

FAST = RetryPolicy(max_tries=4, max_time=10.0, base_delay=0.01, max_delay=0.05, jitter=False)


class Flaky:
    """Fails with the given exceptions, one per call, then returns ``"ok"``."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


# -- RetryPolicy ---------------------------------------------------------------


def test_policy_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.max_tries, policy.max_time, policy.base_delay) == (5, 60.0, 0.5)
    assert (policy.factor, policy.max_delay, policy.retry_after_cap, policy.jitter) == (
        2.0,
        30.0,
        60.0,
        True,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_tries", 0),
        ("max_tries", 2.5),
        ("max_tries", True),
        ("max_time", 0),
        ("max_time", -1.0),
        ("max_time", math.inf),
        ("max_time", math.nan),
        ("max_time", "60"),
        ("base_delay", -0.1),
        ("factor", 0.5),
        ("max_delay", -1),
        ("retry_after_cap", -5),
        ("jitter", "yes"),
    ],
)
def test_policy_validation_names_field_value_and_allowed(field: str, value: object) -> None:
    with pytest.raises(ValueError) as info:
        RetryPolicy(**{field: value})
    text = str(info.value)
    assert f"RetryPolicy.{field}={value!r}" in text
    assert "must be" in text


def test_policy_is_frozen() -> None:
    with pytest.raises(AttributeError):
        RetryPolicy().max_tries = 3  # type: ignore[misc]


def test_backoff_delays_grow_and_are_capped() -> None:
    policy = RetryPolicy(base_delay=0.5, factor=2.0, max_delay=3.0, jitter=False)
    delays = policy.delays()
    assert [next(delays) for _ in range(6)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_jittered_delays_stay_within_the_backoff_delay() -> None:
    policy = RetryPolicy(base_delay=0.5, factor=2.0, max_delay=3.0, jitter=True)
    bounds = [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    for _ in range(20):
        delays = policy.delays()
        for bound in bounds:
            assert 0.0 <= next(delays) <= bound


# -- RetryStats ----------------------------------------------------------------


def test_stats_are_thread_safe_and_resettable() -> None:
    stats = RetryStats()

    def hammer() -> None:
        for _ in range(2000):
            stats.record_attempt()
            stats.record_wait(0.001)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snap = stats.snapshot()
    assert snap["attempts"] == 16000
    assert snap["wait_seconds"] == pytest.approx(16.0)
    assert set(snap) == {"attempts", "retries", "give_ups", "wait_seconds"}
    copy = pickle.loads(pickle.dumps(stats))
    assert copy.snapshot() == snap
    copy.record_retry()  # the rebuilt lock works
    stats.reset()
    assert stats.snapshot() == {"attempts": 0, "retries": 0, "give_ups": 0, "wait_seconds": 0.0}


def test_transient_error_round_trips() -> None:
    exc = TransientFetchError("HTTP 429 Too Many Requests", status=429, retry_after=2.0)
    copy = pickle.loads(pickle.dumps(exc))
    assert (copy.reason, copy.status, copy.retry_after, copy.timeout) == (
        "HTTP 429 Too Many Requests",
        429,
        2.0,
        False,
    )
    assert "429" in repr(copy) and str(copy) == "HTTP 429 Too Many Requests"


# -- call_with_retries ---------------------------------------------------------


def test_success_on_the_first_attempt() -> None:
    stats = RetryStats()
    assert call_with_retries(lambda: 42, policy=FAST, stats=stats) == 42
    assert stats.snapshot() == {"attempts": 1, "retries": 0, "give_ups": 0, "wait_seconds": 0.0}


def test_transient_failures_are_retried_until_success() -> None:
    stats = RetryStats()
    fn = Flaky(TransientFetchError("HTTP 503", status=503), TransientFetchError("reset"))
    assert call_with_retries(fn, policy=FAST, stats=stats, describe="T") == "ok"
    snap = stats.snapshot()
    assert fn.calls == 3
    assert (snap["attempts"], snap["retries"], snap["give_ups"]) == (3, 2, 0)
    assert 0.02 <= snap["wait_seconds"] < 1.0  # 0.01 + 0.02 without jitter


def test_other_exceptions_propagate_at_once() -> None:
    stats = RetryStats()
    fn = Flaky(KeyError("boom"))
    with pytest.raises(KeyError):
        call_with_retries(fn, policy=FAST, stats=stats)
    assert fn.calls == 1
    fatal = ScanError(ErrorType.API_ERROR, "bad key", fatal=True)
    with pytest.raises(ScanError) as info:
        call_with_retries(Flaky(fatal), policy=FAST, stats=stats)
    assert info.value is fatal
    assert stats.snapshot()["retries"] == 0


def test_custom_classifier() -> None:
    fn = Flaky(ConnectionError("refused"), ConnectionError("refused"))
    result = call_with_retries(
        fn, policy=FAST, is_transient=lambda exc: isinstance(exc, ConnectionError)
    )
    assert result == "ok" and fn.calls == 3


def test_give_up_after_max_tries_is_structured() -> None:
    stats = RetryStats()
    failures = [TransientFetchError(f"HTTP 503 #{i}", status=503) for i in range(10)]
    fn = Flaky(*failures)
    with pytest.raises(ScanError) as info:
        call_with_retries(fn, policy=FAST, stats=stats, describe="AAA: GET /x", symbol="AAA")
    exc = info.value
    assert fn.calls == 4
    assert exc.error_type is ErrorType.API_ERROR
    assert exc.recoverable is True and exc.fatal is False
    assert exc.details["status"] == 503
    assert exc.details["attempts"] == 4
    assert exc.details["gave_up"] == "max_tries"
    assert exc.details["last_error"] == "HTTP 503 #3"
    assert exc.details["elapsed"] >= 0.0
    assert exc.details["symbol"] == "AAA"
    assert exc.affected_symbols == ("AAA",)
    assert "AAA: GET /x" in exc.message and "4 attempt" in exc.message
    assert "RetryPolicy" in exc.suggestion
    assert isinstance(exc.__cause__, TransientFetchError)
    snap = stats.snapshot()
    assert (snap["attempts"], snap["retries"], snap["give_ups"]) == (4, 3, 1)


def test_timeouts_give_a_timeout_error() -> None:
    fn = Flaky(*[TransientFetchError("timed out", timeout=True) for _ in range(4)])
    with pytest.raises(ScanError) as info:
        call_with_retries(fn, policy=FAST)
    assert info.value.error_type is ErrorType.TIMEOUT_ERROR
    assert info.value.details["status"] is None
    assert "timeout" in info.value.suggestion


def test_rate_limit_give_up_suggests_slowing_down() -> None:
    fn = Flaky(*[TransientFetchError("HTTP 429", status=429, retry_after=0) for _ in range(4)])
    with pytest.raises(ScanError) as info:
        call_with_retries(fn, policy=FAST)
    assert info.value.details["status"] == 429
    assert "requests_per_second" in info.value.suggestion


def test_gives_up_when_the_next_wait_would_pass_max_time() -> None:
    policy = RetryPolicy(max_tries=10, max_time=0.5, base_delay=1.0, jitter=False)
    fn = Flaky(*[TransientFetchError("HTTP 502", status=502) for _ in range(10)])
    started = time.monotonic()
    with pytest.raises(ScanError) as info:
        call_with_retries(fn, policy=policy)
    assert time.monotonic() - started < 0.5  # gave up without waiting
    assert fn.calls == 1
    assert info.value.details["gave_up"] == "max_time"


def test_retry_after_replaces_the_backoff_delay() -> None:
    stats = RetryStats()
    policy = RetryPolicy(max_tries=3, max_time=30.0, base_delay=20.0, jitter=False)
    fn = Flaky(TransientFetchError("HTTP 429", status=429, retry_after=0.05))
    started = time.monotonic()
    assert call_with_retries(fn, policy=policy, stats=stats) == "ok"
    elapsed = time.monotonic() - started
    assert 0.05 <= elapsed < 2.0
    assert stats.snapshot()["wait_seconds"] >= 0.05


def test_retry_after_is_capped() -> None:
    policy = RetryPolicy(max_tries=3, max_time=300.0, retry_after_cap=0.05, jitter=False)
    fn = Flaky(TransientFetchError("HTTP 429", status=429, retry_after=120.0))
    started = time.monotonic()
    assert call_with_retries(fn, policy=policy) == "ok"
    assert time.monotonic() - started < 2.0


def test_retry_after_past_max_time_gives_up_at_once() -> None:
    policy = RetryPolicy(max_tries=5, max_time=5.0, retry_after_cap=60.0)
    fn = Flaky(TransientFetchError("HTTP 429", status=429, retry_after=30.0))
    started = time.monotonic()
    with pytest.raises(ScanError) as info:
        call_with_retries(fn, policy=policy)
    assert time.monotonic() - started < 1.0
    assert info.value.details["gave_up"] == "max_time"
    assert info.value.retry_after == 30.0
    assert info.value.details["retry_after"] == 30.0


def test_cancel_while_waiting_returns_at_once() -> None:
    stats = RetryStats()
    token = ScanCancellation()
    policy = RetryPolicy(max_tries=5, max_time=300.0, base_delay=30.0, jitter=False)
    fn = Flaky(TransientFetchError("HTTP 503", status=503))
    timer = threading.Timer(0.1, token.cancel, kwargs={"reason": "stopped by test"})
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(ScanCancelled) as info:
            call_with_retries(fn, policy=policy, stats=stats, cancellation=token)
    finally:
        timer.cancel()
    elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert info.value.reason == "stopped by test"
    assert fn.calls == 1
    assert 0.05 <= stats.snapshot()["wait_seconds"] < 1.0


def test_cancelled_before_the_first_attempt() -> None:
    token = ScanCancellation()
    token.cancel()
    fn = Flaky()
    with pytest.raises(ScanCancelled):
        call_with_retries(fn, policy=FAST, cancellation=token)
    assert fn.calls == 0
