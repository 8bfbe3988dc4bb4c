"""Route templates name endpoints the same way in logs, traces and the schema."""

import pytest
from django.test import RequestFactory
from django.urls import resolve

from app.telemetry.routes import UNMATCHED, route_template, template_of

pytestmark = pytest.mark.database_free


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/api/todos/", "/api/todos/"),
        ("/api/todos/42/", "/api/todos/{id}/"),
        ("/api/auth/token/refresh/", "/api/auth/token/refresh/"),
        ("/healthz", "/healthz"),
    ],
)
def test_it_names_a_routed_request_by_its_template(path: str, template: str) -> None:
    request = RequestFactory().get(path)
    request.resolver_match = resolve(path)

    assert route_template(request) == template


def test_an_unrouted_request_is_unmatched_whatever_its_path() -> None:
    request = RequestFactory().get("/wp-admin/setup.php")

    assert route_template(request) == UNMATCHED


def test_templates_are_made_once_per_pattern_and_stay_right() -> None:
    template_of.cache_clear()
    for path in ("/api/todos/1/", "/api/todos/2/"):
        request = RequestFactory().get(path)
        request.resolver_match = resolve(path)
        assert route_template(request) == "/api/todos/{id}/"

    info = template_of.cache_info()
    assert (info.misses, info.hits) == (1, 1)
