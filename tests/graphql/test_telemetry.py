"""Per-operation telemetry over the test client: exact counters by operation and outcome,
errors by code, the access line's fields, GraphQL fault targets, the sanitized document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from graphql import parse
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from app.faults.config import FaultConfig
from app.faults.state import state
from app.graphql import errors
from app.graphql.telemetry import sanitized_document
from tests.factories import TodoFactory
from tests.support.graphql import CREATE, TODO, TODO_LIST, codes, post

pytestmark = pytest.mark.django_db


def operations(operation_type: str, name: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "todos_graphql_operations_total",
        {"operation_type": operation_type, "operation_name": name, "outcome": outcome},
    )
    return value or 0.0


def errors_by_code(code: str) -> float:
    return REGISTRY.get_sample_value("todos_graphql_errors_total", {"code": code}) or 0.0


def test_every_known_operation_and_code_is_exported_at_start() -> None:
    for code in errors.CODES:
        assert REGISTRY.get_sample_value("todos_graphql_errors_total", {"code": code}) is not None
    labels = {
        "operation_type": "mutation",
        "operation_name": "CreateTodo",
        "outcome": "server_error",
    }
    assert REGISTRY.get_sample_value("todos_graphql_operations_total", labels) is not None


def test_operations_are_counted_exactly_by_name_and_outcome(
    alice: User, alice_client: APIClient
) -> None:
    before = {
        key: operations(*key)
        for key in [
            ("query", "TodoList", "success"),
            ("mutation", "CreateTodo", "success"),
            ("mutation", "CreateTodo", "client_error"),
            ("query", "other", "success"),
            ("query", "anonymous", "success"),
            ("unknown", "unknown", "client_error"),
        ]
    }
    bad_input = errors_by_code("BAD_USER_INPUT")
    for _ in range(3):
        post(alice_client, TODO_LIST)
    post(alice_client, CREATE, {"title": "ok"})
    post(alice_client, CREATE, {"title": ""})
    post(alice_client, "query MyOwnName { __typename }")
    post(alice_client, "{ __typename }")
    post(alice_client, "{ broken")

    after = {key: operations(*key) - value for key, value in before.items()}
    assert after == {
        ("query", "TodoList", "success"): 3,
        ("mutation", "CreateTodo", "success"): 1,
        ("mutation", "CreateTodo", "client_error"): 1,
        ("query", "other", "success"): 1,
        ("query", "anonymous", "success"): 1,
        ("unknown", "unknown", "client_error"): 1,
    }
    assert errors_by_code("BAD_USER_INPUT") - bad_input == 1


def _access_lines(output: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "request_finished"]


def test_the_access_line_names_the_operation_and_its_error_codes(
    alice: User, alice_client: APIClient, capsys: pytest.CaptureFixture[str]
) -> None:
    TodoFactory.create(owner=alice)
    capsys.readouterr()
    post(alice_client, TODO, {"id": "12345"})
    alice_client.get("/api/todos/")

    graphql_line, rest_line = _access_lines(capsys.readouterr().out)
    assert graphql_line["route"] == "/graphql/"
    assert graphql_line["graphql_operation"] == "query Todo"
    assert graphql_line["graphql_errors"] == {"count": 1, "codes": ["NOT_FOUND"]}
    assert "graphql_operation" not in rest_line
    assert "graphql_errors" not in rest_line


@pytest.fixture
def graphql_fault() -> Iterator[None]:
    """Every ``CreateTodo`` fails in its resolver."""
    state.reset()
    state.set_override(FaultConfig(error_rate=1.0, routes=frozenset({"graphql:CreateTodo"})))
    yield
    state.reset()


@pytest.mark.usefixtures("graphql_fault")
def test_a_resolver_fault_is_a_masked_server_error_with_http_200(
    alice: User, alice_client: APIClient
) -> None:
    before = operations("mutation", "CreateTodo", "server_error")
    todo_list_before = operations("query", "TodoList", "success")

    answer = post(alice_client, CREATE, {"title": "never"})
    other = post(alice_client, TODO_LIST)

    assert answer.status_code == 200
    assert answer.json() == {
        "errors": [
            {
                "message": "Internal server error.",
                "locations": [{"line": 2, "column": 3}],
                "path": ["createTodo"],
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        ],
        "data": {"createTodo": None},
    }
    assert operations("mutation", "CreateTodo", "server_error") - before == 1
    assert "errors" not in other.json()  # another operation is not a target
    assert operations("query", "TodoList", "success") - todo_list_before == 1


def test_the_document_on_the_span_has_no_literal_values() -> None:
    document = parse(
        'mutation CreateTodo { createTodo(input: {title: "secret", completed: true}) { id } '
        'a: todos(page: 2, search: "x", ordering: [TITLE]) { page } }'
    )
    text = sanitized_document(document)
    assert "secret" not in text
    assert '"x"' not in text
    assert "createTodo(input: { title: ?, completed: ? })" in text
    assert "todos(page: ?, search: ?, ordering: [?])" in text


def test_a_known_name_on_the_other_operation_type_is_not_that_operation(
    alice_client: APIClient,
) -> None:
    before = operations("query", "other", "success")
    post(alice_client, "query CreateTodo { __typename }")
    assert operations("query", "other", "success") - before == 1


def test_the_committed_sdl_is_the_schemas() -> None:
    from app.graphql.sdl import SDL_PATH, stale  # noqa: PLC0415

    assert not stale(), f"{SDL_PATH} is stale: run `make schema`"
    assert codes({}) == []
