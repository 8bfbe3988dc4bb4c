"""The jobs' traces and metrics through the real gunicorn and a real prefork worker.

One stack for the module: gunicorn (2 workers) and ``celery worker`` with the prefork pool at
concurrency 2 on the filesystem broker, both exporting spans to the test's OTLP receiver, runs
slowed by ``FAULT_EXPORT_DELAY_MS`` so both pool processes take jobs. Asserted: the request's
server span, the producer span, the worker's consumer span and its DB spans share one trace,
with the stable messaging conventions; exact task and export counts on the worker's
``WORKER_METRICS_PORT`` (the pool processes merged) and on the web's ``METRICS_PORT``
(published); the completion histogram's trace exemplar; and the fault switch's ``jobs``
target failing runs, counted as failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.accounts import Account, create_account
from tests.support.http import http
from tests.support.jobs import Celery, jobs_env, started, terminate, wait_ready, worker_of
from tests.support.ports import free_port
from tests.support.prometheus import Scrape, scrape, scrape_url
from tests.support.receivers import OtlpReceiver, ReceivedSpan
from tests.support.servers import Server, manage, migrated_database, run_server, server_environment
from tests.support.telemetry import children_of, new_traceparent
from tests.support.waiting import poll

pytestmark = pytest.mark.e2e

STAFF = {"username": "ops", "password": "ops-password-for-tests"}
DEADLINE_S = 20.0
TASK = "exports.run"
FAULT_TYPE = "app.faults.middleware.InjectedFaultError"


@dataclass(frozen=True)
class Stack:
    server: Server
    worker: Celery
    queue: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("jobs-telemetry")
    with migrated_database(directory) as database_url:
        overrides = {
            **jobs_env(directory),
            "DATABASE_URL": database_url,
            "CELERY_WORKER_POOL": "prefork",
            "CELERY_WORKER_CONCURRENCY": "2",
            "FAULT_EXPORT_DELAY_MS": "300",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "WEB_CONCURRENCY": "2",
        }
        env = server_environment(overrides, port=free_port(), directory=directory)
        with (
            started(worker_of("worker"), env, directory / "worker.log") as worker,
            run_server(overrides, directory=directory, migrate=False) as server,
        ):
            wait_ready(worker, "worker", " ready.")
            manage(
                "ensure_demo_user", "--staff", "--username", STAFF["username"],
                "--password", STAFF["password"], env=server.env,
            )  # fmt: skip
            try:
                yield Stack(server, worker, overrides["CELERY_TASK_DEFAULT_QUEUE"])
            finally:
                terminate(worker.process, server.process)


def _export(stack: Stack, account: Account, fmt: str, traceparent: str) -> str:
    """Request an export continuing ``traceparent``; its status URL."""
    accepted = http(
        "POST",
        f"{stack.server.url}/api/todos/exports/",
        json_body={"format": fmt},
        headers={**account.headers, "traceparent": traceparent},
    )
    assert accepted.status == 202, accepted
    return str(accepted.body["url"])


def _finished(stack: Stack, account: Account, url: str) -> str:
    """Wait until the export at ``url`` is finished; its status."""
    answer = poll(
        lambda: http("GET", url, headers=account.headers),
        lambda r: r.status == 200 and r.body["status"] in {"succeeded", "failed"},
        timeout=DEADLINE_S,
        failure=lambda r: f"export not finished in {DEADLINE_S} s: {r.status} {r.body}",
    )
    return str(answer.body["status"])


def _value(scrape: Scrape, metric: str, labels: dict[str, str]) -> float:
    """The sum of ``metric``'s samples with ``labels`` (a dict: celery's ``name`` label)."""
    return sum(
        s.value for s in scrape.samples if s.name == metric and labels.items() <= s.labels.items()
    )


def _worker_scrape(stack: Stack, *, openmetrics: bool = False) -> Scrape:
    return scrape_url(stack.worker.metrics_url, openmetrics=openmetrics)


def _job_spans(
    spans: list[ReceivedSpan], trace_id: str
) -> tuple[ReceivedSpan | None, ReceivedSpan | None, ReceivedSpan | None, list[ReceivedSpan]]:
    """The trace's server, producer and consumer spans (chained) and the consumer's DB spans."""
    in_trace = [s for s in spans if s.trace_id == trace_id]
    server = next((s for s in in_trace if s.kind == "SERVER"), None)
    producer = next(
        (
            s
            for s in in_trace
            if s.kind == "PRODUCER" and server and s.parent_span_id == server.span_id
        ),
        None,
    )
    consumer = next(
        (
            s
            for s in in_trace
            if s.kind == "CONSUMER" and producer and s.parent_span_id == producer.span_id
        ),
        None,
    )
    db = (
        [s for s in children_of(in_trace, consumer) if "db.system.name" in s.attributes]
        if consumer
        else []
    )
    return server, producer, consumer, db


def _wait_for_job_trace(otlp: OtlpReceiver, trace_id: str) -> tuple[ReceivedSpan, ...]:
    spans = otlp.wait_for(lambda spans: len(_job_spans(spans, trace_id)[3]) > 0, timeout=DEADLINE_S)
    server, producer, consumer, db = _job_spans(spans, trace_id)
    assert server is not None
    assert producer is not None
    assert consumer is not None
    return server, producer, consumer, *db


def test_a_jobs_spans_continue_the_requests_trace(stack: Stack, otlp: OtlpReceiver) -> None:
    alice = create_account(stack.server)
    caller = new_traceparent()

    url = _export(stack, alice, "csv", caller.header)
    assert _finished(stack, alice, url) == "succeeded"

    server, producer, consumer, *db = _wait_for_job_trace(otlp, caller.trace_id)
    assert server.name == "POST /api/todos/exports/"
    assert server.parent_span_id == caller.span_id
    assert producer.name == f"send {stack.queue}"
    assert consumer.name == f"process {stack.queue}"
    for span, operation in ((producer, "send"), (consumer, "process")):
        assert span.attributes["messaging.system"] == "celery"
        assert span.attributes["messaging.operation.type"] == operation
        assert span.attributes["messaging.operation.name"] == operation
        assert span.attributes["messaging.destination.name"] == stack.queue
        assert span.attributes["celery.task_name"] == TASK
        deprecated = {"messaging.destination", "messaging.destination_kind", "celery.action"}
        assert not deprecated & span.attributes.keys(), span.attributes
    assert (
        consumer.attributes["messaging.message.id"] == producer.attributes["messaging.message.id"]
    )
    assert consumer.resource["process.pid"] != server.resource["process.pid"]
    assert {span.attributes["db.operation.name"] for span in db} >= {"UPDATE"}
    # The run's log line carries the consumer span.
    run_lines = [
        event
        for event in stack.worker.events()
        if event.get("event") == "task_run"
        and event.get("task_id") == consumer.attributes["messaging.message.id"]
    ]
    assert [(e["trace_id"], e["span_id"]) for e in run_lines] == [
        (caller.trace_id, consumer.span_id)
    ]


def test_counts_are_exact_across_the_pool_processes(stack: Stack, otlp: OtlpReceiver) -> None:
    jobs = 6
    bob = create_account(stack.server)
    worker_before, web_before = _worker_scrape(stack), scrape(stack.server)
    labels = {"name": TASK, "queue_name": stack.queue}
    callers = [new_traceparent() for _ in range(jobs)]

    urls = [_export(stack, bob, "json", caller.header) for caller in callers]
    assert [_finished(stack, bob, url) for url in urls] == ["succeeded"] * jobs

    def delta(name: str, **extra: str) -> float:
        wanted = {**labels, **extra}
        return _value(worker, name, wanted) - _value(worker_before, name, wanted)

    worker = poll(
        lambda: _worker_scrape(stack),
        lambda s: (
            _value(s, "celery_task_succeeded_total", labels)
            >= _value(worker_before, "celery_task_succeeded_total", labels) + jobs
        ),
        timeout=DEADLINE_S,
        failure=lambda s: f"succeeded stayed at {_value(s, 'celery_task_succeeded_total', labels)}",
    )
    for name in (
        "celery_task_received_total",
        "celery_task_started_total",
        "celery_task_succeeded_total",
        "celery_task_runtime_count",
    ):
        assert delta(name) == jobs, name
    assert delta("celery_task_failed_total") == 0
    finished = {"format": "json", "outcome": "succeeded"}
    assert (
        worker.value("todos_exports_finished_total", **finished)
        - worker_before.value("todos_exports_finished_total", **finished)
        == jobs
    )
    assert (
        worker.value("todos_export_completion_seconds_count", format="json")
        - worker_before.value("todos_export_completion_seconds_count", format="json")
        == jobs
    )
    assert worker.value("celery_worker_up") == 1
    assert worker.matching("celery_worker_tasks_active")
    assert worker.matching("celery_queue_length", queue_name=stack.queue)
    # The publishing side: gunicorn's registry.
    web = scrape(stack.server)
    assert (
        _value(web, "celery_task_sent_total", labels)
        - _value(web_before, "celery_task_sent_total", labels)
        == jobs
    )
    assert (
        web.value("todos_exports_requested_total", format="json")
        - web_before.value("todos_exports_requested_total", format="json")
        == jobs
    )
    # Both pool processes ran some of them: the sums above merged two processes' files.
    consumers = [_wait_for_job_trace(otlp, caller.trace_id)[2] for caller in callers]
    assert len({span.resource["process.pid"] for span in consumers}) == 2
    # The completion histogram carries a run's trace as exemplar (OpenMetrics).
    trace_ids = {caller.trace_id for caller in callers}
    exemplars = poll(
        lambda: [
            sample.exemplar.labels["trace_id"]
            for sample in _worker_scrape(stack, openmetrics=True).matching(
                "todos_export_completion_seconds_bucket", format="json"
            )
            if sample.exemplar is not None
        ],
        lambda found: bool(set(found) & trace_ids),
        timeout=DEADLINE_S,
        failure=lambda found: f"no exemplar of these runs' traces: {found}",
    )
    assert set(exemplars) & trace_ids


def test_the_jobs_fault_fails_runs_and_they_are_counted(stack: Stack, otlp: OtlpReceiver) -> None:
    token = http("POST", f"{stack.server.url}/api/auth/token/", json_body=STAFF).body["access"]
    staff = {"Authorization": f"Bearer {token}"}
    carol = create_account(stack.server)
    before = _worker_scrape(stack)
    failed = {"name": TASK, "queue_name": stack.queue, "exception": "InjectedFaultError"}
    switched = http(
        "PUT",
        f"{stack.server.url}/api/faults/",
        json_body={"error_rate": 1.0, "routes": ["jobs"]},
        headers=staff,
    )
    assert switched.status == 200, switched
    try:
        caller = new_traceparent()
        assert _finished(stack, carol, _export(stack, carol, "csv", caller.header)) == "failed"
    finally:
        assert http("DELETE", f"{stack.server.url}/api/faults/", headers=staff).status == 204

    after = poll(
        lambda: _worker_scrape(stack),
        lambda s: (
            _value(s, "celery_task_failed_total", failed)
            > _value(before, "celery_task_failed_total", failed)
        ),
        timeout=DEADLINE_S,
        failure=lambda s: "celery_task_failed_total{exception=InjectedFaultError} unchanged",
    )
    assert (
        _value(after, "celery_task_failed_total", failed)
        - _value(before, "celery_task_failed_total", failed)
        == 1
    )
    outcome = {"format": "csv", "outcome": "failed"}
    assert (
        after.value("todos_exports_finished_total", **outcome)
        - before.value("todos_exports_finished_total", **outcome)
        == 1
    )
    _, _, consumer, *_ = _wait_for_job_trace(otlp, caller.trace_id)
    assert consumer.status_code == "ERROR"
    assert consumer.attributes["error.type"] == FAULT_TYPE
    # Switched off again: the next job succeeds.
    assert _finished(stack, carol, _export(stack, carol, "csv", new_traceparent().header)) == (
        "succeeded"
    )
