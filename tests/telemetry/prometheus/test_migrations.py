"""The migration gauges: django-prometheus' names and counts, one value across workers, and a
database outage that leaves them stale instead of failing."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.telemetry import logging as telemetry_logging
from app.telemetry.prometheus import migrations
from app.telemetry.prometheus.server import ExemplarMultiProcessCollector
from tests.support.waiting import poll

LAST_AUTH = ("auth", "0012_alter_user_first_name_max_length")


def _values() -> tuple[float, float]:
    return (
        migrations.unapplied_migrations.labels("default")._value.get(),
        migrations.applied_migrations.labels("default")._value.get(),
    )


def _on_disk() -> int:
    return len(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[dict[str, Any]]]:
    """The JSON events logged so far in the test."""
    output = io.StringIO()
    monkeypatch.setattr(telemetry_logging, "output_stream", lambda: output)
    return lambda: [json.loads(line) for line in output.getvalue().splitlines()]


@pytest.mark.django_db
def test_a_migrated_database_has_none_unapplied() -> None:
    migrations.export_migrations()

    assert _values() == (0, _on_disk())


@pytest.mark.django_db
def test_a_migration_missing_from_the_database_is_counted_unapplied() -> None:
    MigrationRecorder(connection).record_unapplied(*LAST_AUTH)

    migrations.export_migrations()

    assert _values() == (1, _on_disk() - 1)


@pytest.mark.django_db(transaction=True)
def test_the_exporter_thread_computes_them_without_being_waited_for() -> None:
    migrations.unapplied_migrations.labels("default").set(-1)  # not computed yet
    stop = threading.Event()
    thread = threading.Thread(target=migrations._run, args=(3600.0, stop))

    thread.start()
    try:
        poll(
            _values,
            lambda values: values == (0, _on_disk()),
            timeout=10,
            failure=lambda values: f"gauges stayed {values}",
        )
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_an_unreachable_database_keeps_the_last_values_and_is_logged_once(
    monkeypatch: pytest.MonkeyPatch, logged: Callable[[], list[dict[str, Any]]]
) -> None:
    migrations.unapplied_migrations.labels("default").set(2)
    migrations.applied_migrations.labels("default").set(18)

    def unreachable() -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(migrations, "export_migrations", unreachable)
    failing = migrations._round(failing=False)
    failing = migrations._round(failing=failing)

    assert failing
    assert _values() == (2, 18)
    assert [e["event"] for e in logged()] == ["migrations_unreadable"]


WORKER_SNIPPET = """
import sys
from app.telemetry.prometheus.migrations import applied_migrations, unapplied_migrations
unapplied_migrations.labels("default").set(int(sys.argv[1]))
applied_migrations.labels("default").set(20 - int(sys.argv[1]))
"""


def test_the_master_merges_the_workers_into_one_value_the_freshest(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for count in ("3", "1"):  # two workers; the second read after a migrate
        subprocess.run(
            [sys.executable, "-c", WORKER_SNIPPET, count], env=env, check=True, timeout=60
        )
    registry = CollectorRegistry()
    registry.register(ExemplarMultiProcessCollector(tmp_path))

    families = {
        family.name: family
        for family in text_string_to_metric_families(generate_latest(registry).decode())
    }

    (unapplied,) = families["django_migrations_unapplied_total"].samples
    (applied,) = families["django_migrations_applied_total"].samples
    assert (unapplied.labels, unapplied.value) == ({"connection": "default"}, 1.0)
    assert (applied.labels, applied.value) == ({"connection": "default"}, 19.0)
