"""Readiness under a broken dependency: the real gunicorn with PostgreSQL or Redis unreachable.

Each server points a dependency at a closed port on 127.0.0.1. Without the database the probes
say it is failing (503) while liveness stays 200, and API requests fail fast with JSON. Without
Redis the pod keeps serving (the cache holds only throttle state): /readyz stays 200 reporting
the cache degraded, and throttled endpoints answer as usual (tests/reliability/
test_redis_outage.py cuts Redis under load instead).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import jwt
import pytest

from tests.support.accounts import create_account
from tests.support.databases import sqlite_url
from tests.support.http import http
from tests.support.ports import closed_port
from tests.support.prometheus import scrape
from tests.support.servers import Server, run_server

pytestmark = pytest.mark.e2e

CLIENT_TIMEOUT_S = 15.0


@pytest.fixture(scope="module")
def server_without_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One gunicorn worker whose PostgreSQL refuses connections (nothing to migrate)."""
    overrides = {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed_port()}/x",
        "DATABASE_CONNECT_TIMEOUT": "2",
        "WEB_CONCURRENCY": "1",
    }
    directory = tmp_path_factory.mktemp("no-database")
    with run_server(overrides, directory=directory, migrate=False) as server:
        yield server


@pytest.fixture(scope="module")
def server_without_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One gunicorn worker on a working SQLite file whose Redis refuses connections."""
    directory = tmp_path_factory.mktemp("no-cache")
    overrides = {
        "DATABASE_URL": sqlite_url(directory),
        "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0",
        "WEB_CONCURRENCY": "1",
    }
    with run_server(overrides, directory=directory) as server:
        yield server


def _signed_access_token(server: Server) -> str:
    """A valid access JWT for user 1, signed with the server's key, so auth reaches the DB."""
    now = int(time.time())
    claims = {
        "token_type": "access",
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "user_id": "1",
    }
    return jwt.encode(claims, server.env["DJANGO_SECRET_KEY"], algorithm="HS256")


def _server_without(request: pytest.FixtureRequest, dependency: str) -> Server:
    """The module's server whose ``dependency`` (database or cache) refuses connections."""
    server: Server = request.getfixturevalue(f"server_without_{dependency}")
    return server


def test_it_reports_an_unreachable_database_failing(server_without_database: Server) -> None:
    """/readyz answers 503 JSON naming the database, not the working cache."""
    response = http("GET", f"{server_without_database.url}/readyz", timeout=CLIENT_TIMEOUT_S)
    assert response.status == 503, response
    assert response.is_json()
    assert response.body["status"] == "unavailable"
    assert response.body["failing"] == ["database"]
    assert response.body["degraded"] == []
    assert response.body["checks"]["database"]["status"] == "error"
    assert response.body["checks"]["cache"]["status"] == "ok"


def test_it_stays_ready_reporting_an_unreachable_cache_degraded(
    server_without_cache: Server,
) -> None:
    """/readyz answers 200 JSON naming the cache degraded: the pod stays in the Service."""
    response = http("GET", f"{server_without_cache.url}/readyz", timeout=CLIENT_TIMEOUT_S)
    assert response.status == 200, response
    assert response.is_json()
    assert response.body["status"] == "degraded"
    assert response.body["failing"] == []
    assert response.body["degraded"] == ["cache"]
    assert response.body["checks"]["cache"]["status"] == "degraded"
    assert response.body["checks"]["cache"]["error"] == "ConnectionError"
    assert response.body["checks"]["database"]["status"] == "ok"


@pytest.mark.parametrize("dependency", ["database", "cache"])
def test_it_stays_live_when_a_dependency_is_down(
    request: pytest.FixtureRequest, dependency: str
) -> None:
    """/healthz makes no dependency calls, so Kubernetes does not restart the pod."""
    server = _server_without(request, dependency)
    response = http("GET", f"{server.url}/healthz", timeout=CLIENT_TIMEOUT_S)
    assert response.status == 200, response
    assert response.body == {"status": "ok"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/todos/", None),
        ("POST", "/api/auth/token/", {"username": "alice", "password": "not-checked-anyway"}),
    ],
)
def test_it_answers_api_requests_with_a_prompt_json_error_when_the_database_is_down(
    server_without_database: Server, method: str, path: str, body: dict[str, str] | None
) -> None:
    """A request that needs the database gets a prompt JSON 503 with Retry-After, no hang."""
    headers = {"Authorization": f"Bearer {_signed_access_token(server_without_database)}"}
    started = time.monotonic()
    response = http(
        method,
        f"{server_without_database.url}{path}",
        json_body=body,
        headers=headers if body is None else None,
        timeout=CLIENT_TIMEOUT_S,
    )
    elapsed = time.monotonic() - started
    assert response.status == 503, response
    assert response.is_json(), response
    assert response.body == {"detail": "Service temporarily unavailable, retry later."}
    assert int(response.headers["Retry-After"]) > 0
    assert elapsed < 5.0


def test_throttled_endpoints_keep_answering_when_the_cache_is_down(
    server_without_cache: Server,
) -> None:
    """Throttle counters live in the cache: without it the throttle lets requests by."""
    wrong = http(
        "POST",
        f"{server_without_cache.url}/api/auth/token/",
        json_body={"username": "alice", "password": "whatever"},
        timeout=CLIENT_TIMEOUT_S,
    )
    assert wrong.status == 401, wrong
    account = create_account(server_without_cache)  # register 201, token 200
    listed = http(
        "GET", f"{server_without_cache.url}/api/todos/", headers=account.headers, timeout=15
    )
    assert listed.status == 200, listed


def test_it_counts_the_503s_of_an_unreachable_database(server_without_database: Server) -> None:
    """todos_dependency_errors_total names the dependency behind each 503 (the alert's input)."""
    before = scrape(server_without_database)
    assert before.matching("todos_dependency_errors_total", dependency="cache"), "not exported"
    assert before.value("todos_dependency_errors_total", dependency="cache") == 0
    response = http(
        "POST",
        f"{server_without_database.url}/api/auth/token/",
        json_body={"username": "alice", "password": "whatever"},
        timeout=CLIENT_TIMEOUT_S,
    )
    assert response.status == 503, response
    after = scrape(server_without_database)
    counted = after.value("todos_dependency_errors_total", dependency="database")
    assert counted == before.value("todos_dependency_errors_total", dependency="database") + 1
    assert after.value("todos_dependency_errors_total", dependency="cache") == 0


def test_the_cache_series_are_exported_at_zero_from_worker_start(
    server_without_database: Server,
) -> None:
    """A server that never reached for Redis still exports the bypass counter and gauge."""
    metrics = scrape(server_without_database)
    assert metrics.matching("todos_cache_bypassed_total"), "not exported"
    assert metrics.matching("todos_cache_degraded"), "not exported"
    assert metrics.value("todos_cache_bypassed_total") == 0
    assert metrics.value("todos_cache_degraded") == 0


def test_an_unreachable_cache_is_bypassed_and_counted_not_answered_with_503(
    server_without_cache: Server,
) -> None:
    """No 503 for the cache: the requests are served without it, and that is counted."""
    before = scrape(server_without_cache)
    response = http(
        "POST",
        f"{server_without_cache.url}/api/auth/token/",
        json_body={"username": "alice", "password": "whatever"},
        timeout=CLIENT_TIMEOUT_S,
    )
    assert response.status == 401, response
    after = scrape(server_without_cache)
    assert after.value("todos_dependency_errors_total", dependency="cache") == 0
    assert after.value("todos_cache_bypassed_total") > before.value("todos_cache_bypassed_total")
    assert after.value("todos_cache_degraded") == 1
