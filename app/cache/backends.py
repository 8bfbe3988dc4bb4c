"""Redis cache backends that keep answering while Redis is unreachable.

``ResilientRedisCache`` is Django's ``RedisCache`` behind a per-process
:class:`~app.cache.circuit.CircuitBreaker`; ``ResilientNativeRedisCache`` is the same over
django-prometheus' instrumented ``NativeRedisCache`` (its get/hit/miss/fail counters keep
counting the calls that reach Redis). Settings pick one through ``app.cache.config``.

A connection error or timeout does not reach the caller: the operation is answered as if
the cache were empty and forgot every write (Django's ``DummyCache``, but ``incr`` never raises):

==================================  =========================================================
``get``, ``get_many``, ``has_key``  ``default``, ``{}``, ``False`` (a miss)
``set``, ``set_many``               dropped (``set_many`` reports no failed keys, as Redis)
``add``                             ``True``: stored and forgotten at once, so "do it once"
                                    callers go ahead (like ``DummyCache``)
``incr``, ``decr``                  ``delta`` / ``-delta``: a counter starting from the empty
                                    cache, never a ``ValueError`` that would fail the request
``touch``, ``delete``               ``False`` (nothing there)
``delete_many``, ``clear``          nothing
==================================  =========================================================

State that must outlive an outage asks for another answer instead: ``call_or_fallback`` runs
an operation on Redis through the same circuit, and the same operation on another cache while
Redis is unavailable. The throttles count that way (``app.cache.fallback``), in the worker's
memory while Redis is down, instead of finding every history empty and letting all requests by.
Other Redis errors (a wrong command, out of memory) are not outages and still raise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.cache.backends.redis import RedisCache
from django_prometheus.cache.backends.redis import NativeRedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.cache.circuit import CircuitBreaker, breaker_for
from app.cache.config import RETRY_OPTION
from app.telemetry.tracing.provider import traces
from app.telemetry.tracing.redis_spans import TracedRedisCacheClient

T = TypeVar("T")

# Redis is unreachable or too slow (refused, reset, DNS, connect or read timeout, loading).
OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError)
DEFAULT_RETRY_SECONDS = 5.0
# The operations ``call_or_fallback`` accepts: single-key ones with the same signature on every
# Django cache (``decr`` is ``incr`` of ``-delta`` there: BaseCache's would call the guarded one).
FALLBACK_OPERATIONS = frozenset({"get", "set", "add", "incr", "touch", "delete", "has_key"})


class ResilientRedisCache(RedisCache):
    """Django's Redis cache that answers without Redis while its circuit is open.

    ``OPTIONS["retry_seconds"]`` (``CACHE_RETRY_SECONDS``) is how long Redis is left alone
    after a failure; the other OPTIONS go to redis-py as usual (set ``socket_connect_timeout``
    and ``socket_timeout``: they bound what the one failing or probing call can cost).
    """

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS", {}))
        retry_seconds = float(options.pop(RETRY_OPTION, DEFAULT_RETRY_SECONDS))
        super().__init__(server, {**params, "OPTIONS": options})
        if traces("redis"):
            self._class = TracedRedisCacheClient  # a client span per Redis command
        location = server if isinstance(server, str) else ",".join(server)
        self.circuit: CircuitBreaker = breaker_for(location, retry_seconds=retry_seconds)

    @property
    def degraded(self) -> bool:
        """True while this process serves cache calls without Redis."""
        return self.circuit.is_open

    def _guarded(self, call: Callable[[], T], bypassed: T) -> T:
        """``call()`` through the circuit; ``bypassed`` when Redis is (or just proved) down."""
        return self._through_circuit(call, lambda: bypassed)

    def _through_circuit(self, call: Callable[[], T], otherwise: Callable[[], T]) -> T:
        """``call()`` through the circuit; ``otherwise()`` when Redis is (or just proved) down."""
        circuit = self.circuit
        if not circuit.allow():
            circuit.record_bypass()
            return otherwise()
        try:
            result = call()
        except OUTAGE_ERRORS as error:
            circuit.record_failure(error)
            circuit.record_bypass()
            return otherwise()
        circuit.record_success()
        return result

    def call_or_fallback(self, operation: str, *args: Any, fallback: BaseCache) -> Any:
        """``operation(*args)`` on Redis through the circuit; on ``fallback`` while Redis is
        unavailable (the circuit is open, or this very call met the outage).

        ``operation`` is one of ``FALLBACK_OPERATIONS``; the Redis side is this backend's
        unguarded method (django-prometheus' counting one on the instrumented backend).
        """
        if operation not in FALLBACK_OPERATIONS:
            raise ValueError(f"{operation!r} cannot fall back; use one of {FALLBACK_OPERATIONS}")
        return self._through_circuit(
            partial(getattr(super(), operation), *args),
            partial(getattr(fallback, operation), *args),
        )

    def get(self, key: Any, default: Any | None = None, version: int | None = None) -> Any:
        """The cached value, or ``default`` (also while Redis is unreachable)."""
        return self._guarded(partial(super().get, key, default, version), default)

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        """The cached values found; none while Redis is unreachable."""
        return self._guarded(partial(super().get_many, keys, version), {})

    def has_key(self, key: Any, version: int | None = None) -> bool:
        """Whether ``key`` is cached; ``False`` while Redis is unreachable."""
        return self._guarded(partial(super().has_key, key, version), False)

    def set(
        self,
        key: Any,
        value: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> None:
        """Store ``value``; dropped while Redis is unreachable."""
        self._guarded(partial(super().set, key, value, timeout, version), None)

    def set_many(
        self,
        data: dict[Any, Any],
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> list[Any]:
        """Store ``data``; dropped while Redis is unreachable."""
        return self._guarded(partial(super().set_many, data, timeout, version), [])

    def add(
        self,
        key: Any,
        value: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> bool:
        """Store ``value`` unless ``key`` exists; ``True`` (stored, then forgotten) while down."""
        return self._guarded(partial(super().add, key, value, timeout, version), True)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Add ``delta`` to a cached number; ``delta`` (counted from empty) while down."""
        return self._guarded(partial(super().incr, key, delta, version), delta)

    def touch(
        self, key: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        """Renew ``key``'s expiry; ``False`` while Redis is unreachable."""
        return self._guarded(partial(super().touch, key, timeout, version), False)

    def delete(self, key: Any, version: int | None = None) -> bool:
        """Remove ``key``; ``False`` (nothing removed) while Redis is unreachable."""
        return self._guarded(partial(super().delete, key, version), False)

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        """Remove ``keys``; nothing while Redis is unreachable."""
        self._guarded(partial(super().delete_many, keys, version), None)

    def clear(self) -> None:
        """Empty the cache; nothing while Redis is unreachable."""
        self._guarded(partial(super().clear), None)


class ResilientNativeRedisCache(ResilientRedisCache, NativeRedisCache):  # type: ignore[misc]
    """The resilient cache over django-prometheus' instrumented ``NativeRedisCache``.

    Calls that reach Redis are counted by django-prometheus (``backend="native_redis"``; a
    get that fails counts in ``django_cache_get_fail_total``); bypassed calls are counted in
    ``todos_cache_bypassed_total`` instead.
    """
