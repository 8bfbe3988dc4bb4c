"""django-prometheus' migration gauges, computed in the background of each worker.

``django_migrations_unapplied_total`` and ``django_migrations_applied_total`` (label
``connection``: the database alias) are what django-prometheus' ``ExportMigrations`` exports
and what the community django-mixin's panels and its ``DjangoMigrationsUnapplied`` alert read;
the counts are computed the same way (the migration plan to the graph's leaf nodes, and the
migrations the database records as applied). django-prometheus computes them once, in
``AppConfig.ready()`` (``PROMETHEUS_EXPORT_MIGRATIONS``): a query while the worker boots, so an
unreachable database would stop workers from starting, and its gauges keep prometheus_client's
default multiprocess mode (``all``: one series per worker pid).

Here a daemon thread per worker computes them at once, retries every ``RETRY_S`` while the
database is unreachable (keeping the last values; none before the first success: stale, never
failing), and recomputes every ``MIGRATIONS_REFRESH_SECONDS`` (default 60, at least 1) so that a
``migrate`` run while the server is up shows without a restart. Its connection is closed after
each round. The gauges are ``livemostrecent``: the master's merge shows one value per
connection, the freshest that a live worker read.
"""

from __future__ import annotations

import os
import threading

import structlog
from django.db import DatabaseError, connections
from django.db.backends.dummy.base import DatabaseWrapper as DummyDatabase
from opentelemetry.instrumentation.utils import suppress_instrumentation
from prometheus_client import Gauge

from app.envconfig import ENV

logger = structlog.get_logger(__name__)

RETRY_S = 5.0
DEFAULT_REFRESH_S = 60.0
MIN_REFRESH_S = 1.0

# django_prometheus.migrations registers the same names in the default registry (its AppConfig
# imports it); in multiprocess mode samples reach the master through the files, not a registry.
unapplied_migrations = Gauge(
    "django_migrations_unapplied_total",
    "Count of unapplied migrations by database connection",
    ["connection"],
    multiprocess_mode="livemostrecent",
    registry=None,
)
applied_migrations = Gauge(
    "django_migrations_applied_total",
    "Count of applied migrations by database connection",
    ["connection"],
    multiprocess_mode="livemostrecent",
    registry=None,
)

_started_in: int | None = None
_lock = threading.Lock()


def export_migrations() -> None:
    """Set both gauges for every configured database (raises ``DatabaseError`` when one is down)."""
    from django.db.migrations.executor import MigrationExecutor  # noqa: PLC0415  # apps ready

    if isinstance(connections["default"], DummyDatabase):
        return  # DATABASES = {}: nothing to count
    for alias in connections.databases:
        executor = MigrationExecutor(connections[alias])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        unapplied_migrations.labels(alias).set(len(plan))
        applied_migrations.labels(alias).set(len(executor.loader.applied_migrations))


def _round(failing: bool) -> bool:
    """One export; returns whether the database was unreadable (logged on change only)."""
    try:
        with suppress_instrumentation():
            export_migrations()
    except DatabaseError as error:
        if not failing:
            logger.warning("migrations_unreadable", error=type(error).__name__)
        return True
    else:
        if failing:
            logger.info("migrations_readable_again")
        return False
    finally:
        connections.close_all()  # this thread's connections only: nothing held between rounds


def _run(interval: float, stop: threading.Event) -> None:
    """Export now, then every ``interval`` s (``RETRY_S`` while failing) until ``stop`` is set."""
    failing = False
    while True:
        failing = _round(failing)
        if stop.wait(min(interval, RETRY_S) if failing else interval):
            return


def start_migrations_exporter() -> None:
    """Start this process's exporter thread once (in each worker after fork); never waits."""
    global _started_in  # noqa: PLW0603  # one thread per process
    with _lock:
        if _started_in == os.getpid():
            return
        _started_in = os.getpid()
    interval = max(ENV.duration("MIGRATIONS_REFRESH_SECONDS", DEFAULT_REFRESH_S), MIN_REFRESH_S)
    threading.Thread(
        target=_run,
        args=(interval, threading.Event()),
        name="migrations-exporter",
        daemon=True,
    ).start()
