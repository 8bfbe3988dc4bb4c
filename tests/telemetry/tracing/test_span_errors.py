"""How failures mark spans: a failed query, a dependency outage answered 503."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import OperationalError
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rest_framework.test import APIRequestFactory

from app.api.exceptions import exception_handler
from app.telemetry.tracing.db_spans import QuerySpans

pytestmark = pytest.mark.database_free


@pytest.fixture
def exported() -> Iterator[tuple[trace.Tracer, InMemorySpanExporter]]:
    """A tracer of its own (the global provider is not set in-process) and what it exported."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test"), exporter
    provider.shutdown()


class StatementTimeoutError(Exception):
    """Stands in for psycopg's error: what Django wraps, carrying a SQLSTATE."""

    sqlstate = "57014"


def _failing_execute(sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    try:
        raise StatementTimeoutError("canceling statement due to statement timeout")
    except StatementTimeoutError as cause:
        raise OperationalError("canceling statement") from cause


def test_a_failed_query_span_carries_the_sqlstate_as_error_type(
    exported: tuple[trace.Tracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = exported
    spans = QuerySpans("postgresql", {"NAME": "todos", "HOST": "db"}, tracer=tracer)

    with tracer.start_as_current_span("GET /api/todos/"), pytest.raises(OperationalError):
        spans(_failing_execute, 'SELECT "todos_todo"."id" FROM "todos_todo"', (), False, {})

    query = next(s for s in exporter.get_finished_spans() if s.name == "SELECT todos_todo")
    assert query.attributes is not None
    assert query.attributes["error.type"] == "57014"
    assert query.attributes["db.response.status_code"] == "57014"
    assert query.status.status_code is trace.StatusCode.ERROR


def test_a_failed_query_without_a_sqlstate_is_named_by_its_exception(
    exported: tuple[trace.Tracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = exported
    spans = QuerySpans("sqlite", {"NAME": ":memory:"}, tracer=tracer)

    def locked(sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        raise OperationalError("database is locked")

    with tracer.start_as_current_span("POST /api/todos/"), pytest.raises(OperationalError):
        spans(locked, 'INSERT INTO "todos_todo" ("title") VALUES (%s)', ("x",), False, {})

    (query,) = [s for s in exporter.get_finished_spans() if s.name == "INSERT todos_todo"]
    assert query.attributes is not None
    assert query.attributes["error.type"] == "django.db.utils.OperationalError"
    assert "db.response.status_code" not in query.attributes


def test_no_query_span_outside_a_recording_span(
    exported: tuple[trace.Tracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = exported
    spans = QuerySpans("sqlite", {"NAME": ":memory:"}, tracer=tracer)

    assert spans(lambda *args: "rows", "SELECT 1", (), False, {}) == "rows"

    assert exporter.get_finished_spans() == ()


def test_a_dependency_outage_names_its_exception_on_the_server_span(
    exported: tuple[trace.Tracer, InMemorySpanExporter],
) -> None:
    """The 503 the API answers for an unreachable database says why on the request's span."""
    tracer, exporter = exported
    request = APIRequestFactory().get("/api/todos/")

    with tracer.start_as_current_span("GET /api/todos/"):
        response = exception_handler(OperationalError("connection refused"), {"request": request})

    assert response is not None
    assert response.status_code == 503
    (server,) = exporter.get_finished_spans()
    assert isinstance(server, ReadableSpan)
    assert server.attributes is not None
    assert server.attributes["error.type"] == "django.db.utils.OperationalError"
    assert [event.name for event in server.events] == ["exception"]
