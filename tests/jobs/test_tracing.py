"""The jobs' spans as the Celery instrumentation drives them, written with the stable names."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app.jobs.tracing import StableMessagingSpan, stable_name

pytestmark = pytest.mark.database_free


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def _span(exporter: InMemorySpanExporter, kind: SpanKind, operation: str) -> StableMessagingSpan:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    inner = provider.get_tracer("opentelemetry.instrumentation.celery").start_span(
        "apply_async/exports.run", kind=kind
    )
    return StableMessagingSpan(inner, operation)


def test_deprecated_names_become_stable_ones_or_go() -> None:
    assert stable_name("messaging.destination") == "messaging.destination.name"
    assert stable_name("messaging.conversation_id") == "messaging.message.conversation_id"
    assert stable_name("messaging.message.id") == "messaging.message.id"
    assert stable_name("celery.task_name") == "celery.task_name"
    assert stable_name("messaging.destination_kind") is None
    assert stable_name("celery.action") is None
    assert stable_name("celery.delivery_info") is None


def test_a_producer_span_is_named_and_attributed_by_the_conventions(
    exporter: InMemorySpanExporter,
) -> None:
    span = _span(exporter, SpanKind.PRODUCER, "send")

    span.set_attribute("celery.action", "apply_async")
    span.set_attribute("messaging.message.id", "task-1")
    span.set_attributes({"messaging.destination": "exports", "celery.task_name": "exports.run"})
    span.update_name("something else")  # the instrumentation's names are ignored
    span.end()

    (finished,) = exporter.get_finished_spans()
    assert finished.name == "send exports"
    assert finished.kind == SpanKind.PRODUCER
    assert dict(finished.attributes or {}) == {
        "messaging.system": "celery",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.message.id": "task-1",
        "messaging.destination.name": "exports",
        "celery.task_name": "exports.run",
    }


def test_a_failed_run_carries_its_error_type(exporter: InMemorySpanExporter) -> None:
    span = _span(exporter, SpanKind.CONSUMER, "process")

    span.record_exception(ValueError("bad"))
    span.set_status(StatusCode.ERROR, "bad")
    span.end()

    (finished,) = exporter.get_finished_spans()
    assert finished.name == "process"
    assert (finished.attributes or {})["error.type"] == "ValueError"
    assert finished.status.status_code == StatusCode.ERROR
    assert [event.name for event in finished.events] == ["exception"]
