"""CORS (django-cors-headers): listed origins may call the API and GraphQL with a bearer token;
nothing else answers cross-origin."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from app import settings as project_settings

pytestmark = pytest.mark.django_db

ALLOWED = "https://app.example.com"
OTHER = "https://evil.example.net"


def preflight(client: APIClient, path: str, origin: str) -> Any:
    """A browser's preflight for a GET with a bearer token from ``origin``."""
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )


def cors_headers(response: Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def test_nothing_is_allowed_cross_origin_by_default(anon_client: APIClient) -> None:
    assert project_settings.CORS_ALLOWED_ORIGINS == []

    assert cors_headers(preflight(anon_client, "/api/todos/", ALLOWED)) == {}


@override_settings(CORS_ALLOWED_ORIGINS=[ALLOWED])
@pytest.mark.parametrize("path", ["/api/todos/", "/api/auth/token/", "/graphql/"])
def test_a_preflight_from_an_allowed_origin_gets_the_cors_headers(
    anon_client: APIClient, path: str
) -> None:
    response = preflight(anon_client, path, ALLOWED)

    assert response.status_code == 200
    headers = cors_headers(response)
    assert headers["access-control-allow-origin"] == ALLOWED
    allowed = {h.strip() for h in headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "GET" in headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in headers


@override_settings(CORS_ALLOWED_ORIGINS=[ALLOWED])
def test_a_response_to_an_allowed_origin_exposes_the_request_id_and_retry_after(
    alice_client: APIClient,
) -> None:
    response = alice_client.get("/api/todos/", HTTP_ORIGIN=ALLOWED)

    assert response.status_code == 200
    headers = cors_headers(response)
    assert headers["access-control-allow-origin"] == ALLOWED
    exposed = {h.strip().lower() for h in headers["access-control-expose-headers"].split(",")}
    assert {"x-request-id", "retry-after"} <= exposed


@override_settings(CORS_ALLOWED_ORIGINS=[ALLOWED])
def test_another_origin_gets_no_cors_headers(anon_client: APIClient) -> None:
    assert cors_headers(preflight(anon_client, "/api/todos/", OTHER)) == {}


@override_settings(CORS_ALLOWED_ORIGINS=[ALLOWED])
@pytest.mark.parametrize("path", ["/admin/login/", "/metrics", "/healthz"])
def test_the_admin_metrics_and_probes_never_answer_cors(anon_client: APIClient, path: str) -> None:
    assert cors_headers(preflight(anon_client, path, ALLOWED)) == {}
