"""Settings side of the cache: which backend, and the Redis ones swapped for guarded versions.

Imported by ``settings.py`` while settings load, so it must not import the backends (they
import django-prometheus, which reads settings on import).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class CacheBackend:
    """One cache backend the settings may choose."""

    path: str  # the BACKEND Django loads
    resilient: str | None = None  # its circuit-breaking subclass (Redis only)
    metrics_label: str | None = None  # django-prometheus' ``backend`` label (instrumented only)


# The one table of cache backend classes: (kind, instrumented) -> backend.
CACHE_BACKENDS = {
    ("memory", False): CacheBackend("django.core.cache.backends.locmem.LocMemCache"),
    ("memory", True): CacheBackend(
        "django_prometheus.cache.backends.locmem.LocMemCache", metrics_label="locmem"
    ),
    ("redis", False): CacheBackend(
        "django.core.cache.backends.redis.RedisCache",
        resilient="app.cache.backends.ResilientRedisCache",
    ),
    ("redis", True): CacheBackend(
        "django_prometheus.cache.backends.redis.NativeRedisCache",
        resilient="app.cache.backends.ResilientNativeRedisCache",
        metrics_label="native_redis",
    ),
}

DEFAULT_KEY_PREFIX = "todos"

# Derived lookups: each Redis backend's guarded subclass, and the label of every class path.
RESILIENT_BACKENDS = {b.path: b.resilient for b in CACHE_BACKENDS.values() if b.resilient}
_METRICS_LABELS = {
    path: b.metrics_label
    for b in CACHE_BACKENDS.values()
    for path in (b.path, b.resilient)
    if path and b.metrics_label
}


def metrics_label(backend: str) -> str | None:
    """The ``backend`` label django-prometheus counts ``backend`` (a class path) under."""
    return _METRICS_LABELS.get(backend)


def cache_config(
    redis_url: str | None,
    *,
    timeout_s: float,
    instrumented: bool = False,
    key_prefix: str = DEFAULT_KEY_PREFIX,
) -> dict[str, Any]:
    """Build the default cache: Redis when ``REDIS_URL`` is set, else per-process memory.

    ``instrumented`` uses django-prometheus' backends (get/hit/miss counters); ``key_prefix``
    (``CACHE_KEY_PREFIX``) starts every Redis key, so deployments sharing one Redis database
    keep their throttle counters apart.
    """
    if not redis_url:
        memory = CACHE_BACKENDS["memory", instrumented]
        return {"BACKEND": memory.path, "LOCATION": "todos"}
    scheme = urlsplit(redis_url).scheme
    if scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(
            f"REDIS_URL must be a redis://, rediss:// or unix:// URL, got {scheme!r}."
        )
    return {
        "BACKEND": CACHE_BACKENDS["redis", instrumented].path,
        "LOCATION": redis_url,
        "KEY_PREFIX": key_prefix,
        "OPTIONS": {
            "socket_connect_timeout": timeout_s,
            "socket_timeout": timeout_s,
        },
    }


# The OPTIONS key the resilient backends read (and remove before redis-py sees the options).
RETRY_OPTION = "retry_seconds"


def with_circuit_breaker(config: dict[str, Any], *, retry_seconds: float) -> dict[str, Any]:
    """Return ``config`` with a Redis backend replaced by its circuit-breaking subclass.

    While Redis is unreachable the cache answers misses and drops writes, and tries Redis
    again only every ``retry_seconds`` (``CACHE_RETRY_SECONDS``). Other backends (the
    per-process memory cache) cannot become unreachable and are returned unchanged.
    """
    if not retry_seconds > 0:
        raise ImproperlyConfigured(f"CACHE_RETRY_SECONDS must be above 0, got {retry_seconds!r}.")
    resilient = RESILIENT_BACKENDS.get(str(config.get("BACKEND", "")))
    if resilient is None:
        return config
    options = {**config.get("OPTIONS", {}), RETRY_OPTION: float(retry_seconds)}
    return {**config, "BACKEND": resilient, "OPTIONS": options}
