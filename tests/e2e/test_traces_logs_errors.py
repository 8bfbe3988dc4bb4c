"""Traces, access logs and error reports of the real gunicorn server, read off the wire.

Two servers (2 workers each) export spans to one ``OtlpReceiver`` and errors to one
``SentryReceiver``: a plain one, and one whose ``GET /api/todos/{id}/`` always raises
``InjectedFaultError`` (the unhandled-exception path). Their JSON log lines are read back from
the combined stdout/stderr file. Every id the signals share (request id, trace id, span id) is
checked across all of them.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from app import __version__
from tests.support.accounts import Account, create_account
from tests.support.http import Response, http
from tests.support.receivers import OtlpReceiver, ReceivedSpan, SentryReceiver
from tests.support.servers import Server, run_server_on_new_database
from tests.support.telemetry import (
    TraceParent,
    access_events,
    create_todo,
    db_system_of,
    log_events,
    new_request_id,
    new_traceparent,
    status_code_of,
    traced_get,
    wait_for_log_events,
    wait_for_server_span,
)

pytestmark = pytest.mark.e2e

SERVICE = "todo-api"
ENVIRONMENT = "e2e-telemetry"
FAULTY_ROUTE = "/api/todos/{id}/"
NO_SECOND_EVENT_GRACE_S = 1.5
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
ACCESS_FIELDS = {
    "timestamp",
    "level",
    "event",
    "request_id",
    "method",
    "route",
    "status",
    "duration_ms",
    "user_id",
    "trace_id",
    "span_id",
    "service",
    "service_version",
    "environment",
}
DB_VENDORS = {"sqlite": "sqlite", "postgresql": "postgresql"}


# ------------------------------------------------------------------ fixtures
def _telemetry_overrides(otlp: OtlpReceiver, sentry: SentryReceiver) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "SENTRY_DSN": sentry.dsn,
        "DEPLOYMENT_ENVIRONMENT": ENVIRONMENT,
        "WEB_CONCURRENCY": "2",
    }


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver, sentry: SentryReceiver
) -> Iterator[Server]:
    """The service with traces and Sentry on, no faults."""
    with run_server_on_new_database(
        _telemetry_overrides(otlp, sentry), directory=tmp_path_factory.mktemp("telemetry")
    ) as running:
        yield running


@pytest.fixture(scope="module")
def faulty_server(
    tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver, sentry: SentryReceiver
) -> Iterator[Server]:
    """The same, except that every request to ``/api/todos/{id}/`` raises (500)."""
    overrides = {
        **_telemetry_overrides(otlp, sentry),
        "FAULT_ERROR_RATE": "1",
        "FAULT_ROUTES": FAULTY_ROUTE,
    }
    with run_server_on_new_database(
        overrides, directory=tmp_path_factory.mktemp("telemetry-faults")
    ) as running:
        yield running


@pytest.fixture(scope="module")
def account(server: Server) -> Account:
    return create_account(server)


def _expected_db_system() -> str:
    return DB_VENDORS[connection.vendor]


# ------------------------------------------------------------------ 1, 2: server and DB spans
def test_a_list_request_continues_the_callers_trace_with_a_named_server_span(
    server: Server, otlp: OtlpReceiver, account: Account
) -> None:
    """traceparent in, one SERVER span out: same trace, caller as parent, route and user."""
    create_todo(server, account)

    caller = traced_get(server, account.headers)

    span, _ = wait_for_server_span(otlp, caller.trace_id, children=1)
    assert span.name == "GET /api/todos/"
    assert span.kind == "SERVER"
    assert span.trace_id == caller.trace_id
    assert span.parent_span_id == caller.span_id
    assert span.attributes["http.route"] == "/api/todos/"
    assert status_code_of(span) == 200
    assert span.attributes["user.id"] == str(account.id)
    assert span.status_code != "ERROR"


def test_each_sql_query_is_a_client_child_span_of_the_server_span(
    server: Server, otlp: OtlpReceiver, account: Account
) -> None:
    """The list endpoint's queries (user, count, page) each get a CLIENT span under it."""
    caller = traced_get(server, account.headers)

    span, children = wait_for_server_span(otlp, caller.trace_id, children=3)
    database_spans = [c for c in children if db_system_of(c) is not None]
    assert len(database_spans) >= 3, children
    for child in database_spans:
        assert child.kind == "CLIENT", child
        assert db_system_of(child) == _expected_db_system(), child
        assert span.start_ns <= child.start_ns <= child.end_ns <= span.end_ns, child
    assert any(child.name.startswith("SELECT") for child in database_spans), [
        child.name for child in database_spans
    ]


def test_spans_carry_the_service_identity_as_resource_attributes(
    server: Server, otlp: OtlpReceiver, account: Account
) -> None:
    """service.name, service.version and deployment.environment.name on every exported span."""
    caller = traced_get(server, account.headers)

    span, children = wait_for_server_span(otlp, caller.trace_id, children=1)

    for exported in [span, *children]:
        assert exported.resource["service.name"] == SERVICE
        assert exported.resource["service.version"] == __version__
        assert exported.resource["deployment.environment.name"] == ENVIRONMENT


def test_a_detail_request_span_is_named_by_the_route_template(
    server: Server, otlp: OtlpReceiver, account: Account
) -> None:
    """``GET /api/todos/{id}/``: not the regex, not ``<int:pk>``, not the concrete id."""
    todo_id = create_todo(server, account)

    caller = traced_get(server, account.headers, f"/api/todos/{todo_id}/")

    span, _ = wait_for_server_span(otlp, caller.trace_id)
    assert span.name == "GET /api/todos/{id}/"
    assert span.attributes["http.route"] == "/api/todos/{id}/"
    assert status_code_of(span) == 200


# ------------------------------------------------------------------ 3: the access log
def test_the_access_log_line_carries_every_field_and_the_spans_ids(
    server: Server, otlp: OtlpReceiver, account: Account
) -> None:
    """Exactly one ``request_finished`` line, with route template, status, user and ids."""
    todo_id = create_todo(server, account)
    caller = new_traceparent()
    request_id = new_request_id()
    before = datetime.now(UTC)

    response = http(
        "PATCH",
        f"{server.url}/api/todos/{todo_id}/",
        json_body={"completed": True},
        headers={**account.headers, "traceparent": caller.header, "X-Request-ID": request_id},
    )

    assert response.status == 200, response
    assert response.headers["X-Request-ID"] == request_id
    span, _ = wait_for_server_span(otlp, caller.trace_id)
    line = single(access_events(server, request_id))
    assert set(line) >= ACCESS_FIELDS, sorted(ACCESS_FIELDS - set(line))
    assert line["logger"] == "app.access"
    assert line["level"] == "info"
    assert line["method"] == "PATCH"
    assert line["route"] == "/api/todos/{id}/"
    assert line["status"] == 200
    assert line["user_id"] == account.id
    assert isinstance(line["duration_ms"], int | float)
    assert not isinstance(line["duration_ms"], bool)
    assert 0 <= line["duration_ms"] < 15_000
    assert line["trace_id"] == span.trace_id == caller.trace_id
    assert line["span_id"] == span.span_id
    assert (line["service"], line["service_version"], line["environment"]) == (
        SERVICE,
        __version__,
        ENVIRONMENT,
    )
    assert str(line["timestamp"]).endswith("Z"), line["timestamp"]
    logged_at = datetime.fromisoformat(line["timestamp"])
    assert logged_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=5) <= logged_at <= datetime.now(UTC) + timedelta(seconds=5)


def test_an_anonymous_request_is_logged_without_a_user(server: Server) -> None:
    """A 401 still writes one access line, its user id null and its status 401."""
    request_id = new_request_id()

    response = http("GET", f"{server.url}/api/todos/", headers={"X-Request-ID": request_id})

    assert response.status == 401, response
    line = single(access_events(server, request_id))
    assert (line["status"], line["user_id"], line["route"]) == (401, None, "/api/todos/")


def test_a_request_without_an_id_gets_a_generated_one_echoed_and_logged(
    server: Server, account: Account
) -> None:
    """No ``X-Request-ID``: the service makes one, answers with it and logs it."""
    response = http("GET", f"{server.url}/api/todos/", headers=account.headers)

    assert response.status == 200, response
    generated = response.headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(generated), generated
    line = single(access_events(server, generated))
    assert line["route"] == "/api/todos/"


@pytest.mark.parametrize(
    "insane",
    ["a" * 300, "<script>alert(1)</script>", "id with spaces", "caf\u00e9-latin1"],
    ids=["too-long", "markup", "spaces", "non-ascii"],
)
def test_an_insane_request_id_is_replaced_and_never_logged(
    server: Server, account: Account, insane: str
) -> None:
    """A long or odd ``X-Request-ID`` is not trusted: a fresh id is echoed and logged instead."""
    sent = insane.encode("utf-8").decode("latin-1")  # how http.client puts it on the wire

    response = http(
        "GET", f"{server.url}/api/todos/", headers={**account.headers, "X-Request-ID": sent}
    )

    assert response.status == 200, response
    echoed = response.headers["X-Request-ID"]
    assert echoed != sent
    assert GENERATED_ID.fullmatch(echoed), echoed
    access_events(server, echoed)
    log = server.log()
    for form in {insane, sent, json.dumps(insane)[1:-1], json.dumps(sent)[1:-1]}:
        assert form not in log


# ------------------------------------------------------------------ 4: probes
PROBE_PATHS = ("/healthz", "/readyz")


@dataclass(frozen=True)
class ProbeTraffic:
    """Spans exported after probes (sent with a caller trace) interleaved with markers."""

    probe_trace: str
    spans: list[ReceivedSpan]


@pytest.fixture(scope="module")
def probe_traffic(server: Server, otlp: OtlpReceiver, account: Account) -> ProbeTraffic:
    """Probes interleaved with traced marker requests, until every marker's spans arrived.

    Each worker exports its spans in the order they ended, so once the spans of markers sent
    after the probes arrived, any probe span would have arrived too.
    """
    otlp.clear()
    probe_trace = new_traceparent()
    markers: list[TraceParent] = []
    for _ in range(8):
        for path in PROBE_PATHS:
            probed = http("GET", f"{server.url}{path}", headers={"traceparent": probe_trace.header})
            assert probed.status == 200, probed
        markers.append(traced_get(server, account.headers))
    for marker in markers:
        wait_for_server_span(otlp, marker.trace_id, children=3)
    return ProbeTraffic(probe_trace=probe_trace.trace_id, spans=otlp.spans)


def test_the_probes_get_no_server_span(probe_traffic: ProbeTraffic) -> None:
    """Neither probe is traced: no SERVER span for them, the caller's trace is not continued."""
    strays = [
        span
        for span in probe_traffic.spans
        if span.trace_id == probe_traffic.probe_trace
        or span.attributes.get("url.path") in PROBE_PATHS
        or span.attributes.get("http.route") in PROBE_PATHS
    ]
    assert strays == [], "\n".join(_describe(span) for span in strays)


def test_the_readiness_checks_export_no_spans_either(probe_traffic: ProbeTraffic) -> None:
    """/readyz's database (and cache) checks must not become root spans of their own.

    Every query a request makes is a child of its SERVER span, so a root span that is not a
    SERVER span can only be a query outside any traced request: here, a probe's check.
    """
    roots = [s for s in probe_traffic.spans if s.parent_span_id is None and s.kind != "SERVER"]
    assert roots == [], "\n".join(_describe(span) for span in roots)


def single(items: list[Any]) -> Any:
    """The one element of ``items``; fail showing them all when there are more or fewer."""
    assert len(items) == 1, items
    return items[0]


def _describe(span: ReceivedSpan) -> str:
    return (
        f"{span.kind} {span.name!r} trace={span.trace_id} parent={span.parent_span_id} "
        f"attributes={span.attributes}"
    )


# ------------------------------------------------------------------ 5: an unhandled exception
@dataclass(frozen=True)
class Fault:
    """What one request that raised left behind in every signal."""

    request_id: str
    access_token: str
    session: str
    response: Response
    span: ReceivedSpan
    events: list[dict[str, Any]]
    access_lines: list[dict[str, Any]]
    error_lines: list[dict[str, Any]]


def _events_for(sentry: SentryReceiver, request_id: str) -> list[dict[str, Any]]:
    return [e for e in sentry.events if (e.get("tags") or {}).get("request_id") == request_id]


@pytest.fixture(scope="module")
def fault(faulty_server: Server, otlp: OtlpReceiver, sentry: SentryReceiver) -> Fault:
    """One authenticated ``GET /api/todos/<id>/`` that raises, without a caller trace."""
    owner = create_account(faulty_server)
    todo_id = create_todo(faulty_server, owner)
    request_id = new_request_id()
    session = f"session{secrets.token_hex(10)}"

    response = http(
        "GET",
        f"{faulty_server.url}/api/todos/{todo_id}/",
        headers={**owner.headers, "X-Request-ID": request_id, "Cookie": f"sessionid={session}"},
    )

    deadline = time.monotonic() + 15
    while not _events_for(sentry, request_id) and time.monotonic() < deadline:
        sentry.wait_for_events(len(sentry.events) + 1, timeout=deadline - time.monotonic())
    time.sleep(NO_SECOND_EVENT_GRACE_S)  # a second report would come right after the first
    access_lines = access_events(faulty_server, request_id)
    trace_id = access_lines[0].get("trace_id")
    assert isinstance(trace_id, str), access_lines
    span, _ = wait_for_server_span(otlp, trace_id)
    error_lines = [
        e
        for e in log_events(faulty_server)
        if e.get("logger") == "django.request" and e.get("request_id") == request_id
    ]
    return Fault(
        request_id=request_id,
        access_token=owner.access,
        session=session,
        response=response,
        span=span,
        events=_events_for(sentry, request_id),
        access_lines=access_lines,
        error_lines=error_lines,
    )


def test_an_unhandled_exception_answers_500_json(fault: Fault) -> None:
    assert fault.response.status == 500, fault.response
    assert fault.response.is_json(), fault.response.headers["Content-Type"]
    assert "detail" in fault.response.body
    assert "InjectedFaultError" not in json.dumps(fault.response.body)
    assert fault.response.headers["X-Request-ID"] == fault.request_id


def test_an_unhandled_exception_is_reported_to_sentry_exactly_once(
    fault: Fault, sentry: SentryReceiver
) -> None:
    assert len(fault.events) == 1, fault.events
    event = single(fault.events)
    exception_types = [value.get("type") for value in event["exception"]["values"]]
    assert exception_types[-1] == "InjectedFaultError", exception_types
    assert event.get("level") == "error"
    assert len(sentry.events) == 1, [e.get("tags") for e in sentry.events]


def test_the_error_links_sentry_span_and_both_log_lines_by_one_trace_id(fault: Fault) -> None:
    """Sentry's trace id is the OTel span's, as are the access and error log lines'."""
    event = single(fault.events)
    access = single(fault.access_lines)
    error = single(fault.error_lines)
    assert event["contexts"]["trace"]["trace_id"] == fault.span.trace_id
    assert access["trace_id"] == fault.span.trace_id
    assert error["trace_id"] == fault.span.trace_id
    assert access["span_id"] == error["span_id"] == fault.span.span_id
    assert event["contexts"]["trace"].get("span_id") in {None, fault.span.span_id}


def test_the_failing_request_is_an_error_span_and_an_error_access_line(fault: Fault) -> None:
    assert fault.span.name == "GET /api/todos/{id}/"
    assert status_code_of(fault.span) == 500
    assert fault.span.status_code == "ERROR"
    access = single(fault.access_lines)
    assert (access["status"], access["level"], access["route"]) == (500, "error", FAULTY_ROUTE)


def test_the_exception_is_logged_once_with_a_structured_traceback(
    fault: Fault, faulty_server: Server
) -> None:
    """One ``django.request`` error line, its ``exception`` a list of dicts, not text."""
    error = single(fault.error_lines)
    assert error["level"] == "error"
    exception = error["exception"]
    assert isinstance(exception, list), exception
    assert all(isinstance(part, dict) for part in exception), exception
    assert exception[-1]["exc_type"] == "InjectedFaultError", exception
    assert exception[-1]["frames"], exception
    lines_with_traceback = [
        e
        for e in log_events(faulty_server)
        if e.get("request_id") == fault.request_id and "exception" in e
    ]
    assert len(lines_with_traceback) == 1, lines_with_traceback


def test_the_sentry_event_names_environment_and_release(fault: Fault) -> None:
    event = single(fault.events)
    assert event["environment"] == ENVIRONMENT
    assert event["release"] == f"{SERVICE}@{__version__}"
    assert event["tags"]["request_id"] == fault.request_id


def test_the_sentry_event_carries_no_request_body_cookies_or_credentials(fault: Fault) -> None:
    """No body, no parsed cookies, and the credential headers' values are gone."""
    event = single(fault.events)
    request = event.get("request") or {}
    assert "data" not in request, request
    assert "cookies" not in request, request
    headers = {
        str(name).lower(): str(value) for name, value in (request.get("headers") or {}).items()
    }
    assert headers.get("x-request-id") == fault.request_id  # headers are there, just not these
    serialized = json.dumps(event)
    assert fault.access_token not in serialized
    assert fault.session not in serialized
    for name in ("authorization", "cookie"):
        assert headers.get(name, "[REDACTED]") in {"[REDACTED]", "[Filtered]"}, headers


def test_the_sentry_event_has_no_authorization_or_cookie_header(fault: Fault) -> None:
    event = single(fault.events)
    request = event.get("request") or {}
    header_names = {str(name).lower() for name in (request.get("headers") or {})}
    assert not header_names & {"authorization", "cookie"}, request.get("headers")


# ------------------------------------------------------------------ 6: secrets
def _span_text(span: ReceivedSpan) -> str:
    """Everything a span carries that a user or an attacker could have put there."""
    return json.dumps(
        {
            "name": span.name,
            "attributes": span.attributes,
            "resource": span.resource,
            "status_message": span.status_message,
            "events": [{"name": e.name, "attributes": e.attributes} for e in span.events],
        },
        default=str,
    )


def test_secrets_never_reach_the_logs_spans_or_sentry(
    server: Server,
    faulty_server: Server,
    otlp: OtlpReceiver,
    sentry: SentryReceiver,
    fault: Fault,
) -> None:
    """Passwords, JWTs, bearer tokens, cookies and usernames sent to both servers appear in no
    log line, no exported span (names, attributes, events, resource) and no Sentry event."""
    bearer_marker = f"bearermarker{secrets.token_hex(12)}"
    cookie_marker = f"cookiemarker{secrets.token_hex(12)}"
    password_marker = f"passwordmarker{secrets.token_hex(12)}"
    refresh_marker = f"refreshmarker{secrets.token_hex(12)}"
    wrong_password_marker = f"wrongpassword{secrets.token_hex(12)}"
    secret_headers = {
        "Authorization": f"Bearer {bearer_marker}",
        "Cookie": f"sessionid={cookie_marker}; csrftoken={cookie_marker}x",
    }
    traces: list[str] = []

    def traced(headers: dict[str, str] | None = None) -> dict[str, str]:
        """``headers`` plus a fresh caller trace, remembered to wait for its spans."""
        caller = new_traceparent()
        traces.append(caller.trace_id)
        return {**(headers or {}), "traceparent": caller.header}

    rejected = http("GET", f"{server.url}/api/todos/", headers=traced(secret_headers))
    assert rejected.status == 401, rejected
    user = create_account(server, password=password_marker)
    wrong = http(
        "POST",
        f"{server.url}/api/auth/token/",
        json_body={"username": user.username, "password": wrong_password_marker},
        headers=traced(),
    )
    assert wrong.status == 401, wrong
    refreshed = http(
        "POST",
        f"{server.url}/api/auth/token/refresh/",
        json_body={"refresh": user.refresh},
        headers=traced(),
    )
    assert refreshed.status == 200, refreshed
    bad_refresh = http(
        "POST",
        f"{server.url}/api/auth/token/refresh/",
        json_body={"refresh": refresh_marker},
        headers=traced(),
    )
    assert bad_refresh.status == 401, bad_refresh
    listed = http("GET", f"{server.url}/api/todos/", headers=traced(user.headers))
    assert listed.status == 200, listed

    # The unhandled-exception path too, with a body and every kind of credential.
    faulty_user = create_account(faulty_server, password=password_marker)
    todo_id = create_todo(faulty_server, faulty_user)
    events_before = len(sentry.events)
    for headers in (secret_headers, {**faulty_user.headers, "Cookie": secret_headers["Cookie"]}):
        failed = http(
            "PUT",
            f"{faulty_server.url}/api/todos/{todo_id}/",
            json_body={"title": password_marker, "password": password_marker},
            headers=traced(headers),
        )
        assert failed.status == 500, failed
    sentry.wait_for_events(events_before + 2, timeout=15)
    # Every request above was traced and exported (no secret in spans is not no spans).
    spans = otlp.wait_for(
        lambda received: set(traces) <= {s.trace_id for s in received if s.kind == "SERVER"},
        timeout=15,
    )

    secrets_sent = {
        "bearer token": bearer_marker,
        "cookie": cookie_marker,
        "password": password_marker,
        "wrong password": wrong_password_marker,
        "refresh token sent": refresh_marker,
        "access JWT": user.access,
        "refresh JWT": user.refresh,
        "refreshed access JWT": str(refreshed.body["access"]),
        "faulty server access JWT": faulty_user.access,
        "faulty server refresh JWT": faulty_user.refresh,
        # personal data: logs and spans identify users by id only
        "username": user.username,
        "faulty server username": faulty_user.username,
    }
    places = {
        "server log": server.log(),
        "faulty server log": faulty_server.log(),
        "spans": "\n".join(_span_text(span) for span in spans),
        "sentry events": json.dumps(sentry.events),
        "sentry envelopes": "\n".join(
            item.payload.decode("utf-8", errors="replace")
            for envelope in sentry.envelopes
            for item in envelope.items
        ),
    }
    leaks = [
        f"{what} in {where}"
        for what, value in secrets_sent.items()
        for where, text in places.items()
        if value in text
    ]
    assert leaks == []
    # The requests above were really logged (the absence of secrets is not an absence of logs).
    wait_for_log_events(
        server, lambda e: e.get("route") == "/api/auth/token/refresh/" and e.get("status") == 401
    )
