"""OpenTelemetry tracing, configured only by the standard ``OTEL_*`` variables.

Called once per process (in each gunicorn worker, after fork) from ``app.wsgi``. Server spans
are named by route template (``GET /api/todos/{id}/``); every SQL query (psycopg, sqlite3) and
Redis call gets a child span; incoming W3C ``traceparent`` headers are continued. With no OTLP
endpoint configured, spans are still made (their ids tie logs, exemplars and errors together)
but exported nowhere. A slow or dead collector costs requests nothing: spans wait in a
bounded queue exported by a background thread, and the spans dropped are counted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse
from opentelemetry import trace
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import Counter

from app.telemetry.identity import service_identity
from app.telemetry.routes import route_template

spans_dropped = Counter(
    "todos_otel_spans_dropped",
    "Spans not delivered to the OTLP endpoint, by reason (queue_full, export_failed).",
    ["reason"],
)
spans_exported = Counter("todos_otel_spans_exported", "Spans the OTLP endpoint accepted.")
for _reason in ("queue_full", "export_failed"):  # exported at 0, so rates and alerts see them
    spans_dropped.labels(_reason)


def otlp_endpoint() -> str | None:
    """The configured OTLP traces endpoint, if any."""
    return (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or None
    )


def otlp_protocol() -> str:
    """``http/protobuf`` (default) or ``grpc``."""
    return (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).lower()


def make_exporter() -> SpanExporter:
    """The OTLP exporter for the configured protocol (it reads its own ``OTEL_*`` settings)."""
    if otlp_protocol() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter()


class CountingExporter(SpanExporter):
    """Delegates to an exporter and counts spans delivered and lost."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._inner.export(spans)
        except Exception:  # an exporter bug must not kill the export thread
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            spans_exported.inc(len(spans))
        else:
            spans_dropped.labels("export_failed").inc(len(spans))
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """The SDK's batch processor, counting the spans it drops when its queue is full."""

    def on_end(self, span: ReadableSpan) -> None:
        processor = self._batch_processor
        if len(processor._queue) >= processor._max_queue_size:
            spans_dropped.labels("queue_full").inc()
        super().on_end(span)


# Smaller, more frequent batches than the SDK's defaults (512 spans every 5 s): encoding a big
# batch holds the GIL for tens of milliseconds, which showed as p99 spikes in the benchmark.
DEFAULT_EXPORT_BATCH_SIZE = 64
DEFAULT_SCHEDULE_DELAY_MS = 1000


def _batch_size() -> int:
    """``OTEL_BSP_MAX_EXPORT_BATCH_SIZE`` (default 64) clamped to the queue size."""
    queue = int(os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE", "2048"))
    batch = int(os.environ.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULT_EXPORT_BATCH_SIZE))
    return max(1, min(batch, queue))


def _schedule_delay_ms() -> float:
    """``OTEL_BSP_SCHEDULE_DELAY`` in milliseconds (default 1000)."""
    return float(os.environ.get("OTEL_BSP_SCHEDULE_DELAY", DEFAULT_SCHEDULE_DELAY_MS))


def resource() -> Resource:
    """``service.name``, ``service.version``, ``deployment.environment`` plus env attributes."""
    identity = service_identity()
    return Resource.create(
        {
            "service.name": identity.name,
            "service.version": identity.version,
            "deployment.environment": identity.environment,
            "deployment.environment.name": identity.environment,
        }
    )


def name_span_by_route(span: Any, request: HttpRequest, response: HttpResponse) -> None:
    """Rename the server span ``METHOD /route/{template}/`` and add route and user."""
    if not span.is_recording():
        return
    template = route_template(request)
    span.update_name(f"{request.method} {template}")
    span.set_attribute("http.route", template)
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        span.set_attribute("user.id", str(user.pk))
        span.set_attribute("enduser.id", str(user.pk))
    request_id = getattr(request, "request_id", None)
    if request_id:
        span.set_attribute("http.request.header.x-request-id", request_id)


def configure_tracing() -> TracerProvider | None:
    """Set up the SDK and instrument Django, psycopg, sqlite3 and Redis (call once per process)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    provider = TracerProvider(resource=resource())
    if otlp_endpoint():
        provider.add_span_processor(
            CountingBatchSpanProcessor(
                CountingExporter(make_exporter()),
                max_export_batch_size=_batch_size(),
                schedule_delay_millis=_schedule_delay_ms(),
            )
        )
    trace.set_tracer_provider(provider)
    # After the probe middleware: probes skip tracing and host validation.
    os.environ.setdefault("OTEL_PYTHON_DJANGO_MIDDLEWARE_POSITION", "1")
    disabled = disabled_instrumentations()
    if "django" not in disabled:
        DjangoInstrumentor().instrument(
            tracer_provider=provider,
            response_hook=name_span_by_route,
            excluded_urls=os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", "healthz,readyz"),
        )
    if "psycopg" not in disabled:
        PsycopgInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
    if "sqlite3" not in disabled:
        SQLite3Instrumentor().instrument(tracer_provider=provider)
    if "redis" not in disabled:
        RedisInstrumentor().instrument(tracer_provider=provider)
    return provider


def disabled_instrumentations() -> frozenset[str]:
    """Names in ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` (e.g. ``sqlite3,psycopg``)."""
    raw = os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
    return frozenset(name.strip().lower() for name in raw.split(",") if name.strip())
