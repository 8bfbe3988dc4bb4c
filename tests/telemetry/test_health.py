"""Liveness and readiness probes, in process (the real-outage cases run under gunicorn)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client

from app.cache import circuit as circuit_module
from app.cache.config import cache_config, with_circuit_breaker
from app.telemetry import health
from tests.support.ports import closed_port


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
    assert body["degraded"] == []
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


# ------------------------------------------------------------------ a degraded dependency
@pytest.fixture
def cache_without_redis(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default cache is the resilient Redis cache, pointed where nothing listens."""
    monkeypatch.setattr(circuit_module, "_breakers", {})
    redis = cache_config(f"redis://127.0.0.1:{closed_port()}/0", timeout_s=0.5)
    settings.CACHES = {"default": with_circuit_breaker(redis, retry_seconds=5)}


@pytest.mark.django_db
@pytest.mark.usefixtures("cache_without_redis")
def test_readyz_stays_200_reporting_the_cache_degraded_while_redis_is_down(
    client: Client,
) -> None:
    """The pod keeps serving without Redis, so it stays in the Service and says why."""
    responses = [client.get("/readyz") for _ in range(3)]

    assert [response.status_code for response in responses] == [200] * 3
    body = responses[-1].json()
    assert body["status"] == "degraded"
    assert body["failing"] == []
    assert body["degraded"] == ["cache"]
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["cache"] == {
        "status": "degraded",
        "error": "ConnectionError",
        "duration_ms": body["checks"]["cache"]["duration_ms"],
    }
    assert body["checks"]["cache"]["duration_ms"] < 100  # the open circuit answers at once


@pytest.mark.django_db
@pytest.mark.usefixtures("cache_without_redis")
def test_readyz_is_still_503_when_the_database_fails_and_the_cache_is_degraded(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise OperationalError("connection refused")

    monkeypatch.setitem(health.READINESS_CHECKS, "database", broken)

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["failing"], body["degraded"]) == (
        "unavailable",
        ["database"],
        ["cache"],
    )


@pytest.mark.django_db
def test_a_check_reporting_its_dependency_degraded_keeps_the_pod_ready(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def degraded() -> None:
        raise health.DependencyDegraded("TimeoutError")

    monkeypatch.setitem(health.READINESS_CHECKS, "cache", degraded)

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["cache"]["error"] == "TimeoutError"
