"""Readiness under a broken dependency: the real gunicorn with PostgreSQL or Redis unreachable.

Each server points a dependency at a closed port on 127.0.0.1: the probes must say which one
is failing (503) while liveness stays 200, and API requests must fail fast with JSON.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import jwt
import pytest

from tests.e2e.conftest import Server, closed_port, http, run_server, sqlite_url
from tests.e2e.prometheus_helpers import scrape

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


@pytest.mark.parametrize(("failing", "working"), [("database", "cache"), ("cache", "database")])
def test_it_reports_the_unreachable_dependency_failing(
    request: pytest.FixtureRequest, failing: str, working: str
) -> None:
    """/readyz answers 503 JSON naming the unreachable dependency, not the working one."""
    server = _server_without(request, failing)
    response = http("GET", f"{server.url}/readyz", timeout=CLIENT_TIMEOUT_S)
    assert response.status == 503, response
    assert response.is_json()
    assert response.body["status"] == "unavailable"
    assert response.body["failing"] == [failing]
    assert response.body["checks"][failing]["status"] == "error"
    assert response.body["checks"][working]["status"] == "ok"


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


def test_it_answers_throttled_endpoints_with_503_when_the_cache_is_down(
    server_without_cache: Server,
) -> None:
    """Throttle counters live in the cache: without it, a clean 503, not a traceback."""
    response = http(
        "POST",
        f"{server_without_cache.url}/api/auth/token/",
        json_body={"username": "alice", "password": "whatever"},
        timeout=CLIENT_TIMEOUT_S,
    )
    assert response.status == 503, response
    assert response.is_json(), response
    assert "Retry-After" in response.headers


@pytest.mark.parametrize(("failing", "working"), [("database", "cache"), ("cache", "database")])
def test_it_counts_the_503s_by_failing_dependency(
    request: pytest.FixtureRequest, failing: str, working: str
) -> None:
    """todos_dependency_errors_total names the dependency behind each 503 (the alert's input)."""
    server = _server_without(request, failing)
    before = scrape(server)
    assert before.matching("todos_dependency_errors_total", dependency=working), "not exported"
    assert before.value("todos_dependency_errors_total", dependency=working) == 0
    response = http(
        "POST",
        f"{server.url}/api/auth/token/",
        json_body={"username": "alice", "password": "whatever"},
        timeout=CLIENT_TIMEOUT_S,
    )
    assert response.status == 503, response
    after = scrape(server)
    counted = after.value("todos_dependency_errors_total", dependency=failing)
    assert counted == before.value("todos_dependency_errors_total", dependency=failing) + 1
    assert after.value("todos_dependency_errors_total", dependency=working) == 0
