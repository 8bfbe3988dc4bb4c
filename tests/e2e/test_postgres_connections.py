"""Under gunicorn, PostgreSQL connections are opened once per worker and then reused.

Opening a connection per request (Django's default CONN_MAX_AGE=0) cut throughput about 5x in
a measurement on these machines; this proves the served configuration does not do that.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import psycopg
import pytest
from django.db import connection

from tests.e2e.conftest import Server, http

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

REQUESTS = 40


def backends(server: Server) -> list[datetime]:
    """Start times of the server's open connections to its database."""
    database = urlsplit(server.env["DATABASE_URL"]).path.lstrip("/")
    settings_dict = connection.settings_dict
    with psycopg.connect(
        host=settings_dict["HOST"],
        port=settings_dict["PORT"] or None,
        user=settings_dict["USER"],
        dbname="postgres",
        autocommit=True,
    ) as admin:
        rows = admin.execute(
            "SELECT backend_start FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        ).fetchall()
    return [row[0] for row in rows]


def test_each_worker_keeps_its_connection_across_requests(server: Server) -> None:
    http(
        "POST",
        f"{server.url}/api/auth/register/",
        json_body={"username": "pooled", "password": "a-long-secret-pass"},
    )
    token = http(
        "POST",
        f"{server.url}/api/auth/token/",
        json_body={"username": "pooled", "password": "a-long-secret-pass"},
    ).body["access"]
    started = datetime.now(UTC)

    statuses = {
        http("GET", f"{server.url}/api/todos/", headers={"Authorization": f"Bearer {token}"}).status
        for _ in range(REQUESTS)
    }

    open_connections = backends(server)
    assert statuses == {200}
    workers = int(server.env["WEB_CONCURRENCY"])
    assert 1 <= len(open_connections) <= workers  # kept open after the requests finished
    # opened before the measured requests (by registration) or, at most, once per worker
    opened_during = [when for when in open_connections if when >= started]
    assert len(opened_during) <= workers
