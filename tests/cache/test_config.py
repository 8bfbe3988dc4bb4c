"""Settings side of the resilient cache (app.cache.config and the CACHES setting)."""

from __future__ import annotations

import pytest
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured

from app.cache.backends import ResilientRedisCache
from app.cache.config import cache_config, with_circuit_breaker
from tests.support.ports import closed_port

pytestmark = pytest.mark.database_free

REDIS = "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("instrumented", "backend"),
    [
        (False, "app.cache.backends.ResilientRedisCache"),
        (True, "app.cache.backends.ResilientNativeRedisCache"),
    ],
)
def test_a_redis_cache_gets_the_circuit_breaking_backend(instrumented: bool, backend: str) -> None:
    plain = cache_config(REDIS, timeout_s=0.5, instrumented=instrumented)

    config = with_circuit_breaker(plain, retry_seconds=7)

    assert config["BACKEND"] == backend
    assert config["LOCATION"] == REDIS
    assert config["OPTIONS"] == {
        "socket_connect_timeout": 0.5,
        "socket_timeout": 0.5,
        "retry_seconds": 7.0,
    }
    assert "retry_seconds" not in plain["OPTIONS"]  # the input is left alone


@pytest.mark.parametrize("instrumented", [False, True])
def test_the_memory_cache_is_left_as_it_is(instrumented: bool) -> None:
    plain = cache_config(None, timeout_s=1.0, instrumented=instrumented)

    assert with_circuit_breaker(plain, retry_seconds=5) == plain


@pytest.mark.parametrize("retry_seconds", [0, -1.0])
def test_the_retry_interval_must_be_positive(retry_seconds: float) -> None:
    plain = cache_config(REDIS, timeout_s=1.0)

    with pytest.raises(ImproperlyConfigured, match="CACHE_RETRY_SECONDS"):
        with_circuit_breaker(plain, retry_seconds=retry_seconds)


def test_the_resilient_backend_hands_redis_py_only_its_own_options() -> None:
    """``retry_seconds`` is the backend's: passed on, redis-py would raise TypeError."""
    down = f"redis://127.0.0.1:{closed_port()}/0"
    config = with_circuit_breaker(cache_config(down, timeout_s=0.5), retry_seconds=3)
    cache = ResilientRedisCache(config["LOCATION"], config)

    assert isinstance(cache, RedisCache)
    assert cache.circuit.retry_seconds == 3.0
    assert cache.get("k", "miss") == "miss"  # reached for Redis: refused, not a TypeError
    assert cache.degraded


@pytest.mark.parametrize("redis_url", [None, ""])
def test_it_caches_in_process_memory_without_redis(redis_url: str | None) -> None:
    """No ``REDIS_URL``: Django's local-memory cache."""
    config = cache_config(redis_url, timeout_s=1.0)
    assert config["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


@pytest.mark.parametrize(
    "redis_url",
    ["redis://127.0.0.1:6379/1", "rediss://cache.example:6380/0", "unix:///run/redis.sock"],
)
def test_it_caches_in_redis_with_bounded_socket_timeouts(redis_url: str) -> None:
    """A Redis URL: Django's Redis cache, prefixed keys, connect and read timeouts."""
    config = cache_config(redis_url, timeout_s=0.5)
    assert config == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_url,
        "KEY_PREFIX": "todos",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }


def test_it_prefixes_redis_keys_as_asked() -> None:
    config = cache_config("redis://127.0.0.1:6379/1", timeout_s=0.5, key_prefix="staging")
    assert config["KEY_PREFIX"] == "staging"


def test_it_rejects_a_cache_url_that_is_not_redis() -> None:
    """A memcached (or mistyped) URL is a configuration error, not a silent fallback."""
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        cache_config("memcached://127.0.0.1:11211", timeout_s=1.0)
