"""The GraphQL side of the load test: the documents a GraphQL client sends, and how its
answers are judged (a 200 is not a success by itself: ``loadtests/outcomes.py``).

The operation names are the service's known ones (``app/graphql/operations.py``), so its
metrics count them by name; Locust's statistics name each request ``graphql: <type> <name>``,
as the service names its spans.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loadtests.outcomes import Outcome, classify_graphql

PATH = "/graphql/"
FIELDS = "id title completed createdAt updatedAt"
TODO_LIST = (
    "query TodoList($completed: Boolean, $search: String, $page: Int! = 1) { "
    "todos(completed: $completed, search: $search, page: $page) { "
    f"totalCount page hasNextPage items {{ {FIELDS} }} }} }}"
)
TODO = f"query Todo($id: ID!) {{ todo(id: $id) {{ {FIELDS} }} }}"
CREATE = (
    "mutation CreateTodo($title: String!) { "
    f"createTodo(input: {{title: $title}}) {{ {FIELDS} }} }}"
)
UPDATE = (
    "mutation UpdateTodo($id: ID!, $title: String!) { "
    f"updateTodo(id: $id, input: {{title: $title}}) {{ {FIELDS} }} }}"
)
COMPLETE = f"mutation CompleteTodo($id: ID!) {{ completeTodo(id: $id) {{ {FIELDS} }} }}"
DELETE = "mutation DeleteTodo($id: ID!) { deleteTodo(id: $id) }"


def name_of(document: str) -> str:
    """Locust's name for a request sending ``document``: ``graphql: query TodoList``."""
    kind, name = document.split("(", 1)[0].split()[:2]
    return f"graphql: {kind} {name}"


def body(document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of one operation."""
    return {"query": document, "variables": variables or {}}


def judge(*, gone_ok: bool = False) -> Callable[[Any], Outcome | None]:
    """A judge for ``loadtests.calls.call``: the answer's error codes decide."""

    def by_errors(parsed: Any) -> Outcome | None:
        errors = parsed.get("errors") if isinstance(parsed, dict) else None
        codes = [
            str((error.get("extensions") or {}).get("code", "UNKNOWN"))
            for error in errors or []
            if isinstance(error, dict)
        ]
        return classify_graphql(codes, gone_ok=gone_ok)

    return by_errors


def field(parsed: Any, name: str) -> Any:
    """``data.<name>`` of an answer, or None."""
    data = parsed.get("data") if isinstance(parsed, dict) else None
    return data.get(name) if isinstance(data, dict) else None
