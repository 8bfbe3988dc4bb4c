"""django-prometheus' migration gauges, served by the real gunicorn (3 workers).

The database is migrated except its last ``auth`` migration before the server starts. The
master's metrics must show django-prometheus' own series, ``django_migrations_unapplied_total``
and ``django_migrations_applied_total`` with only the ``connection`` label, one sample each (not
one per worker), counting that migration; after ``manage.py migrate`` runs beside the live
server, the gauges follow within the refresh interval, without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.db.migrations.loader import MigrationLoader

from tests.support.ports import free_port
from tests.support.prometheus import Scrape, scrape, wait_for_workers
from tests.support.servers import (
    Server,
    manage,
    migrated_database,
    run_server,
    server_environment,
)
from tests.support.waiting import poll

pytestmark = pytest.mark.e2e

WORKERS = 3
REFRESH_S = 1.0
DEADLINE_S = 15.0
BEFORE_LAST_AUTH = ("auth", "0011_update_proxy_permissions")  # leaves 0012 unapplied
NAMES = ("django_migrations_unapplied_total", "django_migrations_applied_total")


def on_disk() -> int:
    """Every migration of every installed app (the served code is this checkout)."""
    return len(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


def migration_samples(metrics: Scrape) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        name: [(sample.labels, sample.value) for sample in metrics.matching(name)] for name in NAMES
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("migrations")
    with migrated_database(directory) as url:
        overrides = {
            "DATABASE_URL": url,
            "WEB_CONCURRENCY": str(WORKERS),
            "MIGRATIONS_REFRESH_SECONDS": str(REFRESH_S),
        }
        env = server_environment(overrides, port=free_port(), directory=directory)
        manage("migrate", "--noinput", *BEFORE_LAST_AUTH, env=env)  # unapplies 0012
        with run_server(overrides, directory=directory, migrate=False) as running:
            yield running


def test_the_gauges_count_the_unapplied_migration_once_and_follow_a_migrate(
    server: Server,
) -> None:
    total = on_disk()
    started = time.monotonic()
    wait_for_workers(server, WORKERS)

    first = poll(
        lambda: migration_samples(scrape(server)),
        lambda samples: all(samples.values()),
        timeout=DEADLINE_S,
        failure=lambda samples: f"migration gauges not exported: {samples}",
    )
    exported_s = time.monotonic() - started
    assert first == {
        "django_migrations_unapplied_total": [({"connection": "default"}, 1.0)],
        "django_migrations_applied_total": [({"connection": "default"}, total - 1.0)],
    }

    manage("migrate", "--noinput", env=server.env)
    migrated_at = time.monotonic()
    poll(
        lambda: migration_samples(scrape(server)),
        lambda samples: (
            samples["django_migrations_unapplied_total"] == [({"connection": "default"}, 0.0)]
        ),
        timeout=DEADLINE_S,
        interval=0.1,
        failure=lambda samples: f"still {samples} after migrate",
    )
    followed_s = time.monotonic() - migrated_at
    after = migration_samples(scrape(server))
    assert after["django_migrations_applied_total"] == [({"connection": "default"}, total)]
    print(  # noqa: T201  # the measured figures are part of the result
        f"\n{WORKERS} workers: unapplied 1 of {total} exported {exported_s:.2f} s after the "
        f"server answered; 0 shown {followed_s:.2f} s after migrate finished "
        f"(MIGRATIONS_REFRESH_SECONDS={REFRESH_S:g})"
    )
