"""Tracing plumbing: exporter choice, and counting what a bad collector costs."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry.exporter.http.transport._urllib3 import Urllib3HTTPTransport
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from app.telemetry.tracing import provider as tracing
from app.telemetry.tracing.provider import CountingBatchSpanProcessor, CountingExporter


class StubExporter(SpanExporter):
    """An exporter answering with a fixed result (a stand-in for the network, not the SDK)."""

    def __init__(self, result: SpanExportResult) -> None:
        self.result = result
        self.received = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.received += len(spans)
        return self.result


class BlockedExporter(StubExporter):
    """A collector that hangs until released, so the queue cannot drain."""

    def __init__(self) -> None:
        super().__init__(SpanExportResult.SUCCESS)
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(timeout=10)
        return super().export(spans)


def dropped(reason: str) -> float:
    value = tracing.spans_dropped.labels(reason)._value.get()
    return float(value)


def test_http_protobuf_is_the_default_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)

    assert isinstance(tracing.make_exporter(), HttpExporter)


def test_grpc_is_selectable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")

    assert isinstance(tracing.make_exporter(), GrpcExporter)


def test_no_endpoint_means_no_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)

    assert tracing.otlp_endpoint() is None


def test_failed_exports_count_their_spans_as_dropped() -> None:
    before = dropped("export_failed")
    exporter = CountingExporter(StubExporter(SpanExportResult.FAILURE))

    exporter.export([_span(), _span()])

    assert dropped("export_failed") - before == 2


def test_a_full_queue_counts_each_dropped_span() -> None:
    before = dropped("queue_full")
    inner = BlockedExporter()
    processor = CountingBatchSpanProcessor(
        inner, max_queue_size=2, max_export_batch_size=2, schedule_delay_millis=60_000
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("test")

    for _ in range(8):
        tracer.start_span("work").end()

    # at most 2 spans in the blocked export and 2 queued: at least 4 of 8 were dropped
    assert dropped("queue_full") - before >= 4
    inner.release.set()
    provider.shutdown()


def _span() -> ReadableSpan:
    span = TracerProvider().get_tracer("test").start_span("s")
    span.end()
    assert isinstance(span, ReadableSpan)
    return span


def test_the_http_exporter_uses_the_urllib3_transport_with_the_otel_tls_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Cheaper per export than the default requests transport; same certificate variables."""
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(bundle))
    for name in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)

    exporter = tracing.make_exporter()

    assert isinstance(exporter, tracing.DirectlyEncodedHttpExporter)
    transport = exporter._client._transport
    assert isinstance(transport, Urllib3HTTPTransport)
    assert transport._pool.connection_pool_kw["ca_certs"] == str(bundle)
    assert transport._pool.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"
