"""FallbackCache (app.cache.fallback): Redis while it answers, this process's memory while not.

The default cache is the resilient Redis backend behind a ``TcpProxy`` in front of the test
Redis; ``cut()`` plays the outage, ``restore()`` its end.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import caches

from app.cache.fallback import FallbackCache
from tests.support.backing_services import REDIS_URL
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import poll

pytestmark = pytest.mark.database_free

MakeCache = Callable[..., Any]
_names = itertools.count()


@pytest.fixture
def counters() -> FallbackCache:
    """A FallbackCache with a local store of its own, empty."""
    store = FallbackCache(f"test-{next(_names)}")
    store.local.clear()
    return store


def test_while_redis_answers_the_counters_are_the_shared_ones(
    make_cache: MakeCache, redis_proxy: TcpProxy, counters: FallbackCache
) -> None:
    shared = make_cache(redis_proxy.rewrite_url(REDIS_URL))
    shared.delete("attempts")

    counters.add("attempts", 0, 30)
    counters.incr("attempts")
    counters.incr("attempts")

    assert shared.get("attempts") == 2  # what every other worker reads
    assert counters.local.get("attempts") is None
    shared.delete("attempts")


def test_while_redis_is_down_counting_goes_on_in_this_process(
    make_cache: MakeCache, redis_proxy: TcpProxy, counters: FallbackCache
) -> None:
    shared = make_cache(redis_proxy.rewrite_url(REDIS_URL))
    shared.set("attempts", 7, timeout=30)
    redis_proxy.cut()

    created = counters.add("attempts", 0, 30)  # the call that meets the outage
    counted = [counters.incr("attempts") for _ in range(3)]
    counters.decr("attempts")

    assert shared.degraded
    assert created  # a fresh local counter: nothing is copied from Redis
    assert counted == [1, 2, 3]
    assert counters.get("attempts") == 2
    assert counters.touch("attempts", 30)
    assert counters.has_key("attempts")
    assert counters.delete("attempts")
    assert counters.get("attempts", "gone") == "gone"


def test_a_missing_counter_raises_value_error_as_on_redis(
    make_cache: MakeCache, redis_proxy: TcpProxy, counters: FallbackCache
) -> None:
    """The login throttle relies on it to open a new window after an expiry."""
    shared = make_cache(redis_proxy.rewrite_url(REDIS_URL))
    shared.delete("missing")
    with pytest.raises(ValueError, match="not found"):
        counters.incr("missing")

    redis_proxy.cut()
    with pytest.raises(ValueError, match="not found"):
        counters.incr("missing")


def test_once_redis_answers_again_the_shared_counters_apply_again(
    make_cache: MakeCache, redis_proxy: TcpProxy, counters: FallbackCache
) -> None:
    shared = make_cache(redis_proxy.rewrite_url(REDIS_URL), retry_seconds=0.2)
    shared.set("attempts", 4, timeout=30)
    redis_proxy.cut()
    counters.add("attempts", 0, 30)
    counters.incr("attempts")

    redis_proxy.restore()
    poll(  # the circuit tries Redis again after retry_seconds
        lambda: counters.get("attempts"),
        lambda value: value == 4,
        timeout=5.0,
        interval=0.05,
        failure=lambda value: f"still the local counter {value!r} after the restore",
    )

    assert counters.incr("attempts") == 5
    assert not shared.degraded
    assert counters.local.get("attempts") == 1  # left behind, not merged
    shared.delete("attempts")


def test_without_redis_the_default_memory_cache_is_used_as_it_is(
    counters: FallbackCache,
) -> None:
    counters.set("history", [1.0, 2.0], 30)

    assert caches["default"].get("history") == [1.0, 2.0]
    assert counters.local.get("history") is None


def test_the_local_store_is_bounded_and_keeps_the_entries_in_use(
    make_cache: MakeCache, down_url: str
) -> None:
    make_cache(down_url)
    counters = FallbackCache(f"test-bounded-{next(_names)}", max_entries=6)
    counters.local.clear()
    counters.set("attacked", 1, 60)
    for n in range(20):
        counters.set(f"other-{n}", n, 60)
        counters.get("attacked")  # hit at every guess

    kept = [key for key in (f"other-{n}" for n in range(20)) if counters.has_key(key)]
    assert counters.get("attacked") == 1
    assert len(kept) < 6


def test_clear_empties_the_shared_and_the_local_store(
    make_cache: MakeCache, redis_proxy: TcpProxy, counters: FallbackCache
) -> None:
    shared = make_cache(redis_proxy.rewrite_url(REDIS_URL))
    shared.set("shared-key", 1, timeout=30)
    counters.local.set("local-key", 1, 30)

    counters.clear()

    assert shared.get("shared-key") is None
    assert counters.local.get("local-key") is None
