"""``/graphql/`` as an HTTP endpoint: methods, bodies, credentials, throttles, the OpenAPI
schema. A request refused before GraphQL runs keeps its HTTP status and gets a GraphQL body."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from app.todos.models import Todo
from tests.support.graphql import CREATE, TODO_LIST, codes, post

pytestmark = pytest.mark.django_db
JSON = "application/json"


def _get(client: APIClient, **params: str) -> Any:
    return client.get(f"/graphql/?{urlencode(params)}")


def test_get_runs_a_query(alice_client: APIClient) -> None:
    answer = _get(alice_client, query=TODO_LIST, variables=json.dumps({"pageSize": 5}))
    assert answer.status_code == 200
    assert answer.json()["data"]["todos"]["pageSize"] == 5


def test_head_runs_the_query_without_a_body(alice_client: APIClient) -> None:
    answer = alice_client.head(f"/graphql/?{urlencode({'query': '{ __typename }'})}")
    assert answer.status_code == 200
    assert answer.content == b""


def test_get_refuses_a_mutation_with_405(alice_client: APIClient) -> None:
    answer = _get(alice_client, query=CREATE, variables=json.dumps({"title": "x"}))
    assert answer.status_code == 405
    assert codes(answer.json()) == ["BAD_REQUEST"]
    assert not Todo.objects.exists()


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Authentication credentials were not provided."),
        ({"HTTP_AUTHORIZATION": "Bearer not-a-jwt"}, "Given token not valid for any token type"),
    ],
    ids=["no-token", "bad-token"],
)
def test_without_valid_credentials_it_is_401_unauthenticated(
    headers: dict[str, str], message: str
) -> None:
    client = APIClient()
    client.credentials(**headers)
    answer = client.post("/graphql/", {"query": "{ __typename }"}, format="json")
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"].startswith("Bearer")
    assert answer.json() == {
        "errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]
    }


@pytest.mark.parametrize(
    ("payload", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        (json.dumps([{"query": "{ __typename }"}]), "application/json", 400),
        (json.dumps({"query": 1}), "application/json", 400),
        (json.dumps({"query": "{ __typename }", "variables": [1]}), "application/json", 400),
        (json.dumps({"query": "{ __typename }", "operationName": 1}), "application/json", 400),
        (json.dumps({}), "application/json", 400),
        (json.dumps({"query": "query A { __typename }", "operationName": "B"}), JSON, 400),
        (json.dumps({"query": "query A { __typename } query B { __typename }"}), JSON, 400),
        ("{ __typename }", "application/graphql", 415),
    ],
    ids=[
        "not-json", "batch", "query-not-string", "variables-not-object", "name-not-string",
        "no-query", "unknown-operation", "no-operation-chosen", "other-content-type",
    ],
)  # fmt: skip
def test_malformed_requests_are_4xx_with_a_graphql_body(
    alice_client: APIClient, payload: str, content_type: str, status: int
) -> None:
    answer = alice_client.generic("POST", "/graphql/", payload, content_type=content_type)
    assert answer.status_code == status, answer.content
    assert codes(answer.json()) == ["BAD_REQUEST"]


def test_a_body_over_the_upload_limit_is_413(alice_client: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    answer = post(alice_client, CREATE, {"title": "x" * 2000})
    assert answer.status_code == 413
    assert codes(answer.json()) == ["BAD_REQUEST"]


def test_the_rest_user_throttle_applies_and_answers_429_throttled(
    alice: User, alice_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "2/minute", "anon": None})
    statuses = [post(alice_client, "{ __typename }").status_code for _ in range(2)]
    throttled = post(alice_client, "{ __typename }")
    assert statuses == [200, 200]
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert codes(throttled.json()) == ["THROTTLED"]
    assert alice_client.get("/api/todos/").status_code == 429  # one budget with REST


def test_the_openapi_schema_leaves_graphql_out(alice_client: APIClient) -> None:
    schema = alice_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert not [path for path in schema.json()["paths"] if "graphql" in path]
