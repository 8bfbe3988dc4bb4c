"""A hung collector and a hung Sentry cost requests nothing, and the lost spans are counted.

Two servers with the same configuration (2 workers each, a small span queue): one exports to
a healthy ``OtlpReceiver``, the other sends traces and errors (``OTEL_EXPORTER_OTLP_ENDPOINT``
and ``SENTRY_DSN``) to a ``BlackHole`` that accepts connections and never answers. The same
authenticated requests go to both, alternating in rounds so that machine noise hits both
alike. Asserted: no request fails; the black-holed p50 stays within max(2x, +15 ms) of the
healthy p50 over the same request count; the black-holed server counts the spans it dropped
and its log does not fill up with exporter noise; and its workers' memory stays bounded (RSS
under ``MAX_WORKER_RSS_MIB`` and growing less than ``MAX_RSS_GROWTH_MIB`` over
``MEMORY_REQUESTS`` more requests, whatever the hung exporters hold on to).

(Moved from ``tests/e2e/test_collector_down.py``; the memory check was added.)
"""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.accounts import Account, create_account
from tests.support.http import http
from tests.support.load import Load, Outcome, call, processes
from tests.support.receivers import BlackHole, OtlpReceiver
from tests.support.servers import Server, run_server_on_new_database
from tests.support.telemetry import (
    create_todo,
    log_events,
    non_json_lines,
    percentile,
    scrape_counter,
    timed_get,
    wait_for_counter,
)
from tests.support.waiting import poll

# Run once, on the deployment database (the PostgreSQL pass): what it tests does not depend
# on the database, and the suite must fit CI's 20 minutes.
pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ROUNDS = 15
REQUESTS_PER_ROUND = 10
WARMUP_REQUESTS = 10
P50_FACTOR = 2.0
P50_SLACK_MS = 15.0
# The SDK logs one line per export the timeout ends (OTEL_EXPORTER_OTLP_TIMEOUT, per worker),
# so the count grows with how long the module's server runs: 10 was reached under coverage on a
# loaded machine. A flood would be a line per dropped span: hundreds here.
MAX_EXPORTER_LOG_LINES = 25
DROPPED = "todos_otel_spans_dropped"
EXPORTED = "todos_otel_spans_exported"
SPAN_PIPELINE = {
    "OTEL_BSP_SCHEDULE_DELAY": "100",
    "OTEL_BSP_MAX_QUEUE_SIZE": "64",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "32",
    # A hung export blocks a worker's exit for this long (default 10 s); keep teardown short.
    "OTEL_EXPORTER_OTLP_TIMEOUT": "2",
    "WEB_CONCURRENCY": "2",
}
MEMORY_REQUESTS = 600
MEMORY_CLIENTS = 4
# Under `make test` coverage.py measures the workers too (COVERAGE_PROCESS_CONFIG is inherited):
# its tracer and line data add to each worker's RSS (153 MiB seen against 150), not to its
# growth, which MAX_RSS_GROWTH_MIB bounds either way.
COVERAGE_RSS_MIB = 20.0 if "COVERAGE_PROCESS_CONFIG" in os.environ else 0.0
MAX_WORKER_RSS_MIB = 150.0 + COVERAGE_RSS_MIB
MAX_RSS_GROWTH_MIB = 10.0  # the span queue holds 64 spans, Sentry's transport 100 envelopes
EXPORT_FAILURE_S = 15.0  # a few export timeouts, with the SDK's retries inside each
EXPORTER_NOISE = re.compile(r"drop|queue full|failed to export|exporter|timed? ?out", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    """A running server, a user of it and the list URL every measured request hits."""

    name: str
    server: Server
    account: Account

    @property
    def url(self) -> str:
        return f"{self.server.url}/api/todos/"


def _start(
    tmp_path_factory: pytest.TempPathFactory, name: str, overrides: dict[str, str]
) -> Iterator[Target]:
    with run_server_on_new_database(
        {**SPAN_PIPELINE, **overrides}, directory=tmp_path_factory.mktemp(name)
    ) as server:
        account = create_account(server)
        for number in range(3):
            create_todo(server, account, title=f"todo {number}")
        yield Target(name=name, server=server, account=account)


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver) -> Iterator[Target]:
    """Traces to a collector that answers."""
    yield from _start(
        tmp_path_factory, "collector-healthy", {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint}
    )


@pytest.fixture(scope="module")
def black_holed(
    tmp_path_factory: pytest.TempPathFactory, black_hole: BlackHole
) -> Iterator[Target]:
    """Traces and errors to endpoints that accept connections and never answer."""
    yield from _start(
        tmp_path_factory,
        "collector-black-holed",
        {"OTEL_EXPORTER_OTLP_ENDPOINT": black_hole.endpoint, "SENTRY_DSN": black_hole.dsn},
    )


@dataclass(frozen=True)
class Measurement:
    """Wall-clock latencies (ms) of the same requests sent to both servers."""

    healthy_ms: list[float]
    black_holed_ms: list[float]


@pytest.fixture(scope="module")
def measurement(healthy: Target, black_holed: Target) -> Measurement:
    """Warm both servers up, then alternate rounds of list requests between them."""
    latencies: dict[str, list[float]] = {healthy.name: [], black_holed.name: []}
    for target in (healthy, black_holed):
        for _ in range(WARMUP_REQUESTS):
            response, _elapsed = timed_get(target.url, target.account.headers)
            assert response.status == 200, response
    for round_number in range(ROUNDS):
        order = (healthy, black_holed) if round_number % 2 == 0 else (black_holed, healthy)
        for target in order:
            for _ in range(REQUESTS_PER_ROUND):
                response, elapsed_ms = timed_get(target.url, target.account.headers)
                assert response.status == 200, (target.name, response)
                latencies[target.name].append(elapsed_ms)
    return Measurement(
        healthy_ms=latencies[healthy.name], black_holed_ms=latencies[black_holed.name]
    )


def _summary(samples: list[float]) -> str:
    return (
        f"p50 {statistics.median(samples):.1f} ms, p90 {percentile(samples, 0.9):.1f} ms, "
        f"max {max(samples):.1f} ms over {len(samples)}"
    )


def test_a_hung_collector_and_sentry_do_not_slow_requests_down(
    measurement: Measurement, black_hole: BlackHole
) -> None:
    """Same p50 within max(2x, +15 ms) whether the span exporter's endpoint answers or not."""
    healthy_p50 = statistics.median(measurement.healthy_ms)
    black_holed_p50 = statistics.median(measurement.black_holed_ms)
    allowed = max(P50_FACTOR * healthy_p50, healthy_p50 + P50_SLACK_MS)
    print(  # noqa: T201  # the numbers are the point of this test; -s or -rA shows them
        f"\nhealthy collector:     {_summary(measurement.healthy_ms)}"
        f"\nblack-holed collector: {_summary(measurement.black_holed_ms)}"
        f"\nallowed black-holed p50: {allowed:.1f} ms"
    )
    assert (
        len(measurement.healthy_ms)
        == len(measurement.black_holed_ms)
        == ROUNDS * REQUESTS_PER_ROUND
    )
    assert black_hole.accepted > 0, "the exporter never even tried the black-holed endpoint"
    assert black_holed_p50 <= allowed, (
        f"black-holed {_summary(measurement.black_holed_ms)}; "
        f"healthy {_summary(measurement.healthy_ms)}"
    )


def test_the_spans_a_hung_collector_cannot_take_are_counted_as_dropped(
    measurement: Measurement, black_holed: Target
) -> None:
    """``todos_otel_spans_dropped_total`` on the metrics endpoint, summed over reasons."""
    dropped = wait_for_counter(black_holed.server, DROPPED)
    print(f"\ndropped spans right after the traffic: {dropped}")  # noqa: T201
    assert sum(dropped.values()) > 0, dropped
    reasons = {dict(labels).get("reason") for labels in dropped}
    assert reasons <= {"queue_full", "export_failed", "shutdown"}, reasons
    assert dropped.get((("reason", "shutdown"),), 0) == 0  # running: none lost to a shutdown


def test_the_batches_a_hung_collector_times_out_on_are_counted_too(
    measurement: Measurement, black_holed: Target
) -> None:
    """Once an export times out (OTEL_EXPORTER_OTLP_TIMEOUT), its spans count as failed."""
    dropped = wait_for_counter(
        black_holed.server, DROPPED, labels={"reason": "export_failed"}, timeout=EXPORT_FAILURE_S
    )
    print(f"\ndropped spans after an export timed out: {dropped}")  # noqa: T201


def test_a_healthy_collector_receives_the_spans_it_is_counted_for(
    measurement: Measurement, healthy: Target, otlp: OtlpReceiver
) -> None:
    """The control: the same traffic reaches the answering collector, and the exported count
    on the metrics endpoint is what the collector received."""
    otlp.wait_for(lambda spans: any(s.name == "GET /api/todos/" for s in spans))

    def received_and_exported() -> tuple[float, float]:
        return len(otlp.spans), sum(scrape_counter(healthy.server, EXPORTED).values())

    received, exported = poll(
        received_and_exported,
        lambda counts: counts[0] == counts[1],
        timeout=10,
        failure=lambda counts: f"the collector received {counts[0]:g} spans, {counts[1]:g} counted",
    )
    assert exported == received > 0
    server_spans = [s for s in otlp.spans if s.name == "GET /api/todos/"]
    assert len(server_spans) >= ROUNDS * REQUESTS_PER_ROUND / 2, len(server_spans)
    assert all(s.resource.get("service.name") == "todo-api" for s in server_spans)


def test_a_hung_collector_does_not_flood_the_log(
    measurement: Measurement, black_holed: Target
) -> None:
    """A handful of lines at most about the exporter, not one per dropped span or batch."""
    wait_for_counter(
        black_holed.server, DROPPED, labels={"reason": "export_failed"}, timeout=EXPORT_FAILURE_S
    )
    events = log_events(black_holed.server)
    noisy = [
        event
        for event in events
        if str(event.get("logger", "")).startswith(("opentelemetry", "sentry_sdk", "urllib3"))
        or EXPORTER_NOISE.search(str(event.get("event", "")))
    ]
    assert len(noisy) < MAX_EXPORTER_LOG_LINES, noisy
    stray = non_json_lines(black_holed.server)
    assert len(stray) < MAX_EXPORTER_LOG_LINES, stray[:20]
    finished = [e for e in events if e.get("event") == "request_finished"]
    assert len(finished) >= ROUNDS * REQUESTS_PER_ROUND  # the app's own logging is unharmed
    assert http("GET", f"{black_holed.server.url}/healthz").status == 200


def _worker_rss_mib(target: Target) -> dict[int, float]:
    return processes(target.server).worker_rss_mib()


def test_a_hung_collector_and_sentry_keep_worker_memory_bounded(
    measurement: Measurement, healthy: Target, black_holed: Target
) -> None:
    """MEMORY_REQUESTS more requests to each server: none fails, and the black-holed workers'
    RSS stays below MAX_WORKER_RSS_MIB and grows less than MAX_RSS_GROWTH_MIB."""
    grown: dict[str, dict[int, tuple[float, float]]] = {}
    for target in (healthy, black_holed):
        before = _worker_rss_mib(target)

        def request(_thread: int, _number: int, target: Target = target) -> Outcome:
            return call("GET", target.url, headers=target.account.headers)

        load = Load(request, threads=MEMORY_CLIENTS, max_requests=MEMORY_REQUESTS)
        with load:
            load.wait_for(MEMORY_REQUESTS, timeout=120)
        outcomes = load.outcomes
        assert [o for o in outcomes if o.status != 200] == [], target.name
        after = _worker_rss_mib(target)
        assert set(after) == set(before), f"{target.name}: a worker was replaced"
        grown[target.name] = {pid: (before[pid], after[pid]) for pid in before}
    print(  # noqa: T201  # the numbers are the point of this test
        "".join(
            f"\n{name} worker RSS over {MEMORY_REQUESTS}+ requests: "
            + ", ".join(f"{b:.1f} -> {a:.1f} MiB" for b, a in workers.values())
            for name, workers in grown.items()
        )
    )
    for before_mib, after_mib in grown[black_holed.name].values():
        assert after_mib < MAX_WORKER_RSS_MIB
        assert after_mib - before_mib < MAX_RSS_GROWTH_MIB
