"""Tracing set-up: exporter choice, its transport, and shutting tracing down.

Counting what a bad collector costs: test_export.py.
"""

from __future__ import annotations

import json
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

from app.envconfig import EnvError
from app.telemetry.tracing import protocol
from app.telemetry.tracing import provider as tracing
from app.telemetry.tracing.export import CountingBatchSpanProcessor
from tests.support.doubles import HungExporter

pytestmark = pytest.mark.database_free


def test_http_protobuf_is_the_default_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)

    assert isinstance(tracing.make_exporter(), HttpExporter)


def test_grpc_is_selectable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")

    assert isinstance(tracing.make_exporter(), GrpcExporter)


def _no_otel_exporter_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_neither_an_endpoint_nor_an_exporter_name_means_no_exporter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_otel_exporter_settings(monkeypatch)

    assert protocol.otlp_endpoint() is None
    assert tracing.span_processors() == []


def test_an_endpoint_alone_means_the_otlp_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_otel_exporter_settings(monkeypatch)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.example:4318")

    (processor,) = tracing.span_processors()

    assert isinstance(processor, CountingBatchSpanProcessor)
    processor.shutdown(timeout_millis=0)


def test_otlp_without_an_endpoint_exports_to_the_spec_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_otel_exporter_settings(monkeypatch)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")

    (processor,) = tracing.span_processors()

    assert isinstance(processor, CountingBatchSpanProcessor)
    exporter = processor.counting_exporter._inner
    assert isinstance(exporter, HttpExporter)
    assert exporter._endpoint == "http://localhost:4318/v1/traces"
    processor.shutdown(timeout_millis=0)


def test_none_builds_no_exporter_even_with_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_otel_exporter_settings(monkeypatch)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.example:4318")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")

    assert tracing.span_processors() == []


def test_none_still_makes_spans_with_trace_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Context propagates and logs carry ids: only the export is off."""
    _no_otel_exporter_settings(monkeypatch)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    provider = TracerProvider(shutdown_on_exit=False)
    for processor in tracing.span_processors():
        provider.add_span_processor(processor)

    span = provider.get_tracer("test").start_span("work")

    assert span.get_span_context().is_valid
    span.end()


def test_console_prints_each_span_to_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_otel_exporter_settings(monkeypatch)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    provider = TracerProvider(shutdown_on_exit=False)
    for processor in tracing.span_processors():
        provider.add_span_processor(processor)

    span = provider.get_tracer("test").start_span("GET /api/todos/")
    span.end()
    provider.shutdown()

    printed = json.loads(capsys.readouterr().out)
    assert printed["name"] == "GET /api/todos/"
    assert printed["context"]["trace_id"] == f"0x{span.get_span_context().trace_id:032x}"


def test_an_unknown_exporter_is_an_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")

    with pytest.raises(EnvError, match="OTEL_TRACES_EXPORTER: expected otlp/console/none"):
        tracing.span_processors()


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


def test_the_default_batch_is_the_sdk_s_512_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "OTEL_BSP_MAX_QUEUE_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert tracing._batch_size() == 512
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "100")
    assert tracing._batch_size() == 100  # never above the queue
