"""Fixtures for the cache tests: a hand-driven clock, a log recorder and a metric reader.

The clock and the log recorder themselves live in ``tests.support.doubles``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY

from app.cache import circuit as circuit_module
from app.cache.metrics import cache_degraded
from tests.support.doubles import FakeClock, RecordedLogs


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
