"""Fixtures for the cache tests: a hand-driven clock, a log recorder, a metric reader, and the
default cache made the resilient Redis backend (through a proxy that can cut Redis off).

The clock and the log recorder themselves live in ``tests.support.doubles``, the cache set-up
in ``tests.support.caches``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from prometheus_client import REGISTRY

from app.cache import circuit as circuit_module
from app.cache.metrics import cache_degraded
from tests.support.backing_services import REDIS_URL, reachable, require
from tests.support.caches import resilient_cache, unreachable_redis_url
from tests.support.doubles import FakeClock, RecordedLogs
from tests.support.tcp_proxy import TcpProxy

MakeCache = Callable[..., Any]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> RecordedLogs:
    recorded = RecordedLogs()
    monkeypatch.setattr(circuit_module, "logger", recorded)
    return recorded


@pytest.fixture(autouse=True)
def _fresh_breakers(monkeypatch: pytest.MonkeyPatch) -> None:
    """No circuit left open by an earlier test (breakers live as long as the process)."""
    monkeypatch.setattr(circuit_module, "_breakers", {})


@pytest.fixture(autouse=True)
def _closed_gauge() -> None:
    """Each test starts with the degraded gauge at 0 (other tests may leave a circuit open)."""
    cache_degraded.set(0)


def _sample(name: str) -> float:
    value = REGISTRY.get_sample_value(name)
    assert value is not None, f"{name} is not exported"
    return value


@pytest.fixture
def metric() -> Callable[[str], float]:
    """Read an unlabelled series (``todos_cache_bypassed_total``...) from this process."""
    return _sample


@pytest.fixture
def make_cache(settings: Any) -> MakeCache:
    """Make the default cache the resilient one for ``url`` (``retry_seconds``,
    ``instrumented`` as keywords); return it."""

    def make(url: str, **options: Any) -> Any:
        return resilient_cache(settings, url, **options)

    return make


@pytest.fixture
def redis_proxy() -> Iterator[TcpProxy]:
    """A proxy in front of the test Redis (database 15); skips without a Redis."""
    require("redis", reachable(REDIS_URL, default_port=6379))
    parts = urlsplit(REDIS_URL)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as proxy:
        yield proxy


@pytest.fixture
def down_url() -> str:
    """A Redis URL where nothing listens (connections refused)."""
    return unreachable_redis_url()
