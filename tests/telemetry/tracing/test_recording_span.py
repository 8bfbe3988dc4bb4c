"""The SDK's span set up in one step (app.telemetry.tracing.recording_span): the same fields,
behaviour and exports as a span the SDK's tracer makes."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio
from opentelemetry.trace import SpanKind, Status, StatusCode

from app.telemetry.tracing.attributes import set_trusted
from app.telemetry.tracing.otlp_encoding import encode_spans
from app.telemetry.tracing.recording_span import RecordingSpan
from app.telemetry.tracing.span_starts import NO_PARENT, SpanStarts

pytestmark = pytest.mark.database_free


def both_ways(
    use: Callable[[Any], None], limits: SpanLimits | None = None
) -> tuple[list[Any], list[Any]]:
    """A child span made by the SDK and by ``SpanStarts``, the same ``use`` made of each;
    their exports (SDK first)."""
    exported = []
    for ours in (False, True):
        exporter = InMemorySpanExporter()
        provider = TracerProvider(sampler=ParentBasedTraceIdRatio(1.0), span_limits=limits)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("app.telemetry")
        random.seed(12)
        parent = tracer.start_span("GET /x", context=NO_PARENT)
        token = otel_context.attach(trace.set_span_in_context(parent))
        try:
            span = (
                SpanStarts(tracer).child("SELECT t", SpanKind.CLIENT, parent)
                if ours
                else tracer.start_span("SELECT t", kind=SpanKind.CLIENT)
            )
            assert isinstance(span, RecordingSpan) == ours
            use(span)
        finally:
            otel_context.detach(token)
        exported.append(list(exporter.get_finished_spans()))
    return exported[0], exported[1]


def timeless(spans: list[Any]) -> list[dict[str, Any]]:
    """The spans' JSON (the SDK's ``to_json``) without start, end and event times."""
    documents = []
    for span in spans:
        document = json.loads(span.to_json())
        document.pop("start_time")
        document.pop("end_time")
        for event in document["events"]:
            event.pop("timestamp")
        documents.append(document)
    return documents


def test_it_carries_exactly_the_fields_of_the_sdks_span() -> None:
    fields = []

    def keep_fields(span: Any) -> None:
        fields.append(set(vars(span)))
        span.end()

    both_ways(keep_fields)
    assert fields[1] == fields[0]


def use_every_method(span: Any) -> None:
    span.set_attribute("db.operation.name", "SELECT")
    span.set_attributes({"db.system.name": "sqlite", "tags": ("a", "b")})
    span.add_event("retry", {"attempt": 2})
    span.add_link(trace.SpanContext(3, 4, False, trace.TraceFlags(1)), {"link.kind": "batch"})
    span.update_name("SELECT todos_todo")
    try:
        raise ValueError("boom")
    except ValueError as error:
        span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, "failed"))
    span.end()
    span.set_attribute("after.end", 1)  # ignored, as by the SDK
    set_trusted(span, {"after.end": 2})  # the project's own writer too


def test_every_method_leaves_what_the_sdks_span_leaves() -> None:
    sdk, ours = both_ways(use_every_method)
    assert timeless(ours) == timeless(sdk)
    (span,) = ours
    assert span.attributes["db.operation.name"] == "SELECT"
    assert "after.end" not in span.attributes
    assert [event.name for event in span.events] == ["retry", "exception"]


def test_the_attribute_limits_apply_as_to_the_sdks_span() -> None:
    limits = SpanLimits(
        max_span_attributes=2, max_span_attribute_length=3, max_events=1, max_links=1
    )

    def crowd(span: Any) -> None:
        span.set_attributes({"a": "long value", "b": "x", "c": "y"})
        span.add_event("one")
        span.add_event("two")
        span.add_link(trace.SpanContext(3, 4, False))
        span.add_link(trace.SpanContext(5, 6, False))
        span.end()

    sdk, ours = both_ways(crowd, limits)
    assert timeless(ours) == timeless(sdk)
    assert ours[0].dropped_attributes == sdk[0].dropped_attributes == 1
    assert ours[0].dropped_events == sdk[0].dropped_events == 1
    assert ours[0].dropped_links == sdk[0].dropped_links == 1


def just_end(span: Any) -> None:
    span.set_attribute("db.operation.name", "SELECT")
    span.end()


def test_a_span_without_events_or_links_reads_and_encodes_as_the_sdks() -> None:
    sdk, ours = both_ways(just_end)
    assert timeless(ours) == timeless(sdk)
    for span in (*sdk, *ours):
        assert (span.events, span.links) == ((), ())
        assert (span.dropped_events, span.dropped_links) == (0, 0)
    ours[0]._start_time, ours[0]._end_time = sdk[0].start_time, sdk[0].end_time
    assert encode_spans(ours) == encode_spans(sdk)


def test_an_event_after_the_end_is_ignored_with_the_sdks_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def event_after_end(span: Any) -> None:
        span.end()
        span.add_event("late")

    with caplog.at_level(logging.WARNING, logger="opentelemetry.sdk.trace"):
        sdk, ours = both_ways(event_after_end)
    assert ours[0].events == sdk[0].events == ()
    warnings = [r.getMessage() for r in caplog.records if "ended span" in r.getMessage()]
    assert len(warnings) == 2
    assert warnings[0] == warnings[1]


def test_it_encodes_as_the_sdks_span_does() -> None:
    sdk, ours = both_ways(use_every_method)
    ours[0]._start_time, ours[0]._end_time = sdk[0].start_time, sdk[0].end_time
    for mine, theirs in zip(ours[0].events, sdk[0].events, strict=True):
        object.__setattr__(mine, "_timestamp", theirs.timestamp)
    assert encode_spans(ours) == encode_spans(sdk)


def test_ending_twice_warns_and_exports_once(caplog: pytest.LogCaptureFixture) -> None:
    def end_twice(span: Any) -> None:
        span.end()
        span.end()

    with caplog.at_level(logging.WARNING, logger="opentelemetry.sdk.trace"):
        sdk, ours = both_ways(end_twice)
    assert len(ours) == len(sdk) == 1
    warnings = [r.getMessage() for r in caplog.records if "ended span" in r.getMessage()]
    assert warnings == ["Calling end() on an ended span."] * 2


def test_a_span_not_started_cannot_end() -> None:
    tracer = TracerProvider().get_tracer("app.telemetry")
    context = trace.SpanContext(1, 2, False)
    span = RecordingSpan("x", context, None, SpanKind.INTERNAL, tracer, None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="not started"):
        span.end()
