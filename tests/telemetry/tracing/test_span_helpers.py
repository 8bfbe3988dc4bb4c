"""The pure parts of the span instrumentation: names, summaries and attribute values."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from app.telemetry.tracing.db_spans import connection_attributes, summarize
from app.telemetry.tracing.http_spans import (
    redact_query,
    span_name,
    split_host,
    w3c_propagation_keys,
)
from app.telemetry.tracing.provider import qualified_name
from app.telemetry.tracing.redis_spans import connection_attributes as redis_attributes
from app.telemetry.tracing.redis_spans import pipeline_operation

pytestmark = pytest.mark.database_free


@pytest.mark.parametrize(
    ("sql", "operation", "summary"),
    [
        (
            'SELECT "todos_todo"."id", "todos_todo"."title" FROM "todos_todo" '
            'WHERE "todos_todo"."owner_id" = %s ORDER BY "todos_todo"."created_at" DESC LIMIT 21',
            "SELECT",
            "SELECT todos_todo",
        ),
        (
            'INSERT INTO "todos_todo" ("owner_id", "title") VALUES (%s, %s) '
            'RETURNING "todos_todo"."id"',
            "INSERT",
            "INSERT todos_todo",
        ),
        (
            'UPDATE "todos_todo" SET "completed" = %s WHERE "todos_todo"."id" = %s',
            "UPDATE",
            "UPDATE todos_todo",
        ),
        ('DELETE FROM "todos_todo" WHERE "todos_todo"."id" IN (%s)', "DELETE", "DELETE todos_todo"),
        (
            'SELECT COUNT(*) AS "__count" FROM "todos_todo" INNER JOIN "auth_user" '
            'ON ("todos_todo"."owner_id" = "auth_user"."id")',
            "SELECT",
            "SELECT todos_todo auth_user",
        ),
        ("SELECT * FROM public.users WHERE name = %s", "SELECT", "SELECT public.users"),
        ("select 1", "SELECT", "SELECT"),
        ('SAVEPOINT "s1"', "SAVEPOINT", "SAVEPOINT"),
        ("", "SQL", "SQL"),
    ],
)
def test_queries_are_summarized_by_operation_and_tables(
    sql: str, operation: str, summary: str
) -> None:
    assert summarize(sql) == (operation, summary)


def test_a_summary_never_carries_literal_values() -> None:
    _, summary = summarize("SELECT * FROM \"t\" WHERE secret = 'hunter2' AND n = 42")
    assert "hunter2" not in summary
    assert "42" not in summary


def test_a_summary_stops_at_255_characters_between_targets() -> None:
    tables = " JOIN ".join(f'"table_{n:03d}_with_a_long_name"' for n in range(20))
    _, summary = summarize(f"SELECT * FROM {tables}")  # noqa: S608  # no input: a fixed text
    assert len(summary) <= 255
    assert summary.split()[-1].startswith("table_")  # cut between targets, not inside one


def test_postgresql_connections_name_host_and_non_default_port() -> None:
    attributes = connection_attributes(
        "postgresql", {"NAME": "todos", "HOST": "db.internal", "PORT": "6432"}
    )
    assert attributes == {
        "db.system.name": "postgresql",
        "db.namespace": "todos",
        "server.address": "db.internal",
        "server.port": 6432,
    }
    default = connection_attributes("postgresql", {"NAME": "todos", "HOST": "db", "PORT": ""})
    assert "server.port" not in default


def test_sqlite_connections_have_no_server() -> None:
    assert connection_attributes("sqlite", {"NAME": "/var/db.sqlite3"}) == {
        "db.system.name": "sqlite",
        "db.namespace": "/var/db.sqlite3",
    }


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("example.com", ("example.com", None)),
        ("Example.COM:8443", ("example.com", 8443)),
        ("127.0.0.1:8000", ("127.0.0.1", 8000)),
        ("[::1]:8000", ("::1", 8000)),
        ("[2001:db8::1]", ("2001:db8::1", None)),
    ],
)
def test_the_host_header_splits_into_address_and_port(
    host: str, expected: tuple[str, int | None]
) -> None:
    assert split_host(host) == expected


def test_signature_like_query_values_are_redacted() -> None:
    assert redact_query("page=2&sig=abc&X-Goog-Signature=def") == (
        "page=2&sig=REDACTED&X-Goog-Signature=REDACTED"
    )
    assert redact_query("completed=true&search=signature") == "completed=true&search=signature"


@pytest.mark.parametrize(
    ("method", "route", "name"),
    [
        ("GET", "/api/todos/{id}/", "GET /api/todos/{id}/"),
        ("POST", None, "POST"),
        ("BREW", None, "HTTP"),
    ],
)
def test_server_spans_are_named_by_method_and_route(
    method: str, route: str | None, name: str
) -> None:
    assert span_name(method, route) == name


def test_error_types_are_fully_qualified_class_names() -> None:
    class LocalError(Exception):
        pass

    assert qualified_name(ValueError()) == "ValueError"
    assert qualified_name(LocalError()).startswith("tests.telemetry.tracing.test_span_helpers.")


Queued = tuple[tuple[Any, ...], dict[str, Any]]  # a pipeline's queued command and options


def test_pipelines_are_named_by_their_common_command() -> None:
    sets: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        (("SET", "a", 1), {}),
        (("SET", "b", 2), {}),
    ]
    mixed: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        (("MSET", "a", 1), {}),
        (("EXPIRE", "a", 5), {}),
    ]
    assert pipeline_operation(sets, transaction=True) == "MULTI SET"
    assert pipeline_operation(mixed, transaction=True) == "MULTI"
    assert pipeline_operation(mixed, transaction=False) == "PIPELINE"


def test_redis_connections_name_the_database_index_as_a_string() -> None:
    assert redis_attributes({"host": "cache", "port": 6380, "db": 15}) == {
        "db.system.name": "redis",
        "db.namespace": "15",
        "server.address": "cache",
        "server.port": 6380,
    }
    assert redis_attributes({"path": "/run/redis.sock"})["server.address"] == "/run/redis.sock"


def test_the_w3c_propagators_name_the_environ_keys_they_read() -> None:
    default = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    assert w3c_propagation_keys(default) == frozenset(
        {"HTTP_TRACEPARENT", "HTTP_TRACESTATE", "HTTP_BAGGAGE"}
    )
    assert w3c_propagation_keys(TraceContextTextMapPropagator()) == frozenset(
        {"HTTP_TRACEPARENT", "HTTP_TRACESTATE"}
    )


def test_other_propagators_are_always_asked_to_extract() -> None:
    class SingleHeader(TraceContextTextMapPropagator):  # reads what its fields do not say
        pass

    mixed = CompositePropagator([TraceContextTextMapPropagator(), SingleHeader()])
    assert w3c_propagation_keys(mixed) is None
    assert w3c_propagation_keys(SingleHeader()) is None
