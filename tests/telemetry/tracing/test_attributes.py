"""Trusted attribute writes give the span exactly what the SDK's validated path gives it."""

from __future__ import annotations

from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.trace import INVALID_SPAN
from opentelemetry.util.types import AttributeValue

from app.telemetry.tracing.attributes import set_trusted

ATTRIBUTES: dict[str, AttributeValue] = {
    "http.request.method": "GET",
    "server.port": 80,
    "header": ("a", "b"),
    "ok": True,
}


def _span(limits: SpanLimits | None = None):  # type: ignore[no-untyped-def]
    return TracerProvider(span_limits=limits).get_tracer("test").start_span("span")


def test_a_recording_span_gets_the_attributes_the_validated_path_would_give() -> None:
    trusted, validated = _span(), _span()

    set_trusted(trusted, ATTRIBUTES)
    validated.set_attributes(ATTRIBUTES)

    assert dict(trusted.attributes) == dict(validated.attributes) == ATTRIBUTES


def test_a_value_length_limit_is_still_applied() -> None:
    span = _span(SpanLimits(max_span_attribute_length=3))

    set_trusted(span, {"db.query.text": "SELECT 1"})

    assert span.attributes["db.query.text"] == "SEL"


def test_the_attribute_count_limit_is_still_applied() -> None:
    span = _span(SpanLimits(max_span_attributes=2))

    set_trusted(span, ATTRIBUTES)

    assert len(span.attributes) == 2
    assert span.dropped_attributes == 2


def test_an_ended_span_keeps_its_attributes() -> None:
    span = _span()
    span.end()

    set_trusted(span, ATTRIBUTES)

    assert dict(span.attributes) == {}


def test_a_non_recording_span_is_left_alone() -> None:
    set_trusted(INVALID_SPAN, ATTRIBUTES)  # no error, nothing to record

    assert not INVALID_SPAN.is_recording()
