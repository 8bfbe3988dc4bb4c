"""The in-process request metrics middlewares (app.telemetry.prometheus.middleware)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse
from django.test import Client, RequestFactory
from prometheus_client import REGISTRY
from rest_framework.response import Response

from app.telemetry.prometheus.middleware import (
    RequestMetricsMiddleware,
    ViewMetricsMiddleware,
    charset_label,
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


def request_samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the request families in this process, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in REGISTRY.collect()
        if metric.name.startswith(("django_http_", "todos_http_"))
        for sample in metric.samples
        if not sample.name.endswith("_created")
    }


def changes(
    before: dict[tuple[str, tuple[tuple[str, str], ...]], float],
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """What moved since ``before``, the latency sums left out (they vary)."""
    after = request_samples()
    return {
        key: value - before.get(key, 0.0)
        for key, value in after.items()
        if value != before.get(key, 0.0) and "latency" not in key[0]
    }


def pop_buckets(moved: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    """Remove ``name``'s moved buckets from ``moved``; the smallest bound among them (each
    must have moved by 1, and every bound above it too: the cumulative ``le`` buckets)."""
    bounds = {
        float(dict(labels)["le"]): moved.pop((sample, labels))
        for sample, labels in list(moved)
        if sample == f"{name}_bucket"
    }
    assert set(bounds.values()) == {1}, bounds
    everything = {
        float(dict(labels)["le"])
        for sample, labels in request_samples()
        if sample == f"{name}_bucket"
    }
    lowest = min(bounds)
    assert set(bounds) == {bound for bound in everything if bound >= lowest}
    return lowest


def test_a_response_is_counted_in_each_family_django_prometheus_records() -> None:
    before = request_samples()
    request = RequestFactory().post("/x/", data=b"12345", content_type="text/plain")
    view_and_inner = ViewMetricsMiddleware(lambda request: HttpResponse("created", status=201))
    RequestMetricsMiddleware(view_and_inner)(request)
    moved = changes(before)
    assert moved.pop(("django_http_requests_body_total_bytes_sum", ())) == 5
    assert moved.pop(("django_http_responses_body_total_bytes_sum", ())) == 7
    assert pop_buckets(moved, "django_http_requests_body_total_bytes") >= 5
    assert pop_buckets(moved, "django_http_responses_body_total_bytes") >= 7
    assert moved == {
        ("django_http_requests_before_middlewares_total", ()): 1,
        ("django_http_responses_before_middlewares_total", ()): 1,
        ("django_http_requests_total_by_method_total", (("method", "POST"),)): 1,
        ("django_http_requests_total_by_transport_total", (("transport", "http"),)): 1,
        ("django_http_responses_total_by_status_total", (("status", "201"),)): 1,
        (
            "django_http_responses_total_by_status_view_method_total",
            (("method", "POST"), ("status", "201"), ("view", "<unnamed view>")),
        ): 1,
        ("django_http_responses_total_by_charset_total", (("charset", "utf-8"),)): 1,
        ("django_http_requests_body_total_bytes_count", ()): 1,
        ("django_http_responses_body_total_bytes_count", ()): 1,
    }


def test_a_view_that_raises_is_counted_by_method_transport_and_size_only() -> None:
    def failing_view(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("boom")

    before = request_samples()
    with pytest.raises(RuntimeError):
        ViewMetricsMiddleware(failing_view)(RequestFactory().get("/x/"))
    moved = changes(before)
    pop_buckets(moved, "django_http_requests_body_total_bytes")
    assert moved == {
        ("django_http_requests_total_by_method_total", (("method", "GET"),)): 1,
        ("django_http_requests_total_by_transport_total", (("transport", "http"),)): 1,
        ("django_http_requests_body_total_bytes_count", ()): 1,
    }


class NotDjangoResponse:
    charset = "ascii"


@pytest.mark.parametrize(
    "response",
    [
        HttpResponse(b"{}", content_type="application/json"),
        HttpResponse(b"x", content_type="text/plain; charset=latin-1"),
        HttpResponse(b"x", content_type='text/csv; Charset="iso-8859-15"'),
        HttpResponse(b"x", content_type="application/json", charset="utf-16"),
        HttpResponse(b"x"),
        Response({"a": 1}),
        NotDjangoResponse(),
    ],
    ids=["json", "text-latin1", "csv-quoted", "explicit", "default-html", "drf", "not-django"],
)
def test_the_charset_label_is_the_responses_charset_asked_twice(response: HttpResponse) -> None:
    assert charset_label(response) == response.charset
    assert charset_label(response) == response.charset  # the remembered answer


def test_a_changed_default_charset_is_seen_by_the_charset_label(settings: Any) -> None:
    assert charset_label(HttpResponse(b"{}", content_type="application/json")) == "utf-8"

    settings.DEFAULT_CHARSET = "latin-1"

    assert charset_label(HttpResponse(b"{}", content_type="application/json")) == "latin-1"
