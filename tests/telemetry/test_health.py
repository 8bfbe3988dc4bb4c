"""Liveness and readiness probes, in process (the real-outage cases run under gunicorn)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client

from app.telemetry import health


def test_healthz_answers_without_touching_the_database(client: Client) -> None:
    # no django_db mark: any database access in this test raises
    response = client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_reports_each_check(client: Client) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "cache": "ok",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("failing", ["database", "cache"])
def test_readyz_is_503_naming_the_failing_check(
    client: Client, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    def broken() -> None:
        raise OperationalError("connection refused")

    monkeypatch.setitem(health.READINESS_CHECKS, failing, broken)

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == [failing]
    assert body["checks"][failing] == {
        "status": "error",
        "error": "OperationalError",
        "duration_ms": body["checks"][failing]["duration_ms"],
    }
    assert "connection refused" not in response.content.decode()  # no internals leak


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_any_host_header_and_plain_http(
    client: Client, settings: Any, path: str
) -> None:
    settings.SECURE_SSL_REDIRECT = True

    response = client.get(path, HTTP_HOST="10.1.2.3:8000")

    assert response.status_code == 200


def test_other_paths_still_validate_the_host(client: Client) -> None:
    response = client.get("/api/schema/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request."}


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_need_no_credentials_and_refuse_writes(client: Client, path: str) -> None:
    assert client.post(path).status_code == 405
