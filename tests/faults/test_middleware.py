"""The fault middleware: injected errors are real unhandled 500s on the chosen routes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from app.faults.config import FaultConfig
from app.faults.middleware import InjectedFaultError
from app.faults.state import state
from tests.factories import TodoFactory

pytestmark = pytest.mark.usefixtures("fresh_fault_state")


@pytest.mark.django_db
def test_an_injected_error_is_an_unhandled_500_on_the_chosen_route(
    alice: User, alice_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    todo = TodoFactory.create(owner=alice)
    config = FaultConfig(error_rate=1.0, routes=frozenset({"/api/todos/{id}/"}))
    state.set_override(config)
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
    state.set_override(FaultConfig(error_rate=1.0))

    with pytest.raises(InjectedFaultError, match="/api/todos/"):
        alice_client.get("/api/todos/")
