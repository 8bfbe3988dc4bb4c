"""GraphQL documents the tests send, and helpers to send them (in-process and over HTTP)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.test import APIClient

from tests.support.http import Response, http

TODO_FIELDS = "id title completed createdAt updatedAt"
TODO_LIST = f"""
query TodoList($completed: Boolean, $search: String, $ordering: [TodoOrder!],
               $page: Int! = 1, $pageSize: Int! = 20) {{
  todos(completed: $completed, search: $search, ordering: $ordering, page: $page,
        pageSize: $pageSize) {{
    totalCount page pageSize hasNextPage items {{ {TODO_FIELDS} }}
  }}
}}"""
TODO = f"query Todo($id: ID!) {{ todo(id: $id) {{ {TODO_FIELDS} }} }}"
CREATE = f"""mutation CreateTodo($title: String!, $completed: Boolean! = false) {{
  createTodo(input: {{title: $title, completed: $completed}}) {{ {TODO_FIELDS} }}
}}"""
UPDATE = f"""mutation UpdateTodo($id: ID!, $input: UpdateTodoInput!) {{
  updateTodo(id: $id, input: $input) {{ {TODO_FIELDS} }}
}}"""
COMPLETE = f"mutation CompleteTodo($id: ID!) {{ completeTodo(id: $id) {{ {TODO_FIELDS} }} }}"
DELETE = "mutation DeleteTodo($id: ID!) { deleteTodo(id: $id) }"


def body(query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A GraphQL request body."""
    return {"query": query, "variables": dict(variables or {})}


def post(client: APIClient, query: str, variables: Mapping[str, Any] | None = None) -> Any:
    """POST one operation to ``/graphql/`` through the test client."""
    return client.post("/graphql/", body(query, variables), format="json")


def post_http(
    url: str, query: str, variables: Mapping[str, Any] | None = None, **options: Any
) -> Response:
    """POST one operation to a running server's ``/graphql/``."""
    return http("POST", f"{url}/graphql/", json_body=body(query, variables), **options)


def codes(answer: Mapping[str, Any]) -> list[str]:
    """The ``extensions.code`` of every error in a GraphQL answer."""
    return [error["extensions"]["code"] for error in answer.get("errors", [])]
