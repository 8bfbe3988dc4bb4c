"""The runtime fault switch: staff only, applied at once, refused in production."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.test import APIClient

from app.faults import metrics as fault_metrics
from app.faults.config import FaultConfig
from app.faults.models import FaultSetting
from app.faults.state import state
from app.telemetry import identity
from app.telemetry import logging as telemetry_logging
from tests.factories import UserFactory
from tests.support.api_clients import client_for
from tests.support.openapi import generate_schema, validate_response

URL = "/api/faults/"
FAIL_LIST = {"error_rate": 1.0, "routes": ["/api/todos/"]}

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("FAULT_ERROR_RATE", "FAULT_LATENCY_MS", "FAULT_LATENCY_JITTER_MS", "FAULT_ROUTES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("DEPLOYMENT_ENVIRONMENT", raising=False)
    identity.service_identity.cache_clear()
    state.reset()
    yield
    state.reset()
    identity.service_identity.cache_clear()


@pytest.fixture
def staff_client() -> APIClient:
    return client_for(UserFactory.create(username="ops", is_staff=True))


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """Run a request's on-commit work (the switch applies after the transaction commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_staff_see_the_environment_defaults(staff_client: APIClient) -> None:
    body = staff_client.get(URL).json()

    assert body == {
        "error_rate": 0.0,
        "latency_ms": 0,
        "latency_jitter_ms": 0,
        "routes": [],
        "active": False,
        "source": "environment",
    }


def test_switching_on_applies_at_once_and_fails_the_chosen_route(
    staff_client: APIClient, alice_client: APIClient, committed: Callable[[], Any]
) -> None:
    with committed():
        response = staff_client.put(URL, FAIL_LIST, format="json")

    assert response.status_code == 200
    shown = staff_client.get(URL).json()
    assert (shown["active"], shown["source"], shown["error_rate"]) == (True, "runtime", 1.0)
    alice_client.raise_request_exception = False
    assert alice_client.get("/api/todos/").status_code == 500
    assert alice_client.post("/api/auth/register/", {}, format="json").status_code == 400
    assert fault_metrics.fault_error_rate._value.get() == 1.0


def test_switching_off_stays_off_over_the_environment_defaults(
    staff_client: APIClient,
    alice_client: APIClient,
    committed: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAULT_ERROR_RATE", "1")
    monkeypatch.setenv("FAULT_ROUTES", "/api/todos/")
    alice_client.raise_request_exception = False
    assert alice_client.get("/api/todos/").status_code == 500  # the defaults apply

    with committed():
        response = staff_client.delete(URL)

    assert response.status_code == 204
    stored = FaultSetting.objects.get()
    assert not stored.to_config().active  # stored as "off", not removed
    assert alice_client.get("/api/todos/").status_code == 200
    assert staff_client.get(URL).json() == {
        "error_rate": 0.0,
        "latency_ms": 0,
        "latency_jitter_ms": 0,
        "routes": [],
        "active": False,
        "source": "runtime",
    }
    assert fault_metrics.fault_error_rate._value.get() == 0.0


def test_switching_off_after_switching_on_stores_off(
    staff_client: APIClient, alice_client: APIClient, committed: Callable[[], Any]
) -> None:
    with committed():
        staff_client.put(URL, FAIL_LIST, format="json")
    with committed():
        response = staff_client.delete(URL)

    assert response.status_code == 204
    assert not FaultSetting.objects.get().to_config().active
    assert alice_client.get("/api/todos/").status_code == 200
    assert fault_metrics.fault_error_rate._value.get() == 0.0


def test_resetting_the_switch_brings_the_environment_defaults_back(
    staff_client: APIClient,
    alice_client: APIClient,
    committed: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAULT_ERROR_RATE", "1")
    with committed():
        staff_client.delete(URL)
    output = io.StringIO()

    with committed():
        call_command("reset_fault_switch", stdout=output)

    assert not FaultSetting.objects.exists()
    assert "FAULT_* defaults apply again" in output.getvalue()
    shown = staff_client.get(URL).json()
    assert (shown["active"], shown["source"], shown["error_rate"]) == (True, "environment", 1.0)
    alice_client.raise_request_exception = False
    assert alice_client.get("/api/todos/").status_code == 500


def test_latency_faults_report_their_worst_case_in_the_gauge(
    staff_client: APIClient, committed: Callable[[], Any]
) -> None:
    with committed():
        staff_client.put(
            URL, {"latency_ms": 200, "latency_jitter_ms": 50, "routes": ["/x/"]}, format="json"
        )

    assert fault_metrics.fault_latency_seconds._value.get() == pytest.approx(0.25)


def test_non_staff_users_are_refused(alice_client: APIClient) -> None:
    assert alice_client.get(URL).status_code == 403
    assert alice_client.put(URL, FAIL_LIST, format="json").status_code == 403
    assert not FaultSetting.objects.exists()


def test_anonymous_callers_must_authenticate(anon_client: APIClient) -> None:
    assert anon_client.get(URL).status_code == 401


@pytest.mark.parametrize(
    "payload",
    [
        {"error_rate": 1.5},
        {"error_rate": -0.1},
        {"latency_ms": 60_001},
        {"routes": "/api/todos/"},
        {"error_rate": 0.5, "colour": "red"},
    ],
)
def test_invalid_faults_are_400_and_change_nothing(
    staff_client: APIClient, payload: dict[str, Any]
) -> None:
    response = staff_client.put(URL, payload, format="json")

    assert response.status_code == 400
    assert not FaultSetting.objects.exists()
    assert not state.current().active


def test_an_invalid_route_is_named_by_its_path_as_the_documented_400_says(
    staff_client: APIClient, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock():
        schema = generate_schema()

    response = staff_client.put(URL, {"routes": ["/api/todos/", "   ", 7]}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "routes.1": ["This field may not be blank."],
        "routes.2": ["Must be a string."],
    }
    validate_response(schema, URL, "put", 400, response.json())
    assert not FaultSetting.objects.exists()


def test_production_refuses_the_switch(
    staff_client: APIClient, monkeypatch: pytest.MonkeyPatch, committed: Callable[[], Any]
) -> None:
    monkeypatch.setenv("DEPLOYMENT_ENVIRONMENT", "production")
    identity.service_identity.cache_clear()

    with committed():
        response = staff_client.put(URL, FAIL_LIST, format="json")

    assert response.status_code == 403
    assert response.json() == {"detail": "Fault injection is disabled in production."}
    assert not FaultSetting.objects.exists()
    assert not state.current().active


def test_a_stored_override_is_ignored_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYMENT_ENVIRONMENT", "production")
    identity.service_identity.cache_clear()

    state.set_override(FaultConfig(error_rate=1.0))

    assert not state.current().active


def test_the_change_is_logged_once_with_who_did_it(
    staff_client: APIClient, committed: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    output = io.StringIO()
    monkeypatch.setattr(telemetry_logging, "output_stream", lambda: output)

    with committed():
        staff_client.put(URL, FAIL_LIST, format="json")

    events = [json.loads(line) for line in output.getvalue().splitlines()]
    (change,) = [event for event in events if event["event"] == "fault_changed"]
    assert change["by_user_id"] == User.objects.get(username="ops").pk
    assert (change["error_rate"], change["active"], change["source"]) == (1.0, True, "runtime")
