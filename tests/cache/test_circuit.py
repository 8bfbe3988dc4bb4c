"""The cache's circuit breaker (app.cache.circuit), on a hand-driven clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.cache.circuit import CircuitBreaker, breaker_for, display_name
from tests.support.doubles import FakeClock, RecordedLogs

pytestmark = pytest.mark.database_free

RETRY_S = 5.0


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker("redis://127.0.0.1:6379/0", retry_seconds=RETRY_S, clock=clock)


def test_a_new_circuit_is_closed_and_lets_every_call_through(breaker: CircuitBreaker) -> None:
    assert not breaker.is_open
    assert all(breaker.allow() for _ in range(3))


def test_a_failure_opens_the_circuit_until_the_interval_has_passed(
    breaker: CircuitBreaker, clock: FakeClock, logs: RecordedLogs
) -> None:
    breaker.record_failure(RedisConnectionError("refused"))

    assert breaker.is_open
    assert breaker.last_error == "ConnectionError"
    clock.advance(RETRY_S - 0.01)
    assert not breaker.allow()
    clock.advance(0.01)
    assert breaker.allow()  # the probe


def test_only_one_call_probes_per_interval(
    breaker: CircuitBreaker, clock: FakeClock, logs: RecordedLogs
) -> None:
    breaker.record_failure(RedisTimeoutError("timed out"))
    clock.advance(RETRY_S)

    granted = [breaker.allow() for _ in range(4)]

    assert granted == [True, False, False, False]


def test_a_failed_probe_keeps_the_circuit_open_for_another_interval(
    breaker: CircuitBreaker, clock: FakeClock, logs: RecordedLogs
) -> None:
    breaker.record_failure(RedisConnectionError("refused"))
    clock.advance(RETRY_S)
    assert breaker.allow()

    breaker.record_failure(RedisConnectionError("still refused"))

    assert breaker.is_open
    clock.advance(RETRY_S - 0.01)
    assert not breaker.allow()
    clock.advance(0.01)
    assert breaker.allow()


def test_the_first_success_closes_the_circuit(
    breaker: CircuitBreaker, clock: FakeClock, logs: RecordedLogs
) -> None:
    breaker.record_failure(RedisConnectionError("refused"))
    clock.advance(RETRY_S)
    assert breaker.allow()

    breaker.record_success()

    assert not breaker.is_open
    assert all(breaker.allow() for _ in range(3))


def test_degradation_is_logged_once_per_interval_and_recovery_once(
    breaker: CircuitBreaker, clock: FakeClock, logs: RecordedLogs
) -> None:
    for _ in range(50):  # many calls failing within one interval (threads, several ops)
        breaker.record_failure(RedisConnectionError("refused"))
    assert logs.events() == ["cache_degraded"]

    clock.advance(RETRY_S)
    breaker.record_failure(RedisConnectionError("refused"))  # the probe fails: a reminder
    breaker.record_failure(RedisConnectionError("refused"))
    assert logs.events() == ["cache_degraded", "cache_degraded"]

    clock.advance(1.5)
    breaker.record_success()
    breaker.record_success()
    assert logs.events() == ["cache_degraded", "cache_degraded", "cache_recovered"]


def test_the_log_lines_say_what_failed_for_how_long_and_which_worker(
    breaker: CircuitBreaker, clock: FakeClock, logs: RecordedLogs
) -> None:
    breaker.record_failure(RedisTimeoutError("timed out"))
    breaker.record_bypass()
    breaker.record_bypass()
    clock.advance(7.25)
    breaker.record_success()

    (degraded_level, _, degraded), (recovered_level, _, recovered) = logs.lines
    assert degraded_level == "warning"
    assert degraded["error"] == "TimeoutError"
    assert degraded["retry_in_s"] == RETRY_S
    assert degraded["cache"] == "redis://127.0.0.1:6379/0"
    assert isinstance(degraded["pid"], int)
    assert recovered_level == "info"
    assert recovered["down_for_s"] == 7.25
    assert recovered["bypassed"] == 2


def test_a_healthy_cache_logs_nothing(breaker: CircuitBreaker, logs: RecordedLogs) -> None:
    for _ in range(10):
        assert breaker.allow()
        breaker.record_success()

    assert logs.lines == []


def test_the_degraded_gauge_is_one_exactly_while_the_circuit_is_open(
    breaker: CircuitBreaker, clock: FakeClock, logs: RecordedLogs, metric: Callable[[str], float]
) -> None:
    assert metric("todos_cache_degraded") == 0

    breaker.record_failure(RedisConnectionError("refused"))
    assert metric("todos_cache_degraded") == 1

    clock.advance(RETRY_S)
    breaker.record_success()
    assert metric("todos_cache_degraded") == 0


def test_each_bypassed_operation_is_counted(
    breaker: CircuitBreaker, metric: Callable[[str], float]
) -> None:
    before = metric("todos_cache_bypassed_total")

    for _ in range(3):
        breaker.record_bypass()

    assert metric("todos_cache_bypassed_total") == before + 3


def test_a_retry_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="above 0"):
        CircuitBreaker("redis://x", retry_seconds=0)


def test_cache_objects_of_one_process_share_the_breaker_of_their_redis() -> None:
    first = breaker_for("redis://shared.example:6379/0", retry_seconds=RETRY_S)

    assert breaker_for("redis://shared.example:6379/0", retry_seconds=RETRY_S) is first
    assert breaker_for("redis://other.example:6379/0", retry_seconds=RETRY_S) is not first


def test_the_logged_name_of_a_redis_carries_no_credentials() -> None:
    assert display_name("redis://:s3cret@redis:6379/0") == "redis://redis:6379/0"
    assert display_name("rediss://user:pw@a:6379/0,rediss://user:pw@b:6379/0") == (
        "rediss://a:6379/0,rediss://b:6379/0"
    )
    assert breaker_for("redis://:s3cret@redis:6379/9", retry_seconds=RETRY_S).name == (
        "redis://redis:6379/9"
    )
