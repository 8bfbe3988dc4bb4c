"""Workers follow the database: what one worker stores, every worker applies."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import DatabaseError

from app.faults import poller
from app.faults.models import FaultSetting
from app.faults.state import state
from app.telemetry import identity
from app.telemetry import logging as telemetry_logging

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("DEPLOYMENT_ENVIRONMENT", raising=False)
    monkeypatch.delenv("FAULT_ERROR_RATE", raising=False)
    identity.service_identity.cache_clear()
    state.reset()
    yield
    state.reset()


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[dict[str, Any]]]:
    """The JSON events logged so far in the test."""
    output = io.StringIO()
    monkeypatch.setattr(telemetry_logging, "output_stream", lambda: output)
    return lambda: [json.loads(line) for line in output.getvalue().splitlines()]


def test_refresh_applies_a_stored_override() -> None:
    FaultSetting.objects.create(pk=1, error_rate=0.25, latency_ms=10, routes=["/api/todos/"])

    poller.refresh()

    config = state.current()
    assert (config.error_rate, config.latency_ms, config.routes) == (
        0.25,
        10.0,
        frozenset({"/api/todos/"}),
    )


def test_a_stored_off_overrides_the_environment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULT_ERROR_RATE", "1")
    assert state.current().active
    FaultSetting.objects.create(pk=1)  # what DELETE /api/faults/ stores

    poller.refresh()

    assert not state.current().active
    assert state.overridden


def test_refresh_returns_to_the_environment_when_the_setting_is_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAULT_ERROR_RATE", "0.5")
    FaultSetting.objects.create(pk=1)
    poller.refresh()
    FaultSetting.objects.all().delete()  # manage.py reset_fault_switch

    poller.refresh()

    assert state.current().error_rate == 0.5
    assert not state.overridden


def test_an_unreadable_switch_keeps_the_last_faults_and_is_logged_once(
    monkeypatch: pytest.MonkeyPatch, logged: Callable[[], list[dict[str, Any]]]
) -> None:
    FaultSetting.objects.create(pk=1, error_rate=0.25)
    poller.refresh()

    def unreachable() -> None:
        raise DatabaseError("connection refused")

    monkeypatch.setattr(poller, "fault_setting_get", unreachable)
    failing = poller._read(failing=False)
    failing = poller._read(failing=failing)

    assert failing
    assert state.current().error_rate == 0.25
    assert [e["event"] for e in logged() if e["event"] == "fault_switch_unreadable"] == [
        "fault_switch_unreadable"
    ]


@pytest.mark.django_db(transaction=True)
def test_the_poller_thread_reads_the_switch_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULT_ERROR_RATE", "1")
    FaultSetting.objects.create(pk=1)
    first_read, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=poller._run, args=(3600.0, first_read, stop))

    thread.start()
    try:
        assert first_read.wait(10)
        assert not state.current().active
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_a_worker_starting_on_a_switched_off_database_says_its_defaults_are_ignored(
    monkeypatch: pytest.MonkeyPatch, logged: Callable[[], list[dict[str, Any]]]
) -> None:
    monkeypatch.setenv("FAULT_ERROR_RATE", "1")
    FaultSetting.objects.create(pk=1)
    poller.refresh()

    poller._log_start()

    names = [e["event"] for e in logged()]
    assert "fault_environment_defaults_ignored" in names
    assert "fault_injection_active" not in names


def test_a_worker_starting_with_active_defaults_says_so(
    monkeypatch: pytest.MonkeyPatch, logged: Callable[[], list[dict[str, Any]]]
) -> None:
    monkeypatch.setenv("FAULT_ERROR_RATE", "1")
    poller.refresh()

    poller._log_start()

    (active,) = [e for e in logged() if e["event"] == "fault_injection_active"]
    assert (active["source"], active["error_rate"]) == ("environment", 1.0)
