"""Under gunicorn, PostgreSQL connections are opened once per worker and then reused.

Opening a connection per request (Django's default CONN_MAX_AGE=0) cut throughput about 5x in
a measurement on these machines; this proves the served configuration does not do that.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from django.db import connection

from tests.support.accounts import create_account
from tests.support.databases import postgres_admin
from tests.support.http import http
from tests.support.servers import Server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

REQUESTS = 40


def backends(server: Server) -> list[datetime]:
    """Start times of the server's open connections to its database."""
    database = urlsplit(server.env["DATABASE_URL"]).path.lstrip("/")
    with postgres_admin(connection.settings_dict) as admin:
        rows = admin.execute(
            "SELECT backend_start FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        ).fetchall()
    return [row[0] for row in rows]


def test_each_worker_keeps_its_connection_across_requests(server: Server) -> None:
    auth = create_account(server).headers
    started = datetime.now(UTC)

    statuses = {
        http("GET", f"{server.url}/api/todos/", headers=auth).status for _ in range(REQUESTS)
    }

    open_connections = backends(server)
    assert statuses == {200}
    workers = int(server.env["WEB_CONCURRENCY"])
    # kept open after the requests finished: per worker, one for requests and one for the
    # fault-switch poller thread
    assert 1 <= len(open_connections) <= 2 * workers
    # opened before the measured requests (by registration) or, at most, once per worker
    opened_during = [when for when in open_connections if when >= started]
    assert len(opened_during) <= workers
