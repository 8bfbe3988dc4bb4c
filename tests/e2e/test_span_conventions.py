"""Every span the real gunicorn exports follows the stable OpenTelemetry semantic conventions.

Checked against the specification (semantic-conventions v1.44): the HTTP server span, the
database client spans (SQLite or PostgreSQL, whichever the suite runs on), the Redis client
spans, the resource (one ``service.instance.id`` per worker process), and W3C trace context
(valid, invalid and unsampled parents). Spans are read off the wire by an OTLP receiver.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.support.accounts import Account, create_account
from tests.support.backing_services import REDIS_URL, reachable, require
from tests.support.http import http
from tests.support.receivers import OtlpReceiver, ReceivedSpan
from tests.support.servers import Server, run_server_on_new_database
from tests.support.telemetry import (
    access_events,
    children_of,
    create_todo,
    new_request_id,
    new_traceparent,
    wait_for_server_span,
)

pytestmark = pytest.mark.e2e

WORKERS = 3
FAULTY_ROUTE = "/api/todos/{id}/"
USER_AGENT = "conventions-test/1.0 (+https://example.invalid)"
POD_NAME = "todo-api-7d9f8-abcde"
# Names the stable conventions replaced; none may appear on any span.
DEPRECATED_HTTP = {
    "http.method",
    "http.target",
    "http.url",
    "http.scheme",
    "http.status_code",
    "http.flavor",
    "http.user_agent",
    "http.host",
    "http.server_name",
    "net.host.name",
    "net.host.port",
    "net.peer.ip",
    "net.peer.name",
    "net.peer.port",
}
DEPRECATED_DB = {"db.system", "db.statement", "db.name", "db.operation", "db.redis.database_index"}


def _overrides(otlp: OtlpReceiver, **extra: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_RESOURCE_ATTRIBUTES": f"k8s.pod.name={POD_NAME},service.instance.id={POD_NAME}",
        "DEPLOYMENT_ENVIRONMENT": "conventions",
        "WEB_CONCURRENCY": str(WORKERS),
        **extra,
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver) -> Iterator[Server]:
    """The service with 3 workers, Redis for the cache and throttles, traced at 100%."""
    require("redis", reachable(REDIS_URL, default_port=6379))
    with run_server_on_new_database(
        _overrides(otlp, REDIS_URL=REDIS_URL), directory=tmp_path_factory.mktemp("conventions")
    ) as running:
        yield running


@pytest.fixture(scope="module")
def faulty_server(tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver) -> Iterator[Server]:
    """Every ``GET /api/todos/{id}/`` raises an unhandled exception (a 500)."""
    overrides = _overrides(otlp, FAULT_ERROR_RATE="1", FAULT_ROUTES=FAULTY_ROUTE)
    with run_server_on_new_database(
        overrides, directory=tmp_path_factory.mktemp("conventions-faulty")
    ) as running:
        yield running


@pytest.fixture(scope="module")
def account(server: Server) -> Account:
    return create_account(server)


def _get(server: Server, path: str, headers: dict[str, str]) -> Any:
    return http("GET", f"{server.url}{path}", headers=headers)


def _logged_list(server: Server, account: Account, *, traceparent: str) -> dict[str, Any]:
    """GET the todo list with ``traceparent``; assert 200; its one access log line."""
    request_id = new_request_id()
    response = _get(
        server,
        "/api/todos/",
        {**account.headers, "traceparent": traceparent, "X-Request-ID": request_id},
    )
    assert response.status == 200, response
    (line,) = access_events(server, request_id)
    return line


def _no_deprecated(span: ReceivedSpan) -> None:
    stale = (DEPRECATED_HTTP | DEPRECATED_DB) & set(span.attributes)
    assert not stale, f"{span.name}: deprecated attributes {sorted(stale)}"


# ------------------------------------------------------------------ HTTP server span
def test_the_server_span_carries_the_stable_http_attributes(
    server: Server, otlp: OtlpReceiver, account: Account
) -> None:
    create_todo(server, account)
    caller, request_id = new_traceparent(), new_request_id()
    port = int(server.env["PORT"])

    response = _get(
        server,
        "/api/todos/?completed=false&ordering=title",
        {
            **account.headers,
            "traceparent": caller.header,
            "User-Agent": USER_AGENT,
            "X-Request-ID": request_id,
        },
    )

    assert response.status == 200, response
    span, _ = wait_for_server_span(otlp, caller.trace_id)
    assert span.name == "GET /api/todos/"
    assert span.kind == "SERVER"
    assert span.scope == "app.telemetry"
    assert span.status_code == "UNSET"
    assert span.attributes == {
        "http.request.method": "GET",
        "url.path": "/api/todos/",
        "url.query": "completed=false&ordering=title",
        "url.scheme": "http",
        "http.route": "/api/todos/",
        "http.response.status_code": 200,
        "server.address": "127.0.0.1",
        "server.port": port,
        "network.protocol.version": "1.1",
        "user_agent.original": USER_AGENT,
        "client.address": "127.0.0.1",
        "user.id": str(account.id),
        "http.request.header.x-request-id": [request_id],
    }


def test_an_unrouted_request_is_named_by_its_method_alone_without_a_route(
    server: Server, otlp: OtlpReceiver
) -> None:
    caller = new_traceparent()

    response = _get(
        server, f"/no-such-page-{secrets.token_hex(4)}/", {"traceparent": caller.header}
    )

    assert response.status == 404, response
    span, _ = wait_for_server_span(otlp, caller.trace_id)
    assert span.name == "GET"
    assert "http.route" not in span.attributes
    assert span.attributes["http.response.status_code"] == 404
    assert span.status_code == "UNSET"  # a 4xx is the client's error, not the server's
    assert "error.type" not in span.attributes
    _no_deprecated(span)


def test_a_client_error_does_not_mark_the_span_failed(
    server: Server, otlp: OtlpReceiver, account: Account
) -> None:
    caller = new_traceparent()

    response = http(
        "POST",
        f"{server.url}/api/todos/",
        json_body={"title": ""},
        headers={**account.headers, "traceparent": caller.header},
    )

    assert response.status == 400, response
    span, _ = wait_for_server_span(otlp, caller.trace_id)
    assert span.name == "POST /api/todos/"
    assert span.attributes["http.response.status_code"] == 400
    assert span.status_code == "UNSET"
    assert "error.type" not in span.attributes


def test_an_unhandled_exception_sets_error_type_status_and_an_exception_event(
    faulty_server: Server, otlp: OtlpReceiver
) -> None:
    owner = create_account(faulty_server)
    todo_id = create_todo(faulty_server, owner)
    caller = new_traceparent()

    response = _get(
        faulty_server, f"/api/todos/{todo_id}/", {**owner.headers, "traceparent": caller.header}
    )

    assert response.status == 500, response
    span, _ = wait_for_server_span(otlp, caller.trace_id)
    assert span.name == "GET /api/todos/{id}/"
    assert span.status_code == "ERROR"
    assert span.attributes["http.response.status_code"] == 500
    assert span.attributes["error.type"] == "app.faults.middleware.InjectedFaultError"
    exceptions = [event for event in span.events if event.name == "exception"]
    assert len(exceptions) == 1, span.events
    assert exceptions[0].attributes["exception.type"].endswith("InjectedFaultError")
    _no_deprecated(span)


# ------------------------------------------------------------------ database client spans
def _database_spans(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    return [s for s in spans if s.attributes.get("db.system.name") in {"sqlite", "postgresql"}]


def test_every_query_is_a_client_span_with_the_stable_database_attributes(
    server: Server, otlp: OtlpReceiver, account: Account
) -> None:
    secret_title = f"never-in-a-span-{secrets.token_hex(6)}"
    caller = new_traceparent()

    created = http(
        "POST",
        f"{server.url}/api/todos/",
        json_body={"title": secret_title},
        headers={**account.headers, "traceparent": caller.header},
    )

    assert created.status == 201, created
    span, children = wait_for_server_span(otlp, caller.trace_id, children=2)
    queries = _database_spans(children)
    assert queries, children
    system = {"sqlite": "sqlite", "postgresql": "postgresql"}[connection.vendor]
    namespace = server.env["DATABASE_URL"].rsplit("/", 1)[-1]
    for query in queries:
        _no_deprecated(query)
        attributes = query.attributes
        assert query.kind == "CLIENT"
        assert attributes["db.system.name"] == system
        assert str(attributes["db.namespace"]).endswith(namespace), attributes
        assert query.name == attributes["db.query.summary"]
        assert query.name.startswith(attributes["db.operation.name"])
        assert secret_title not in attributes["db.query.text"]
        if system == "postgresql":
            assert attributes["server.address"] == "127.0.0.1"
            assert "server.port" not in attributes  # only when not the default 5432
        else:
            assert "server.address" not in attributes
        assert span.start_ns <= query.start_ns <= query.end_ns <= span.end_ns
    inserts = [q for q in queries if q.attributes["db.operation.name"] == "INSERT"]
    assert [q.name for q in inserts] == ["INSERT todos_todo"], [q.name for q in queries]
    assert "%s" in inserts[0].attributes["db.query.text"]
    # the user behind the token, joined with the version of their todos (the response cache)
    user = "SELECT auth_user todos_todoversion"
    assert any(q.name == user for q in queries), [q.name for q in queries]


# ------------------------------------------------------------------ Redis client spans
def test_each_redis_command_is_a_client_span_with_the_stable_attributes(
    server: Server, otlp: OtlpReceiver, account: Account
) -> None:
    """The user throttle reads and writes its history in Redis on every request."""
    caller = new_traceparent()

    response = _get(server, "/api/todos/", {**account.headers, "traceparent": caller.header})

    assert response.status == 200, response
    _, children = wait_for_server_span(otlp, caller.trace_id, children=2)
    commands = [c for c in children if c.attributes.get("db.system.name") == "redis"]
    assert {c.name for c in commands} >= {"GET", "SET"}, [c.name for c in children]
    database_index = REDIS_URL.rsplit("/", 1)[-1]
    for command in commands:
        _no_deprecated(command)
        assert command.kind == "CLIENT"
        assert command.attributes["db.operation.name"] == command.name
        assert command.attributes["db.namespace"] == database_index
        assert command.attributes["server.address"] == "127.0.0.1"
        assert "db.query.text" not in command.attributes  # keys and values stay out
        assert "throttle" not in str(command.attributes)


def test_a_cached_read_is_a_redis_get_under_the_server_span_and_reads_no_todo(
    server: Server, otlp: OtlpReceiver, account: Account
) -> None:
    """The response cache adds no span of its own: its Redis commands are client spans like
    the throttle's, children of the server span; a hit makes no todo query, one GET more
    than the throttle's and no SET of a page."""
    path = f"/api/todos/?search=span-{secrets.token_hex(3)}"
    traces = []
    for _ in range(2):  # a miss that stores the page, then a hit
        caller = new_traceparent()
        response = _get(server, path, {**account.headers, "traceparent": caller.header})
        assert response.status == 200, response
        traces.append(wait_for_server_span(otlp, caller.trace_id, children=4))

    (_, miss_children), (hit, hit_children) = traces

    def redis_commands(children: list[ReceivedSpan]) -> list[str]:
        return sorted(c.name for c in children if c.attributes.get("db.system.name") == "redis")

    assert [q.name for q in _database_spans(hit_children)] == ["SELECT auth_user todos_todoversion"]
    assert "SELECT todos_todo" in {q.name for q in _database_spans(miss_children)}
    assert (
        redis_commands(miss_children).count("SET") == redis_commands(hit_children).count("SET") + 1
    )
    assert redis_commands(hit_children).count("GET") == redis_commands(miss_children).count("GET")
    assert redis_commands(hit_children).count("GET") >= 2  # the throttle's and the page's
    for child in hit_children:
        assert hit.start_ns <= child.start_ns <= child.end_ns <= hit.end_ns


# ------------------------------------------------------------------ resource
def test_each_worker_is_its_own_service_instance_and_the_pod_name_is_kept(
    server: Server, otlp: OtlpReceiver, account: Account
) -> None:
    """Concurrent requests reach several workers; each has one id, no two share one."""
    otlp.clear()

    def traced(_: int) -> str:
        caller = new_traceparent()
        response = _get(server, "/api/todos/", {**account.headers, "traceparent": caller.header})
        assert response.status == 200, response
        return caller.trace_id

    with ThreadPoolExecutor(max_workers=WORKERS * 2) as pool:
        trace_ids = set(pool.map(traced, range(60)))
    spans = otlp.wait_for(
        lambda received: trace_ids <= {s.trace_id for s in received if s.kind == "SERVER"},
        timeout=15,
    )

    ids_by_pid: dict[int, set[str]] = {}
    for span in spans:
        assert span.resource["k8s.pod.name"] == POD_NAME
        assert span.resource["deployment.environment.name"] == "conventions"
        assert "deployment.environment" not in span.resource
        ids_by_pid.setdefault(int(span.resource["process.pid"]), set()).add(
            str(span.resource["service.instance.id"])
        )
    assert len(ids_by_pid) >= 2, ids_by_pid  # 60 concurrent requests over 3 workers
    for pid, ids in ids_by_pid.items():
        assert len(ids) == 1, (pid, ids)
        assert Path(f"/proc/{pid}/stat").read_text().split()[3] == str(server.process.pid)
    all_ids = [next(iter(ids)) for ids in ids_by_pid.values()]
    assert len(set(all_ids)) == len(all_ids), ids_by_pid
    assert POD_NAME not in all_ids


# ------------------------------------------------------------------ W3C trace context
def test_a_valid_parent_is_continued_with_its_tracestate(
    server: Server, otlp: OtlpReceiver, account: Account
) -> None:
    caller = new_traceparent()

    response = _get(
        server,
        "/api/todos/",
        {**account.headers, "traceparent": caller.header, "tracestate": "vendor=opaque-42"},
    )

    assert response.status == 200, response
    span, _ = wait_for_server_span(otlp, caller.trace_id)
    assert span.parent_span_id == caller.span_id
    assert span.trace_state == "vendor=opaque-42"


@pytest.mark.parametrize(
    "header",
    [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # upper case
        "00-4bf92f3577b34da6-00f067aa0ba902b7-01",  # short trace id
        "not a traceparent at all",
    ],
    ids=["zero-trace", "zero-parent", "version-ff", "uppercase", "short", "garbage"],
)
def test_an_invalid_parent_starts_a_new_trace_and_the_request_succeeds(
    server: Server, otlp: OtlpReceiver, account: Account, header: str
) -> None:
    line = _logged_list(server, account, traceparent=header)
    trace_id = str(line["trace_id"])
    span, _ = wait_for_server_span(otlp, trace_id)
    assert span.parent_span_id is None
    assert trace_id.lower() not in header.lower()


def test_an_unsampled_parent_makes_no_spans_but_logs_its_trace_id(
    server: Server, otlp: OtlpReceiver, account: Account
) -> None:
    """Parent-based sampling: the caller said no, so nothing is exported for this trace; the
    ids are still there for the logs. A sampled marker request sent afterwards shows the
    export pipeline was flowing."""
    caller = new_traceparent()
    unsampled = caller.header[:-2] + "00"

    line = _logged_list(server, account, traceparent=unsampled)
    assert line["trace_id"] == caller.trace_id
    for _ in range(2 * WORKERS):  # sampled markers, each exported within 100 ms of its end
        marker = new_traceparent()
        headers = {**account.headers, "traceparent": marker.header}
        assert _get(server, "/api/todos/", headers).status == 200
        wait_for_server_span(otlp, marker.trace_id, children=1)
    assert [s for s in otlp.spans if s.trace_id == caller.trace_id] == []


def test_child_spans_hang_off_the_server_span_only(
    server: Server, otlp: OtlpReceiver, account: Account
) -> None:
    """Database and Redis spans are direct children of the request's server span."""
    caller = new_traceparent()
    assert (
        _get(server, "/api/todos/", {**account.headers, "traceparent": caller.header}).status == 200
    )

    span, children = wait_for_server_span(otlp, caller.trace_id, children=3)
    in_trace = [s for s in otlp.spans if s.trace_id == caller.trace_id]
    assert sorted(s.span_id for s in in_trace) == sorted(
        [span.span_id, *(c.span_id for c in children)]
    )
    assert children_of(in_trace, span) == children


# ------------------------------------------------------------------ the instrumentation settings
@pytest.fixture(scope="module")
def configured_server(
    tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver
) -> Iterator[Server]:
    """The OpenTelemetry instrumentation packages' settings, honoured by our own spans."""
    overrides = _overrides(
        otlp,
        OTEL_PYTHON_DJANGO_EXCLUDED_URLS="^/api/schema/",
        OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST="X-Client-Version,X-Api-Key",
        OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS="X-Api-Key",
        OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE="Content-Type",
    )
    with run_server_on_new_database(
        overrides, directory=tmp_path_factory.mktemp("conventions-settings")
    ) as running:
        yield running


def test_captured_headers_are_string_arrays_and_sanitized_ones_redacted(
    configured_server: Server, otlp: OtlpReceiver
) -> None:
    caller = new_traceparent()
    api_key = f"key-{secrets.token_hex(8)}"

    response = _get(
        configured_server,
        "/api/todos/",
        {"traceparent": caller.header, "X-Client-Version": "1.2.3", "X-Api-Key": api_key},
    )

    assert response.status == 401, response
    span, _ = wait_for_server_span(otlp, caller.trace_id)
    assert span.attributes["http.request.header.x-client-version"] == ["1.2.3"]
    assert span.attributes["http.request.header.x-api-key"] == ["[REDACTED]"]
    assert span.attributes["http.response.header.content-type"] == ["application/json"]
    assert api_key not in str(span.attributes)


def test_an_excluded_path_makes_no_span(configured_server: Server, otlp: OtlpReceiver) -> None:
    excluded = new_traceparent()

    response = _get(configured_server, "/api/schema/", {"traceparent": excluded.header})

    assert response.status == 200, response
    for _ in range(2 * WORKERS):  # traced markers, each exported within 100 ms of its end
        marker = new_traceparent()
        assert _get(configured_server, "/healthz/x", {"traceparent": marker.header}).status == 404
        wait_for_server_span(otlp, marker.trace_id)
    assert [s for s in otlp.spans if s.trace_id == excluded.trace_id] == []
