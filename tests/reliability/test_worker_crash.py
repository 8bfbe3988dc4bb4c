"""kill -9 one gunicorn worker under load: it is replaced, and only its in-flight request fails.

Three sync workers serve four client threads listing todos (each request slowed to
``LATENCY_MS`` by the latency fault, so every worker is busy when the kill lands). One worker
gets SIGKILL. Asserted:

- the master starts a replacement (new pid, three workers again) and counts the exit;
- client errors are limited to the killed worker's in-flight request: a sync worker holds one
  connection, so at most one error per killed worker (connections waiting in the listen
  backlog are taken by the other workers, never refused);
- the aggregated 200-response counter, scraped all along, never decreases (the dead worker's
  counts are kept), and over the run it grew by exactly the requests answered 200 (a request
  killed between being counted and being answered may add one per error; none expected);
- the master logs one ``worker_exited`` JSON event for it, with its pid and signal 9.

``tests/e2e/test_metrics.py`` proves the exact counts across a kill on an idle server; this is
the same accounting with traffic flowing through the kill.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.accounts import create_account
from tests.support.load import Load, Outcome, call, wait_for_workers
from tests.support.prometheus import scrape
from tests.support.servers import Server, run_server_on_new_database
from tests.support.waiting import poll

# Run once, on the deployment database (the PostgreSQL pass): what it tests does not depend
# on the database, and the suite must fit CI's 20 minutes.
pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

WORKERS = 3
CLIENTS = 4  # more than the workers: every worker is busy at any moment
LATENCY_MS = 300
REQUESTS_BEFORE = 20
REQUESTS_AFTER = 30
REPLACEMENT_DEADLINE_S = 30.0
SCRAPE_INTERVAL_S = 0.1
RESPONSES = "django_http_responses_total_by_status_view_method_total"
TODO_LIST_OK = {"status": "200", "view": "todo-list", "method": "GET"}


@dataclass(frozen=True)
class Crash:
    """What one kill under load observed."""

    outcomes: list[Outcome]
    killed_at: float
    victim: int
    replaced_s: float
    old_workers: frozenset[int]
    new_workers: frozenset[int]
    exits: float
    counted: list[float]  # the 200 counter, scraped before, during and after the load


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Three workers, list requests slowed down by the latency fault."""
    overrides = {
        "WEB_CONCURRENCY": str(WORKERS),
        "FAULT_LATENCY_MS": str(LATENCY_MS),
        "FAULT_ROUTES": "/api/todos/",
    }
    with run_server_on_new_database(
        overrides, directory=tmp_path_factory.mktemp("worker-crash")
    ) as running:
        wait_for_workers(running, WORKERS)
        yield running


@pytest.fixture(scope="module")
def crash(server: Server) -> Crash:
    """Load, kill -9 a worker, wait for its replacement, load on; scrape the counter all along."""
    auth = create_account(server).headers
    url = f"{server.url}/api/todos/"
    counted = [scrape(server).value(RESPONSES, **TODO_LIST_OK)]
    exits_before = scrape(server).value("todos_gunicorn_worker_exits_total")
    stop_scraping = threading.Event()

    def scrape_along() -> None:
        while not stop_scraping.wait(SCRAPE_INTERVAL_S):
            counted.append(scrape(server).value(RESPONSES, **TODO_LIST_OK))

    scraper = threading.Thread(target=scrape_along, name="scraper", daemon=True)
    scraper.start()
    try:
        with Load(lambda _t, _n: call("GET", url, headers=auth), threads=CLIENTS) as load:
            load.wait_for(REQUESTS_BEFORE)
            old = wait_for_workers(server, WORKERS)
            victim = min(old.workers)
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            new = wait_for_workers(server, WORKERS, without=victim, timeout=REPLACEMENT_DEADLINE_S)
            replaced_s = time.monotonic() - killed_at
            load.wait_for(REQUESTS_AFTER, after=time.monotonic())
    finally:
        stop_scraping.set()
        scraper.join(timeout=10)
    counted.append(scrape(server).value(RESPONSES, **TODO_LIST_OK))
    return Crash(
        outcomes=load.outcomes,
        killed_at=killed_at,
        victim=victim,
        replaced_s=replaced_s,
        old_workers=old.workers,
        new_workers=new.workers,
        exits=scrape(server).value("todos_gunicorn_worker_exits_total") - exits_before,
        counted=counted,
    )


def test_the_killed_worker_is_replaced(crash: Crash) -> None:
    print(  # noqa: T201  # the measured figure is part of the result
        f"\nworker {crash.victim} killed; replaced within {crash.replaced_s:.2f} s by "
        f"{sorted(crash.new_workers - crash.old_workers)}"
    )
    assert crash.victim not in crash.new_workers
    assert len(crash.new_workers - crash.old_workers) == 1
    assert crash.old_workers - {crash.victim} <= crash.new_workers
    assert crash.exits == 1


def test_only_the_killed_workers_in_flight_request_fails(crash: Crash) -> None:
    failed = [o for o in crash.outcomes if not o.ok]
    print(  # noqa: T201
        f"\n{len(crash.outcomes)} requests, {len(failed)} failed: "
        f"{[o.error or o.status for o in failed]}"
    )
    assert len(failed) <= 1, failed  # one sync worker, one request in flight
    for outcome in failed:
        assert outcome.status is None, outcome  # a dropped connection, never an HTTP error
        assert outcome.started <= crash.killed_at <= outcome.started + outcome.elapsed_s
    assert len([o for o in crash.outcomes if o.started > crash.killed_at]) >= REQUESTS_AFTER


def test_the_counter_stays_monotonic_and_counts_every_answer(crash: Crash) -> None:
    answered = sum(1 for o in crash.outcomes if o.status == 200)
    failed = sum(1 for o in crash.outcomes if not o.ok)
    grew = crash.counted[-1] - crash.counted[0]
    print(  # noqa: T201
        f"\n{len(crash.counted)} scrapes; counter grew by {grew:g}, clients got {answered} x 200"
    )
    decreases = [
        (before, after)
        for before, after in zip(crash.counted, crash.counted[1:], strict=False)
        if after < before
    ]
    assert not decreases, decreases
    assert answered <= grew <= answered + failed


def test_the_master_logs_the_exit_with_the_pid_and_signal_9(crash: Crash, server: Server) -> None:
    def exits() -> list[dict[str, object]]:
        events = (json.loads(line) for line in server.log().splitlines() if line.startswith("{"))
        return [event for event in events if event["event"] == "worker_exited"]

    logged = poll(
        exits,
        lambda events: any(event["pid"] == crash.victim for event in events),
        timeout=10,
        failure=lambda events: f"no worker_exited event for {crash.victim}: {events}",
    )
    print(f"\n{logged}")  # noqa: T201
    (event,) = [event for event in logged if event["pid"] == crash.victim]
    assert event["signal"] == signal.SIGKILL
    assert (event["signal_name"], event["exit_code"], event["level"]) == (
        "SIGKILL",
        None,
        "error",
    )
    assert (event["status_known"], event["timed_out"]) == (True, False)
    assert event["logger"] == "app.telemetry.worker_exits"
