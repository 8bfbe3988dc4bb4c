"""PostgreSQL unreachable while gunicorn starts: everything starts anyway, and catches up.

The server's ``DATABASE_URL`` points at a ``TcpProxy`` that is cut before gunicorn starts: its
port is closed, so every connection is refused. Asserted:

- the master, its metrics endpoint and all 3 workers start (``/healthz`` 200), ``/readyz``
  answers 503 naming ``database``;
- the migration gauges are absent (never computed: stale, not a failure or a made-up value),
  and each worker logs ``migrations_unreadable`` once for the whole outage, not per retry;
- once the database answers again, every gauge appears with the right counts within the retry
  interval, without a restart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from tests.support.http import http
from tests.support.prometheus import scrape, wait_for_workers
from tests.support.servers import Server, migrated_database, run_server
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import poll

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

WORKERS = 3
OUTAGE_S = 3.0  # three retry rounds of each worker (MIGRATIONS_REFRESH_SECONDS=1)
DEADLINE_S = 15.0
UNAPPLIED = "django_migrations_unapplied_total"
APPLIED = "django_migrations_applied_total"


@dataclass(frozen=True)
class ColdStart:
    """gunicorn started while its database was unreachable, and the proxy that cut it off."""

    server: Server
    proxy: TcpProxy
    started_s: float  # from gunicorn's "Starting gunicorn" line to /healthz answering 200


def _events(server: Server, name: str) -> int:
    return sum(1 for line in server.log().splitlines() if f'"event":"{name}"' in line)


def _since_gunicorn_started(server: Server) -> float:
    """Seconds from the master's first log line to now."""
    first = json.loads(server.log().splitlines()[0])
    assert first["event"].startswith("Starting gunicorn"), first
    return (datetime.now(UTC) - datetime.fromisoformat(first["timestamp"])).total_seconds()


@pytest.fixture(scope="module")
def cold_start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ColdStart]:
    directory = tmp_path_factory.mktemp("database-down-at-start")
    settings_dict = connection.settings_dict
    target = (str(settings_dict["HOST"] or "127.0.0.1"), int(settings_dict["PORT"] or 5432))
    with migrated_database(directory) as direct_url, TcpProxy(*target) as proxy:
        proxy.cut()  # the proxy's port now refuses every connection
        overrides = {
            "DATABASE_URL": proxy.rewrite_url(direct_url),
            "WEB_CONCURRENCY": str(WORKERS),
            "MIGRATIONS_REFRESH_SECONDS": "1",
        }
        with run_server(overrides, directory=directory, migrate=False) as server:
            yield ColdStart(server, proxy, _since_gunicorn_started(server))


def test_workers_and_metrics_start_and_the_gauges_wait_for_the_database(
    cold_start: ColdStart,
) -> None:
    server = cold_start.server
    wait_for_workers(server, WORKERS)
    poll(
        lambda: _events(server, "migrations_unreadable"),
        lambda count: count == WORKERS,
        timeout=DEADLINE_S,
        failure=lambda count: f"{count} of {WORKERS} workers reported the database unreadable",
    )
    outage_until = time.monotonic() + OUTAGE_S
    while time.monotonic() < outage_until:
        assert http("GET", f"{server.url}/healthz").status == 200
        ready = http("GET", f"{server.url}/readyz")
        assert ready.status == 503, ready
        assert "database" in ready.body["failing"], ready
        metrics = scrape(server)
        assert metrics.matching(UNAPPLIED) == []
        assert metrics.matching(APPLIED) == []
    assert _events(server, "migrations_unreadable") == WORKERS  # once each, not per retry

    cold_start.proxy.restore()
    restored_at = time.monotonic()
    total = len(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)
    poll(
        lambda: [
            (s.labels, s.value) for n in (UNAPPLIED, APPLIED) for s in scrape(server).matching(n)
        ],
        lambda samples: (
            samples == [({"connection": "default"}, 0.0), ({"connection": "default"}, float(total))]
        ),
        timeout=DEADLINE_S,
        interval=0.1,
        failure=lambda samples: f"migration gauges {samples} after the restore",
    )
    print(  # noqa: T201  # the measured figures are part of the result
        f"\n/healthz answered {cold_start.started_s:.2f} s after gunicorn started with the "
        f"database refused, {WORKERS} workers up; gauges absent for the {OUTAGE_S:g} s "
        f"outage, then 0 of {total} unapplied {time.monotonic() - restored_at:.2f} s after "
        "the restore"
    )
