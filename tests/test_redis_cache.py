"""The Redis cache path (REDIS_URL), against the real Redis on 127.0.0.1:6379."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from app.cache.config import cache_config
from tests.support.backing_services import REDIS_URL, reachable, require


@pytest.fixture
def redis_cache(settings: Any) -> Any:
    """Point the default cache at the real Redis (database 15), emptied around the test."""
    require("redis", reachable(REDIS_URL, default_port=6379))
    settings.CACHES = {"default": cache_config(REDIS_URL, timeout_s=1.0)}
    cache = caches["default"]
    cache.clear()
    yield cache
    cache.clear()


def test_values_round_trip_through_redis(redis_cache: Any) -> None:
    redis_cache.set("greeting", {"hello": "world"}, timeout=30)

    assert type(redis_cache).__name__ == "RedisCache"
    assert redis_cache.get("greeting") == {"hello": "world"}


def test_a_second_client_sees_the_same_values(redis_cache: Any, settings: Any) -> None:
    """What one gunicorn worker writes, another reads: the cache is shared, not per process."""
    redis_cache.set("shared", 41, timeout=30)
    other_worker = type(redis_cache)(REDIS_URL, settings.CACHES["default"])

    other_worker.incr("shared")

    assert redis_cache.get("shared") == 42


@pytest.mark.django_db
def test_readiness_checks_redis(redis_cache: Any, client: Client) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["cache"]["status"] == "ok"


@pytest.mark.django_db
def test_throttle_counters_live_in_redis(redis_cache: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "2/minute"})
    client = APIClient()

    statuses = [
        client.post(
            "/api/auth/token/", {"username": "x", "password": "y"}, format="json"
        ).status_code
        for _ in range(3)
    ]

    assert statuses == [401, 401, 429]
    assert any(key.startswith(b"todos:1:throttle_auth_") for key in redis_keys(redis_cache))


def redis_keys(cache: Any) -> list[bytes]:
    client = cache._cache.get_client()
    return list(client.scan_iter(match="todos:*"))
