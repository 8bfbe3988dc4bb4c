"""The OpenAPI schema and the self-hosted docs page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from tests.support.openapi import ANONYMOUS_OPERATIONS, generate_schema, operations

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    """The schema as `manage.py spectacular --validate --fail-on-warn` writes it."""
    with django_db_blocker.unblock():
        return generate_schema()


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
        ("/api/todos/exports/", "post"),
        ("/api/todos/exports/{id}/", "get"),
        ("/api/todos/exports/{id}/download/", "get"),
        ("/api/faults/", "get"),
        ("/api/faults/", "put"),
        ("/api/faults/", "delete"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    }


def test_todo_operations_require_the_bearer_scheme(schema: dict[str, Any]) -> None:
    scheme = schema["components"]["securitySchemes"]["jwtAuth"]

    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert "RFC8725" in scheme["description"]  # the spelling linters (Spectral OWASP) look for
    for method in ("get", "post"):
        assert schema["paths"]["/api/todos/"][method]["security"] == [{"jwtAuth": []}]


def test_the_list_documents_pagination_and_filters(schema: dict[str, Any]) -> None:
    operation = schema["paths"]["/api/todos/"]["get"]
    names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}

    assert names == {"page", "page_size", "completed", "search", "ordering"}
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert page.endswith("PaginatedTodoList")
    results = schema["components"]["schemas"]["PaginatedTodoList"]["properties"]["results"]
    assert results["maxItems"] == 100
    assert {"count", "next", "previous", "results"} <= set(
        schema["components"]["schemas"]["PaginatedTodoList"]["properties"]
    )


@pytest.mark.parametrize("path", ["/api/todos/", "/api/todos/{id}/"])
def test_the_cached_reads_document_conditional_requests(schema: dict[str, Any], path: str) -> None:
    """``If-None-Match`` in, ``ETag`` and ``Cache-Control`` out, and the 304 without a body."""
    operation = schema["paths"][path]["get"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}

    assert headers == {"If-None-Match"}
    assert {"ETag", "Cache-Control"} <= set(operation["responses"]["200"]["headers"])
    assert "content" not in operation["responses"]["304"]
    assert "If-None-Match" in operation["responses"]["304"]["description"]


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        ("/api/todos/", "get", {"200", "304", "400", "401", "404", "429", "503"}),
        ("/api/todos/", "post", {"201", "400", "401", "413", "415", "429", "503"}),
        ("/api/todos/{id}/", "get", {"200", "304", "401", "404", "429", "503"}),
        ("/api/todos/{id}/", "put", {"200", "400", "401", "404", "413", "415", "429", "503"}),
        ("/api/todos/{id}/", "patch", {"200", "400", "401", "404", "413", "415", "429", "503"}),
        ("/api/todos/{id}/", "delete", {"204", "401", "404", "429", "503"}),
        ("/api/todos/exports/", "post", {"202", "400", "401", "413", "415", "429", "503"}),
        ("/api/todos/exports/{id}/", "get", {"200", "401", "404", "429", "503"}),
        ("/api/todos/exports/{id}/download/", "get", {"200", "401", "404", "409", "429", "503"}),
        ("/api/auth/register/", "post", {"201", "400", "413", "415", "429", "503"}),
        ("/api/auth/token/", "post", {"200", "400", "401", "413", "415", "429", "503"}),
        ("/api/auth/token/refresh/", "post", {"200", "400", "401", "413", "415", "429", "503"}),
        ("/api/faults/", "get", {"200", "401", "403", "429", "503"}),
        ("/api/faults/", "put", {"200", "400", "401", "403", "413", "415", "429", "503"}),
        ("/api/faults/", "delete", {"204", "401", "403", "429", "503"}),
        ("/healthz", "get", {"200"}),
        ("/readyz", "get", {"200", "503"}),
    ],
)
def test_every_error_response_is_documented(
    schema: dict[str, Any], path: str, method: str, codes: set[str]
) -> None:
    assert responses(schema, path, method) == codes


@pytest.mark.parametrize("code", ["429", "503"])
def test_throttled_and_unavailable_responses_document_retry_after_on_every_operation(
    schema: dict[str, Any], code: str
) -> None:
    documented = [
        (path, method)
        for path, method in operations(schema)
        if code in responses(schema, path, method) and path != "/readyz"
    ]

    assert len(documented) >= 12
    for path, method in documented:
        response = schema["paths"][path][method]["responses"][code]
        header = response["headers"]["Retry-After"]
        assert header["schema"]["type"] == "integer", (path, method)
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }


def test_anonymous_operations_document_no_security_and_the_rest_the_bearer_scheme(
    schema: dict[str, Any],
) -> None:
    """``security: [{}]`` ("an empty requirement satisfies it") makes openapi-python-client
    ask for an authenticated client: anonymous operations say ``security: []``."""
    assert "security" not in schema  # no global requirement to inherit
    for path, method in operations(schema):
        security = schema["paths"][path][method]["security"]
        if (path, method) in ANONYMOUS_OPERATIONS:
            assert security == [], (path, method)
        else:
            assert security == [{"jwtAuth": []}], (path, method)


def test_every_response_field_is_required(schema: dict[str, Any]) -> None:
    """DRF renders every readable field: a generated client may rely on each being there."""
    objects = {
        name: component
        for name, component in schema["components"]["schemas"].items()
        if component.get("properties") and not name.endswith("Request")
    }

    assert {"Todo", "PaginatedTodoList", "Register", "FaultState", "TokenObtainPair"} <= set(
        objects
    )
    for name, component in objects.items():
        if name == "Check":  # a readiness check's `error` is there only when it failed
            assert set(component["required"]) == {"status", "duration_ms"}
            continue
        assert set(component["required"]) == set(component["properties"]), name
    assert "completed" in schema["components"]["schemas"]["Todo"]["required"]


def test_400_bodies_are_the_flat_field_errors_component(schema: dict[str, Any]) -> None:
    errors = schema["components"]["schemas"]["FieldErrors"]

    assert errors["additionalProperties"] == {
        "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]
    }
    for path, method in operations(schema):
        response = schema["paths"][path][method]["responses"].get("400")
        if response is not None:
            assert response["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/FieldErrors"
            }


@pytest.mark.parametrize(
    ("component", "field", "limits"),
    [
        ("TokenObtainPairRequest", "username", {"minLength": 1, "maxLength": 150}),
        ("TokenObtainPairRequest", "password", {"minLength": 1, "maxLength": 128}),
        ("TokenRefreshRequest", "refresh", {"minLength": 1, "maxLength": 1024}),
        ("RegisterRequest", "username", {"minLength": 1, "maxLength": 150}),
        ("RegisterRequest", "password", {"minLength": 8, "maxLength": 128}),
        ("TodoRequest", "title", {"minLength": 1, "maxLength": 100}),
    ],
)
def test_input_strings_document_their_length_limits(
    schema: dict[str, Any], component: str, field: str, limits: dict[str, int]
) -> None:
    documented = schema["components"]["schemas"][component]["properties"][field]

    assert {key: documented.get(key) for key in limits} == limits


def test_list_parameters_document_their_limits(schema: dict[str, Any]) -> None:
    parameters = {
        parameter["name"]: parameter["schema"]
        for parameter in schema["paths"]["/api/todos/"]["get"]["parameters"]
    }

    assert parameters["search"]["maxLength"] == 200
    assert parameters["ordering"]["maxLength"] == 100
    assert parameters["page"] == {"type": "integer", "minimum": 1}
    assert parameters["page_size"] == {"type": "integer", "minimum": 1}
    assert parameters["completed"] == {"type": "boolean"}


def test_no_pattern_uses_an_engine_dependent_class(schema: dict[str, Any]) -> None:
    """`\\s`, `\\w`, `\\d` and `\\b` mean one set in ECMA-262 and another in Python's re:
    patterns spell their classes out."""
    patterns: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.append(node["pattern"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(schema)

    assert len(patterns) >= 5
    classes = [f"\\{letter}" for letter in "sSwWdDbB"]
    assert not [pattern for pattern in patterns if any(cls in pattern for cls in classes)]


def test_the_schema_is_served_without_credentials(client: Client) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert "/api/todos/" in response.json()["paths"]


def test_the_docs_page_loads_swagger_ui_from_this_server(client: Client) -> None:
    html = client.get("/api/docs/").content.decode()

    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle" in html
    # every script and stylesheet from this origin: no absolute URL (a CDN's) in any src or href
    # (the page's random CSP nonce may spell "cdn": a bare substring check failed on one)
    assert not re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html, re.IGNORECASE)
    assert "//unpkg" not in html
