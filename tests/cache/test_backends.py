"""The resilient Redis backends (app.cache.backends) against a real Redis, cut by a TCP proxy.

``TcpProxy`` (tests/support/tcp_proxy.py) sits between the cache and the Redis on
127.0.0.1:6379: ``cut()`` closes connections and refuses new ones, ``hang()`` black-holes them
(only a timeout notices). A closed port stands in for a Redis that was never there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django_prometheus.cache.metrics import django_cache_get_fail_total
from redis.exceptions import ResponseError

from app.cache.backends import ResilientNativeRedisCache, ResilientRedisCache
from tests.support.backing_services import REDIS_URL
from tests.support.caches import TIMEOUT_S
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import poll

pytestmark = pytest.mark.database_free

MakeCache = Callable[..., Any]


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """``call()``'s result and how long it took in seconds."""
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_a_reachable_redis_is_used_as_usual(make_cache: MakeCache, redis_proxy: TcpProxy) -> None:
    cache = make_cache(redis_proxy.rewrite_url(REDIS_URL))
    cache.delete_many(["greeting", "counter"])
    cache.set("greeting", {"hello": "world"}, timeout=30)

    assert isinstance(cache, ResilientRedisCache)
    assert cache.get("greeting") == {"hello": "world"}
    assert cache.add("counter", 41)
    assert not cache.add("counter", 0)
    assert cache.incr("counter") == 42
    assert not cache.degraded
    cache.delete_many(["greeting", "counter"])


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        (lambda cache: cache.get("k"), None),
        (lambda cache: cache.get("k", "fallback"), "fallback"),
        (lambda cache: cache.get_many(["a", "b"]), {}),
        (lambda cache: cache.has_key("k"), False),
        (lambda cache: "k" in cache, False),
        (lambda cache: cache.set("k", 1), None),
        (lambda cache: cache.set_many({"a": 1}), []),
        (lambda cache: cache.add("k", 1), True),
        (lambda cache: cache.incr("k"), 1),
        (lambda cache: cache.incr("k", 5), 5),
        (lambda cache: cache.decr("k", 2), -2),
        (lambda cache: cache.touch("k"), False),
        (lambda cache: cache.delete("k"), False),
        (lambda cache: cache.delete_many(["a", "b"]), None),
        (lambda cache: cache.get_or_set("k", 7), 7),
        (lambda cache: cache.clear(), None),
    ],
    ids=[
        "get",
        "get-default",
        "get_many",
        "has_key",
        "contains",
        "set",
        "set_many",
        "add",
        "incr",
        "incr-delta",
        "decr",
        "touch",
        "delete",
        "delete_many",
        "get_or_set",
        "clear",
    ],
)
@pytest.mark.parametrize("instrumented", [False, True], ids=["django", "django-prometheus"])
def test_an_unreachable_redis_answers_like_an_empty_cache_that_forgets_writes(
    make_cache: MakeCache,
    down_url: str,
    operation: Callable[[BaseCache], Any],
    expected: Any,
    instrumented: bool,
) -> None:
    cache = make_cache(down_url, instrumented=instrumented)

    assert operation(cache) == expected  # the call that meets the outage
    assert operation(cache) == expected  # a call bypassed by the open circuit
    assert cache.degraded


def test_the_circuit_spares_every_later_call_the_timeout(
    make_cache: MakeCache, redis_proxy: TcpProxy, metric: Callable[[str], float]
) -> None:
    """A black-holed Redis costs one timeout; the next calls neither wait nor connect."""
    cache = make_cache(redis_proxy.rewrite_url(REDIS_URL))
    cache.set("warm", 1)
    redis_proxy.hang()
    bypassed_before = metric("todos_cache_bypassed_total")

    first, first_s = timed(lambda: cache.get("warm", "miss"))
    accepted = redis_proxy.accepted
    later = [timed(lambda: cache.get("warm", "miss")) for _ in range(20)]

    assert first == "miss"
    assert TIMEOUT_S * 0.9 <= first_s < TIMEOUT_S + 1.0
    assert [value for value, _ in later] == ["miss"] * 20
    assert max(seconds for _, seconds in later) < 0.05
    assert redis_proxy.accepted == accepted  # no connection attempt while the circuit is open
    assert metric("todos_cache_bypassed_total") == bypassed_before + 21
    assert metric("todos_cache_degraded") == 1


def test_the_first_success_after_the_interval_closes_the_circuit(
    make_cache: MakeCache, redis_proxy: TcpProxy, metric: Callable[[str], float]
) -> None:
    retry_s = 0.3
    cache = make_cache(redis_proxy.rewrite_url(REDIS_URL), retry_seconds=retry_s)
    cache.set("kept", "value", timeout=60)
    redis_proxy.cut()
    assert cache.get("kept") is None
    assert cache.degraded

    redis_proxy.restore()
    assert cache.get("kept") is None  # still within the interval: not tried
    restored_at = time.monotonic()
    poll(
        lambda: cache.get("kept"),
        lambda value: value == "value",
        timeout=5.0,
        interval=0.05,
        failure=lambda value: f"the circuit did not close after the restore (got {value!r})",
    )

    assert time.monotonic() - restored_at >= retry_s * 0.5
    assert not cache.degraded
    assert metric("todos_cache_degraded") == 0
    cache.delete("kept")


def test_a_failing_get_is_counted_by_django_prometheus_and_the_bypassed_ones_by_todos(
    make_cache: MakeCache, down_url: str, metric: Callable[[str], float]
) -> None:
    cache = make_cache(down_url, instrumented=True)
    fails = django_cache_get_fail_total.labels(backend="native_redis")
    fails_before = fails._value.get()
    bypassed_before = metric("todos_cache_bypassed_total")

    for _ in range(5):
        cache.get("k")

    assert isinstance(cache, ResilientNativeRedisCache)
    assert fails._value.get() == fails_before + 1  # only the call that reached for Redis
    assert metric("todos_cache_bypassed_total") == bypassed_before + 5


def test_redis_errors_that_are_not_an_outage_still_raise(
    make_cache: MakeCache, redis_proxy: TcpProxy
) -> None:
    cache = make_cache(redis_proxy.rewrite_url(REDIS_URL))
    cache.set("text", "not a number")

    with pytest.raises(ResponseError):
        cache.incr("text")
    assert not cache.degraded
    cache.delete("text")


def test_call_or_fallback_goes_to_redis_while_it_answers(
    make_cache: MakeCache, redis_proxy: TcpProxy
) -> None:
    cache = make_cache(redis_proxy.rewrite_url(REDIS_URL))
    local = LocMemCache("test-call-or-fallback", {})
    cache.delete("hits")

    assert cache.call_or_fallback("add", "hits", 0, 30, None, fallback=local)
    assert cache.call_or_fallback("incr", "hits", 2, None, fallback=local) == 2

    assert cache.get("hits") == 2  # in Redis
    assert local.get("hits") is None
    cache.delete("hits")


@pytest.mark.parametrize("instrumented", [False, True], ids=["django", "django-prometheus"])
def test_call_or_fallback_answers_from_the_fallback_while_redis_is_down(
    make_cache: MakeCache,
    redis_proxy: TcpProxy,
    metric: Callable[[str], float],
    instrumented: bool,
) -> None:
    cache = make_cache(redis_proxy.rewrite_url(REDIS_URL), instrumented=instrumented)
    local = LocMemCache(f"test-call-or-fallback-down-{instrumented}", {})
    local.clear()
    cache.set("hits", 40, timeout=30)
    redis_proxy.cut()
    bypassed_before = metric("todos_cache_bypassed_total")

    added = cache.call_or_fallback("add", "hits", 0, 30, None, fallback=local)  # meets the cut
    counted = [cache.call_or_fallback("incr", "hits", 1, None, fallback=local) for _ in range(3)]

    assert cache.degraded
    assert added  # the local store had no such key
    assert counted == [1, 2, 3]
    assert local.get("hits") == 3
    assert metric("todos_cache_bypassed_total") == bypassed_before + 4
    redis_proxy.restore()


def test_only_single_key_operations_can_fall_back(make_cache: MakeCache, down_url: str) -> None:
    cache = make_cache(down_url)

    with pytest.raises(ValueError, match="'clear' cannot fall back"):
        cache.call_or_fallback("clear", fallback=LocMemCache("unused", {}))
