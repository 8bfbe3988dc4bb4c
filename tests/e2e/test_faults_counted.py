"""Injected faults are real 500s that the metrics count (so the availability alert can fire)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Server, http, run_server, temporary_database

pytestmark = pytest.mark.e2e

REQUESTS = 12


@pytest.fixture(scope="module")
def faulty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Every GET /api/todos/{id}/ fails; other routes are healthy."""
    directory = tmp_path_factory.mktemp("faults")
    with (
        temporary_database(directory) as database_url,
        run_server(
            {
                "DATABASE_URL": database_url,
                "FAULT_ERROR_RATE": "1",
                "FAULT_ROUTES": "/api/todos/{id}/",
            },
            directory=directory,
        ) as server,
    ):
        yield server


def responses_by_status(server: Server, view: str) -> dict[str, float]:
    text = http("GET", server.metrics_url).body
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "django_http_responses_total_by_status_view_method":
            continue
        for sample in family.samples:
            if sample.labels["view"] == view and sample.labels["method"] == "GET":
                counts[sample.labels["status"]] = sample.value
    return counts


def access_token(server: Server) -> str:
    credentials = {"username": "faulty", "password": "a-long-secret-pass"}
    http("POST", f"{server.url}/api/auth/register/", json_body=credentials)
    token: str = http("POST", f"{server.url}/api/auth/token/", json_body=credentials).body["access"]
    return token


def test_injected_errors_are_counted_as_5xx_by_route(faulty_server: Server) -> None:
    headers = {"Authorization": f"Bearer {access_token(faulty_server)}"}
    before = responses_by_status(faulty_server, "todo-detail").get("500", 0)

    statuses = [
        http("GET", f"{faulty_server.url}/api/todos/1/", headers=headers).status
        for _ in range(REQUESTS)
    ]
    healthy = http("GET", f"{faulty_server.url}/api/todos/", headers=headers).status

    assert statuses == [500] * REQUESTS
    assert healthy == 200
    after = responses_by_status(faulty_server, "todo-detail").get("500", 0)
    assert after - before == REQUESTS


def test_probes_are_never_faulted(faulty_server: Server) -> None:
    assert http("GET", f"{faulty_server.url}/healthz").status == 200
    assert http("GET", f"{faulty_server.url}/readyz").status == 200
