"""The runtime fault switch reaches every gunicorn worker without a restart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.accounts import create_account
from tests.support.http import http
from tests.support.prometheus import scrape
from tests.support.servers import Server, manage, run_server_on_new_database
from tests.support.waiting import poll

pytestmark = pytest.mark.e2e

STAFF = {"username": "ops", "password": "ops-password-for-tests"}
DEADLINE_S = 10.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server_on_new_database(
        {"WEB_CONCURRENCY": "3"}, directory=tmp_path_factory.mktemp("fault-switch")
    ) as running:
        manage(
            "ensure_demo_user", "--staff", "--username", STAFF["username"],
            "--password", STAFF["password"], env=running.env,
        )  # fmt: skip
        yield running


def bearer(server: Server, credentials: dict[str, str]) -> dict[str, str]:
    token = http("POST", f"{server.url}/api/auth/token/", json_body=credentials).body["access"]
    return {"Authorization": f"Bearer {token}"}


def statuses_until(server: Server, headers: dict[str, str], wanted: int) -> list[int]:
    """GET the list (a new connection each time) until 20 answers in a row are ``wanted``."""
    seen: list[int] = []

    def one_more() -> list[int]:
        seen.append(http("GET", f"{server.url}/api/todos/", headers=headers).status)
        return seen

    return poll(
        one_more,
        lambda seen: seen[-20:] == [wanted] * 20,
        timeout=DEADLINE_S,
        interval=0,
        failure=lambda seen: f"never 20 x {wanted} in a row within {DEADLINE_S} s: {seen[-40:]}",
    )


def gauge(server: Server, name: str) -> float:
    """The unlabelled sample of gauge ``name``; fail when it is not exported."""
    values = [sample.value for sample in scrape(server).matching(name) if not sample.labels]
    assert values, f"{name} not exported"
    return values[0]


def gauge_reaches(server: Server, value: float) -> None:
    """Wait (bounded) until the aggregated fault gauge shows ``value``."""
    poll(
        lambda: gauge(server, "todos_fault_error_rate"),
        lambda seen: seen == value,
        timeout=DEADLINE_S,
        failure=lambda seen: f"todos_fault_error_rate stayed {seen}, expected {value}",
    )


def test_staff_switch_faults_on_and_off_for_every_worker(server: Server) -> None:
    staff = bearer(server, STAFF)
    headers = create_account(server).headers
    statuses_until(server, headers, 200)

    switched = http(
        "PUT",
        f"{server.url}/api/faults/",
        json_body={"error_rate": 1.0, "routes": ["/api/todos/"]},
        headers=staff,
    )
    assert switched.status == 200, switched
    assert switched.body["active"] is True
    statuses_until(server, headers, 500)
    gauge_reaches(server, 1.0)
    assert http("GET", f"{server.url}/healthz").status == 200  # probes are never faulted

    assert http("DELETE", f"{server.url}/api/faults/", headers=staff).status == 204
    statuses_until(server, headers, 200)
    gauge_reaches(server, 0.0)  # every worker's poller, even one that served no request
    changes = [line for line in server.log().splitlines() if '"fault_changed"' in line]
    assert len(changes) == 2  # logged once per change, not once per worker


def test_ordinary_users_cannot_touch_the_switch(server: Server) -> None:
    user = create_account(server)

    response = http(
        "PUT", f"{server.url}/api/faults/", json_body={"error_rate": 1.0}, headers=user.headers
    )

    assert response.status == 403
