"""Redis goes away under load and comes back: every request still succeeds, the pod stays ready.

gunicorn (3 sync workers, PostgreSQL, the served defaults: ``CACHE_RETRY_SECONDS=5``,
``REDIS_TIMEOUT_SECONDS=1``) reaches Redis through a ``TcpProxy``. Client threads create and
list todos (the throttles read and write their counters in Redis on every request) while the
proxy is *cut*: open connections closed, new ones refused, as when the Redis process is gone.
Then the proxy is restored.

Asserted, with the measured figures printed (``-s`` or ``-rA`` shows them):

- no request fails during the outage or around it: every create is 201, every list 200;
- ``/readyz`` stays 200 and reports the cache ``degraded`` within ``DEGRADED_DEADLINE_S`` of
  the cut, for as long as it lasts; ``todos_cache_degraded`` is 1 and
  ``todos_cache_bypassed_total`` grows, while ``todos_dependency_errors_total{cache}`` stays 0;
- each worker logs ``cache_degraded`` at most once per ``CACHE_RETRY_SECONDS``;
- within ``RECOVERY_DEADLINE_S`` of the restore every worker's circuit closes
  (``cache_recovered`` logged, the gauge back to 0, ``/readyz`` ``ok``).
"""

from __future__ import annotations

import itertools
import json
import math
import secrets
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.accounts import Account, create_account
from tests.support.backing_services import REDIS_URL, reachable, require
from tests.support.load import Load, Outcome, call, percentile, wait_for_workers
from tests.support.prometheus import Scrape, scrape
from tests.support.servers import Server, run_server_on_new_database
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import poll

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

WORKERS = 3
CLIENTS = 4
RETRY_S = 5.0  # CACHE_RETRY_SECONDS' default, which the server runs with
OUTAGE_S = 8.0  # longer than one retry interval: every worker probes the cut Redis again
DEGRADED_DEADLINE_S = 5.0
RECOVERY_DEADLINE_S = 10.0
REQUESTS_BEFORE = 30
REQUESTS_AFTER = 40
CONSECUTIVE_PROBES = 2 * WORKERS  # readiness answered by (very likely) every worker in a row
PROBE_TIMEOUT_S = 15.0
SLOW_S = 2.0  # a request during the outage pays at most one refused connection, never more


@dataclass(frozen=True)
class Deployment:
    """gunicorn on a fresh PostgreSQL database, reaching Redis through ``proxy``."""

    server: Server
    proxy: TcpProxy
    account: Account


@dataclass(frozen=True)
class Outage:
    """What the cut-and-restore scenario observed."""

    outcomes: list[Outcome]
    cut_at: float
    restored_at: float
    degraded_after_s: float
    recovered_after_s: float
    outage_probes: list[Outcome]
    recovered_probes: list[Outcome]
    before: Scrape
    during: Scrape
    after: Scrape
    log: str

    def started_during(self) -> list[Outcome]:
        """Requests started while the proxy was cut."""
        return [o for o in self.outcomes if self.cut_at <= o.started < self.restored_at]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Three workers whose ``REDIS_URL`` points at a proxy in front of the test Redis."""
    require("redis", reachable(REDIS_URL, default_port=6379))
    directory: Path = tmp_path_factory.mktemp("redis-outage")
    target = urlsplit(REDIS_URL)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 6379) as proxy:
        overrides = {"REDIS_URL": proxy.rewrite_url(REDIS_URL), "WEB_CONCURRENCY": str(WORKERS)}
        with run_server_on_new_database(overrides, directory=directory) as server:
            wait_for_workers(server, WORKERS)
            yield Deployment(server, proxy, create_account(server))


def _probe(server: Server) -> Outcome:
    return call("GET", f"{server.url}/readyz", timeout=PROBE_TIMEOUT_S)


def _cache_status(probe: Outcome) -> str:
    """``checks.cache.status`` of a /readyz answer ('' when there is none)."""
    if not isinstance(probe.body, dict):
        return ""
    return str(probe.body.get("checks", {}).get("cache", {}).get("status", ""))


def _ready_reporting_degraded(probe: Outcome) -> bool:
    return (
        probe.status == 200
        and isinstance(probe.body, dict)
        and probe.body.get("status") == "degraded"
        and _cache_status(probe) == "degraded"
    )


def _degraded_gauge(server: Server) -> float:
    return scrape(server).value("todos_cache_degraded")


@pytest.fixture(scope="module")
def outage(deployment: Deployment) -> Outage:
    """Run the scenario once: load, cut, observe, restore, observe; return what was seen."""
    server, proxy, auth = deployment.server, deployment.proxy, deployment.account.headers
    todos = f"{server.url}/api/todos/"
    run = secrets.token_hex(3)

    def request(thread: int, number: int) -> Outcome:
        if number % 2:
            return call("GET", todos, headers=auth)
        title = f"redis-outage-{run}-{thread}-{number}"
        return call("POST", todos, json_body={"title": title}, headers=auth)

    before = scrape(server)
    with Load(request, threads=CLIENTS, max_requests=5_000, pause_s=0.01) as load:
        load.wait_for(REQUESTS_BEFORE)

        cut_at = time.monotonic()
        proxy.cut()
        poll(
            lambda: _probe(server),
            _ready_reporting_degraded,
            timeout=DEGRADED_DEADLINE_S,
            interval=0.05,
            failure=lambda probe: f"/readyz still {probe.status} {probe.body!r} after the cut",
        )
        degraded_after_s = time.monotonic() - cut_at
        poll(  # long enough for every worker to probe the cut Redis once more, and fail
            time.monotonic,
            lambda now: now >= cut_at + OUTAGE_S,
            timeout=OUTAGE_S + 1.0,
            failure=lambda _: "the clock stopped",
        )
        outage_probes = [_probe(server) for _ in range(CONSECUTIVE_PROBES)]
        during = scrape(server)

        restored_at = time.monotonic()
        proxy.restore()
        poll(
            lambda: _degraded_gauge(server),
            lambda value: value == 0,
            timeout=RECOVERY_DEADLINE_S,
            interval=0.1,
            failure=lambda value: f"todos_cache_degraded still {value} after the restore",
        )
        recovered_after_s = time.monotonic() - restored_at
        recovered_probes = [_probe(server) for _ in range(CONSECUTIVE_PROBES)]
        load.wait_for(REQUESTS_AFTER, after=time.monotonic())
    return Outage(
        outcomes=load.outcomes,
        cut_at=cut_at,
        restored_at=restored_at,
        degraded_after_s=degraded_after_s,
        recovered_after_s=recovered_after_s,
        outage_probes=outage_probes,
        recovered_probes=recovered_probes,
        before=before,
        during=during,
        after=scrape(server),
        log=server.log(),
    )


def _events(log: str, name: str) -> list[dict[str, Any]]:
    """The JSON log lines whose ``event`` is ``name``, in order."""
    found = []
    for line in log.splitlines():
        if f'"{name}"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == name:
            found.append(event)
    return found


def _by_worker(events: list[dict[str, Any]]) -> dict[int, list[datetime]]:
    """Each worker's (``pid``) event times."""
    times: dict[int, list[datetime]] = defaultdict(list)
    for event in events:
        times[int(event["pid"])].append(datetime.fromisoformat(event["timestamp"]))
    return dict(times)


def test_no_request_fails_while_redis_is_down(outage: Outage) -> None:
    during = outage.started_during()
    failed = [o for o in outage.outcomes if o.status not in {200, 201}]
    latencies = [o.elapsed_s for o in during]
    print(  # noqa: T201  # the measured figures are part of the result
        f"\n{len(outage.outcomes)} requests, {len(during)} during the "
        f"{outage.restored_at - outage.cut_at:.1f} s outage; failed: {len(failed)} "
        f"(during the outage: {sum(1 for o in during if o in failed)}); latency during the "
        f"outage p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    assert len(during) >= 20, "too little traffic during the outage to prove anything"
    assert failed == [], failed[:5]
    assert {o.status for o in during} == {200, 201}
    assert max(latencies) < SLOW_S


def test_readiness_reports_the_cache_degraded_and_stays_200(outage: Outage) -> None:
    print(  # noqa: T201
        f"\n/readyz 200 degraded (cache) {outage.degraded_after_s:.2f} s after the cut"
    )
    assert outage.degraded_after_s < DEGRADED_DEADLINE_S
    assert all(_ready_reporting_degraded(p) for p in outage.outage_probes), outage.outage_probes
    assert all(p.body["checks"]["database"]["status"] == "ok" for p in outage.outage_probes)
    assert all(p.body["failing"] == [] for p in outage.outage_probes)
    assert max(p.elapsed_s for p in outage.outage_probes) < SLOW_S


def test_the_outage_is_counted_and_shown_by_the_gauge(outage: Outage) -> None:
    bypassed = outage.during.value("todos_cache_bypassed_total")
    print(f"\ntodos_cache_bypassed_total during the outage: {bypassed:.0f}")  # noqa: T201
    assert outage.before.matching("todos_cache_bypassed_total"), "not exported at start"
    assert outage.before.value("todos_cache_bypassed_total") == 0
    assert outage.before.value("todos_cache_degraded") == 0
    assert outage.during.value("todos_cache_degraded") == 1
    assert bypassed >= len(outage.started_during())  # each request reads its throttle history
    assert outage.after.value("todos_cache_degraded") == 0
    assert outage.after.value("todos_cache_bypassed_total") >= bypassed
    for dependency in ("cache", "database"):
        assert outage.after.value("todos_dependency_errors_total", dependency=dependency) == 0


def test_each_worker_logs_the_degradation_at_most_once_per_interval(outage: Outage) -> None:
    degraded = _by_worker(_events(outage.log, "cache_degraded"))
    lines_allowed = math.ceil((outage.restored_at - outage.cut_at) / RETRY_S) + 1
    print(  # noqa: T201
        f"\ncache_degraded lines per worker: {sorted(len(t) for t in degraded.values())} "
        f"(at most {lines_allowed} each)"
    )
    assert degraded, "no worker logged cache_degraded"
    for pid, times in degraded.items():
        assert len(times) <= lines_allowed, (pid, times)
        gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
        assert all(gap >= RETRY_S - 0.05 for gap in gaps), (pid, gaps)


def test_every_worker_recovers_within_the_deadline_after_the_restore(outage: Outage) -> None:
    degraded = _by_worker(_events(outage.log, "cache_degraded"))
    recovered_events = _events(outage.log, "cache_recovered")
    recovered = _by_worker(recovered_events)
    slowest_down = max(float(event["down_for_s"]) for event in recovered_events)
    print(  # noqa: T201
        f"\nevery worker's circuit closed {outage.recovered_after_s:.2f} s after the restore "
        f"(todos_cache_degraded back to 0); longest degradation of a worker {slowest_down:.1f} s"
    )
    assert outage.recovered_after_s < RECOVERY_DEADLINE_S
    assert set(recovered) == set(degraded)  # every degraded worker logged its recovery...
    assert all(len(times) == 1 for times in recovered.values()), recovered  # ...once
    assert [p.status for p in outage.recovered_probes] == [200] * CONSECUTIVE_PROBES
    assert all(p.body["status"] == "ok" for p in outage.recovered_probes)
    assert all(p.body["degraded"] == [] for p in outage.recovered_probes)
