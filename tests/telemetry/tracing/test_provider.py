"""Tracing set-up: exporter choice, its transport, and shutting tracing down.

Counting what a bad collector costs: test_export.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from opentelemetry.exporter.http.transport._urllib3 import Urllib3HTTPTransport
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)
from opentelemetry.sdk.trace import TracerProvider

from app.telemetry.tracing import protocol
from app.telemetry.tracing import provider as tracing
from app.telemetry.tracing.export import CountingBatchSpanProcessor
from tests.support.doubles import HungExporter


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

    assert protocol.otlp_endpoint() is None


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


def test_shutting_tracing_down_gives_the_span_export_the_time_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hung = HungExporter()
    processor = CountingBatchSpanProcessor(
        hung, max_export_batch_size=1, schedule_delay_millis=60_000
    )
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    provider.get_tracer("test").start_span("work").end()
    assert hung.entered.wait(5)
    monkeypatch.setattr(tracing, "_processor", processor)
    monkeypatch.setattr(tracing, "_active", False)  # the process's provider is not this one

    started = time.monotonic()
    tracing.shutdown_tracing(timeout_s=0.3)
    took_s = time.monotonic() - started
    hung.release.set()

    assert 0.25 <= took_s < 1.5
    assert processor.ledger.pending == 0  # the hung span was counted as dropped
