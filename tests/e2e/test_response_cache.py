"""The response cache through the real gunicorn (2 workers, Redis): what callers and operators see.

- users reading the same query at the same time, across workers, each get only their own page;
- a write answered 2xx is in the very next read, whichever worker serves it;
- the access line says ``cache`` (``miss``, ``hit``, ``304``), and the hit/miss/bypass series
  exist at 0 before the first read.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.accounts import Account, create_account
from tests.support.backing_services import REDIS_URL, reachable, require
from tests.support.http import http
from tests.support.prometheus import scrape
from tests.support.servers import Server, run_server_on_new_database
from tests.support.telemetry import access_events, create_todo, new_request_id

pytestmark = pytest.mark.e2e

WORKERS = 2
USERS = 4
READS_PER_USER = 40
QUERY = "/api/todos/?ordering=title&page_size=50"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require("redis", reachable(REDIS_URL, default_port=6379))
    directory: Path = tmp_path_factory.mktemp("response-cache")
    overrides = {
        "REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": f"e2e-{secrets.token_hex(4)}",
        "RESPONSE_CACHE_SECONDS": "60",
        "WEB_CONCURRENCY": str(WORKERS),
    }
    with run_server_on_new_database(overrides, directory=directory) as running:
        yield running


def _titles(server: Server, account: Account, **headers: str) -> list[str]:
    response = http("GET", f"{server.url}{QUERY}", headers={**account.headers, **headers})
    assert response.status == 200, response
    return [item["title"] for item in response.body["results"]]


def test_the_result_series_exist_at_zero_before_the_first_read(server: Server) -> None:
    metrics = scrape(server)
    for view in ("todo-list", "todo-detail"):
        for result in ("hit", "miss", "bypass"):
            assert metrics.matching(
                "todos_response_cache_requests_total", view=view, result=result
            ), (view, result)


def test_concurrent_users_with_identical_queries_only_ever_see_their_own_todos(
    server: Server,
) -> None:
    accounts = [create_account(server) for _ in range(USERS)]
    for account in accounts:
        for number in range(3):
            create_todo(server, account, f"{account.username}-{number}")

    def read(index: int) -> tuple[Account, list[str]]:
        account = accounts[index % USERS]
        return account, _titles(server, account)

    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = list(pool.map(read, range(USERS * READS_PER_USER)))

    for account, titles in pages:
        assert titles == [f"{account.username}-{n}" for n in range(3)], (account.username, titles)
    hits = scrape(server).value(
        "todos_response_cache_requests_total", view="todo-list", result="hit"
    )
    assert hits >= USERS * (READS_PER_USER - WORKERS * 2)  # nearly every read after the first


def test_a_write_is_in_the_next_read_whichever_worker_serves_it(server: Server) -> None:
    account = create_account(server)
    expected: list[str] = []
    for number in range(12):
        assert _titles(server, account) == sorted(expected)  # warm (or hit) the current version
        title = f"w{number:02d}"
        created = http(
            "POST", f"{server.url}/api/todos/", json_body={"title": title}, headers=account.headers
        )
        assert created.status == 201, created
        expected.append(title)
        assert _titles(server, account) == sorted(expected)  # never the cached page from before


def test_the_access_line_says_how_the_cache_answered(server: Server) -> None:
    account = create_account(server)
    seen = []
    etag = ""
    for headers in ({}, {}, {"If-None-Match": "<etag>"}):
        request_id = new_request_id()
        sent = {**account.headers, "X-Request-ID": request_id}
        if headers:
            sent["If-None-Match"] = etag
        response = http("GET", f"{server.url}/api/todos/?search=nothing", headers=sent)
        etag = response.headers["ETag"] or etag
        (line,) = access_events(server, request_id)
        seen.append((response.status, line["cache"]))

    assert seen == [(200, "miss"), (200, "hit"), (304, "304")]
    (other,) = access_events(server, _unrelated_request(server))
    assert other.get("cache") is None


def _unrelated_request(server: Server) -> str:
    request_id = new_request_id()
    http("GET", f"{server.url}/api/auth/token/", headers={"X-Request-ID": request_id})
    return request_id
