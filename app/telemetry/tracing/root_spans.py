"""Root spans that a ratio sampler drops, made without the SDK's span machinery.

A request that brings no trace context starts a new trace, and with ``parentbased_traceidratio``
sampling at 10% nine in ten of those are dropped. The SDK's ``Tracer.start_span`` still runs
whole for them (its sampler, flags, tracer metrics); ``RootSpans.start`` decides by the same
rule as the SDK's ``TraceIdRatioBased`` sampler (the trace id's low 64 bits under the ratio's
bound), on a trace id from the provider's own id generator, and for a dropped trace returns
what the SDK would: a ``NonRecordingSpan`` with fresh, valid ids (logs and errors still carry
them) and the same flags. A kept trace is handed to the SDK's ``start_span`` with the same
trace id (``PrimedIdGenerator``), so the SDK makes the span, samples it again by the same rule
(the ratio sampler is stateless) and draws the same random numbers in the same order as
without this module: a seeded run samples the same requests.

Used only where it is exact: a provider whose sampler is the SDK's ratio sampler (alone or as
the root of ``ParentBased``) and whose id generator is a ``PrimedIdGenerator``; otherwise
every span goes through ``start_span``.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

NO_PARENT = Context()  # what extracting a request with no trace headers gives


class PrimedIdGenerator(RandomIdGenerator):
    """The SDK's random ids, except that a trace id primed beforehand (in this thread) is the
    next one given, once."""

    def __init__(self) -> None:
        self._primed = threading.local()

    def prime(self, trace_id: int | None) -> None:
        """Give ``trace_id`` next in this thread (``None``: forget what was primed)."""
        self._primed.trace_id = trace_id

    def generate_trace_id(self) -> int:
        primed: int | None = getattr(self._primed, "trace_id", None)
        if primed is None:
            return super().generate_trace_id()
        self._primed.trace_id = None
        return primed


def ratio_root_sampler(sampler: Sampler) -> TraceIdRatioBased | None:
    """The SDK's ratio sampler deciding ``sampler``'s root spans, if that is what it is
    (``traceidratio`` or ``parentbased_traceidratio``; not a subclass, which may decide
    otherwise)."""
    root: Any = sampler
    if type(sampler) in {ParentBased, ParentBasedTraceIdRatio}:
        root = getattr(sampler, "_root", None)  # where the SDK keeps the root sampler
    return root if type(root) is TraceIdRatioBased else None


class RootSpans:
    """Starts the root spans of one tracer, dropped ones without the SDK's ``start_span``."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer
        sampler = getattr(tracer, "sampler", None)
        ids = getattr(tracer, "id_generator", None)
        root = ratio_root_sampler(sampler) if isinstance(sampler, Sampler) else None
        # None when the shortcut would not be exact: every span through start_span
        self._ids: PrimedIdGenerator | None = ids if isinstance(ids, PrimedIdGenerator) else None
        self._bound: int | None = root.bound if root is not None and self._ids else None
        random_ids = self._ids is not None and self._ids.is_trace_id_random()
        self._dropped_flags = TraceFlags(
            TraceFlags.DEFAULT | (TraceFlags.RANDOM_TRACE_ID if random_ids else 0)
        )

    @property
    def shortcut(self) -> bool:
        """Whether dropped root spans skip ``start_span``."""
        return self._bound is not None

    def start(self, name: str, kind: SpanKind) -> Any:
        """A new trace's root span named ``name``: recording when sampled, else non-recording.

        A root whatever the caller's context holds (as when started in an empty ``Context``).
        """
        ids, bound = self._ids, self._bound
        if ids is None or bound is None or not self._enabled():
            return self.tracer.start_span(name, context=NO_PARENT, kind=kind)
        trace_id = ids.generate_trace_id()
        if trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < bound:  # kept: the SDK makes it
            ids.prime(trace_id)
            try:
                return self.tracer.start_span(name, context=NO_PARENT, kind=kind)
            finally:
                ids.prime(None)  # used, or (a tracer that made no span) never to be used
        context = SpanContext(trace_id, ids.generate_span_id(), False, self._dropped_flags)
        return NonRecordingSpan(context)

    def _enabled(self) -> bool:
        """The SDK tracer's own on/off (its tracer configurator), as ``start_span`` checks."""
        enabled = getattr(self.tracer, "_is_enabled", None)
        return enabled is None or bool(enabled())
