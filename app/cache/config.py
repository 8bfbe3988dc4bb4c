"""Settings side of the resilient cache: swap the Redis backends for their guarded versions.

Imported by ``settings.py`` while settings load, so it must not import the backends (they
import django-prometheus, which reads settings on import).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

# Each Redis backend ``envconfig.cache_config`` may choose, and its circuit-breaking subclass.
RESILIENT_BACKENDS = {
    "django.core.cache.backends.redis.RedisCache": "app.cache.backends.ResilientRedisCache",
    "django_prometheus.cache.backends.redis.NativeRedisCache": (
        "app.cache.backends.ResilientNativeRedisCache"
    ),
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
