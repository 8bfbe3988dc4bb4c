"""The in-process request metrics middlewares (app.telemetry.prometheus.middleware)."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from app.telemetry.prometheus.middleware import RequestMetricsMiddleware, requests_in_flight

pytestmark = pytest.mark.database_free


def in_flight() -> float:
    """The gauge's current value in this process."""
    return float(requests_in_flight._value.get())


def test_a_request_is_in_flight_only_while_it_is_served() -> None:
    seen: list[float] = []
    before = in_flight()

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(in_flight())
        return HttpResponse("ok")

    RequestMetricsMiddleware(view)(RequestFactory().get("/api/todos/"))
    assert seen == [before + 1]
    assert in_flight() == before


def test_a_request_that_raises_leaves_flight_too() -> None:
    before = in_flight()

    def failing_view(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        RequestMetricsMiddleware(failing_view)(RequestFactory().get("/api/todos/"))
    assert in_flight() == before
