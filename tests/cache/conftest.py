"""Fixtures for the cache tests: a hand-driven clock, a log recorder and a metric reader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import REGISTRY

from app.cache import circuit as circuit_module
from app.cache.metrics import cache_degraded


@dataclass
class FakeClock:
    """A monotonic clock the test moves forward by hand."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.now += seconds


@dataclass
class RecordedLogs:
    """Stands in for the module's structlog logger: keeps ``(level, event, fields)``."""

    lines: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append(("info", event, fields))

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append(("warning", event, fields))

    def events(self) -> list[str]:
        """The event names, in order."""
        return [event for _, event, _ in self.lines]


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
