"""Every operation answers the documented 503 with ``Retry-After`` while the database fails."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError, connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from app.api.exceptions import RETRY_AFTER_SECONDS
from tests.support.openapi import generate_schema, operations, validate_response

pytestmark = pytest.mark.django_db

# transaction control still works, so the test database survives the failures
_PASSING = ("SAVEPOINT", "RELEASE", "ROLLBACK")


def _refuse(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    if sql.lstrip().upper().startswith(_PASSING):
        return execute(sql, params, many, context)
    raise OperationalError("connection refused")


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        return generate_schema()


@pytest.fixture
def database_down() -> Iterator[None]:
    with connection.execute_wrapper(_refuse):
        yield


def request_for(path: str, method: str, alice: User) -> tuple[APIClient, str, dict[str, Any]]:
    """A client, URL and body that would succeed with the database up."""
    refresh = RefreshToken.for_user(alice)
    client = APIClient()
    if path.startswith(("/api/todos/", "/api/faults/")):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {refresh.access_token}")
    bodies: dict[str, dict[str, Any]] = {
        "/api/auth/register/": {"username": "carol", "password": "a-long-secret-pass"},
        "/api/auth/token/": {"username": "alice", "password": "whatever"},
        "/api/auth/token/refresh/": {"refresh": str(refresh)},
        "/api/todos/": {"title": "t"},
        "/api/todos/{id}/": {"title": "t"},
        "/api/faults/": {"error_rate": 0},
    }
    return client, path.replace("{id}", "1"), bodies.get(path, {})


def test_every_operation_but_liveness_documents_the_503(schema: dict[str, Any]) -> None:
    documented = {
        op for op in operations(schema) if "503" in schema["paths"][op[0]][op[1]]["responses"]
    }

    assert documented == set(operations(schema)) - {("/healthz", "get")}


@pytest.mark.parametrize(
    ("path", "method"),
    [
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
        ("/readyz", "get"),
    ],
)
def test_an_operation_answers_the_documented_503_while_the_database_fails(
    schema: dict[str, Any], alice: User, path: str, method: str, request: pytest.FixtureRequest
) -> None:
    client, url, body = request_for(path, method, alice)
    request.getfixturevalue("database_down")

    send = getattr(client, method)
    response = send(url, body, format="json") if method in {"post", "put", "patch"} else send(url)

    assert response.status_code == 503, response.content
    validate_response(schema, path, method, 503, response.json())
    if path != "/readyz":  # the probe is for the kubelet, which polls anyway
        assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
