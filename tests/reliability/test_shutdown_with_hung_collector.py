"""SIGTERM with a black-holed collector: gunicorn exits within its graceful timeout + 2 s, and
every span it could not deliver is counted.

gunicorn (3 sync workers) exports spans to a ``BlackHole`` (accepts connections, never answers)
with the exporter's default 10 s timeout, longer than the ``GRACEFUL_TIMEOUT_S`` (6 s) gunicorn
gives its workers after SIGTERM: each worker's export thread hangs on a batch while hundreds of
spans wait in its queue. Then the master gets SIGTERM, once with the workers idle and once with
a slow request (``FAULT_LATENCY_MS``) in flight in every worker.

Asserted, with the measured figures printed (``-s`` or ``-rA`` shows them): the master exits 0
within ``GRACEFUL_TIMEOUT_S + 2`` s of the signal, and in fact before the graceful timeout
(every worker exited by itself with status 0, as the master's ``worker_exited`` events say;
none was SIGKILLed); the in-flight requests are answered; every worker logs the spans it
dropped at shutdown, having flushed for no longer than its budget; and the sample files the
workers left (``PROMETHEUS_MULTIPROC_DIR``, kept by the test) count those drops as
``todos_otel_spans_dropped_total{reason="shutdown"}``, as many as the workers logged, with
nothing counted as exported: every span of the load is accounted for as dropped, at least one
per request.
"""

from __future__ import annotations

import signal
import subprocess
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.accounts import create_account
from tests.support.load import Outcome, call, wait_for_workers
from tests.support.prometheus import Scrape, read_directory, scrape
from tests.support.receivers import BlackHole
from tests.support.servers import Server, run_server_on_new_database
from tests.support.telemetry import log_events
from tests.support.waiting import poll

# Run once, on the deployment database (the PostgreSQL pass): what it tests does not depend
# on the database, and the suite must fit CI's 20 minutes.
pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

WORKERS = 3
GRACEFUL_TIMEOUT_S = 6
EXIT_ALLOWANCE_S = 2.0  # the bound: exit within graceful timeout + this
REQUESTS = 450  # each makes a server span and its query spans
CLIENTS = 6
LATENCY_MS = 3000  # the slow requests in flight at SIGTERM
SLOW_ROUTE = "/api/todos/{id}/"
ENTERED = "django_http_requests_before_middlewares_total"
DROPPED = "todos_otel_spans_dropped_total"


@dataclass(frozen=True)
class Shutdown:
    """What one SIGTERM showed."""

    exited_s: float
    signalled_at: datetime
    returncode: int
    in_flight: list[Outcome]
    log: str
    events: list[dict[str, Any]]
    counted: Scrape

    def shutdown_events(self) -> list[dict[str, Any]]:
        """The workers' ``spans_dropped_at_shutdown`` lines."""
        return [e for e in self.events if e.get("event") == "spans_dropped_at_shutdown"]

    def counted_after_s(self, event: dict[str, Any]) -> float:
        """Seconds from the SIGTERM to the worker's ``spans_dropped_at_shutdown`` line."""
        return (datetime.fromisoformat(event["timestamp"]) - self.signalled_at).total_seconds()

    def report(self, case: str) -> str:
        per_worker = [
            f"{e['dropped']} of {e['pending']} (flushed {e['flushed_for_s']:.2f} s, counted "
            f"{self.counted_after_s(e):.2f} s after SIGTERM)"
            for e in self.shutdown_events()
        ]
        reasons = {
            reason: self.counted.value(DROPPED, reason=reason)
            for reason in ("queue_full", "export_failed", "shutdown")
        }
        return (
            f"{case}: master exited {self.exited_s:.2f} s after SIGTERM (graceful timeout "
            f"{GRACEFUL_TIMEOUT_S} s), status {self.returncode}; dropped at shutdown per "
            f"worker: {per_worker}; counted {reasons}"
        )


def _generate_spans(server: Server, headers: dict[str, str]) -> list[Outcome]:
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return list(
            pool.map(
                lambda _: call("GET", f"{server.url}/api/todos/", headers=headers),
                range(REQUESTS),
            )
        )


def _sigterm_and_wait(server: Server) -> tuple[datetime, float, int]:
    """SIGTERM the master; when (wall clock), how long it took to exit, and its status."""
    signalled_at = datetime.now(UTC)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        returncode = server.process.wait(timeout=GRACEFUL_TIMEOUT_S + 30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the master still runs {GRACEFUL_TIMEOUT_S + 30} s after SIGTERM")
    return signalled_at, time.monotonic() - started, returncode


def _shut_down(
    directory: Path, black_hole: BlackHole, *, slow_requests_in_flight: bool
) -> tuple[Shutdown, list[Outcome]]:
    """Start gunicorn, load it, SIGTERM it (with slow requests in flight if asked)."""
    metrics_dir = directory / "metrics"
    overrides = {
        "WEB_CONCURRENCY": str(WORKERS),
        "GUNICORN_GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT_S),
        "OTEL_EXPORTER_OTLP_ENDPOINT": black_hole.endpoint,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),  # given: kept after the master exits
    }
    if slow_requests_in_flight:
        overrides |= {"FAULT_LATENCY_MS": str(LATENCY_MS), "FAULT_ROUTES": SLOW_ROUTE}
    with run_server_on_new_database(overrides, directory=directory) as server:
        wait_for_workers(server, WORKERS)
        headers = create_account(server).headers
        load = _generate_spans(server, headers)
        in_flight: list[Future[Outcome]] = []
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            if slow_requests_in_flight:
                entered = scrape(server).value(ENTERED)
                in_flight = [
                    pool.submit(
                        call, "GET", f"{server.url}/api/todos/999999/", headers=headers, timeout=30
                    )
                    for _ in range(WORKERS)
                ]
                poll(  # every slow request is inside a worker
                    lambda: scrape(server).value(ENTERED) - entered,
                    lambda count: count >= WORKERS,
                    timeout=10.0,
                    interval=0.05,
                    failure=lambda count: f"only {count:g} of {WORKERS} slow requests started",
                )
            signalled_at, exited_s, returncode = _sigterm_and_wait(server)
            answered = [future.result(timeout=30) for future in in_flight]
        shutdown = Shutdown(
            exited_s=exited_s,
            signalled_at=signalled_at,
            returncode=returncode,
            in_flight=answered,
            log=server.log(),
            events=log_events(server),
            counted=read_directory(metrics_dir),
        )
    return shutdown, load


@pytest.mark.parametrize("busy", [False, True], ids=["idle-workers", "requests-in-flight"])
def test_sigterm_exits_within_the_graceful_timeout_and_counts_the_queued_spans(
    tmp_path: Path, black_hole: BlackHole, busy: bool
) -> None:
    shutdown, load = _shut_down(tmp_path, black_hole, slow_requests_in_flight=busy)
    print(  # noqa: T201  # the measured figures are part of the result
        "\n" + shutdown.report("requests in flight" if busy else "idle workers")
    )

    assert [o.status for o in load] == [200] * REQUESTS
    assert shutdown.returncode == 0, shutdown.log[-5000:]
    assert shutdown.exited_s <= GRACEFUL_TIMEOUT_S + EXIT_ALLOWANCE_S, shutdown.log[-5000:]
    # the workers were gone before the master's SIGKILL deadline: none died with spans in hand
    assert shutdown.exited_s < GRACEFUL_TIMEOUT_S, shutdown.log[-5000:]
    exits = [e for e in shutdown.events if e.get("event") == "worker_exited"]
    assert [(e["exit_code"], e["signal"]) for e in exits] == [(0, None)] * WORKERS, exits
    assert [o.status for o in shutdown.in_flight] == [404] * len(shutdown.in_flight)
    assert all(o.elapsed_s >= LATENCY_MS / 1000 for o in shutdown.in_flight)

    logged = shutdown.shutdown_events()
    assert len({e["pid"] for e in logged}) == WORKERS, logged
    for event in logged:
        assert event["flushed_for_s"] <= event["timeout_s"] + 0.5, event
        assert shutdown.counted_after_s(event) < GRACEFUL_TIMEOUT_S, event
    counted = shutdown.counted
    assert counted.value(DROPPED, reason="shutdown") == sum(e["dropped"] for e in logged)
    assert counted.value(DROPPED, reason="shutdown") > 0
    assert counted.value("todos_otel_spans_exported_total") == 0
    assert counted.value(DROPPED) >= REQUESTS  # every request's server span, at least
