"""The OpenAPI schema and the self-hosted docs page."""

from __future__ import annotations

import io
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    """The schema as `manage.py spectacular --validate --fail-on-warn` writes it."""
    out = io.StringIO()
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    document: dict[str, Any] = yaml.safe_load(out.getvalue())
    return document


def responses(schema: dict[str, Any], path: str, method: str) -> set[str]:
    return set(schema["paths"][path][method]["responses"])


def test_the_schema_lists_every_operation(schema: dict[str, Any]) -> None:
    operations = {(path, method) for path, item in schema["paths"].items() for method in item}

    assert operations == {
        ("/api/auth/register/", "post"),
        ("/api/auth/token/", "post"),
        ("/api/auth/token/refresh/", "post"),
        ("/api/todos/", "get"),
        ("/api/todos/", "post"),
        ("/api/todos/{id}/", "get"),
        ("/api/todos/{id}/", "put"),
        ("/api/todos/{id}/", "patch"),
        ("/api/todos/{id}/", "delete"),
        ("/api/faults/", "get"),
        ("/api/faults/", "put"),
        ("/api/faults/", "delete"),
    }


def test_todo_operations_require_the_bearer_scheme(schema: dict[str, Any]) -> None:
    scheme = schema["components"]["securitySchemes"]["jwtAuth"]

    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    for method in ("get", "post"):
        assert schema["paths"]["/api/todos/"][method]["security"] == [{"jwtAuth": []}]


def test_the_list_documents_pagination_and_filters(schema: dict[str, Any]) -> None:
    operation = schema["paths"]["/api/todos/"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}

    assert names == {"page", "page_size", "completed", "search", "ordering"}
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert page.endswith("PaginatedTodoList")
    assert {"count", "next", "previous", "results"} <= set(
        schema["components"]["schemas"]["PaginatedTodoList"]["properties"]
    )


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        ("/api/todos/", "get", {"200", "400", "401", "404", "429"}),
        ("/api/todos/", "post", {"201", "400", "401", "413", "415", "429"}),
        ("/api/todos/{id}/", "get", {"200", "401", "404", "429"}),
        ("/api/todos/{id}/", "put", {"200", "400", "401", "404", "413", "415", "429"}),
        ("/api/todos/{id}/", "patch", {"200", "400", "401", "404", "413", "415", "429"}),
        ("/api/todos/{id}/", "delete", {"204", "401", "404", "429"}),
        ("/api/auth/register/", "post", {"201", "400", "413", "415", "429"}),
        ("/api/auth/token/", "post", {"200", "400", "401", "413", "415", "429"}),
        ("/api/auth/token/refresh/", "post", {"200", "400", "401", "413", "415", "429"}),
        ("/api/faults/", "get", {"200", "401", "403", "429"}),
        ("/api/faults/", "put", {"200", "400", "401", "403", "413", "415", "429"}),
        ("/api/faults/", "delete", {"204", "401", "403", "429"}),
    ],
)
def test_every_error_response_is_documented(
    schema: dict[str, Any], path: str, method: str, codes: set[str]
) -> None:
    assert responses(schema, path, method) == codes


def test_throttled_responses_document_retry_after(schema: dict[str, Any]) -> None:
    response = schema["paths"]["/api/todos/"]["get"]["responses"]["429"]

    assert "Retry-After" in response["headers"]


def test_the_schema_is_served_without_credentials(client: Client) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert "/api/todos/" in response.json()["paths"]


def test_the_docs_page_loads_swagger_ui_from_this_server(client: Client) -> None:
    html = client.get("/api/docs/").content.decode()

    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle" in html
    assert "cdn" not in html.lower()
    assert "//unpkg" not in html
