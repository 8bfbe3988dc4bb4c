"""The active span read from the context variable: what the API's get_current_span returns."""

from __future__ import annotations

import contextvars

import pytest
from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import INVALID_SPAN, NonRecordingSpan, SpanContext
from opentelemetry.trace.propagation import _SPAN_KEY

from app.telemetry.tracing import current
from app.telemetry.tracing.current import current_span, recording_span

pytestmark = pytest.mark.database_free


def test_it_reads_the_default_runtime_contexts_variable() -> None:
    assert current._CURRENT_CONTEXT is not None  # the fast path is the one under test


def test_it_is_the_api_s_current_span_outside_inside_and_after_spans() -> None:
    tracer = TracerProvider().get_tracer("test")
    assert current_span() is trace.get_current_span() is INVALID_SPAN
    with tracer.start_as_current_span("outer") as outer:
        assert current_span() is trace.get_current_span() is outer
        with tracer.start_as_current_span("inner") as inner:
            assert current_span() is inner
        assert current_span() is outer
    assert current_span() is INVALID_SPAN


def test_a_value_that_is_not_a_span_reads_as_no_span() -> None:
    token = context.attach(context.set_value(_SPAN_KEY, "not a span"))
    try:
        assert current_span() is trace.get_current_span() is INVALID_SPAN
        assert current_span() is INVALID_SPAN  # asked again: str was not taken for a span class
        assert str not in current._SPAN_CLASSES
    finally:
        context.detach(token)


def test_each_context_sees_its_own_span() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("here") as here:
        elsewhere = contextvars.Context().run(current_span)
        assert elsewhere is INVALID_SPAN
        assert current_span() is here


def test_another_runtime_context_goes_through_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(current, "_CURRENT_CONTEXT", None)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("span") as span:
        assert current_span() is span


def test_recording_span_is_the_active_span_only_while_it_records() -> None:
    tracer = TracerProvider().get_tracer("test")
    assert recording_span() is None  # no span at all (INVALID_SPAN)
    with tracer.start_as_current_span("sampled") as sampled:
        assert recording_span() is sampled
    token = context.attach(trace.set_span_in_context(sampled))  # ended: records no more
    try:
        assert recording_span() is None
    finally:
        context.detach(token)


def test_an_unsampled_span_is_not_a_recording_parent() -> None:
    unsampled = NonRecordingSpan(SpanContext(1, 2, is_remote=False))
    with trace.use_span(unsampled):
        assert current_span() is unsampled
        assert recording_span() is None


def test_recording_span_through_the_api_for_another_runtime_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(current, "_CURRENT_CONTEXT", None)
    tracer = TracerProvider().get_tracer("test")
    assert recording_span() is None
    with tracer.start_as_current_span("span") as span:
        assert recording_span() is span


def test_a_value_that_is_not_a_span_is_no_recording_parent() -> None:
    token = context.attach(context.set_value(_SPAN_KEY, "not a span"))
    try:
        assert recording_span() is None
    finally:
        context.detach(token)


def test_the_recording_check_remembers_a_span_class_as_current_span_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(current, "_SPAN_CLASSES", set())
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("sampled") as span:
        assert recording_span() is span
        assert {type(span)} == current._SPAN_CLASSES
        assert current_span() is span
