"""Spans started without the SDK's start_span (app.telemetry.tracing.span_starts): the same
spans the SDK makes, from the same random numbers."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, TracerProvider, _TracerConfig
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState

from app.telemetry.tracing.span_starts import (
    EVERY_ROOT,
    NO_PARENT,
    SpanStarts,
    root_sampling_bound,
    samples_local_children,
)

pytestmark = pytest.mark.database_free

SPANS = 2000
RATIO_SAMPLERS = [
    ParentBasedTraceIdRatio(0.1),
    ParentBased(TraceIdRatioBased(0.25)),
    TraceIdRatioBased(0.5),
]


class Setup:
    """A tracer provider of its own, exporting ended spans to memory."""

    def __init__(self, sampler: Sampler, **provider: Any) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(
            sampler=sampler, resource=Resource.create({"service.name": "test"}), **provider
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("app.telemetry", "1.0")

    def exported(self) -> list[tuple[Any, ...]]:
        """What each exported span says, in the order they ended."""
        return [finished(span) for span in self.exporter.get_finished_spans()]


def finished(span: ReadableSpan) -> tuple[Any, ...]:
    """Everything an exporter reads of a span but its times."""
    return (
        span.name,
        span.context,
        span.parent,
        span.kind,
        dict(span.attributes or {}),
        span.resource.attributes,
        span.instrumentation_scope,
        span.status.status_code,
        len(span.events),
        len(span.links),
    )


def kind_of(span: Any) -> str:
    """``sdk span`` for the SDK's recording spans (``RecordingSpan`` among them), else the
    class's name."""
    return "sdk span" if isinstance(span, Span) else type(span).__name__


def started(start: Callable[[], Any], count: int, seed: int) -> list[tuple[Any, ...]]:
    """The context and recording of ``count`` spans ``start`` makes (ended at once), from a
    seeded ``random`` (the SDK's ids)."""
    random.seed(seed)
    made = []
    for _ in range(count):
        span = start()
        made.append((span.get_span_context(), span.is_recording(), kind_of(span)))
        span.end()
    return made


def in_span(span: Any, start: Callable[[], Any]) -> Callable[[], Any]:
    """``start`` run with ``span`` active."""

    def run() -> Any:
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            return start()
        finally:
            otel_context.detach(token)

    return run


@pytest.mark.parametrize(
    "sampler",
    [*RATIO_SAMPLERS, ParentBased(ALWAYS_ON), ALWAYS_ON],
    ids=[
        "parentbased_traceidratio",
        "parentbased-ratio",
        "ratio",
        "parentbased_always_on",
        "always_on",
    ],
)
def test_root_spans_are_those_the_sdk_makes(sampler: Sampler) -> None:
    sdk, ours = Setup(sampler), Setup(sampler)
    starts = SpanStarts(ours.tracer)
    assert starts.shortcut_roots
    expected = started(
        lambda: sdk.tracer.start_span("GET", context=NO_PARENT, kind=SpanKind.SERVER), SPANS, 7
    )
    made = started(lambda: starts.root("GET", SpanKind.SERVER), SPANS, 7)
    assert made == expected
    sampled = sum(recording for _, recording, _ in made)
    if root_sampling_bound(sampler) == EVERY_ROOT:
        assert sampled == SPANS
    else:
        assert 0 < sampled < SPANS  # kept and dropped spans were both compared
    assert ours.exported() == sdk.exported()
    assert len(ours.exported()) == sampled


def test_a_root_is_a_root_inside_another_span() -> None:
    setup = Setup(TraceIdRatioBased(1.0))
    starts = SpanStarts(setup.tracer)
    with setup.tracer.start_as_current_span("outer") as outer:
        inner = starts.root("GET", SpanKind.SERVER)
    assert inner.get_span_context().trace_id != outer.get_span_context().trace_id
    inner.end()
    assert setup.exporter.get_finished_spans()[0].parent is None


def test_a_dropped_root_has_valid_unsampled_ids_and_is_not_exported() -> None:
    setup = Setup(TraceIdRatioBased(0.0))
    span = SpanStarts(setup.tracer).root("GET", SpanKind.SERVER)
    context = span.get_span_context()
    assert context.is_valid
    assert not context.trace_flags.sampled
    assert isinstance(span, NonRecordingSpan)
    span.end()
    assert setup.exporter.get_finished_spans() == ()


@pytest.mark.parametrize(
    "trace_state", [TraceState(), TraceState([("vendor", "x")])], ids=["plain", "tracestate"]
)
@pytest.mark.parametrize("random_flag", [True, False], ids=["random-id", "not-random-id"])
def test_children_of_a_sampled_local_span_are_those_the_sdk_makes(
    trace_state: TraceState, random_flag: bool
) -> None:
    flags = TraceFlags(TraceFlags.SAMPLED | (TraceFlags.RANDOM_TRACE_ID if random_flag else 0))
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=flags, trace_state=trace_state)
    made = {}
    for name, way in (("sdk", "start_span"), ("ours", "child")):
        setup = Setup(ParentBasedTraceIdRatio(0.1))
        random.seed(3)
        parent = setup.tracer.start_span(
            "GET /x", context=trace.set_span_in_context(NonRecordingSpan(remote))
        )
        starts = SpanStarts(setup.tracer)
        assert starts.shortcut_children

        def start(
            setup: Setup = setup, parent: Any = parent, way: str = way, starts: SpanStarts = starts
        ) -> Any:
            if way == "child":
                return starts.child("SELECT t", SpanKind.CLIENT, parent)
            return setup.tracer.start_span("SELECT t", kind=SpanKind.CLIENT)

        made[name] = started(in_span(parent, start), 50, seed=4)
        parent.end()
        made[name + " exported"] = setup.exported()
    assert made["ours"] == made["sdk"]
    assert made["ours exported"] == made["sdk exported"]
    child_context = made["ours"][0][0]
    assert child_context.trace_state == trace_state
    assert child_context.trace_flags == flags


@pytest.mark.parametrize(
    "parent_context",
    [
        SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)),
        SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(TraceFlags.DEFAULT)),
        trace.INVALID_SPAN_CONTEXT,
    ],
    ids=["remote-parent", "unsampled-parent", "no-parent"],
)
def test_children_of_other_parents_go_through_start_span(parent_context: SpanContext) -> None:
    # remote sampled parents dropped: a shortcut taken for one would show
    setup = Setup(ParentBased(TraceIdRatioBased(0.5), remote_parent_sampled=ALWAYS_OFF))
    parent = NonRecordingSpan(parent_context)
    starts = SpanStarts(setup.tracer)
    expected = started(
        in_span(parent, lambda: setup.tracer.start_span("q", kind=SpanKind.CLIENT)), 40, seed=9
    )
    made = started(in_span(parent, lambda: starts.child("q", SpanKind.CLIENT, parent)), 40, 9)
    assert made == expected


@pytest.mark.parametrize(
    "sampler",
    [
        ALWAYS_ON,
        ParentBased(ALWAYS_ON),
        ParentBased(ALWAYS_OFF),
        ParentBased(TraceIdRatioBased(0.5), local_parent_sampled=ALWAYS_OFF),
        type("Custom", (TraceIdRatioBased,), {})(0.5),  # a subclass may decide otherwise
    ],
    ids=[
        "always_on",
        "parentbased_always_on",
        "parentbased_always_off",
        "local-children-dropped",
        "ratio-subclass",
    ],
)
def test_other_samplers_and_parents_make_what_start_span_makes(sampler: Sampler) -> None:
    setup = Setup(sampler)
    starts = SpanStarts(setup.tracer)
    expected_roots = started(lambda: setup.tracer.start_span("GET", context=NO_PARENT), 50, 3)
    assert started(lambda: starts.root("GET", SpanKind.INTERNAL), 50, 3) == expected_roots
    random.seed(1)
    parent = setup.tracer.start_span("GET", context=NO_PARENT)
    expected = started(in_span(parent, lambda: setup.tracer.start_span("q")), 50, 5)
    assert started(
        in_span(parent, lambda: starts.child("q", SpanKind.INTERNAL, parent)), 50, 5
    ) == (expected)


def test_a_disabled_tracer_makes_what_the_sdk_makes() -> None:
    setup = Setup(TraceIdRatioBased(1.0))
    setup.tracer._set_tracer_config(_TracerConfig(is_enabled=False))  # type: ignore[attr-defined]
    starts = SpanStarts(setup.tracer)
    span = starts.root("GET", SpanKind.SERVER)
    assert not span.is_recording()
    assert setup.tracer.start_span("GET", context=NO_PARENT).get_span_context() == (
        span.get_span_context()
    )


def test_a_tracer_that_is_not_the_sdks_is_asked_itself() -> None:
    tracer = trace.NoOpTracer()
    starts = SpanStarts(tracer)
    assert not starts.shortcut_roots
    assert not starts.shortcut_children
    assert starts.root("GET", SpanKind.SERVER) is trace.INVALID_SPAN
    assert starts.child("q", SpanKind.CLIENT, trace.INVALID_SPAN) is trace.INVALID_SPAN


def span_metrics(reader: InMemoryMetricReader) -> list[tuple[str, tuple[Any, ...], Any]]:
    """The SDK's span counts a reader holds: name, attributes, value."""
    data = reader.get_metrics_data()
    assert data is not None
    return sorted(
        (metric.name, tuple(sorted((point.attributes or {}).items())), getattr(point, "value", 0))
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    )


def test_the_sdks_own_span_metrics_count_them_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
    counted = []
    for ours in (False, True):
        reader = InMemoryMetricReader()
        setup = Setup(ParentBasedTraceIdRatio(0.5), meter_provider=MeterProvider([reader]))
        starts = SpanStarts(setup.tracer)
        random.seed(2)
        for _ in range(40):
            root = (
                starts.root("GET", SpanKind.SERVER)
                if ours
                else setup.tracer.start_span("GET", context=NO_PARENT, kind=SpanKind.SERVER)
            )
            if root.is_recording():
                token = otel_context.attach(trace.set_span_in_context(root))
                child = (
                    starts.child("q", SpanKind.CLIENT, root)
                    if ours
                    else setup.tracer.start_span("q", kind=SpanKind.CLIENT)
                )
                child.end()
                otel_context.detach(token)
            root.end()
        counted.append(span_metrics(reader))
    assert counted[0] == counted[1]
    assert counted[0]  # the metrics were on


def test_a_root_bound_is_found_only_where_the_trace_id_alone_decides_roots() -> None:
    root = TraceIdRatioBased(0.2)
    assert root_sampling_bound(root) == root.bound
    assert root_sampling_bound(ParentBased(root)) == root.bound
    assert root_sampling_bound(ParentBasedTraceIdRatio(0.2)) == root.bound
    assert root_sampling_bound(ParentBased(ALWAYS_ON)) == EVERY_ROOT
    assert root_sampling_bound(ALWAYS_ON) == EVERY_ROOT
    assert EVERY_ROOT > TraceIdRatioBased.TRACE_ID_LIMIT  # above every id's low 64 bits
    assert root_sampling_bound(ParentBased(ALWAYS_OFF)) is None
    assert root_sampling_bound(ALWAYS_OFF) is None
    assert root_sampling_bound(type("Custom", (TraceIdRatioBased,), {})(0.5)) is None
    assert samples_local_children(ParentBased(root))
    assert not samples_local_children(root)
    assert not samples_local_children(ParentBased(root, local_parent_sampled=ALWAYS_OFF))
