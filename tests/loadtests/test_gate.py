"""The SLO gate's verdict on synthetic statistics (no Locust needed: the gate is pure)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from loadtests.gate import Measured, Thresholds, evaluate, measure, render
from observability.slo import AvailabilityObjective, LatencyObjective, Slo
from tests.support.locust_stats import Entry, Error

SLO = Slo(
    service="todo-api",
    window="30d",
    availability=AvailabilityObjective(objective=0.999),
    latency=LatencyObjective(objective=0.99, threshold_seconds=0.3),
    source=Path("slo.yaml"),
)
DEFAULTS = Thresholds.from_slo(SLO)


def healthy(requests: int = 1000) -> Measured:
    """``requests`` answers: most in 10-50 ms, the slowest 1% at 250 ms."""
    slow = requests // 100
    return Measured(
        requests=requests,
        failures=0,
        response_times={10: requests // 2, 50: requests - requests // 2 - slow, 250: slow},
    )


def test_the_defaults_come_from_the_slo() -> None:
    assert DEFAULTS.max_failure_ratio == 0.001
    assert [(limit.label, limit.limit_ms) for limit in DEFAULTS.latency] == [("p99", 300.0)]


def test_a_healthy_run_passes() -> None:
    verdict = evaluate(healthy(), DEFAULTS)

    assert verdict.passed
    assert verdict.exit_code == 0
    assert verdict.violations == ()


def test_failures_within_the_error_budget_pass() -> None:
    assert evaluate(Measured(requests=1000, failures=1, response_times={20: 1000}), DEFAULTS).passed


def test_too_many_failures_fail_naming_the_ratio_the_limit_and_the_excess() -> None:
    measured = Measured(requests=1000, failures=500, response_times={20: 1000})

    verdict = evaluate(measured, DEFAULTS)

    assert not verdict.passed
    assert verdict.exit_code == 1
    [violation] = verdict.violations
    assert violation.name == "failure ratio"
    text = violation.violation()
    assert "failure ratio: measured 0.5, limit 0.001" in text
    assert "over by 0.499" in text
    assert "500.0x the limit" in text
    assert "500 of 1000 requests failed (5xx or no answer)" in text


def test_a_slow_p99_fails_naming_the_percentile_the_limit_and_the_excess() -> None:
    measured = Measured(requests=100, failures=0, response_times={20: 97, 450: 3})

    [violation] = evaluate(measured, DEFAULTS).violations

    assert violation.name == "p99 latency"
    assert violation.violation() == (
        "p99 latency: measured 450 ms, limit 300 ms (slo.yaml: 0.99 within 0.3 s), "
        "over by 150 ms, 1.5x the limit"
    )


def test_both_thresholds_can_fail_at_once() -> None:
    measured = Measured(requests=10, failures=5, response_times={900: 10})

    names = [check.name for check in evaluate(measured, DEFAULTS).violations]

    assert names == ["failure ratio", "p99 latency"]


def test_a_run_that_measured_nothing_fails() -> None:
    verdict = evaluate(Measured(requests=0, failures=0), DEFAULTS)

    assert not verdict.passed
    assert "none were measured" in verdict.violations[0].violation()


def test_overrides_replace_the_slo_defaults_and_add_p95() -> None:
    thresholds = Thresholds.from_slo(SLO, max_failure_ratio=0.6, p99_ms=1000, p95_ms=30)
    measured = Measured(requests=100, failures=50, response_times={20: 90, 40: 5, 900: 5})

    verdict = evaluate(measured, thresholds)

    assert [(c.name, c.passed, c.source) for c in verdict.checks[1:]] == [
        ("failure ratio", True, "LOAD_MAX_FAILURE_RATIO"),
        ("p95 latency", False, "LOAD_P95_MS"),
        ("p99 latency", True, "LOAD_P99_MS"),
    ]


def test_a_different_latency_objective_gates_its_own_percentile() -> None:
    slo = replace(
        SLO,
        availability=AvailabilityObjective(objective=0.99),
        latency=LatencyObjective(objective=0.95, threshold_seconds=0.5),
    )

    limits = Thresholds.from_slo(slo).latency

    assert [(limit.label, limit.limit_ms) for limit in limits] == [("p95", 500.0)]


@pytest.mark.parametrize(
    ("quantile", "expected"), [(0.5, 20.0), (0.9, 30.0), (0.95, 40.0), (0.99, 50.0), (1.0, 50.0)]
)
def test_percentiles_follow_locusts_conservative_method(quantile: float, expected: float) -> None:
    # 100 requests: 50 at 10 ms, 40 at 20 ms, 5 at 30 ms, 4 at 40 ms, 1 at 50 ms. Like Locust,
    # the gate reports the slowest time t such that at most quantile * n requests took < t.
    measured = Measured(
        requests=100, failures=0, response_times={10: 50, 20: 40, 30: 5, 40: 4, 50: 1}
    )

    assert measured.percentile(quantile) == expected


def test_measure_leaves_out_setup_and_control_requests() -> None:
    entries = [
        Entry("/api/todos/", 90, {10: 90}),
        Entry("/api/todos/{id}/", 10, {20: 10}),
        Entry("setup: /api/auth/register/", 5, {900: 5}),
        Entry("control: /api/faults/", 2, {30: 2}),
    ]
    errors = [
        Error("/api/todos/", "ServerError('HTTP 500')", 3),
        Error("setup: /api/auth/token/", "ClientError('HTTP 429 throttled')", 4),
        Error("control: /api/faults/", "ServerError('HTTP 503')", 2),
    ]

    measured = measure(entries, errors)

    assert measured.requests == 100
    assert measured.failures == 3
    assert measured.excluded_requests == 7
    assert measured.percentile(0.99) == 20
    assert measured.throttled == 0


def test_measure_counts_5xx_and_missing_answers_but_not_4xx() -> None:
    entries = [Entry("/api/todos/", 100, {10: 100})]
    errors = [
        Error("/api/todos/", "ServerError('HTTP 502')", 2),
        Error("/api/todos/", "NoAnswerError('ConnectionRefusedError')", 3),
        Error("/api/todos/", "ClientError('HTTP 401 unexpected')", 4),
        Error("/api/todos/", "ClientError('HTTP 429 throttled')", 5),
        Error("/api/todos/", ConnectionResetError("an exception object, as locally"), 1),
    ]

    measured = measure(entries, errors)

    assert measured.failures == 6  # unknown errors count against availability
    assert measured.client_errors == 9
    assert measured.throttled == 5


def test_render_prints_the_table_the_verdict_and_each_violation() -> None:
    measured = Measured(
        requests=200,
        failures=100,
        response_times={10: 150, 400: 50},
        client_errors=7,
        throttled=7,
        excluded_requests=12,
    )

    text = render(measured, evaluate(measured, DEFAULTS), title="todo-api", notes=["a note"])

    lines = text.splitlines()
    assert lines[0] == "SLO gate: todo-api"
    assert "measured 200 requests (not counted: 12 setup/control requests)" in text
    assert any(line.split()[:2] == ["failure", "ratio"] and "FAIL" in line for line in lines)
    assert "latency p50 / p95 / p99: 10 / 400 / 400 ms" in text
    assert "4xx answers not counted: 7" in text
    assert "7 requests were throttled (429)" in text
    assert "VERDICT: FAIL" in text
    assert "  violated: failure ratio: measured 0.5, limit 0.001" in text
    assert "  violated: p99 latency: measured 400 ms, limit 300 ms" in text
    assert lines[-1] == "  note: a note"


def test_render_of_a_passing_run_says_pass() -> None:
    measured = healthy()

    text = render(measured, evaluate(measured, DEFAULTS), title="todo-api")

    assert "VERDICT: PASS" in text
    assert "violated" not in text
