"""The direct OTLP encoder writes what the official encoder writes, field for field."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from app.telemetry.tracing import otlp_encoding
from app.telemetry.tracing.otlp_encoding import encode_spans, varint

pytestmark = pytest.mark.database_free


def _spans() -> list[ReadableSpan]:
    """Spans covering every field: kinds, parents (local, remote), attributes of every type,
    events, links, statuses, trace state, two scopes and two resources."""
    finished: list[ReadableSpan] = []
    for resource in (
        Resource.create({"service.name": "todo-api", "service.instance.id": "a", "process.pid": 7}),
        Resource({"service.name": "other", "weight": 1.5}, schema_url="https://example/s"),
    ):
        provider = TracerProvider(resource=resource)
        remote = SpanContext(
            trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
            span_id=0x00F067AA0BA902B7,
            is_remote=True,
            trace_flags=TraceFlags(1),
            trace_state=TraceState([("vendor", "opaque"), ("other", "x")]),
        )
        server = provider.get_tracer("app.telemetry").start_span(
            "GET /api/todos/{id}/",
            context=set_span_in_context(NonRecordingSpan(remote)),
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": "GET",
                "http.response.status_code": 500,
                "server.port": 8000,
                "negative": -3,
                "big": 2**62,
                "ratio": 0.25,
                "flag": True,
                "off": False,
                "http.request.header.x-request-id": ("abc", "d\u00e9f"),
                "ints": (1, 2, 3),
                "empty.string": "",
                "unicode": "caf\u00e9 \u2603",
            },
            links=[Link(remote, {"link.kind": "follows"})],
        )
        server.add_event("exception", {"exception.type": "ValueError", "n": 1})
        server.set_status(Status(StatusCode.ERROR, "broken"))
        child = provider.get_tracer("other.scope", "1.2.3", schema_url="https://example/x")
        query = child.start_span(
            "SELECT todos_todo",
            context=set_span_in_context(server),
            kind=SpanKind.CLIENT,
            attributes={"db.system.name": "sqlite", "db.query.text": "SELECT 1 WHERE x = %s"},
        )
        query.set_status(Status(StatusCode.OK))
        query.end()
        internal = child.start_span("work")
        internal.end()
        server.end()
        for span in (query, internal, server):
            assert isinstance(span, ReadableSpan)
            finished.append(span)
    return finished


def test_the_direct_encoding_decodes_to_what_the_official_encoder_builds() -> None:
    spans = _spans()

    ours = ExportTraceServiceRequest.FromString(encode_spans(spans))

    assert ours == official(spans)


def test_repeated_attribute_pairs_are_encoded_identically_from_the_cache() -> None:
    spans = _spans()

    assert encode_spans(spans) == encode_spans(spans)
    assert ExportTraceServiceRequest.FromString(encode_spans(spans)) == official(spans)


def test_per_request_values_are_encoded_but_never_remembered() -> None:
    """Only attributes whose values repeat are cached: unique paths or request ids would only
    fill the cache (a worker's memory grew that way)."""
    provider = TracerProvider()
    tracer = provider.get_tracer("app.telemetry")
    before = len(otlp_encoding._encoded_attributes)
    spans = []
    for number in range(50):
        span = tracer.start_span(
            "GET /api/todos/{id}/",
            attributes={
                "http.request.method": "GET",
                "http.route": "/api/todos/{id}/",
                "url.path": f"/api/todos/{number}/",
                "http.request.header.x-request-id": (f"request-{number}",),
            },
        )
        span.end()
        assert isinstance(span, ReadableSpan)
        spans.append(span)

    assert ExportTraceServiceRequest.FromString(encode_spans(spans)) == official(spans)
    remembered = {key for _field, key, _type, _value in otlp_encoding._encoded_attributes}
    assert len(otlp_encoding._encoded_attributes) <= before + 2  # method and route, once each
    assert {"url.path", "http.request.header.x-request-id"}.isdisjoint(remembered)


def test_an_empty_batch_is_an_empty_request() -> None:
    assert encode_spans([]) == official([]).SerializeToString() == b""


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1, -1, -(2**63)])
def test_varints_match_protobuf(value: int) -> None:
    message = ExportTraceServiceRequest()
    span = message.resource_spans.add().scope_spans.add().spans.add()
    span.attributes.add(key="k").value.int_value = value
    encoded = message.SerializeToString()

    assert varint(value) in encoded
    assert (
        ExportTraceServiceRequest.FromString(encoded)
        .resource_spans[0]
        .scope_spans[0]
        .spans[0]
        .attributes[0]
        .value.int_value
        == value
    )


def test_spans_as_processors_receive_them_encode_as_officially() -> None:
    """Processors get a ``ReadableSpan`` copy (not the live span): its private fields, which
    the encoder reads directly, hold the same attributes, events and links."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
        InMemorySpanExporter,
    )

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("app.telemetry").start_span(
        "GET /", attributes={"url.path": "/x", "http.request.method": "GET"}
    )
    span.add_event("retry", {"attempt": 2})
    span.end()
    received = list(exporter.get_finished_spans())

    assert type(received[0]) is ReadableSpan
    assert ExportTraceServiceRequest.FromString(encode_spans(received)) == official(received)


def test_remembered_attribute_blocks_keep_value_types_apart() -> None:
    """A block whose every key repeats is remembered whole; ``True == 1 == 1.0`` in Python,
    but the three encode differently."""
    tracer = TracerProvider().get_tracer("app.telemetry")
    spans = []
    for port in (1, True, 1.0, 1, True):
        span = tracer.start_span("q", attributes={"db.system.name": "sqlite", "server.port": port})
        span.end()
        assert isinstance(span, ReadableSpan)
        spans.append(span)
    for _ in range(2):  # the second time from the remembered blocks
        assert ExportTraceServiceRequest.FromString(encode_spans(spans)) == official(spans)
    decoded = ExportTraceServiceRequest.FromString(encode_spans(spans))
    values = [
        span.attributes[1].value.WhichOneof("value")
        for span in decoded.resource_spans[0].scope_spans[0].spans
    ]
    assert values == ["int_value", "bool_value", "double_value", "int_value", "bool_value"]


def test_query_spans_encode_as_officially_from_their_remembered_blocks() -> None:
    """A query span's attributes (``db.query.summary`` included) all repeat per statement: the
    block is remembered whole and encoded the same the second time, under a local and a
    remote parent."""
    from opentelemetry import context as otel_context  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
        InMemorySpanExporter,
    )

    from app.telemetry.tracing.db_spans import QuerySpans  # noqa: PLC0415

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("app.telemetry")
    queries = QuerySpans("sqlite", {"NAME": "/srv/db.sqlite3"}, tracer)
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    for parent_context in (None, set_span_in_context(NonRecordingSpan(remote))):
        parent = tracer.start_span("POST /api/todos/", context=parent_context)
        token = otel_context.attach(set_span_in_context(parent))
        for sql in ('SELECT "id" FROM "auth_user" WHERE "id" = %s', 'INSERT INTO "t" VALUES (%s)'):
            queries(lambda *_: None, sql, (1,), False, {})
        otel_context.detach(token)
        parent.end()
    spans = list(exporter.get_finished_spans())

    assert len(spans) == 6
    assert {"db.query.summary", "db.query.text"} <= set(spans[0].attributes or {})
    for _ in range(2):  # the second time from the remembered blocks
        assert ExportTraceServiceRequest.FromString(encode_spans(spans)) == official(spans)
    assert any(
        "db.query.summary" in dict(items) for _field, items, _types in otlp_encoding._encoded_blocks
    )
