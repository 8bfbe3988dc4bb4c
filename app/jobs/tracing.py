"""The jobs' spans: opentelemetry-instrumentation-celery, speaking the stable conventions.

``CeleryInstrumentor`` makes a PRODUCER span when a task is published (a child of the request's
server span, its context carried in the message headers) and a CONSUMER span around each run in
the worker (a child of the producer span; the run's DB spans are its children). It is turned on
in every process that sets up tracing: each gunicorn worker (``app.wsgi``) and each Celery
pool process (``app.jobs.worker``).

The instrumentation still names its spans ``apply_async/<task>`` and ``run/<task>`` and sets
deprecated attributes (``messaging.destination``, ``celery.*``). Rather than write our own
spans, it is given a tracer provider (its public ``tracer_provider`` argument) whose spans
translate as they are written, so they follow the stable messaging conventions like the web's
spans follow the HTTP and DB ones:

- ``messaging.system`` ``celery`` (no registered value fits a Celery broker; the spec allows a
  custom one), ``messaging.operation.type`` ``send`` / ``process`` (``publish`` is the deprecated
  spelling of ``send``), ``messaging.operation.name`` the same words;
- ``messaging.destination`` -> ``messaging.destination.name`` (the queue, the routing key of the
  direct exchange), ``messaging.conversation_id`` -> ``messaging.message.conversation_id``;
  ``messaging.message.id`` (the task id) as it is;
- the span name ``{operation} {destination}`` (``send celery``, ``process celery``);
- ``error.type`` on a failed run; of the ``celery.*`` attributes only the task name
  (``celery.task_name``), the final state and a retry's reason are kept.

``end_failed_publish`` closes the producer span of a publish that raised: the instrumentation
ends it only on ``after_task_publish``, which a failed publish never sends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from celery import Task
from opentelemetry import trace
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.instrumentation.celery import utils as celery_utils
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util import types

from app.telemetry.tracing.provider import qualified_name, traces

SYSTEM = "celery"
_OPERATIONS = {SpanKind.PRODUCER: "send", SpanKind.CONSUMER: "process"}
_RENAMED = {
    "messaging.destination": "messaging.destination.name",
    "messaging.conversation_id": "messaging.message.conversation_id",
}
_KEPT_CELERY = frozenset({"celery.task_name", "celery.state", "celery.retry.reason"})


def stable_name(key: str) -> str | None:
    """The stable attribute name for one the instrumentation sets (``None``: drop it)."""
    if key in _RENAMED:
        return _RENAMED[key]
    if key == "messaging.destination_kind":
        return None
    if key.startswith("celery."):
        return key if key in _KEPT_CELERY else None
    return key


class StableMessagingSpan(Span):
    """A messaging span as the instrumentation drives it, written with the stable names."""

    def __init__(self, span: Span, operation: str) -> None:
        self._span = span
        self._operation = operation
        span.set_attributes(
            {
                "messaging.system": SYSTEM,
                "messaging.operation.type": operation,
                "messaging.operation.name": operation,
            }
        )
        span.update_name(operation)

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        name = stable_name(key)
        if name is None:
            return
        self._span.set_attribute(name, value)
        if name == "messaging.destination.name" and isinstance(value, str) and value:
            self._span.update_name(f"{self._operation} {value}")

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        self._span.set_attribute("error.type", qualified_name(exception))
        self._span.record_exception(exception, attributes, timestamp, escaped)

    def end(self, end_time: int | None = None) -> None:
        self._span.end(end_time)

    def get_span_context(self) -> SpanContext:
        return self._span.get_span_context()

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        self._span.add_event(name, attributes, timestamp)

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        self._span.add_link(context, attributes)

    def update_name(self, name: str) -> None:
        """Ignored: the name follows the conventions (``{operation} {destination}``)."""

    def is_recording(self) -> bool:
        return self._span.is_recording()

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        self._span.set_status(status, description)


class StableMessagingTracer(trace.Tracer):
    """Starts the SDK's spans through the global tracer provider; messaging ones wrapped.

    The global tracer is looked up once (a proxy until the provider is set, then the SDK's).
    """

    def __init__(self, name: str, version: str | None, schema_url: str | None) -> None:
        self._tracer = trace.get_tracer(name, version, schema_url=schema_url)

    def start_span(  # noqa: PLR0917  # the API's signature
        self,
        name: str,
        context: Any = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        span = self._tracer.start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )
        operation = _OPERATIONS.get(kind)
        return span if operation is None else StableMessagingSpan(span, operation)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        """Not used by the instrumentation; the plain tracer's behaviour."""
        return self._tracer.start_as_current_span(*args, **kwargs)


class StableMessagingTracerProvider(trace.TracerProvider):
    """What ``CeleryInstrumentor`` gets as its tracer provider."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes = None,
    ) -> trace.Tracer:
        return StableMessagingTracer(
            instrumenting_module_name, instrumenting_library_version, schema_url
        )


def instrument_celery() -> None:
    """Turn the Celery instrumentation on in this process, once, if tracing is set up here
    and ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` does not name ``celery``."""
    instrumentor = CeleryInstrumentor()
    if traces("celery") and not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=StableMessagingTracerProvider())


def end_failed_publish(task: Task, task_id: str, error: BaseException) -> None:
    """End the producer span of a publish that raised, and restore the context it replaced."""
    found = celery_utils.retrieve_context(task, task_id, is_publish=True)
    if found is None:
        return
    _, activation, _ = found
    activation.__exit__(type(error), error, error.__traceback__)
    celery_utils.detach_context(task, task_id, is_publish=True)
