"""Injected faults are real 500s that the metrics count (so the availability alert can fire)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.accounts import create_account
from tests.support.http import http
from tests.support.prometheus import scrape
from tests.support.servers import Server, run_server_on_new_database

pytestmark = pytest.mark.e2e

REQUESTS = 12
RESPONSES = "django_http_responses_total_by_status_view_method_total"


@pytest.fixture(scope="module")
def faulty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Every GET /api/todos/{id}/ fails; other routes are healthy."""
    overrides = {"FAULT_ERROR_RATE": "1", "FAULT_ROUTES": "/api/todos/{id}/"}
    with run_server_on_new_database(
        overrides, directory=tmp_path_factory.mktemp("faults")
    ) as server:
        yield server


def detail_500s(server: Server) -> float:
    """The GET todo-detail 500s the metrics endpoint has counted."""
    return scrape(server).value(RESPONSES, status="500", view="todo-detail", method="GET")


def test_injected_errors_are_counted_as_5xx_by_route(faulty_server: Server) -> None:
    headers = create_account(faulty_server).headers
    before = detail_500s(faulty_server)

    statuses = [
        http("GET", f"{faulty_server.url}/api/todos/1/", headers=headers).status
        for _ in range(REQUESTS)
    ]
    healthy = http("GET", f"{faulty_server.url}/api/todos/", headers=headers).status

    assert statuses == [500] * REQUESTS
    assert healthy == 200
    after = detail_500s(faulty_server)
    assert after - before == REQUESTS


def test_probes_are_never_faulted(faulty_server: Server) -> None:
    assert http("GET", f"{faulty_server.url}/healthz").status == 200
    assert http("GET", f"{faulty_server.url}/readyz").status == 200
