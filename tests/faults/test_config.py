"""Fault config: read from the environment, checked, refused in production."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from app.faults import config as faults
from app.faults.config import FaultConfig

pytestmark = [pytest.mark.usefixtures("fresh_fault_state"), pytest.mark.database_free]


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


@pytest.mark.parametrize(
    "route",
    ["/api/faults/", "/api/auth/token/", "/api/auth/token/refresh/", "/admin/login/"],
)
def test_the_controls_that_switch_faults_off_are_never_faulted(route: str) -> None:
    every_route = FaultConfig(error_rate=1.0)
    named = FaultConfig(error_rate=1.0, routes=frozenset({route}))

    assert not every_route.applies_to(route)
    assert not named.applies_to(route)
    assert every_route.applies_to("/api/auth/register/")


def test_the_jobs_target_fails_jobs_only_when_named() -> None:
    every_route = FaultConfig(error_rate=1.0)
    jobs = FaultConfig(error_rate=0.5, routes=frozenset({"jobs"}))

    assert every_route.jobs_error_rate == 0.0
    assert jobs.jobs_error_rate == 0.5
    assert not jobs.applies_to("/api/todos/")
