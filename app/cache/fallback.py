"""The shared cache, or this process's memory while the shared cache is unavailable.

For state that must keep working through a Redis outage instead of being forgotten: the
throttle counters (``app.api.throttling``, ``app.accounts.throttling``). A ``FallbackCache``
sends each operation to the default cache; while that is the resilient Redis backend and Redis
is unavailable (its circuit is open, or the call itself meets the outage), the operation runs
on a ``LocMemCache`` of this process instead. So a throttle keeps counting during an outage,
per gunicorn worker: with W workers a client gets at most W times the rate from one pod.

- Nothing is copied either way: the outage starts with empty local counters (on top of what
  Redis had already counted), and when Redis answers again the shared counters apply again.
- The local store is bounded (``max_entries``); past it Django culls the least recently used
  third, so an entry that keeps being hit (an attacked username) is the last to go.
- Without Redis (``REDIS_URL`` unset) the default cache is already per-process memory and is
  used as it is.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.cache.backends.locmem import LocMemCache

from app.cache.backends import ResilientRedisCache

DEFAULT_MAX_ENTRIES = 10_000


class FallbackCache(BaseCache):
    """The default cache while it answers; this process's ``LocMemCache`` while it cannot.

    Supports the single-key operations throttles use: ``get``, ``set``, ``add``, ``incr``,
    ``decr``, ``touch``, ``delete`` and ``has_key`` (``get_many`` and the like are BaseCache's,
    built on them). ``name`` names the local store; caches with the same name share it.
    """

    def __init__(self, name: str, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        super().__init__({})
        self.name = name
        self.local = LocMemCache(
            f"app.cache.fallback.{name}", {"OPTIONS": {"MAX_ENTRIES": max_entries}}
        )

    def _run(self, operation: str, *args: Any) -> Any:
        shared = caches[DEFAULT_CACHE_ALIAS]  # per thread, and follows settings changes
        if isinstance(shared, ResilientRedisCache):
            return shared.call_or_fallback(operation, *args, fallback=self.local)
        return getattr(shared, operation)(*args)

    def get(self, key: Any, default: Any | None = None, version: int | None = None) -> Any:
        """The value of ``key``, or ``default``."""
        return self._run("get", key, default, version)

    def set(
        self,
        key: Any,
        value: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> None:
        """Store ``value`` under ``key``."""
        self._run("set", key, value, timeout, version)

    def add(
        self,
        key: Any,
        value: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> bool:
        """Store ``value`` unless ``key`` exists; whether it was stored."""
        return bool(self._run("add", key, value, timeout, version))

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Add ``delta`` to the number under ``key`` (``ValueError`` when there is none)."""
        return int(self._run("incr", key, delta, version))

    def decr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Subtract ``delta`` from the number under ``key``."""
        return self.incr(key, -delta, version)

    def touch(
        self, key: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        """Give ``key`` a new expiry; whether it existed."""
        return bool(self._run("touch", key, timeout, version))

    def delete(self, key: Any, version: int | None = None) -> bool:
        """Remove ``key``; whether it existed."""
        return bool(self._run("delete", key, version))

    def has_key(self, key: Any, version: int | None = None) -> bool:
        """Whether ``key`` exists."""
        return bool(self._run("has_key", key, version))

    def clear(self) -> None:
        """Empty the default cache and the local store."""
        caches[DEFAULT_CACHE_ALIAS].clear()
        self.local.clear()
