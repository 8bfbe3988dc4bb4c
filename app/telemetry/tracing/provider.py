"""OpenTelemetry tracing, configured only by the standard ``OTEL_*`` variables.

Called once per process (in each gunicorn worker, after fork) from ``app.wsgi``: sets up the
SDK's tracer provider (resource, sampler from ``OTEL_TRACES_SAMPLER``, batch export). The spans
themselves come from the project's own lean instrumentation on the OpenTelemetry API, which
follows the stable semantic conventions: the HTTP server span (``http_spans`` in this package),
a client span per SQL query (``db_spans``) and per Redis command (``redis_spans``). With no
OTLP endpoint configured, spans are still made (their ids tie logs, exemplars and errors
together) but exported nowhere. ``OTEL_TRACES_EXPORTER`` picks the exporters
(``exporter_choice``): ``otlp`` (to the spec's default endpoint when none is set), ``console``
(spans printed to stdout) or ``none``. A slow or dead collector
costs requests nothing: spans wait in a bounded queue exported by a background thread, and the
spans dropped are counted (``export``). ``shutdown_tracing`` flushes within a time limit when
the worker exits.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.exporter.http.transport import _load_http_transport_factory
from opentelemetry.exporter.http.transport._base import BaseHTTPTransport
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.semconv.attributes import deployment_attributes, service_attributes

from app.envconfig import ENV
from app.telemetry.identity import service_identity
from app.telemetry.tracing.export import CountingBatchSpanProcessor
from app.telemetry.tracing.exporter_choice import traces_exporters
from app.telemetry.tracing.otlp_encoding import encode_spans
from app.telemetry.tracing.protocol import GRPC, otlp_protocol, require_exporter

logger = logging.getLogger(__name__)

# The instrumentation scope of every span the project makes.
INSTRUMENTATION_NAME = "app.telemetry"


def make_exporter() -> SpanExporter:
    """The OTLP exporter for the configured protocol (it reads its own ``OTEL_*`` settings).

    The gRPC exporter is an optional extra, imported only when ``grpc`` is asked for; without
    it this raises ``EnvError`` saying what to install (``protocol.require_exporter``).
    """
    if otlp_protocol() == GRPC:
        require_exporter()
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter()
    return DirectlyEncodedHttpExporter(_transport=urllib3_transport())


def urllib3_transport() -> BaseHTTPTransport:
    """The exporter package's urllib3 transport, with the TLS settings of ``OTEL_*``.

    Half the CPU of its default requests transport per POST (381 vs 706 µs measured here),
    paid by the export thread on the worker's core. Certificates come from the same variables
    the default transport reads: ``OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE``, ``..._CLIENT_KEY``
    and ``..._CLIENT_CERTIFICATE``.
    """
    verify = ENV.first("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE")
    key = ENV.first("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY")
    cert = ENV.first(
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
    )
    factory = _load_http_transport_factory("urllib3")
    return factory(verify=verify or True, cert=(cert, key) if cert and key else cert)


class DirectlyEncodedHttpExporter(HttpExporter):
    """The OTLP/HTTP exporter (its endpoint, headers, timeout, compression and retry settings),
    with spans encoded by ``app.telemetry.tracing.otlp_encoding`` instead of protobuf objects."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            payload = encode_spans(spans)
        except Exception:  # an encoding bug must not kill the export thread
            logger.exception("span batch not encoded")
            return SpanExportResult.FAILURE
        if 0 < self._max_request_size < len(payload):  # 0 or less: no limit, as upstream
            logger.warning("span batch of %d bytes dropped: over the size limit", len(payload))
            return SpanExportResult.FAILURE
        result = self._client.export(payload)
        return SpanExportResult.SUCCESS if result.success else SpanExportResult.FAILURE


# The SDK's batch size (512 spans), sent every second rather than every 5 s. Each POST costs
# the worker's core about 0.5-0.9 ms of CPU whatever its size (urllib3, the kernel's loopback):
# with batches of 64, a third of the export thread's CPU at 100% sampling went to POSTs. What
# once made 512 double p99 was the garbage collector, not the GIL: see app/heap.py.
DEFAULT_EXPORT_BATCH_SIZE = 512
DEFAULT_SCHEDULE_DELAY_MS = 1000


def _batch_size() -> int:
    """``OTEL_BSP_MAX_EXPORT_BATCH_SIZE`` (default 512) clamped to the queue size."""
    queue = ENV.integer("OTEL_BSP_MAX_QUEUE_SIZE", 2048)
    batch = ENV.integer("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULT_EXPORT_BATCH_SIZE)
    return max(1, min(batch, queue))


def _schedule_delay_ms() -> float:
    """``OTEL_BSP_SCHEDULE_DELAY`` in milliseconds (default 1000)."""
    return ENV.number("OTEL_BSP_SCHEDULE_DELAY", DEFAULT_SCHEDULE_DELAY_MS, low=0)


def resource() -> Resource:
    """``service.*``, ``deployment.environment.name``, a per-process ``service.instance.id``
    and ``process.pid``.

    ``OTEL_RESOURCE_ATTRIBUTES`` (read and percent-decoded by the SDK) adds the rest, such as
    ``k8s.pod.name``; the attributes here win over it.
    """
    identity = service_identity()
    return Resource.create(
        {
            service_attributes.SERVICE_NAME: identity.name,
            service_attributes.SERVICE_VERSION: identity.version,
            service_attributes.SERVICE_INSTANCE_ID: process_instance_id(),
            "process.pid": os.getpid(),
            deployment_attributes.DEPLOYMENT_ENVIRONMENT_NAME: identity.environment,
        }
    )


# Every gunicorn worker is its own instance: the spec's service.instance.id must be unique per
# SDK instance, so it is a random UUID per process id (a forked worker makes its own).
_instance_ids: dict[int, str] = {}


def process_instance_id() -> str:
    """This process's ``service.instance.id`` (a new UUID in every forked worker)."""
    return _instance_ids.setdefault(os.getpid(), str(uuid.uuid4()))


_active = False
_processor: CountingBatchSpanProcessor | None = None  # this process's span export, if any


def traces(instrumentation: str) -> bool:
    """Whether the project's spans of ``instrumentation`` (``django``, ``sqlite3``, ``psycopg``,
    ``redis``, ``celery``) are on: ``configure_tracing`` set up the SDK in this process and
    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` does not name it."""
    return _active and not instrumentation_disabled(instrumentation)


def qualified_name(error: BaseException) -> str:
    """``module.Class`` of an exception (builtins by their bare name), for ``error.type``."""
    cls = type(error)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def configure_tracing() -> TracerProvider | None:
    """Set up the SDK's tracer provider for this process (call once per process)."""
    global _active, _processor  # noqa: PLW0603  # process-wide, like the SDK's global provider
    if ENV.boolean("OTEL_SDK_DISABLED", False):
        return None
    provider = TracerProvider(resource=resource())
    for processor in span_processors():
        if isinstance(processor, CountingBatchSpanProcessor):
            _processor = processor  # the OTLP export, flushed within a limit at exit
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _active = True
    return provider


def span_processors() -> list[SpanProcessor]:
    """One batch processor per exporter ``OTEL_TRACES_EXPORTER`` names (none for ``none``).

    ``otlp``: the counted OTLP export (``export``); without an endpoint the exporter uses the
    spec's default (``http://localhost:4318/v1/traces`` over HTTP, ``localhost:4317`` over
    gRPC). ``console``: the SDK's console exporter, one JSON document per span on stdout.
    """
    processors: list[SpanProcessor] = []
    for name in traces_exporters():
        if name == "otlp":
            processors.append(
                CountingBatchSpanProcessor(
                    make_exporter(),
                    max_export_batch_size=_batch_size(),
                    schedule_delay_millis=_schedule_delay_ms(),
                )
            )
        elif name == "console":
            processors.append(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stdout)))
    return processors


def shutdown_tracing(*, timeout_s: float) -> None:
    """Flush this process's queued spans for at most ``timeout_s``, count the rest as dropped
    (``app.telemetry.tracing.export``), and shut the provider down. A no-op without tracing.

    The SDK's own exit hook then finds everything shut down and returns at once.
    """
    if _processor is not None:
        _processor.shutdown(timeout_millis=max(0.0, timeout_s) * 1000)
    provider = trace.get_tracer_provider()
    if _active and isinstance(provider, TracerProvider):
        provider.shutdown()


# The names OTEL_PYTHON_DISABLED_INSTRUMENTATIONS understands for the project's own spans.
INSTRUMENTATIONS = frozenset({"django", "psycopg", "sqlite3", "redis", "celery"})


def instrumentation_disabled(name: str) -> bool:
    """True when ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` names ``name`` (e.g. ``sqlite3``)."""
    disabled = ENV.strings("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", [])
    return name in {item.lower() for item in disabled}
