"""Query spans (app.telemetry.tracing.db_spans.QuerySpans) made around a stand-in executor."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.telemetry.tracing.db_spans import STATEMENTS_LIMIT, QuerySpans

pytestmark = pytest.mark.database_free

INSERT = 'INSERT INTO "todos_todo" ("title") VALUES (%s)'


def _executed(*_: Any) -> str:
    return "done"


def run_queries(calls: list[tuple[str, Any, bool]]) -> tuple[QuerySpans, list[dict[str, Any]]]:
    """Each ``(sql, params, many)`` run through one connection's ``QuerySpans`` inside a
    sampled span; the attributes of the query spans, in order."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("app.telemetry")
    queries = QuerySpans("sqlite", {"NAME": "/srv/db.sqlite3"}, tracer)
    parent = tracer.start_span("POST /api/todos/")
    token = otel_context.attach(trace.set_span_in_context(parent))
    try:
        for sql, params, many in calls:
            assert queries(_executed, sql, params, many, {}) == "done"
    finally:
        otel_context.detach(token)
        parent.end()
    spans = [span for span in exporter.get_finished_spans() if span.name != "POST /api/todos/"]
    return queries, [dict(span.attributes or {}) for span in spans]


def test_a_statement_run_again_gets_the_same_attributes() -> None:
    _, (first, again) = run_queries([(INSERT, ("a",), False), (INSERT, ("b",), False)])

    assert (
        first
        == again
        == {
            "db.system.name": "sqlite",
            "db.namespace": "/srv/db.sqlite3",
            "db.query.text": INSERT,
            "db.operation.name": "INSERT",
            "db.query.summary": "INSERT todos_todo",
        }
    )


def test_a_batch_size_stays_on_its_own_span() -> None:
    """``db.operation.batch.size`` (executemany of two or more rows) is added to that span's
    attributes only, never to what the statement's later spans start from."""
    queries, (batch, single_row_batch, single) = run_queries(
        [
            (INSERT, [("a",), ("b",), ("c",)], True),
            (INSERT, [("d",)], True),
            (INSERT, ("e",), False),
        ]
    )

    assert batch["db.operation.batch.size"] == 3
    assert "db.operation.batch.size" not in single_row_batch
    assert "db.operation.batch.size" not in single
    assert "db.operation.batch.size" not in queries.statement(INSERT)[1]


def test_remembered_statements_are_bounded() -> None:
    queries, _ = run_queries([])
    for number in range(STATEMENTS_LIMIT + 5):
        queries.statement(f'SELECT {number} FROM "t"')  # noqa: S608  # no input: fixed texts

    assert len(queries._statements) <= STATEMENTS_LIMIT
    assert queries.statement('SELECT 1 FROM "t"')[0] == "SELECT t"
