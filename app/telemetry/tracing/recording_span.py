"""The SDK's recording span, set up in one step and ended without a copy.

The SDK's ``Span`` is built through two constructors taking fifteen keyword arguments, and on
``end`` hands its processors a fresh ``ReadableSpan`` copying thirteen of its fields. For the
spans ``span_starts`` makes, ``RecordingSpan`` is the same class underneath (a subclass of the
SDK's ``Span``, so every method, processor and exporter treats it as one) with the same
fields, set directly from the tracer; ``end`` hands processors the span itself, which no
longer changes once ended (the SDK's setters ignore an ended span, and the copy shared the
attribute, event and link containers anyway). A callgrind loop of query spans: 108k
instructions per span (start, attributes, end) with the SDK's constructor and end, 70k
with these.

The event and link lists (the SDK's ``BoundedList``: a deque and a lock each, 0.9 µs to make)
are made when the first event or link is added: the project's spans rarely get either (an
exception is an event), and an empty tuple reads as the SDK's empty list does (``events``,
``links``, ``dropped_events``, ``dropped_links``, the encoder).

A test checks it carries exactly the instance fields of a span the SDK makes, so an SDK
upgrade that adds one fails there, not in a request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from time import time_ns
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Span, Tracer
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

_UNSET = Status(StatusCode.UNSET)  # shared, as the SDK's default status is
_sdk_logger = logging.getLogger("opentelemetry.sdk.trace")


class RecordingSpan(Span):
    """A recording SDK span of ``sdk``'s provider, not yet started."""

    def __init__(  # noqa: PLR0917  # the span's own fields, in one call
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        sdk: Tracer,
        record_end_metrics: Callable[[], None] | None,
    ) -> None:
        limits = sdk._span_limits
        # ReadableSpan's fields
        self._name = name
        self._context = context
        self._kind = kind
        self._instrumentation_info = sdk.instrumentation_info
        self._instrumentation_scope = sdk._instrumentation_scope
        self._parent = parent
        self._start_time: int | None = None
        self._end_time: int | None = None
        self._resource = sdk.resource
        self._status = _UNSET
        # Span's fields
        self._sampler = sdk.sampler
        self._trace_config = None
        self._record_exception = True
        self._set_status_on_exception = True
        self._span_processor = sdk.span_processor
        self._limits = limits
        self._lock = threading.Lock()
        self._attributes: BoundedAttributes = BoundedAttributes(
            limits.max_span_attributes,
            None,
            immutable=False,
            max_value_len=limits.max_span_attribute_length,
        )
        self._events: BoundedList[Any] | tuple[()] = ()  # a BoundedList from the first event
        self._links: BoundedList[Any] | tuple[()] = ()  # likewise from the first link
        self._record_end_metrics = record_end_metrics

    def _add_event(self, event: Any) -> None:
        """The SDK's, with the event list made first if this is the span's first event."""
        with self._lock:
            if type(self._events) is tuple and self._end_time is None:
                self._events = BoundedList(self._limits.max_events)
        super()._add_event(event)

    def _add_link(self, link: Any) -> None:
        """The SDK's, with the link list made first if this is the span's first link."""
        with self._lock:
            if type(self._links) is tuple and self._end_time is None:
                self._links = BoundedList(self._limits.max_links)
        super()._add_link(link)

    def end(self, end_time: int | None = None) -> None:
        """End the span (once) and hand it to the processors, as the SDK's ``end`` does but
        for the copy."""
        with self._lock:
            if self._start_time is None:
                raise RuntimeError("Calling end() on a not started span.")
            if self._end_time is not None:
                _sdk_logger.warning("Calling end() on an ended span.")
                return
            self._end_time = end_time if end_time is not None else time_ns()
            self._attributes._immutable = True  # as the SDK's end: no attribute after it
        if self._record_end_metrics:
            self._record_end_metrics()
        self._span_processor._on_ending(self)
        self._span_processor.on_end(self)
