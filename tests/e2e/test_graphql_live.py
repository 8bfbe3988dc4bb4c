"""GraphQL through the real gunicorn (2 workers).

On the suite's shared server (``server``, tests/e2e/conftest.py: no start-up of its own), in
both passes (SQLite, then PostgreSQL): CRUD, ownership, validation, limits, malformed
documents and exact operation counters.

On a server of this module, in the PostgreSQL pass only (what they check does not depend on
the database, and CI's time is short): span names and attributes, the constant query count
(DB spans under the server span), and a resolver fault that the SLI counts as a failure while
the HTTP status stays 200, with its Sentry event on the span's trace. That server sends traces
to an OTLP receiver and errors to a Sentry receiver, and the fault switch's environment
defaults fail every ``CompleteTodo`` in its resolver (``FAULT_ROUTES=graphql:CompleteTodo``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.accounts import Account, create_account
from tests.support.graphql import (
    COMPLETE,
    CREATE,
    DELETE,
    TODO,
    TODO_LIST,
    UPDATE,
    codes,
    post_http,
)
from tests.support.http import Response
from tests.support.prometheus import scrape
from tests.support.receivers import OtlpReceiver, ReceivedSpan, SentryReceiver
from tests.support.servers import Server, run_server_on_new_database
from tests.support.telemetry import new_request_id, wait_for_server_span
from tests.support.waiting import poll

pytestmark = pytest.mark.e2e

OPERATIONS = "todos_graphql_operations_total"


@pytest.fixture(scope="module")
def traced_server(
    tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver, sentry: SentryReceiver
) -> Iterator[Server]:
    """Traces and Sentry on; every ``CompleteTodo`` fails in its resolver."""
    overrides = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "SENTRY_DSN": sentry.dsn,
        "WEB_CONCURRENCY": "2",
        "FAULT_ERROR_RATE": "1",
        "FAULT_ROUTES": "graphql:CompleteTodo",
        "GUNICORN_GRACEFUL_TIMEOUT": "3",  # nothing in flight at the end: a quicker teardown
    }
    with run_server_on_new_database(
        overrides, directory=tmp_path_factory.mktemp("graphql")
    ) as running:
        yield running


@pytest.fixture(scope="module")
def alice(server: Server) -> Account:
    return create_account(server)


@pytest.fixture(scope="module")
def bob(server: Server) -> Account:
    return create_account(server)


def call(server: Server, account: Account, query: str, **variables: Any) -> Response:
    """One operation as ``account``, with a fresh request id."""
    return post_http(
        server.url,
        query,
        variables,
        headers={**account.headers, "X-Request-ID": new_request_id()},
    )


def data(response: Response, field: str) -> Any:
    assert response.status == 200, response
    assert "errors" not in response.body, response.body
    return response.body["data"][field]


def create(server: Server, account: Account, title: str = "graphql todo") -> dict[str, Any]:
    return dict(data(call(server, account, CREATE, title=title), "createTodo"))


def server_span_of(otlp: OtlpReceiver, response: Response, children: int = 0) -> ReceivedSpan:
    """The server span of the request ``response`` answered (found by its trace)."""
    request_id = response.headers["X-Request-ID"]
    found = poll(
        lambda: [
            s
            for s in otlp.spans
            if s.kind == "SERVER"
            and request_id in (s.attributes.get("http.request.header.x-request-id") or ())
        ],
        bool,
        timeout=10.0,
        failure=lambda _: f"no server span for request {request_id}",
    )
    span, _ = wait_for_server_span(otlp, found[0].trace_id, children=children)
    return span


def test_crud_through_gunicorn(server: Server, alice: Account) -> None:
    todo = create(server, alice, "  live  ")
    assert todo["title"] == "live"
    page = data(call(server, alice, TODO_LIST, search="live"), "todos")
    assert [item["id"] for item in page["items"]] == [todo["id"]]
    changed = data(call(server, alice, UPDATE, id=todo["id"], input={"title": "x"}), "updateTodo")
    assert changed["title"] == "x"
    assert data(call(server, alice, TODO, id=todo["id"]), "todo") == changed
    assert data(call(server, alice, DELETE, id=todo["id"]), "deleteTodo") == todo["id"]
    assert codes(call(server, alice, TODO, id=todo["id"]).body) == ["NOT_FOUND"]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (TODO, {}),
        (UPDATE, {"input": {"title": "b"}}),
        (COMPLETE, {}),
        (DELETE, {}),
    ],
    ids=["todo", "updateTodo", "completeTodo", "deleteTodo"],
)
def test_another_users_todo_is_not_found_for_every_operation(
    server: Server, alice: Account, bob: Account, query: str, variables: dict[str, Any]
) -> None:
    todo = create(server, alice, "alice only")
    answer = call(server, bob, query, id=todo["id"], **variables)
    assert answer.status == 200
    assert codes(answer.body) == ["NOT_FOUND"]
    assert data(call(server, alice, TODO, id=todo["id"]), "todo") == todo


def test_validation_errors_are_bad_user_input(server: Server, alice: Account) -> None:
    answer = call(server, alice, CREATE, title=" " * 3)
    assert codes(answer.body) == ["BAD_USER_INPUT"]
    assert answer.body["errors"][0]["extensions"]["fieldErrors"] == {
        "title": ["This field may not be blank."]
    }


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ todos { items { ... on Todo { ... on Todo { ... on Todo { ... on Todo "
         "{ ... on Todo { id } } } } } } } }", None),
        ("{ a: todos(pageSize: 100) { items { id title completed createdAt updatedAt } } "
         "b: todos(pageSize: 100) { items { id title completed createdAt updatedAt } } }",
         "QUERY_TOO_COMPLEX"),
        ("{ " + " ".join(f"a{n}: __typename" for n in range(11)) + " }", "QUERY_TOO_COMPLEX"),
        ("{ todos { items { id", "GRAPHQL_PARSE_FAILED"),
        ("{ todos { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ __schema { types { name } } }", "GRAPHQL_VALIDATION_FAILED"),
    ],
    ids=["fragments", "complexity", "aliases", "parse", "validation", "introspection-off"],
)  # fmt: skip
def test_limits_and_malformed_documents_are_graphql_errors(
    server: Server, alice: Account, query: str, code: str | None
) -> None:
    answer = call(server, alice, query)
    assert answer.status == 200, answer
    assert set(codes(answer.body)) == ({code} if code else set())


def test_depth_over_the_limit_is_too_complex(server: Server, alice: Account) -> None:
    """This schema nests 3 deep at most, so a deeper document names unknown fields too: the
    depth limit is still checked (on the shape alone) and reported."""
    deep = "{ todos { items { a { b { c { d { e } } } } } } }"  # depth 7 > 6
    answer = call(server, alice, deep)
    assert answer.status == 200
    assert "QUERY_TOO_COMPLEX" in codes(answer.body)
    assert any("Query depth 7" in error["message"] for error in answer.body["errors"])


def _operations(server: Server) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["operation_type"], s.labels["operation_name"], s.labels["outcome"]): s.value
        for s in scrape(server).matching(OPERATIONS)
    }


def test_operations_are_counted_exactly_across_workers(server: Server, alice: Account) -> None:
    before = _operations(server)
    for _ in range(7):
        call(server, alice, TODO_LIST)
    for _ in range(3):
        call(server, alice, CREATE, title="")
    call(server, alice, "query Whatever { __typename }")
    after = _operations(server)
    delta = {
        key: after[key] - before.get(key, 0.0)
        for key in after
        if after[key] != before.get(key, 0.0)
    }
    assert delta == {
        ("query", "TodoList", "success"): 7,
        ("mutation", "CreateTodo", "client_error"): 3,
        ("query", "other", "success"): 1,
    }


# ------------------------------------------------------------------ traced server (PostgreSQL)
@pytest.fixture(scope="module")
def carol(traced_server: Server) -> Account:
    return create_account(traced_server)


@pytest.mark.postgres
def test_the_todo_list_costs_three_queries_whatever_its_length(
    traced_server: Server, carol: Account, otlp: OtlpReceiver
) -> None:
    """Authentication (with the todo version joined), the count and the page: DB spans under
    the server span, for a page of 1 todo and one of 20."""
    owner = create_account(traced_server)
    counts = []
    for wanted in (1, 20):
        while (
            data(call(traced_server, owner, TODO_LIST, pageSize=20), "todos")["totalCount"] < wanted
        ):
            create(traced_server, owner)
        answer = call(traced_server, owner, TODO_LIST, pageSize=20)
        assert len(data(answer, "todos")["items"]) == wanted
        span = server_span_of(otlp, answer, children=3)
        children = [s for s in otlp.spans if s.parent_span_id == span.span_id]
        counts.append(len([s for s in children if s.kind == "CLIENT"]))
    assert counts == [3, 3]


@pytest.mark.postgres
def test_spans_are_named_by_operation_with_the_graphql_attributes(
    traced_server: Server, carol: Account, otlp: OtlpReceiver
) -> None:
    todo = create(traced_server, carol, "secret title")
    named = call(traced_server, carol, TODO, id=todo["id"])
    anonymous = call(traced_server, carol, 'mutation { createTodo(input: {title: "hush"}) { id } }')

    span = server_span_of(otlp, named, children=1)
    assert span.name == "query Todo"
    assert span.attributes["http.route"] == "/graphql/"
    assert span.attributes["graphql.operation.type"] == "query"
    assert span.attributes["graphql.operation.name"] == "Todo"
    assert "todo(id: $id)" in span.attributes["graphql.document"]
    db_spans = [s for s in otlp.spans if s.parent_span_id == span.span_id]
    assert db_spans
    assert all(s.kind == "CLIENT" for s in db_spans)

    unnamed = server_span_of(otlp, anonymous)
    assert unnamed.name == "mutation"
    assert "graphql.operation.name" not in unnamed.attributes
    assert "hush" not in unnamed.attributes["graphql.document"]
    assert "title: ?" in unnamed.attributes["graphql.document"]


@pytest.mark.postgres
def test_a_resolver_fault_is_an_sli_failure_while_http_says_200(
    traced_server: Server, carol: Account, otlp: OtlpReceiver, sentry: SentryReceiver
) -> None:
    todo = create(traced_server, carol, "cannot complete")
    before = scrape(traced_server)
    answer = call(traced_server, carol, COMPLETE, id=todo["id"])

    assert answer.status == 200
    assert codes(answer.body) == ["INTERNAL_SERVER_ERROR"]
    assert answer.body["errors"][0]["message"] == "Internal server error."
    assert answer.body["data"] == {"completeTodo": None}
    after = scrape(traced_server)
    labels = {"operation_type": "mutation", "operation_name": "CompleteTodo"}
    assert (
        after.value(OPERATIONS, **labels, outcome="server_error")
        - before.value(OPERATIONS, **labels, outcome="server_error")
        == 1
    )
    assert (
        after.value("todos_graphql_errors_total", code="INTERNAL_SERVER_ERROR")
        - (before.value("todos_graphql_errors_total", code="INTERNAL_SERVER_ERROR"))
        == 1
    )
    assert (
        after.value(
            "django_http_responses_total_by_status_view_method_total", view="graphql", status="500"
        )
        == 0
    )

    span = server_span_of(otlp, answer)
    assert span.name == "mutation CompleteTodo"
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "app.faults.middleware.InjectedFaultError"
    assert span.attributes["http.response.status_code"] == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = [
            e
            for e in sentry.events
            if (e.get("tags") or {}).get("request_id") == answer.headers["X-Request-ID"]
        ]
        if events:
            break
        sentry.wait_for_events(len(sentry.events) + 1, timeout=deadline - time.monotonic())
    assert len(events) == 1, sentry.events
    assert events[0]["contexts"]["trace"]["trace_id"] == span.trace_id
