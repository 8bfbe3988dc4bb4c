"""The in-process request metrics middlewares (app.telemetry.prometheus.middleware)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.http import HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse
from django.test import Client, RequestFactory
from prometheus_client import REGISTRY
from rest_framework.response import Response

from app.telemetry.prometheus.middleware import (
    RequestMetricsMiddleware,
    ViewMetricsMiddleware,
    requests_in_flight,
)

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


def templatename_count(name: str) -> float:
    """``django_http_responses_total_by_templatename_total{templatename=name}`` in this process."""
    value = REGISTRY.get_sample_value(
        "django_http_responses_total_by_templatename_total", {"templatename": name}
    )
    return value or 0.0


def rendered(response: SimpleTemplateResponse) -> SimpleTemplateResponse:
    """``response`` as Django's handler hands it back, rendered (here: content set)."""
    response.content = b"{}"
    return response


@pytest.mark.parametrize(
    ("make_response", "counted_as"),
    [
        (lambda: rendered(SimpleTemplateResponse("app/page.html")), "app/page.html"),
        (lambda: rendered(SimpleTemplateResponse(["a.html", "b.html"])), "['a.html', 'b.html']"),
        (lambda: rendered(Response({"id": 1})), "None"),  # DRF's responses name no template
    ],
)
def test_template_responses_are_counted_by_template_name_as_django_prometheus_does(
    make_response: Callable[[], HttpResponse], counted_as: str
) -> None:
    before = templatename_count(counted_as)
    ViewMetricsMiddleware(lambda request: make_response())(RequestFactory().get("/x/"))
    assert templatename_count(counted_as) == before + 1


def test_plain_responses_are_not_counted_by_template_name() -> None:
    before = {
        sample.labels["templatename"]: sample.value
        for metric in REGISTRY.collect()
        if metric.name == "django_http_responses_total_by_templatename"
        for sample in metric.samples
    }
    ViewMetricsMiddleware(lambda request: HttpResponse("ok"))(RequestFactory().get("/x/"))
    after = {
        sample.labels["templatename"]: sample.value
        for metric in REGISTRY.collect()
        if metric.name == "django_http_responses_total_by_templatename"
        for sample in metric.samples
    }
    assert after == before


def test_a_drf_response_through_django_is_counted_once_by_template_name(client: Client) -> None:
    before = templatename_count("None")
    response = client.get("/api/todos/")  # DRF's 401: a template response naming no template
    assert response.status_code == 401
    assert templatename_count("None") == before + 1
