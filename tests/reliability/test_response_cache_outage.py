"""Redis goes away and comes back under cached reads: no error, and not one stale read.

gunicorn (2 workers, ``RESPONSE_CACHE_SECONDS=60``, ``CACHE_RETRY_SECONDS=1``) reaches Redis
through a ``TcpProxy``. Two users' lists and todos are cached (pages from before the outage stay
in Redis all along: the proxy cuts the connections, not the data). While the proxy is cut the
users change their todos (create, complete, delete) and read after every write; after the
restore they keep writing and reading until reads are hits again. Every read is compared with
the state the acknowledged writes made:

- no request fails; during the outage the reads are bypasses (counted), no hit;
- no read, during the outage or after it, returns anything but the current state: the pages
  cached before the outage are keyed by a version the outage writes raised in the database;
- a pre-outage ``ETag`` is not answered 304 after the restore;
- hits come back after the restore.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.accounts import Account, create_account
from tests.support.backing_services import REDIS_URL, reachable, require
from tests.support.http import Response, http
from tests.support.prometheus import scrape
from tests.support.servers import Server, run_server_on_new_database
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e

WORKERS = 2
RETRY_S = 1.0
OUTAGE_S = 3.0  # several retry intervals: every worker probes the cut Redis again
RECOVERY_DEADLINE_S = 15.0
LIST = "/api/todos/?ordering=title&page_size=100"


@dataclass
class User:
    """One account and the state its acknowledged writes made: title -> (id, completed)."""

    account: Account
    todos: dict[str, tuple[int, bool]] = field(default_factory=dict)
    writes: int = 0


@dataclass
class Reads:
    """Every read checked, and the ones that did not show the current state."""

    total: int = 0
    stale: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, TcpProxy]]:
    require("redis", reachable(REDIS_URL, default_port=6379))
    directory: Path = tmp_path_factory.mktemp("response-cache-outage")
    target = urlsplit(REDIS_URL)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 6379) as proxy:
        overrides = {
            "REDIS_URL": proxy.rewrite_url(REDIS_URL),
            "RESPONSE_CACHE_SECONDS": "60",
            "CACHE_RETRY_SECONDS": str(RETRY_S),
            "WEB_CONCURRENCY": str(WORKERS),
        }
        with run_server_on_new_database(overrides, directory=directory) as server:
            yield server, proxy


def _call(server: Server, user: User, method: str, path: str, **kwargs: Any) -> Response:
    headers = {**user.account.headers, **kwargs.pop("headers", {})}
    return http(method, f"{server.url}{path}", headers=headers, **kwargs)


def _write(server: Server, user: User) -> None:
    """The next write of a create, create, complete, delete cycle; the state follows its 2xx
    answer."""
    step = user.writes % 4
    user.writes += 1
    if step in {0, 1} or not user.todos:
        title = f"t{user.writes:03d}"
        created = _call(server, user, "POST", "/api/todos/", json_body={"title": title})
        assert created.status == 201, created
        user.todos[title] = (int(created.body["id"]), False)
    elif step == 2:
        title = min(user.todos)
        todo_id, _ = user.todos[title]
        done = _call(server, user, "PATCH", f"/api/todos/{todo_id}/", json_body={"completed": True})
        assert done.status == 200, done
        user.todos[title] = (todo_id, True)
    else:
        title = max(user.todos)
        deleted = _call(server, user, "DELETE", f"/api/todos/{user.todos[title][0]}/")
        assert deleted.status == 204, deleted
        del user.todos[title]


def _check_reads(server: Server, user: User, reads: Reads, phase: str) -> None:
    """Read the list and every todo; each must show exactly the acknowledged state."""
    page = _call(server, user, "GET", LIST)
    assert page.status == 200, page
    reads.total += 1
    shown = [(t["title"], t["id"], t["completed"]) for t in page.body["results"]]
    expected = sorted((title, i, done) for title, (i, done) in user.todos.items())
    if shown != expected:
        reads.stale.append(f"{phase} list of {user.account.username}: {shown} != {expected}")
    for title, (todo_id, completed) in user.todos.items():
        one = _call(server, user, "GET", f"/api/todos/{todo_id}/")
        assert one.status == 200, one
        reads.total += 1
        if (one.body["title"], one.body["completed"]) != (title, completed):
            reads.stale.append(f"{phase} todo {todo_id}: {one.body} != {(title, completed)}")


def _results(server: Server) -> dict[str, float]:
    metrics = scrape(server)
    name = "todos_response_cache_requests_total"
    return {
        result: sum(s.value for s in metrics.matching(name, result=result))
        for result in ("hit", "miss", "bypass")
    }


def test_no_read_is_stale_during_or_after_a_redis_outage(
    deployment: tuple[Server, TcpProxy],
) -> None:
    server, proxy = deployment
    users = [User(create_account(server)), User(create_account(server))]
    reads = Reads()
    for user in users:  # cache every read (twice: each worker may hold a connection)
        for _ in range(4):
            _write(server, user)
        for _ in range(4):
            _check_reads(server, user, reads, "before")
    old_etags = {u.account.username: _call(server, u, "GET", LIST).headers["ETag"] for u in users}
    before = _results(server)
    assert before["hit"] > 0

    proxy.cut()
    cut_until = time.monotonic() + OUTAGE_S
    while time.monotonic() < cut_until:
        for user in users:
            _write(server, user)
            _check_reads(server, user, reads, "outage")
    during = _results(server)

    proxy.restore()
    recovered_by = time.monotonic() + RECOVERY_DEADLINE_S
    hits_before_restore = during["hit"]
    while True:
        for user in users:
            _check_reads(server, user, reads, "after")  # a hit (or a store) of this state
            _check_reads(server, user, reads, "after")
        if _results(server)["hit"] > hits_before_restore:
            break
        assert time.monotonic() < recovered_by, "no hit within the deadline after the restore"
    for user in users:  # writes after the restore invalidate as usual
        _write(server, user)
        _check_reads(server, user, reads, "after-write")
        stale_etag = _call(
            server, user, "GET", LIST, headers={"If-None-Match": old_etags[user.account.username]}
        )
        assert stale_etag.status == 200, stale_etag

    print(  # noqa: T201  # the measured figures are part of the result
        f"\nreads checked: {reads.total}; results before {before}, during {during}, "
        f"after {_results(server)}"
    )
    assert reads.stale == [], "\n".join(reads.stale)
    assert during["bypass"] > before["bypass"]
    assert during["hit"] == before["hit"]  # nothing served from a cache it could not reach
