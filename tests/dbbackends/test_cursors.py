"""Query metrics of the project's database backends (app.dbbackends.cursors), on the real
database of the run (SQLite or PostgreSQL): django-prometheus' names, labels and meanings."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from prometheus_client import REGISTRY

from app.dbbackends.cursors import (
    DB_API_ERROR_TYPES,
    POSTGRESQL_ERROR_TYPES,
    metered_cursor_class,
)

pytestmark = pytest.mark.django_db


def sample(name: str, **labels: str) -> float:
    """The current value of one series (0 when it does not exist yet)."""
    return REGISTRY.get_sample_value(name, {"alias": "default", **labels}) or 0.0


def vendor() -> str:
    return str(connection.vendor)


def test_a_statement_is_counted_and_timed() -> None:
    executed = sample("django_db_execute_total", vendor=vendor())
    timed = sample("django_db_query_duration_seconds_count", vendor=vendor())
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert sample("django_db_execute_total", vendor=vendor()) == executed + 1
    assert sample("django_db_query_duration_seconds_count", vendor=vendor()) == timed + 1


def test_a_bulk_statement_counts_its_rows() -> None:
    executed = sample("django_db_execute_total", vendor=vendor())
    in_bulk = sample("django_db_execute_many_total", vendor=vendor())
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE metered_rows (n integer)")
        cursor.executemany("INSERT INTO metered_rows (n) VALUES (%s)", [(1,), (2,), (3,)])
    assert sample("django_db_execute_many_total", vendor=vendor()) == in_bulk + 3
    assert sample("django_db_execute_total", vendor=vendor()) == executed + 1 + 3


def test_a_failing_statement_is_counted_by_exception_class_and_still_timed() -> None:
    def readings() -> tuple[float, float]:
        names = ("OperationalError", "UndefinedTable")  # sqlite3's and psycopg's own classes
        timed = sample("django_db_query_duration_seconds_count", vendor=vendor())
        errors = sum(sample("django_db_errors_total", vendor=vendor(), type=n) for n in names)
        return timed, errors

    after: tuple[float, float] = (0.0, 0.0)
    # A savepoint, so that PostgreSQL's transaction survives the error; read inside it, so
    # that the savepoint's own statements are not counted.
    with contextlib.suppress(DatabaseError), transaction.atomic():
        timed, errors = readings()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT * FROM no_such_table")
        finally:
            after = readings()
    assert after == (timed + 1, errors + 1)


def test_one_class_per_driver_cursor_alias_and_vendor() -> None:
    class DriverCursor:
        def execute(self, query: str) -> str:
            return query

    metered = metered_cursor_class(DriverCursor, "default", "sqlite")
    assert metered is metered_cursor_class(DriverCursor, "default", "sqlite")
    assert metered is not metered_cursor_class(DriverCursor, "replica", "sqlite")
    assert issubclass(metered, DriverCursor)
    assert metered.__name__ == "MeteredDriverCursor"
    assert metered().execute("SELECT 1") == "SELECT 1"


def error_series(alias: str, vendor: str) -> dict[str, float]:
    """The ``django_db_errors_total`` series of one alias and vendor, by type."""
    return {
        sample.labels["type"]: sample.value
        for metric in REGISTRY.collect()
        if metric.name == "django_db_errors"
        for sample in metric.samples
        if sample.name == "django_db_errors_total"
        and sample.labels["alias"] == alias
        and sample.labels["vendor"] == vendor
    }


@pytest.mark.parametrize(
    ("vendor", "types"),
    [
        ("sqlite", DB_API_ERROR_TYPES),
        ("postgresql", DB_API_ERROR_TYPES + POSTGRESQL_ERROR_TYPES),
    ],
)
def test_the_common_error_types_exist_at_zero_once_the_class_is_built(
    vendor: str, types: tuple[str, ...]
) -> None:
    """The mixin's increase() and topk() see the first error of each type."""

    class DriverCursor:  # a PEP 249 cursor's methods, never called here
        def execute(self, *args: Any) -> None: ...

        def executemany(self, *args: Any) -> None: ...

    alias = f"zero-{vendor}"
    assert error_series(alias, vendor) == {}

    metered_cursor_class(DriverCursor, alias, vendor)

    assert error_series(alias, vendor) == dict.fromkeys(types, 0.0)
    assert "IntegrityError" in types


def test_the_database_connection_exports_its_error_types_at_zero() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")

    series = error_series("default", vendor())

    assert set(DB_API_ERROR_TYPES) <= set(series)
