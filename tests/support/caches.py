"""The default cache made the resilient Redis backend, for in-process tests of a Redis outage.

``resilient_cache(settings, url)`` points Django's default cache at ``url`` (the test Redis
through a ``TcpProxy``, or a closed port: Redis down) behind the circuit breaker, with short
socket timeouts, and returns it.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import caches

from app.cache.config import cache_config, with_circuit_breaker
from tests.support.ports import closed_port

TIMEOUT_S = 0.3  # socket connect and read timeout: what one failing call may cost
RETRY_S = 5.0  # the circuit's retry interval (CACHE_RETRY_SECONDS' default)


def resilient_cache(
    settings: Any, url: str, *, retry_seconds: float = RETRY_S, instrumented: bool = False
) -> Any:
    """Make the default cache the resilient one for ``url`` (through pytest-django's
    ``settings`` fixture, so it is undone after the test); return it."""
    config = cache_config(url, timeout_s=TIMEOUT_S, instrumented=instrumented)
    settings.CACHES = {"default": with_circuit_breaker(config, retry_seconds=retry_seconds)}
    return caches["default"]


def unreachable_redis_url() -> str:
    """A Redis URL where nothing listens (connections refused)."""
    return f"redis://127.0.0.1:{closed_port()}/0"
