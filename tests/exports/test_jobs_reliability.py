"""Export jobs through failures, on Redis as the broker (the production setting).

gunicorn publishes through a ``TcpProxy`` to Redis; the Celery worker and beat reach Redis
directly. Asserted:

- ``kill -9`` of the worker in the middle of a run: after a new worker starts, every export
  requested (the killed one and those queued behind it) succeeds; none is lost. The killed
  run comes back through Redis' visibility timeout or beat's requeue of stale jobs,
  whichever is first; the claim makes the second one a no-op.
- the broker cut: ``POST /api/todos/exports/`` answers 503 with ``Retry-After`` within
  ``FAST_FAILURE_S`` (never a 500, never a hang), counted as
  ``todos_dependency_errors_total{dependency="queue"}``; restored, the next request is a 202
  and its job succeeds.
- the broker silent (connections accepted, nothing answered): a 503 within
  ``SILENT_FAILURE_S``, bounded by the socket timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.jobs.commands import beat_command
from tests.exports.conftest import FAST_JOBS
from tests.support.accounts import Account, create_account
from tests.support.backing_services import REDIS_URL, reachable, require
from tests.support.http import Response, http
from tests.support.jobs import (
    BEAT_READY,
    jobs_env,
    run_worker,
    started,
    terminate,
    wait_ready,
)
from tests.support.ports import free_port
from tests.support.prometheus import scrape
from tests.support.servers import Server, migrated_database, run_server, server_environment
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import poll

pytestmark = pytest.mark.e2e

RUN_DELAY_MS = 2500  # each run takes this long: the kill lands mid-run
EXPORTS = 3
RECOVERY_DEADLINE_S = 40.0
FAST_FAILURE_S = 3.0
SILENT_FAILURE_S = 8.0  # 2 s socket timeouts: the pooled connection, then a new one (2-6 s seen)


@dataclass(frozen=True)
class RedisStack:
    """gunicorn publishing through ``proxy``; ``worker_env`` reaches Redis directly."""

    server: Server
    proxy: TcpProxy
    worker_env: dict[str, str]
    directory: Path


@pytest.fixture(scope="module")
def redis_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisStack]:
    require("redis", reachable(REDIS_URL, default_port=6379))
    directory = tmp_path_factory.mktemp("jobs-redis")
    settings = {
        **jobs_env(directory, broker_url=REDIS_URL),
        **FAST_JOBS,
        "FAULT_EXPORT_DELAY_MS": str(RUN_DELAY_MS),
        "CELERY_VISIBILITY_TIMEOUT": "6",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    }
    with TcpProxy("127.0.0.1", 6379) as proxy, migrated_database(directory) as database_url:
        settings["DATABASE_URL"] = database_url
        web = {**settings, "CELERY_BROKER_URL": proxy.rewrite_url(REDIS_URL)}
        worker_env = server_environment(settings, port=free_port(), directory=directory)
        with (
            started(beat_command(), worker_env, directory / "beat.log") as beat,
            run_server(web, directory=directory, migrate=False) as server,
        ):
            wait_ready(beat, "beat", BEAT_READY)
            try:
                yield RedisStack(server, proxy, worker_env, directory)
            finally:
                terminate(beat.process, server.process)


def request_export(server: Server, account: Account) -> Response:
    return http(
        "POST",
        f"{server.url}/api/todos/exports/",
        json_body={"format": "json"},
        headers=account.headers,
    )


def status_of(url: str, account: Account) -> str:
    return str(http("GET", url, headers=account.headers).body["status"])


def test_a_worker_killed_mid_run_loses_no_job(redis_stack: RedisStack) -> None:
    alice = create_account(redis_stack.server)
    with run_worker(redis_stack.worker_env, redis_stack.directory, "doomed") as doomed:
        urls = []
        for _ in range(EXPORTS):
            accepted = request_export(redis_stack.server, alice)
            assert accepted.status == 202, accepted
            urls.append(accepted.body["url"])
        poll(
            lambda: [status_of(url, alice) for url in urls],
            lambda statuses: "running" in statuses,
            timeout=15.0,
            failure=lambda statuses: f"no run started: {statuses}\n{doomed.log()[-2000:]}",
        )
        doomed.kill()
    killed_at = time.monotonic()
    running = [url for url in urls if status_of(url, alice) == "running"]
    assert len(running) == 1, "the kill landed mid-run"

    with run_worker(redis_stack.worker_env, redis_stack.directory, "successor") as successor:
        statuses = poll(
            lambda: [status_of(url, alice) for url in urls],
            lambda statuses: all(status == "succeeded" for status in statuses),
            timeout=RECOVERY_DEADLINE_S,
            failure=lambda statuses: f"lost jobs: {statuses}\n{successor.log()[-3000:]}",
        )
    recovered_s = time.monotonic() - killed_at

    assert statuses == ["succeeded"] * EXPORTS
    print(f"all {EXPORTS} exports succeeded {recovered_s:.1f} s after the kill")  # noqa: T201
    body = http("GET", f"{running[0]}download/", headers=alice.headers)
    assert body.status == 200
    assert body.body == []  # alice has no todos: the file is complete, not a partial write


def test_a_broker_outage_is_a_fast_503_and_recovers(redis_stack: RedisStack) -> None:
    alice = create_account(redis_stack.server)
    before = queue_errors(redis_stack.server)
    refused, took = export_while(redis_stack, redis_stack.proxy.cut, alice)

    assert refused.status == 503, refused
    assert refused.headers["Retry-After"] == "5"
    assert refused.body == {"detail": "Service temporarily unavailable, retry later."}
    assert took < FAST_FAILURE_S, f"the 503 took {took:.1f} s"
    print(f"refusing broker: 503 after {took:.2f} s")  # noqa: T201
    assert queue_errors(redis_stack.server) == before + 1

    with run_worker(redis_stack.worker_env, redis_stack.directory, "after-outage"):
        accepted = request_export(redis_stack.server, alice)
        assert accepted.status == 202, accepted
        poll(
            lambda: status_of(accepted.body["url"], alice),
            lambda status: status == "succeeded",
            timeout=RECOVERY_DEADLINE_S,
            failure=lambda status: f"export after the outage: {status}",
        )


def test_a_silent_broker_is_a_503_within_seconds(redis_stack: RedisStack) -> None:
    """The proxy accepts connections and forwards nothing (a black-holed network): publishing
    gives up after the socket timeout and its retries, never hanging the request."""
    alice = create_account(redis_stack.server)
    refused, took = export_while(redis_stack, redis_stack.proxy.hang, alice)

    assert refused.status == 503, refused
    assert refused.headers["Retry-After"] == "5"
    assert took < SILENT_FAILURE_S, f"the 503 took {took:.1f} s"
    print(f"silent broker: 503 after {took:.1f} s")  # noqa: T201


def export_while(
    stack: RedisStack, silence: Callable[[], None], account: Account
) -> tuple[Response, float]:
    """Request one export while the broker is silenced (``silence``: cut or hang the proxy),
    then restore it: the answer and how long it took."""
    silence()
    try:
        started = time.monotonic()
        answer = request_export(stack.server, account)
        return answer, time.monotonic() - started
    finally:
        stack.proxy.restore()


def queue_errors(server: Server) -> float:
    """``todos_dependency_errors_total{dependency="queue"}`` summed over the workers."""
    samples = scrape(server)
    return samples.value("todos_dependency_errors_total", dependency="queue")
