"""A dependency that goes silent costs each request seconds, never a worker.

Two kinds of silence, each for PostgreSQL and for Redis, under load (gunicorn, 3 sync workers):

- ``hang``: a ``TcpProxy`` that accepts and never answers, on the open connections and on every
  new one (a frozen primary, or PgBouncer / a cloud SQL proxy in front of a dead database: TCP
  stays healthy, so only the application's own bound helps);
- ``partition``: packets dropped on a veth pair into a network namespace of the test's own
  (``NetworkPartition``): nothing comes back, SYNs included.

Asserted for every scenario, with the figures printed (``-s`` or ``-rA`` shows them): every
request started while the dependency is silent ends within ``REQUEST_BOUND_S``; for the
database as a JSON 503 with ``Retry-After`` (never a 500 or a dropped connection), for Redis
as a normal answer (it only holds throttle counters: the cache degrades); ``/readyz`` fails
naming the database (or reports the cache degraded) within ``READINESS_DEADLINE_S``; gunicorn
kills no worker (same pids before and after); after the dependency comes back the service
recovers by itself within ``RECOVERY_DEADLINE_S`` (for the database, each worker tries again
once its ``SILENCE_HOLD_S`` is over; for Redis, once its circuit's retry interval is).
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection

from app.dbbackends.replies import SILENCE_HOLD_S
from tests.support.accounts import create_account
from tests.support.backing_services import REDIS_URL, reachable, require
from tests.support.load import Load, Outcome, Processes, call, processes, wait_for_workers
from tests.support.partition import NetworkPartition, require_partitions
from tests.support.servers import Server, migrated_database, run_server
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import poll

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

WORKERS = 3
CLIENTS = 4
REQUEST_BOUND_S = 5.0
READINESS_DEADLINE_S = 10.0
RECOVERY_DEADLINE_S = 20.0  # the cache's circuit retries every CACHE_RETRY_SECONDS (5)
REQUESTS_BEFORE = 20
REQUESTS_DURING = 16  # at up to ~4 s each over 4 clients: the silence lasts >= ~10 s
REQUESTS_AFTER = 20
PROBE_TIMEOUT_S = 15.0
# After the heal, a worker may finish a request that times out (reply bound 3.5 s) and then
# hold new connections off (SILENCE_HOLD_S = 3 s): by then every worker serves again.
SETTLE_S = 3.5 + SILENCE_HOLD_S + 0.5
CONSECUTIVE_READY = 2 * WORKERS  # readiness answered by (very likely) every worker in a row
SCENARIOS = [
    ("database", "hang"),
    ("database", "partition"),
    ("cache", "hang"),
    ("cache", "partition"),
]


@dataclass(frozen=True)
class Silence:
    """What one scenario observed."""

    dependency: str
    kind: str
    outcomes: list[Outcome]
    silent_at: float
    healed_at: float
    readiness_s: float
    recovered_s: float
    before: Processes
    after: Processes

    def during(self) -> list[Outcome]:
        """Requests started while the dependency was silent."""
        return [o for o in self.outcomes if self.silent_at <= o.started < self.healed_at]

    def api_recovered_s(self) -> float:
        """From the heal to the end of the last failed request started after it (0: none)."""
        failed = [o for o in self.outcomes if o.started >= self.healed_at and not o.ok]
        return max((o.started + o.elapsed_s - self.healed_at for o in failed), default=0.0)

    def after_recovery(self) -> list[Outcome]:
        """Requests started once every worker can have reconnected (see ``SETTLE_S``)."""
        settled = self.healed_at + max(self.recovered_s, SETTLE_S)
        return [o for o in self.outcomes if o.started >= settled]


@dataclass(frozen=True)
class SilentPath:
    """How the service reaches a dependency, and how to silence and heal that path."""

    rewrite_url: Callable[[str], str]
    silence: Callable[[], None]
    heal: Callable[[], None]


def _silent_path(stack: ExitStack, kind: str, host: str, port: int) -> SilentPath:
    if kind == "hang":
        proxy = stack.enter_context(TcpProxy(host, port))
        return SilentPath(proxy.rewrite_url, proxy.hang, proxy.restore)
    require_partitions()
    partition = stack.enter_context(NetworkPartition(host, port))
    return SilentPath(partition.rewrite_url, partition.partition, partition.heal)


def _readiness(server_url: str) -> Outcome:
    return call("GET", f"{server_url}/readyz", timeout=PROBE_TIMEOUT_S)


def _silence_seen(dependency: str) -> Callable[[Outcome], bool]:
    def seen(probe: Outcome) -> bool:
        body = probe.body if isinstance(probe.body, dict) else {}
        if dependency == "database":
            return probe.status == 503 and "database" in body.get("failing", [])
        return probe.status == 200 and "cache" in body.get("degraded", [])

    return seen


def _recovered(probe: Outcome) -> bool:
    return probe.status == 200 and isinstance(probe.body, dict) and probe.body["status"] == "ok"


@pytest.fixture(scope="module", params=SCENARIOS, ids=[f"{d}-{k}" for d, k in SCENARIOS])
def silence(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Silence:
    """Run one scenario: load, silence the dependency, observe, heal, observe."""
    dependency, kind = request.param
    directory: Path = tmp_path_factory.mktemp(f"silent-{dependency}-{kind}")
    with ExitStack() as stack:
        database_url = stack.enter_context(migrated_database(directory))
        overrides = {"WEB_CONCURRENCY": str(WORKERS), "DATABASE_URL": database_url}
        if dependency == "database":
            settings_dict = connection.settings_dict
            path = _silent_path(
                stack,
                kind,
                str(settings_dict["HOST"] or "127.0.0.1"),
                int(settings_dict["PORT"] or 5432),
            )
            overrides["DATABASE_URL"] = path.rewrite_url(database_url)
        else:
            require("redis", reachable(REDIS_URL, default_port=6379))
            target = urlsplit(REDIS_URL)
            path = _silent_path(stack, kind, target.hostname or "127.0.0.1", target.port or 6379)
            overrides["REDIS_URL"] = path.rewrite_url(REDIS_URL)
        server = stack.enter_context(run_server(overrides, directory=directory, migrate=False))
        wait_for_workers(server, WORKERS)
        observed = _observe(dependency, kind, server, path, create_account(server).headers)
    return observed


def _observe(
    dependency: str, kind: str, server: Server, path: SilentPath, auth: dict[str, str]
) -> Silence:
    url = server.url
    todos = f"{url}/api/todos/"
    run = secrets.token_hex(3)

    def request(thread: int, number: int) -> Outcome:
        if number % 2:
            return call("GET", todos, headers=auth, timeout=PROBE_TIMEOUT_S)
        body = {"title": f"silent-{run}-{thread}-{number}"}
        return call("POST", todos, json_body=body, headers=auth, timeout=PROBE_TIMEOUT_S)

    before = processes(server)
    with Load(request, threads=CLIENTS, max_requests=2_000, pause_s=0.02) as load:
        load.wait_for(REQUESTS_BEFORE)
        silent_at = time.monotonic()
        path.silence()
        poll(
            lambda: _readiness(url),
            _silence_seen(dependency),
            timeout=READINESS_DEADLINE_S,
            interval=0.1,
            failure=lambda probe: f"/readyz {probe.status} {probe.body!r}: silence not seen",
        )
        readiness_s = time.monotonic() - silent_at
        load.wait_for(REQUESTS_DURING, after=silent_at, timeout=120)
        healed_at = time.monotonic()
        path.heal()
        streak: list[Outcome] = []

        def ready_streak() -> int:
            probe = _readiness(url)
            streak[:] = [*streak, probe] if _recovered(probe) else []
            return len(streak)

        poll(
            ready_streak,
            lambda count: count >= CONSECUTIVE_READY,
            timeout=RECOVERY_DEADLINE_S,
            interval=0.05,
            failure=lambda count: f"/readyz not ok {CONSECUTIVE_READY}x in a row ({count})",
        )
        recovered_s = time.monotonic() - healed_at
        # Readiness can be answered by the workers that already reconnected: the last one may
        # still be finishing a timed-out request and then holding off new connections.
        settled_at = max(time.monotonic(), healed_at + SETTLE_S)
        time.sleep(max(0.0, settled_at - time.monotonic()))  # the bound itself is under test
        load.wait_for(REQUESTS_AFTER, after=settled_at)
    after = processes(server)
    return Silence(
        dependency,
        kind,
        load.outcomes,
        silent_at,
        healed_at,
        readiness_s,
        recovered_s,
        before,
        after,
    )


def _statuses(outcomes: list[Outcome]) -> Counter[str]:
    return Counter(str(o.status) if o.status is not None else o.error for o in outcomes)


def test_every_request_ends_within_the_bound_and_fails_cleanly(silence: Silence) -> None:
    during = silence.during()
    slowest = max(o.elapsed_s for o in during)
    print(  # noqa: T201  # the measured figures are part of the result
        f"\n{silence.dependency} {silence.kind}: {len(during)} requests while silent, "
        f"{_statuses(during)}, slowest {slowest:.2f} s"
    )
    assert slowest < REQUEST_BOUND_S, [o for o in during if o.elapsed_s >= REQUEST_BOUND_S]
    if silence.dependency == "database":
        failed = [o for o in during if not o.ok]
        assert failed, "no request failed while the database was silent"
        assert all(o.status == 503 for o in failed), _statuses(failed)
        for o in failed:
            assert o.headers.get("Content-Type", "").startswith("application/json"), o
            assert o.headers.get("Retry-After"), o
    else:  # Redis holds throttle counters only: requests are served without it
        assert all(o.ok for o in during), _statuses(during)
    assert not [o for o in silence.outcomes if o.status == 500 or o.status is None]


def test_readiness_reports_the_silence_and_no_worker_is_killed(silence: Silence) -> None:
    print(  # noqa: T201
        f"\n{silence.dependency} {silence.kind}: /readyz reported it after "
        f"{silence.readiness_s:.2f} s; workers before {sorted(silence.before.workers)}, "
        f"after {sorted(silence.after.workers)}"
    )
    assert silence.readiness_s < READINESS_DEADLINE_S
    assert silence.after.master == silence.before.master
    assert silence.after.workers == silence.before.workers  # gunicorn's timeout killed none


def test_the_service_recovers_by_itself(silence: Silence) -> None:
    late = silence.after_recovery()
    print(  # noqa: T201
        f"\n{silence.dependency} {silence.kind}: /readyz ok {CONSECUTIVE_READY}x in a row "
        f"{silence.recovered_s:.2f} s after the dependency came back, the last failed request "
        f"ended {silence.api_recovered_s():.2f} s after; {len(late)} requests after that, "
        f"{_statuses(late)}"
    )
    assert silence.recovered_s < RECOVERY_DEADLINE_S
    assert silence.api_recovered_s() < RECOVERY_DEADLINE_S
    assert len(late) >= REQUESTS_AFTER // 2
    assert all(o.ok for o in late), _statuses(late)
