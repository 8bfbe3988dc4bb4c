"""Workers follow the database: what one worker stores, every worker applies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.faults import poller
from app.faults.models import FaultSetting
from app.faults.state import state
from app.telemetry import identity

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("DEPLOYMENT_ENVIRONMENT", raising=False)
    monkeypatch.delenv("FAULT_ERROR_RATE", raising=False)
    identity.service_identity.cache_clear()
    state.reset()
    yield
    state.reset()


def test_refresh_applies_a_stored_override() -> None:
    FaultSetting.objects.create(pk=1, error_rate=0.25, latency_ms=10, routes=["/api/todos/"])

    poller.refresh()

    config = state.current()
    assert (config.error_rate, config.latency_ms, config.routes) == (
        0.25,
        10.0,
        frozenset({"/api/todos/"}),
    )


def test_refresh_returns_to_the_environment_when_the_override_is_gone() -> None:
    FaultSetting.objects.create(pk=1, error_rate=0.25)
    poller.refresh()
    FaultSetting.objects.all().delete()

    poller.refresh()

    assert not state.current().active
