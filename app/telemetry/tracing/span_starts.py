"""Starting the project's spans without the SDK's general ``Tracer.start_span``.

``start_span`` serves every sampler, parent and tracer setting: it looks the parent up in the
context, asks the sampler (which looks the parent up again), builds the flags and the span.
The SDK itself made 96k instructions per child span this way, before any attribute (callgrind,
a loop of query spans). For the two shapes of span a request makes, the outcome is known
without asking:

- a request's root span (no trace context came in) under the SDK's ratio sampler or its
  ``ALWAYS_ON`` (alone or as the root of ``ParentBased``: ``parentbased_traceidratio``, the
  production overlay's, and ``parentbased_always_on``, the SDK's default): kept when the trace
  id's low 64 bits are under the ratio's bound, the rule of ``TraceIdRatioBased`` (``ALWAYS_ON``
  keeps every one: a bound above them all); a dropped one is a ``NonRecordingSpan`` with fresh,
  valid ids (logs and errors still carry them), as the SDK returns.
- a query or Redis span under a local, sampled parent with a ``ParentBased`` sampler whose
  ``local_parent_sampled`` is the default ``ALWAYS_ON``: sampled, with the parent's trace id
  and trace state.

``SpanStarts`` makes those spans as ``start_span`` would: an SDK span (``RecordingSpan``, set
up in one step) with the same flags, trace state, parent, resource, scope, limits and
processors, ids drawn from the provider's id generator in the same order (a seeded run samples
the same requests), the SDK's own span metrics hook called. Anything else (another sampler, a
remote or unsampled parent, a disabled tracer, a tracer that is not the SDK's) goes through
``start_span``. Tests compare thousands of spans made both ways from the same random numbers.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Tracer
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from app.telemetry.tracing.recording_span import RecordingSpan

NO_PARENT = Context()  # what extracting a request with no trace headers gives
_PARENT_BASED = (ParentBased, ParentBasedTraceIdRatio)  # the SDK's, not subclasses


# Above the low 64 bits of every trace id: a root kept whatever its id (``ALWAYS_ON``).
EVERY_ROOT = TraceIdRatioBased.TRACE_ID_LIMIT + 1


def root_sampling_bound(sampler: Sampler) -> int | None:
    """The bound under which the low 64 bits of a new trace's id keep its root span, when
    ``sampler`` decides roots by that rule alone: the SDK's ratio sampler's own bound
    (``traceidratio``, ``parentbased_traceidratio``), ``EVERY_ROOT`` for its ``ALWAYS_ON``
    (``always_on``, ``parentbased_always_on``). ``None`` for any other root sampler (a subclass
    may decide otherwise)."""
    root: Any = sampler
    if type(sampler) in _PARENT_BASED:
        root = getattr(sampler, "_root", None)  # where the SDK keeps the root sampler
    if type(root) is TraceIdRatioBased:
        return int(root.bound)
    return EVERY_ROOT if root is ALWAYS_ON else None


def samples_local_children(sampler: Sampler) -> bool:
    """Whether ``sampler`` samples every child of a local, sampled parent, as the default
    ``ParentBased`` does (its ``local_parent_sampled`` is ``ALWAYS_ON``)."""
    return type(sampler) in _PARENT_BASED and getattr(sampler, "_local_parent_sampled", None) is (
        ALWAYS_ON
    )


def _flags(sampled: bool, random_trace_id: bool) -> TraceFlags:
    return TraceFlags(
        (TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
        | (TraceFlags.RANDOM_TRACE_ID if random_trace_id else 0)
    )


class SpanStarts:
    """Starts one tracer's root and child spans, the known cases without ``start_span``."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer
        sdk = tracer if type(tracer) is Tracer else None
        self._sdk = sdk
        self._bound = root_sampling_bound(sdk.sampler) if sdk is not None else None
        self._children = sdk is not None and samples_local_children(sdk.sampler)
        random_ids = sdk is not None and sdk.id_generator.is_trace_id_random()
        self._dropped_flags = _flags(sampled=False, random_trace_id=random_ids)
        self._root_flags = _flags(sampled=True, random_trace_id=random_ids)
        self._child_flags = {
            random: _flags(sampled=True, random_trace_id=random) for random in (False, True)
        }

    @property
    def shortcut_roots(self) -> bool:
        """Whether root spans skip ``start_span``."""
        return self._bound is not None

    @property
    def shortcut_children(self) -> bool:
        """Whether children of local sampled spans skip ``start_span``."""
        return self._children

    def root(self, name: str, kind: SpanKind) -> Any:
        """A new trace's root span: recording when sampled, else non-recording. A root
        whatever the caller's context holds (as when started in an empty ``Context``)."""
        sdk, bound = self._sdk, self._bound
        if sdk is None or bound is None or not sdk._is_enabled():
            return self.tracer.start_span(name, context=NO_PARENT, kind=kind)
        ids = sdk.id_generator
        trace_id = ids.generate_trace_id()
        if trace_id & TraceIdRatioBased.TRACE_ID_LIMIT >= bound:  # dropped
            sdk._tracer_metrics.start_span(None, Decision.DROP)
            context = SpanContext(trace_id, ids.generate_span_id(), False, self._dropped_flags)
            return NonRecordingSpan(context)
        context = SpanContext(trace_id, ids.generate_span_id(), False, self._root_flags)
        return self._recording(
            sdk, name, kind, context=context, parent=None, parent_context=NO_PARENT
        )

    def child(self, name: str, kind: SpanKind, parent: Any) -> Any:
        """A child of ``parent``, the active span (as ``start_span`` with the current context
        would make it)."""
        sdk = self._sdk
        context = parent.get_span_context()
        # A SpanContext is the tuple (trace_id, span_id, is_remote, flags, trace_state,
        # is_valid): unpacked at once, not read through Python properties one by one.
        trace_id, _, is_remote, parent_flags, trace_state, is_valid = context
        if (
            sdk is None
            or not self._children
            or not is_valid
            or is_remote
            or not parent_flags & TraceFlags.SAMPLED
            or not sdk._is_enabled()
        ):
            return self.tracer.start_span(name, kind=kind)
        flags = self._child_flags[bool(parent_flags & TraceFlags.RANDOM_TRACE_ID)]
        own = SpanContext(trace_id, sdk.id_generator.generate_span_id(), False, flags, trace_state)
        return self._recording(sdk, name, kind, context=own, parent=context, parent_context=None)

    @staticmethod
    def _recording(
        sdk: Tracer,
        name: str,
        kind: SpanKind,
        *,
        context: SpanContext,
        parent: SpanContext | None,
        parent_context: Context | None,
    ) -> RecordingSpan:
        """A recording SDK span (``RecordingSpan``), started as ``start_span`` starts it."""
        span = RecordingSpan(
            name,
            context,
            parent,
            kind,
            sdk,
            sdk._tracer_metrics.start_span(parent, Decision.RECORD_AND_SAMPLE),
        )
        span.start(parent_context=parent_context)
        return span
