"""Dropped root spans without the SDK's start_span (app.telemetry.tracing.root_spans)."""

from __future__ import annotations

import random
import threading

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind

from app.telemetry.tracing.root_spans import PrimedIdGenerator, RootSpans, ratio_root_sampler

pytestmark = pytest.mark.database_free

SPANS = 3000


def tracer_of(
    sampler: Sampler, ids: RandomIdGenerator
) -> tuple[trace.Tracer, InMemorySpanExporter]:
    """A tracer of a provider of its own, exporting ended spans to memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler, id_generator=ids)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def started(start: object, count: int, seed: int) -> list[tuple[int, int, int, bool]]:
    """Ids, flags and recording of ``count`` root spans, from a seeded ``random``."""
    random.seed(seed)
    spans = []
    for _ in range(count):
        span = start()  # type: ignore[operator]
        context = span.get_span_context()
        spans.append(
            (context.trace_id, context.span_id, int(context.trace_flags), span.is_recording())
        )
        span.end()
    return spans


@pytest.mark.parametrize(
    "sampler",
    [ParentBasedTraceIdRatio(0.1), ParentBased(TraceIdRatioBased(0.25)), TraceIdRatioBased(0.5)],
    ids=["parentbased_traceidratio", "parentbased-ratio", "traceidratio"],
)
def test_the_spans_are_those_the_sdk_makes_from_the_same_random_numbers(sampler: Sampler) -> None:
    sdk_tracer, sdk_exported = tracer_of(sampler, RandomIdGenerator())
    roots = RootSpans(tracer_of(sampler, PrimedIdGenerator())[0])
    assert roots.shortcut
    expected = started(lambda: sdk_tracer.start_span("GET", kind=SpanKind.SERVER), SPANS, seed=7)
    made = started(lambda: roots.start("GET", SpanKind.SERVER), SPANS, seed=7)
    assert made == expected
    sampled = sum(recording for *_, recording in made)
    assert 0 < sampled < SPANS  # both kinds were compared
    assert len(sdk_exported.get_finished_spans()) == sampled


def test_a_kept_root_span_is_the_sdks_own_and_exported() -> None:
    tracer, exported = tracer_of(TraceIdRatioBased(1.0), PrimedIdGenerator())
    span = RootSpans(tracer).start("GET /api/todos/", SpanKind.SERVER)
    span.end()
    (finished,) = exported.get_finished_spans()
    assert finished.context == span.get_span_context()
    assert finished.kind is SpanKind.SERVER
    assert finished.parent is None


def test_a_dropped_root_span_has_valid_unsampled_ids() -> None:
    tracer, exported = tracer_of(TraceIdRatioBased(0.0), PrimedIdGenerator())
    span = RootSpans(tracer).start("GET", SpanKind.SERVER)
    context = span.get_span_context()
    assert context.is_valid
    assert not context.is_remote
    assert not context.trace_flags.sampled
    assert not span.is_recording()
    span.end()
    assert exported.get_finished_spans() == ()


def test_it_starts_a_root_even_inside_another_span() -> None:
    tracer, _ = tracer_of(TraceIdRatioBased(1.0), PrimedIdGenerator())
    roots = RootSpans(tracer)
    with tracer.start_as_current_span("outer") as outer:
        inner = roots.start("GET", SpanKind.SERVER)
    assert inner.get_span_context().trace_id != outer.get_span_context().trace_id
    assert inner.parent is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("sampler", "ids"),
    [
        (ALWAYS_ON, PrimedIdGenerator()),
        (ParentBased(ALWAYS_ON), PrimedIdGenerator()),
        (ParentBasedTraceIdRatio(0.1), RandomIdGenerator()),  # ids it cannot prime
        (
            type("Custom", (TraceIdRatioBased,), {})(0.1),
            PrimedIdGenerator(),
        ),  # may decide otherwise
    ],
)
def test_other_samplers_and_id_generators_go_through_start_span(
    sampler: Sampler, ids: RandomIdGenerator
) -> None:
    tracer, _ = tracer_of(sampler, ids)
    roots = RootSpans(tracer)
    assert not roots.shortcut
    expected = started(lambda: tracer.start_span("GET"), 50, seed=3)
    assert started(lambda: roots.start("GET", SpanKind.INTERNAL), 50, seed=3) == expected


def test_the_ratio_sampler_is_found_only_where_it_decides_roots() -> None:
    root = TraceIdRatioBased(0.2)
    assert ratio_root_sampler(root) is root
    assert ratio_root_sampler(ParentBased(root)) is root
    assert ratio_root_sampler(ParentBased(ALWAYS_ON)) is None
    assert ratio_root_sampler(ALWAYS_ON) is None


def test_a_primed_trace_id_is_given_once_and_only_in_its_thread() -> None:
    ids = PrimedIdGenerator()
    ids.prime(42)
    seen: list[int] = []
    other = threading.Thread(target=lambda: seen.append(ids.generate_trace_id()))
    other.start()
    other.join()
    assert seen[0] != 42
    assert ids.generate_trace_id() == 42
    assert ids.generate_trace_id() != 42
    ids.prime(43)
    ids.prime(None)
    assert ids.generate_trace_id() != 43


def test_a_kept_trace_id_the_tracer_did_not_use_is_not_given_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = PrimedIdGenerator()
    tracer, _ = tracer_of(TraceIdRatioBased(1.0), ids)
    monkeypatch.setattr(tracer, "start_span", lambda *args, **kwargs: trace.INVALID_SPAN)
    random.seed(5)
    RootSpans(tracer).start("GET", SpanKind.SERVER)
    random.seed(5)
    kept = RandomIdGenerator().generate_trace_id()  # the id RootSpans drew and primed
    assert ids.generate_trace_id() != kept
