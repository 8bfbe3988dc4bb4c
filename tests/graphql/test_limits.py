"""Depth, alias, token and cost limits, introspection, and malformed documents: each a
GraphQL error with its code, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from app.graphql.limits import GraphQLLimits, measure
from tests.support.graphql import TODO_LIST, codes, post

pytestmark = pytest.mark.django_db


def _deep(levels: int) -> str:
    """A query nested ``levels`` fields deep (through an inline fragment chain)."""
    inner = "id"
    for _ in range(levels - 3):
        inner = f"... on Todo {{ {inner} }}"
    return f"{{ todos {{ items {{ {inner} }} }} }}"


def test_a_query_within_every_limit_runs(alice_client: APIClient) -> None:
    answer = post(alice_client, TODO_LIST, {"pageSize": 100}).json()
    assert "errors" not in answer


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "{ todos { items { id } } todos2: todos { items { id } } a: todo(id: 1) { id } "
            "b: todo(id: 1) { id } c: todo(id: 1) { id } d: todo(id: 1) { id } e: todo(id: 1) "
            "{ id } f: todo(id: 1) { id } g: todo(id: 1) { id } h: todo(id: 1) { id } "
            "i: todo(id: 1) { id } j: todo(id: 1) { id } }",
            "aliases exceed the maximum of 10",
        ),
        (
            "{ a: todos(pageSize: 100) { items { id title completed createdAt updatedAt } } "
            "b: todos(pageSize: 100) { items { id title completed createdAt updatedAt } } }",
            "Query complexity 1004 exceeds the maximum of 1000",  # 2 x (1 + 1 + 100 x 5),
        ),
    ],
    ids=["aliases", "complexity"],
)
def test_an_operation_over_a_limit_is_too_complex(
    alice_client: APIClient, query: str, message: str
) -> None:
    answer = post(alice_client, query)
    assert answer.status_code == 200
    body = answer.json()
    assert "data" not in body
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert message in body["errors"][0]["message"]


def test_depth_over_the_limit_is_too_complex(alice_client: APIClient, settings: Any) -> None:
    settings.GRAPHQL_MAX_DEPTH = 3
    assert "errors" not in post(alice_client, "{ todos { items { id } } }").json()
    answer = post(alice_client, "{ todos { items { id } } todo(id: 1) { id } }").json()
    assert "errors" not in answer or codes(answer) == ["NOT_FOUND"]
    settings.GRAPHQL_MAX_DEPTH = 2
    answer = post(alice_client, "{ todos { items { id } } }").json()
    assert codes(answer) == ["QUERY_TOO_COMPLEX"]
    assert "Query depth 3 exceeds the maximum of 2" in answer["errors"][0]["message"]


def test_depth_counts_through_fragments_and_survives_cycles() -> None:
    from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse  # noqa: PLC0415

    document = parse(
        "query Q { todos { ...Page } } fragment Page on TodoPage { items { ...Item } } "
        "fragment Item on Todo { id ...Item }"
    )
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    cost = measure(operation.selection_set, fragments)
    assert cost.depth == 3
    assert cost.complexity == 1 + (1 + 20 * 1)  # todos, items, 20 x id


def test_too_many_tokens_are_refused_before_parsing_completes(
    alice_client: APIClient, settings: Any
) -> None:
    settings.GRAPHQL_MAX_TOKENS = 50
    answer = post(alice_client, "{ todos { items { " + "id " * 60 + "} } }").json()
    assert codes(answer) == ["QUERY_TOO_COMPLEX"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ todos { ", "GRAPHQL_PARSE_FAILED"),
        ("query { todos { items { nope } } }", "GRAPHQL_VALIDATION_FAILED"),
        ("mutation { createTodo(input: {title: 1}) { id } }", "GRAPHQL_VALIDATION_FAILED"),
        ("\x00", "GRAPHQL_PARSE_FAILED"),
        ("{ todos(page: 99999999999) { page } }", "GRAPHQL_VALIDATION_FAILED"),
    ],
    ids=["unclosed", "unknown-field", "wrong-type", "nul", "int-overflow"],
)
def test_malformed_documents_are_graphql_errors_not_500s(
    alice_client: APIClient, query: str, code: str
) -> None:
    answer = post(alice_client, query)
    assert answer.status_code == 200
    assert codes(answer.json()) == [code]
    assert "data" not in answer.json()


def test_introspection_is_off_by_default_without_debug(alice_client: APIClient) -> None:
    answer = post(alice_client, "{ __schema { queryType { name } } }").json()
    assert set(codes(answer)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "introspection" in answer["errors"][0]["message"]
    assert post(alice_client, "{ __typename }").json() == {"data": {"__typename": "Query"}}


@pytest.mark.usefixtures("introspection")
def test_introspection_can_be_switched_on(alice_client: APIClient) -> None:
    from graphql import get_introspection_query  # noqa: PLC0415

    answer = post(alice_client, get_introspection_query()).json()
    assert "errors" not in answer
    assert answer["data"]["__schema"]["queryType"]["name"] == "Query"


def test_the_default_limits_are_the_documented_ones(settings: Any) -> None:
    settings.GRAPHQL_INTROSPECTION = False
    assert GraphQLLimits.from_settings() == GraphQLLimits(
        max_depth=6, max_aliases=10, max_tokens=2000, max_complexity=1000, introspection=False
    )
