"""With Redis cut off, the throttles still hold, per worker; when it returns, the shared ones.

gunicorn with 1, 2 and 4 sync workers (PostgreSQL) reaches Redis through a ``TcpProxy``. The
proxy is *cut* (connections closed, new ones refused: the Redis process is gone), then
restored. Per-hour rates, so no window ends during a test:

- failed logins per username ``LOGIN_RATE``, from a new client address each time
  (``DJANGO_NUM_PROXIES=1``, the address in ``X-Forwarded-For``), sent ``CLIENTS`` at a time
  (that counter is incremented atomically);
- requests per user ``USER_RATE`` (``GET /api/todos/``), and anonymous requests per address
  ``ANON_RATE`` (``POST /api/auth/register/`` with an empty body, a 400 when let through),
  sent one at a time (DRF's history is read, then written back: parallel requests of one
  client may both pass, on Redis as on a worker's memory). The server has a
  ``CACHE_KEY_PREFIX`` of its own, so no other test's counters mix in.

Asserted, with the figures printed (``-s`` or ``-rA`` shows them): once every worker has
logged ``cache_degraded`` (its circuit is open), each limit lets through at least its rate and
at most workers x rate of ``BURST_FACTOR`` x workers x rate attempts, every other attempt is
429 with ``Retry-After`` (without the fallback every attempt got through), and the gauge shows
the outage meanwhile. Once every worker's circuit has closed, the same bursts on new counters
get exactly the rate through: the counters are the shared ones again.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.accounts import Account, create_account
from tests.support.backing_services import REDIS_URL, reachable, require
from tests.support.load import Outcome, call, wait_for_workers
from tests.support.prometheus import scrape
from tests.support.servers import Server, run_server_on_new_database
from tests.support.tcp_proxy import TcpProxy
from tests.support.telemetry import log_events
from tests.support.waiting import poll

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

WORKER_COUNTS = (1, 2, 4)
LOGIN_RATE = 4
USER_RATE = 6
ANON_RATE = 5
BURST_FACTOR = 3  # attempts per burst: BURST_FACTOR x workers x rate
CLIENTS = 8
RETRY_S = 1.0  # CACHE_RETRY_SECONDS: circuits close within a second of Redis coming back
RECOVERY_DEADLINE_S = 20.0


@dataclass(frozen=True)
class Deployment:
    """gunicorn with ``workers`` workers, reaching Redis through ``proxy``."""

    workers: int
    server: Server
    proxy: TcpProxy
    account: Account


@dataclass(frozen=True)
class Burst:
    """One burst of attempts against one limit: the outcomes, in the order they started."""

    name: str
    rate: int
    outcomes: list[Outcome]
    allowed_status: int

    @property
    def allowed(self) -> int:
        """Attempts the throttle let through."""
        return sum(1 for o in self.outcomes if o.status == self.allowed_status)

    @property
    def statuses(self) -> Counter[int | None]:
        return Counter(o.status for o in self.outcomes)

    @property
    def first_refused(self) -> int | None:
        """1-based position (by start time) of the first 429, ``None`` without one."""
        ordered = sorted(self.outcomes, key=lambda o: o.started)
        return next((n for n, o in enumerate(ordered, 1) if o.status == 429), None)

    def report(self) -> str:
        return (
            f"{self.name}: {self.allowed} of {len(self.outcomes)} let through "
            f"(rate {self.rate}), first 429 at attempt {self.first_refused}"
        )


@dataclass(frozen=True)
class Observed:
    """What the cut-and-restore scenario saw on one deployment."""

    workers: int
    during: dict[str, Burst]
    after: dict[str, Burst]
    degraded_gauge_during: float
    degraded_after_s: float
    recovered_after_s: float


@pytest.fixture(scope="module", params=WORKER_COUNTS, ids=lambda n: f"{n}-workers")
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """gunicorn whose ``REDIS_URL`` points at a proxy in front of the test Redis."""
    require("redis", reachable(REDIS_URL, default_port=6379))
    workers = int(request.param)
    directory: Path = tmp_path_factory.mktemp(f"throttles-{workers}")
    target = urlsplit(REDIS_URL)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 6379) as proxy:
        overrides = {
            "REDIS_URL": proxy.rewrite_url(REDIS_URL),
            # keys of this server only: user ids restart at 1 on every new database
            "CACHE_KEY_PREFIX": f"throttles-test-{secrets.token_hex(4)}",
            "WEB_CONCURRENCY": str(workers),
            "CACHE_RETRY_SECONDS": str(RETRY_S),
            "DJANGO_NUM_PROXIES": "1",
            "THROTTLE_LOGIN_USER_RATE": f"{LOGIN_RATE}/hour",
            "THROTTLE_USER_RATE": f"{USER_RATE}/hour",
            "THROTTLE_ANON_RATE": f"{ANON_RATE}/hour",
            "THROTTLE_AUTH_RATE": "100000/hour",
        }
        with run_server_on_new_database(overrides, directory=directory) as server:
            wait_for_workers(server, workers)
            yield Deployment(workers, server, proxy, create_account(server))


def random_address() -> str:
    """A fresh client address (10/8), so no two attempts share a per-address counter."""
    return "10." + ".".join(str(secrets.randbelow(254) + 1) for _ in range(3))


def burst(
    name: str, rate: int, attempts: int, attempt: Callable[[int], Outcome], *, clients: int
) -> Burst:
    """``attempts`` calls of ``attempt(n)``, ``clients`` at a time."""
    with ThreadPoolExecutor(max_workers=clients) as pool:
        outcomes = list(pool.map(attempt, range(attempts)))
    allowed_status = {"login": 401, "user": 200, "anon": 400}[name]
    return Burst(name, rate, outcomes, allowed_status)


def bursts(deployment: Deployment) -> dict[str, Burst]:
    """One burst per limit, on counters nobody used before (a new username, a new address)."""
    server, workers = deployment.server, deployment.workers
    victim = f"victim-{secrets.token_hex(5)}"
    anon_address = random_address()

    def login(_: int) -> Outcome:
        return call(
            "POST",
            f"{server.url}/api/auth/token/",
            json_body={"username": victim, "password": f"guess-{secrets.token_hex(4)}"},
            headers={"X-Forwarded-For": random_address()},
        )

    def todos(_: int) -> Outcome:
        return call("GET", f"{server.url}/api/todos/", headers=deployment.account.headers)

    def register(_: int) -> Outcome:
        return call(
            "POST",
            f"{server.url}/api/auth/register/",
            json_body={},
            headers={"X-Forwarded-For": anon_address},
        )

    return {
        "login": burst(
            "login", LOGIN_RATE, BURST_FACTOR * workers * LOGIN_RATE, login, clients=CLIENTS
        ),
        # DRF's request throttles read the history, then write it back: parallel requests of
        # one client can both pass on a shared (Redis) history. One at a time, the shared
        # limit is exact and comparable with the per-worker one.
        "user": burst("user", USER_RATE, BURST_FACTOR * workers * USER_RATE, todos, clients=1),
        "anon": burst("anon", ANON_RATE, BURST_FACTOR * workers * ANON_RATE, register, clients=1),
    }


def _degraded_pids(server: Server) -> set[int]:
    """The workers that logged ``cache_degraded`` (their circuit opened) so far."""
    return {int(e["pid"]) for e in log_events(server) if e.get("event") == "cache_degraded"}


def _probe_every_worker(deployment: Deployment) -> None:
    """A few ``/readyz`` calls: the probe writes and reads the cache, so each worker it
    reaches tries Redis (or its circuit's state). Twice as many calls as workers reach
    (very likely) all of them; the polls below repeat it until they did."""
    for _ in range(2 * deployment.workers):
        call("GET", f"{deployment.server.url}/readyz")


def _open_every_circuit(deployment: Deployment) -> float:
    """Probe until every worker has logged ``cache_degraded``; the seconds it took."""
    workers = scrape(deployment.server).worker_pids()
    started = time.monotonic()

    def degraded() -> set[int]:
        _probe_every_worker(deployment)
        return _degraded_pids(deployment.server)

    poll(
        degraded,
        lambda pids: pids >= workers,
        timeout=RECOVERY_DEADLINE_S,
        interval=0.05,
        failure=lambda pids: f"only workers {pids} of {workers} noticed the cut",
    )
    return time.monotonic() - started


def _close_every_circuit(deployment: Deployment) -> float:
    """Probe until no worker serves without Redis (the gauge is 0); the seconds it took."""
    started = time.monotonic()

    def degraded() -> float:
        _probe_every_worker(deployment)
        return scrape(deployment.server).value("todos_cache_degraded")

    poll(
        degraded,
        lambda value: value == 0,
        timeout=RECOVERY_DEADLINE_S,
        interval=RETRY_S / 2,
        failure=lambda value: f"todos_cache_degraded still {value} after the restore",
    )
    return time.monotonic() - started


@pytest.fixture(scope="module")
def observed(deployment: Deployment) -> Observed:
    """Cut Redis, wait until every worker noticed, run the bursts; restore it, wait until
    every circuit closed, run them again (on new counters)."""
    server = deployment.server
    deployment.proxy.cut()
    try:
        degraded_after_s = _open_every_circuit(deployment)
        during = bursts(deployment)
        degraded_gauge = scrape(server).value("todos_cache_degraded")
    finally:
        deployment.proxy.restore()
    recovered_after_s = _close_every_circuit(deployment)
    after = bursts(deployment)
    return Observed(
        workers=deployment.workers,
        during=during,
        after=after,
        degraded_gauge_during=degraded_gauge,
        degraded_after_s=degraded_after_s,
        recovered_after_s=recovered_after_s,
    )


def test_while_redis_is_down_each_limit_holds_per_worker(observed: Observed) -> None:
    print(  # noqa: T201  # the measured figures are part of the result
        f"\n{observed.workers} worker(s), Redis cut: "
        + "; ".join(b.report() for b in observed.during.values())
    )
    for name, result in observed.during.items():
        ceiling = observed.workers * result.rate
        assert set(result.statuses) <= {result.allowed_status, 429}, (name, result.statuses)
        assert result.rate <= result.allowed <= ceiling, (name, result.allowed, ceiling)
        assert result.first_refused is not None, name
        assert all("Retry-After" in o.headers for o in result.outcomes if o.status == 429)


def test_the_bursts_ran_while_the_gauge_showed_the_outage(observed: Observed) -> None:
    print(  # noqa: T201
        f"\n{observed.workers} worker(s): every worker's circuit open "
        f"{observed.degraded_after_s:.2f} s after the cut"
    )
    assert observed.degraded_gauge_during == 1


def test_once_redis_is_back_the_shared_limits_apply_again(observed: Observed) -> None:
    print(  # noqa: T201
        f"\n{observed.workers} worker(s), every circuit closed {observed.recovered_after_s:.1f} s "
        "after the restore; " + "; ".join(b.report() for b in observed.after.values())
    )
    for name, result in observed.after.items():
        assert set(result.statuses) == {result.allowed_status, 429}, (name, result.statuses)
        assert result.allowed == result.rate, (name, result.allowed)
