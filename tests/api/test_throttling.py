"""The API's throttles (app.api.throttling) keep counting while Redis is down.

In process, the default cache is the resilient Redis backend pointed at a closed port: every
call meets the outage or the open circuit, and the counters live in this process's memory.
(The same through the real gunicorn, several workers and a Redis cut by a proxy:
tests/reliability/test_throttles_without_redis.py.)
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle

from app.api import throttling
from app.api.throttling import REQUEST_COUNTERS

TOKEN_URL = "/api/auth/token/"


@pytest.fixture
def strict_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny rates; DRF throttles read their rates once, at import, so patch the classes."""
    rates = {"anon": "3/minute", "user": "3/minute", "auth": "2/minute"}
    for throttle in (AnonRateThrottle, UserRateThrottle, ScopedRateThrottle):
        monkeypatch.setattr(throttle, "THROTTLE_RATES", rates)


def login(client: APIClient) -> int:
    return client.post(TOKEN_URL, {"username": "x", "password": "y"}, format="json").status_code


@pytest.mark.usefixtures("strict_rates")
def test_the_user_rate_still_applies_while_redis_is_down(
    redis_down: Any, alice_client: APIClient, bob_client: APIClient
) -> None:
    statuses = [alice_client.get("/api/todos/").status_code for _ in range(4)]

    assert redis_down.degraded
    assert statuses == [200, 200, 200, 429]
    assert bob_client.get("/api/todos/").status_code == 200


@pytest.mark.django_db
@pytest.mark.usefixtures("strict_rates", "redis_down")
def test_the_auth_scope_still_applies_per_address_while_redis_is_down() -> None:
    statuses = [login(APIClient(REMOTE_ADDR="198.51.100.1")) for _ in range(3)]

    assert statuses == [401, 401, 429]
    assert login(APIClient(REMOTE_ADDR="198.51.100.2")) == 401


@pytest.mark.django_db
@pytest.mark.usefixtures("redis_down")
def test_the_anon_rate_still_applies_per_address_while_redis_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/minute"})
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "100/minute"})

    statuses = [login(APIClient(REMOTE_ADDR="198.51.100.1")) for _ in range(3)]

    assert statuses == [401, 401, 429]


@pytest.mark.usefixtures("strict_rates")
def test_the_counters_are_in_this_process_while_redis_is_down(
    redis_down: Any, alice: User, alice_client: APIClient
) -> None:
    alice_client.get("/api/todos/")

    assert REQUEST_COUNTERS.local.get(f"throttle_user_{alice.pk}") is not None


def test_the_default_throttles_are_the_fallback_ones(settings: Any) -> None:
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] == [
        "app.api.throttling.AnonRateThrottle",
        "app.api.throttling.UserRateThrottle",
    ]
    for throttle in (
        throttling.AnonRateThrottle,
        throttling.UserRateThrottle,
        throttling.ScopedRateThrottle,
    ):
        assert throttle.cache is REQUEST_COUNTERS
