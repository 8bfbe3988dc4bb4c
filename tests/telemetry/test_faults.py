"""Fault injection: configured from the environment, refused in production, counted as 5xx."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from app.telemetry import faults, identity
from app.telemetry.faults import FaultConfig, InjectedFaultError
from tests.factories import TodoFactory


@pytest.fixture(autouse=True)
def _fresh_state() -> Any:
    identity.service_identity.cache_clear()
    faults.state.reset()
    yield
    faults.state.reset()
    identity.service_identity.cache_clear()


def test_no_variables_means_no_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FAULT_ERROR_RATE", "FAULT_LATENCY_MS", "FAULT_LATENCY_JITTER_MS", "FAULT_ROUTES"):
        monkeypatch.delenv(name, raising=False)

    assert not faults.faults_from_environment().active


def test_it_reads_rates_latency_and_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULT_ERROR_RATE", "0.25")
    monkeypatch.setenv("FAULT_LATENCY_MS", "40")
    monkeypatch.setenv("FAULT_LATENCY_JITTER_MS", "10")
    monkeypatch.setenv("FAULT_ROUTES", "/api/todos/, /api/todos/{id}/")

    config = faults.faults_from_environment()

    assert config == FaultConfig(0.25, 40, 10, frozenset({"/api/todos/", "/api/todos/{id}/"}))
    assert config.applies_to("/api/todos/{id}/")
    assert not config.applies_to("/api/auth/token/")


@pytest.mark.parametrize(
    ("name", "value"), [("FAULT_ERROR_RATE", "1.5"), ("FAULT_LATENCY_MS", "x")]
)
def test_bad_values_stop_the_process(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ImproperlyConfigured, match=name):
        faults.faults_from_environment()


def test_production_refuses_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYMENT_ENVIRONMENT", "production")
    monkeypatch.setenv("FAULT_ERROR_RATE", "1")

    assert not faults.faults_from_environment().active


@pytest.mark.django_db
def test_an_injected_error_is_an_unhandled_500_on_the_chosen_route(
    alice: User, alice_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    todo = TodoFactory.create(owner=alice)
    config = FaultConfig(error_rate=1.0, routes=frozenset({"/api/todos/{id}/"}))
    faults.state.set_override(config)
    alice_client.raise_request_exception = False

    faulted = alice_client.get(f"/api/todos/{todo.pk}/")
    untouched = alice_client.get("/api/todos/")

    assert faulted.status_code == 500
    assert faulted.json() == {"detail": "Internal server error."}
    assert untouched.status_code == 200


@pytest.mark.django_db
def test_the_injected_error_names_the_route_template(
    alice: User, alice_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults.state.set_override(FaultConfig(error_rate=1.0))

    with pytest.raises(InjectedFaultError, match="/api/todos/"):
        alice_client.get("/api/todos/")
